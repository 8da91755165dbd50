// unique.test.mjs - unique jobs (uniqueFor, uniqueKey) through ioredis, node-redis v4 and
// @upstash/redis (the REST stand-in) into a real redis-server run by a real nexusd: a duplicate is not pushed and resolves to the jid
// holding the lock, per job in enqueueMany; the lock is let go when the job succeeds
// (enqueueInTransaction's are in transaction.test.mjs). The script sent is nexusd's own
// push.lua (src/push-lua.ts, generated and checked here).

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";

import { Redis as Upstash } from "@upstash/redis";
import IORedis from "ioredis";
import { createClient } from "redis";

import { Client, NexusClientError } from "../dist/esm/index.js";
import { startNexusd, startRedis, teardown, tempDir, waitFor } from "./support/servers.mjs";
import { startUpstashStandin } from "./support/upstash-standin.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const NS = "u:";
const sha256 = (s) => createHash("sha256").update(s).digest("hex");
const TOKEN = "unique-test-token";
let dir, server, nexusd, standin;
const conns = {};

before(async () => {
  dir = tempDir();
  server = await startRedis(dir);
  nexusd = await startNexusd(dir, server, { namespace: NS });
  conns.ioredis = new IORedis({ path: server.sock });
  conns["node-redis"] = createClient({ socket: { path: server.sock } });
  await conns["node-redis"].connect();
  standin = await startUpstashStandin(server.sock, TOKEN);
  conns.upstash = new Upstash({ url: standin.url, token: TOKEN, enableTelemetry: false });
});

after(() =>
  teardown({
    close: [() => conns.ioredis?.quit(), () => conns["node-redis"]?.quit(), () => standin?.stop()],
    nexusd,
    servers: [server],
    dir,
  }),
);

it("the script is nexusd's push.lua as queue/lua holds it now", () => {
  const res = spawnSync(
    process.execPath,
    [path.join(HERE, "..", "scripts", "push-lua.cjs"), "--check"],
    {
      encoding: "utf8",
    },
  );
  assert.equal(res.status, 0, res.stderr);
});

for (const kind of ["ioredis", "node-redis", "upstash"]) {
  describe(`through ${kind}`, () => {
    const jobs = () => new Client({ redis: conns[kind], namespace: NS });
    const redis = () => conns.ioredis;

    it("a duplicate enqueue resolves to the holder's jid and only one job runs", async () => {
      const first = await jobs().enqueue("sleep", [600], {
        uniqueFor: "1m",
        uniqueKey: `welcome:${kind}`,
      });
      assert.equal(first.duplicate, false);
      const again = await jobs().enqueue("sleep", [600], {
        uniqueFor: 60,
        uniqueKey: `welcome:${kind}`,
      });
      assert.deepEqual(again, { jid: first.jid, duplicate: true });
      const lock = `${NS}unique:${sha256(`welcome:${kind}`)}`;
      assert.equal(await redis().get(lock), first.jid);
      const ttl = await redis().pttl(lock);
      assert.ok(ttl > 59000 && ttl <= 60000, `ttl ${ttl}`);
      await nexusd.waitJobs([first.jid]);
      // let go on success: a new job may take it
      await waitFor(async () => !(await redis().exists(lock)), { what: "the lock let go" });
      const third = await jobs().enqueue("sleep", [600], {
        uniqueFor: "1m",
        uniqueKey: `welcome:${kind}`,
      });
      assert.equal(third.duplicate, false);
      assert.notEqual(third.jid, first.jid);
      await nexusd.waitJobs([third.jid]);
      assert.equal(nexusd.lines({ event: "job", jid: first.jid }).length, 1);
    });

    it("enqueueMany flags each duplicate by index, keyed by class and args", async () => {
      const { jids, duplicates } = await jobs().enqueueMany(
        "sleep",
        [
          [kind, 700],
          [kind, 701],
          [kind, 700],
        ],
        { uniqueFor: "10m", queue: "other" }, // a queue nexusd does not read: they stay
      );
      assert.deepEqual(duplicates, [false, false, true]);
      assert.equal(jids[2], jids[0]);
      assert.notEqual(jids[1], jids[0]);
      const queued = (await redis().lrange(`${NS}queue:other`, 0, -1)).map((t) => JSON.parse(t));
      const mine = queued.filter((j) => jids.includes(j.jid));
      assert.equal(mine.length, 2);
      for (const job of mine) {
        assert.equal(job.unique_for, 600);
        assert.equal(job.unique_key, `sleep:${sha256(JSON.stringify(job.args))}`);
        assert.equal(await redis().get(`${NS}unique:${sha256(job.unique_key)}`), job.jid);
      }
      await redis().del(`${NS}queue:other`);
    });

    it("a job due later holds its lock until due plus uniqueFor", async () => {
      const { jid } = await jobs().enqueue("noop", [kind], { in: "1h", uniqueFor: "10m" });
      const key = `noop:${sha256(JSON.stringify([kind]))}`;
      const lock = `${NS}unique:${sha256(key)}`;
      const ttl = await redis().pttl(lock);
      assert.ok(ttl > 4190000 && ttl <= 4200000, `ttl ${ttl}`);
      const scheduled = await redis().zrange(`${NS}schedule`, 0, -1);
      assert.ok(scheduled.some((t) => JSON.parse(t).jid === jid));
      const again = await jobs().enqueue("noop", [kind], { uniqueFor: "10m" });
      assert.deepEqual(again, { jid, duplicate: true });
    });
  });
}

it("refuses bad unique options before sending anything", async () => {
  const jobs = new Client({ redis: conns.ioredis, namespace: NS });
  const refused = (pattern) => (e) =>
    e instanceof NexusClientError && e.code === "invalid_argument" && pattern.test(e.message);
  await assert.rejects(jobs.enqueue("noop", [], { uniqueFor: 0 }), refused(/uniqueFor/));
  await assert.rejects(jobs.enqueue("noop", [], { uniqueFor: "soon" }), refused(/uniqueFor/));
  await assert.rejects(jobs.enqueue("noop", [], { uniqueKey: "k" }), refused(/needs `uniqueFor`/));
  await assert.rejects(
    jobs.enqueue("noop", [], { uniqueFor: "1m", uniqueKey: "x".repeat(513) }),
    refused(/uniqueKey/),
  );
});
