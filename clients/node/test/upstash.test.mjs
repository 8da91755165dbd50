// upstash.test.mjs - jobs pushed through @upstash/redis (HTTP) into a real redis-server behind
// the local stand-in for Upstash's REST API (support/upstash-standin.mjs), run by a real
// nexusd: now, many at once, later, one request to /multi-exec each; then every way the
// service can misbehave, each a clear NexusClientError that never shows the token, with the
// jobs of the call all pushed or none.

import assert from "node:assert/strict";
import { execFile, spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { inspect, promisify } from "node:util";
import { after, before, describe, it } from "node:test";

import { Redis } from "@upstash/redis";
import IORedis from "ioredis";

import { Client, NexusClientError } from "../dist/esm/index.js";
import { logTime, startNexusd, startRedis, teardown, tempDir } from "./support/servers.mjs";
import { startUpstashStandin } from "./support/upstash-standin.mjs";

const NS = "up:";
const TOKEN = "AXxyTOKEN-never-in-errors-4f1c9a";
let dir, server, nexusd, standin, direct;

before(async () => {
  dir = tempDir();
  server = await startRedis(dir);
  nexusd = await startNexusd(dir, server, { namespace: NS, queues: ["default", "low"] });
  standin = await startUpstashStandin(server.sock, TOKEN);
  direct = new IORedis({ path: server.sock });
});

after(() =>
  teardown({
    close: [() => direct?.quit(), () => standin?.stop()],
    nexusd,
    servers: [server],
    dir,
  }),
);

/** An @upstash/redis client of the stand-in, as an app makes one from its environment. */
function upstash(options = {}) {
  return new Redis({ url: standin.url, token: TOKEN, enableTelemetry: false, ...options });
}

/** The requests the stand-in got while `call` ran. */
async function requestsOf(call) {
  const from = standin.requests.length;
  const out = await call();
  return { out, requests: standin.requests.slice(from) };
}

describe("through @upstash/redis", () => {
  const jobs = () => new Client({ redis: upstash(), namespace: NS });

  it("a job runs once nexusd takes it, pushed in one request to /multi-exec", async () => {
    const { out, requests } = await requestsOf(() => jobs().enqueue("noop", ["upstash", 1]));
    const seen = await nexusd.waitJobs([out.jid]);
    assert.equal(seen[out.jid].queue, "default");
    assert.deepEqual(
      requests.map((r) => r.path),
      ["/multi-exec"],
    );
    assert.equal(requests[0].headers.authorization, `Bearer ${TOKEN}`);
    const cmds = JSON.parse(requests[0].body);
    assert.deepEqual(cmds[0], ["sadd", `${NS}queues`, "default"]);
    assert.equal(cmds[1][0], "lpush");
    assert.equal(cmds[1][1], `${NS}queue:default`);
  });

  it("many jobs in one call are one LPUSH in one request, and all run", async () => {
    const argsList = Array.from({ length: 50 }, (_, i) => ["upstash", i]);
    const { out, requests } = await requestsOf(() =>
      jobs().enqueueMany("noop", argsList, { queue: "low" }),
    );
    assert.equal(requests.length, 1);
    assert.equal(JSON.parse(requests[0].body)[1].length, 2 + 50);
    await nexusd.waitJobs(out.jids);
  });

  it("a job due in 1s is one ZADD, and runs after its time, not before", async () => {
    const pushed = Date.now() / 1000;
    const { out, requests } = await requestsOf(() =>
      jobs().enqueue("noop", ["upstash"], { in: "1s" }),
    );
    assert.deepEqual(
      JSON.parse(requests[0].body).map((c) => c[0]),
      ["zadd"],
    );
    const seen = await nexusd.waitJobs([out.jid], { timeout: 15000 });
    assert.ok(logTime(seen[out.jid]) >= pushed + 1 - 0.01);
  });

  it("a job lands in Sidekiq's keys, its text as the client wrote it", async () => {
    const { jid } = await jobs().enqueue("email.welcome", ["ü", { id: 7 }], {
      queue: "unread",
      retry: 3,
    });
    const raw = await direct.lrange(`${NS}queue:unread`, 0, -1);
    // the text as the client wrote it, its UTF-8 intact through JSON over HTTP
    assert.match(
      raw.find((t) => t.includes(jid)),
      /^\{"jid":"[0-9a-f]{24}","class":"email\.welcome","queue":"unread","retry":3,"created_at":[\d.]+,"enqueued_at":[\d.]+,"args":\["ü",\{"id":7\}\]\}$/,
    );
    assert.ok(await direct.sismember(`${NS}queues`, "unread"));
  });

  it("works with auto-pipelining off, base64 answers off, and telemetry headers on", async () => {
    const variants = [
      { enableAutoPipelining: false },
      { responseEncoding: false },
      { enableTelemetry: true },
    ];
    for (const options of variants) {
      const { jid } = await new Client({ redis: upstash(options), namespace: NS }).enqueue(
        "noop",
        [],
      );
      await nexusd.waitJobs([jid]);
    }
    const last = standin.requests[standin.requests.length - 1];
    assert.match(last.headers["upstash-telemetry-sdk"], /^@upstash\/redis@/);
  });
});

describe("a misbehaving Upstash", () => {
  const RATE = '{"error":"ERR max requests limit exceeded. Limit: 10000, Usage: 10000."}';
  // [what, the stand-in's misbehaviour, client options, code, message, jobs pushed]
  const cases = [
    ["a wrong token (401)", null, { token: "wrong" }, "unauthorized", /refused the token/, "none"],
    ["a rate limit (429)", { status: 429, body: RATE }, {}, "rate_limited", /limit/, "none"],
    ["a 500 with an error", { status: 500, body: '{"error":"ERR boom"}' }, {}, "redis", /boom/],
    ["a 502 page", { status: 502, body: "<html>Bad Gateway</html>" }, {}, "redis", /not its JSON/],
    ["a truncated answer", { truncate: true }, {}, "redis", /cut off/, "all"],
    ["a dropped connection", { drop: true }, { retry: false }, "redis", /without an answer/, "all"],
    [
      "a slow answer, past the client's signal",
      { slowMs: 1500 },
      { signal: () => AbortSignal.timeout(200) },
      "redis",
      /no answer from Upstash before the client's `signal`/,
      "all",
    ],
  ];
  cases.forEach(([what, misbehave, options, code, pattern, pushed = "none"], i) =>
    it(`: ${what} is a ${code} error, the token unshown, ${pushed} of the jobs pushed`, async () => {
      const queue = `bad${i}`;
      standin.misbehave = misbehave;
      let error;
      try {
        await new Client({ redis: upstash(options), namespace: NS }).enqueueMany(
          "noop",
          [[1], [2], [3]],
          { queue },
        );
      } catch (e) {
        error = e;
      } finally {
        standin.misbehave = null;
      }
      assert.ok(error instanceof NexusClientError, `no NexusClientError: ${inspect(error)}`);
      assert.equal(error.code, code, error.message);
      assert.match(error.message, /^pushing to Redis \(@upstash\/redis\) failed: /);
      assert.match(error.message, pattern);
      assert.doesNotMatch(error.message, /command was/); // the jobs' args are not repeated
      for (const text of [error.message, error.stack, inspect(error, { depth: 10 })])
        assert.equal(text.includes(TOKEN), false, `the token shows in: ${text}`);
      await new Promise((resolve) => setTimeout(resolve, misbehave?.slowMs ?? 0));
      // MULTI keeps a call whole: none of its jobs, or all of them. After a dropped
      // connection @upstash/redis sends the request again (once more even with retry:
      // false), so the same three jobs, same jids, may be there twice.
      const texts = await direct.lrange(`${NS}queue:${queue}`, 0, -1);
      assert.equal(new Set(texts).size, pushed === "all" ? 3 : 0);
      assert.equal(texts.length % 3, 0);
    }),
  );

  it(": refusing a unique push (an EVAL per job) takes no lock and pushes nothing", async () => {
    for (const [misbehave, options, code] of [
      [null, { token: "wrong" }, "unauthorized"],
      [{ status: 429, body: RATE }, {}, "rate_limited"],
    ]) {
      standin.misbehave = misbehave;
      try {
        await assert.rejects(
          new Client({ redis: upstash(options), namespace: NS }).enqueue("noop", [], {
            queue: "refused",
            uniqueFor: "1h",
            uniqueKey: `refused-${code}`,
          }),
          (e) => e instanceof NexusClientError && e.code === code && !e.message.includes(TOKEN),
        );
      } finally {
        standin.misbehave = null;
      }
    }
    assert.equal(await direct.llen(`${NS}queue:refused`), 0);
    assert.deepEqual(await direct.keys(`${NS}unique:*`), []);
    const jobs = new Client({ redis: upstash(), namespace: NS });
    const unique = { queue: "refused", uniqueFor: "1h", uniqueKey: "refused-code" }; // unread
    const first = await jobs.enqueue("noop", [], unique);
    const again = await jobs.enqueue("noop", [], unique);
    assert.deepEqual(again, { jid: first.jid, duplicate: true });
  });

  it(": a dropped connection with uniqueFor pushes each job once, however often it is sent", async () => {
    standin.misbehave = { drop: true }; // every request runs, then loses its answer
    let error;
    try {
      await new Client({ redis: upstash({ retry: false }), namespace: NS }).enqueueMany(
        "noop",
        [[1], [2], [3]],
        { queue: "resent", uniqueFor: "1h" },
      );
    } catch (e) {
      error = e;
    } finally {
      standin.misbehave = null;
    }
    assert.equal(error?.code, "redis");
    const sent = standin.requests.filter((r) => r.body?.includes?.("resent")).length;
    assert.ok(sent >= 2, `the request was sent ${sent} time(s)`); // @upstash/redis sent it again
    const texts = await direct.lrange(`${NS}queue:resent`, 0, -1);
    assert.equal(texts.length, 3); // the jobs sent again held their own locks: pushed once
    assert.equal(new Set(texts).size, 3);
  });

  it(": a read-only token (NOPERM) is unauthorized", async () => {
    standin.misbehave = {
      status: 400,
      body: `{"error":"NOPERM this user has no permissions to run the 'sadd' command"}`,
    };
    try {
      await assert.rejects(
        new Client({ redis: upstash() }).enqueue("noop", []),
        (e) => e instanceof NexusClientError && e.code === "unauthorized",
      );
    } finally {
      standin.misbehave = null;
    }
  });
});

/** Loaded in a child process before the client: refuses every Node built-in module that
 * the package's own files import (the edge runtime has none of node:crypto, node:buffer...). */
const EDGE_HOOKS = `import { builtinModules } from "node:module";
export async function resolve(spec, context, next) {
  const builtin = spec.startsWith("node:") || builtinModules.includes(spec);
  if (builtin && context.parentURL?.includes("/dist/esm/"))
    throw new Error(spec + " is not on the edge runtime (imported by " + context.parentURL + ")");
  return next(spec, context);
}`;

/** The child: like an edge route, no Buffer and no Node module for the package's own code
 * (the stack's second line is who reads `Buffer`), pushing through Upstash. */
const EDGE_ROUTE = `import { register } from "node:module";
register("data:text/javascript," + encodeURIComponent(process.env.EDGE_HOOKS));
const NodeBuffer = Buffer; // node's own fetch needs it: only the package's files lose it
Object.defineProperty(globalThis, "Buffer", { get() {
  if (new Error().stack.split("\\n")[2].includes("/dist/esm/"))
    throw new ReferenceError("Buffer is not defined (on the edge runtime)");
  return NodeBuffer;
} });
globalThis.EdgeRuntime = "edge-runtime";
const { Redis } = await import("@upstash/redis");
const { Client } = await import("./dist/esm/index.js");
const redis = new Redis({ url: process.env.UPSTASH_REDIS_REST_URL,
  token: process.env.UPSTASH_REDIS_REST_TOKEN, enableTelemetry: false });
const jobs = new Client({ redis, namespace: process.env.NS });
const { jid } = await jobs.enqueue("noop", ["édge"]);
const { jids } = await jobs.enqueueMany("noop", [[1], [2]], { in: "1s" });
console.log(JSON.stringify([jid, ...jids]));`;

describe("on the edge runtime", () => {
  it("the ES module build pushes without Buffer or any Node module", async () => {
    const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
    // not spawnSync: the stand-in answering the child runs in this process
    const child = await promisify(execFile)(
      process.execPath,
      ["--no-warnings", "--input-type=module", "-e", EDGE_ROUTE],
      {
        cwd: root,
        timeout: 30000,
        env: {
          ...process.env,
          EDGE_HOOKS,
          UPSTASH_REDIS_REST_URL: standin.url,
          UPSTASH_REDIS_REST_TOKEN: TOKEN,
          NS,
        },
      },
    );
    const jids = JSON.parse(child.stdout);
    await nexusd.waitJobs(jids, { timeout: 15000 });
  });

  it("the check itself refuses a Node module imported from a dist/esm file", () => {
    const probe = path.join(dir, "dist", "esm", "probe.mjs");
    fs.mkdirSync(path.dirname(probe), { recursive: true });
    fs.writeFileSync(probe, 'import { randomBytes } from "node:crypto";\nrandomBytes(1);\n');
    const child = spawnSync(
      process.execPath,
      [
        "--no-warnings",
        "--input-type=module",
        "-e",
        'import { register } from "node:module";\n' +
          'register("data:text/javascript," + encodeURIComponent(process.env.EDGE_HOOKS));\n' +
          `await import(${JSON.stringify(pathToFileURL(probe).href)});`,
      ],
      { encoding: "utf8", timeout: 30000, env: { ...process.env, EDGE_HOOKS } },
    );
    assert.notEqual(child.status, 0);
    assert.match(child.stderr, /node:crypto is not on the edge runtime/);
  });
});
