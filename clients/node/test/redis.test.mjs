// redis.test.mjs - jobs pushed through ioredis and node-redis v4 into a real redis-server,
// run by a real nexusd (NEXUSD): now, many at once, later, under a namespace; and what a
// push leaves in Redis before any process takes it.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import IORedis from "ioredis";
import { createClient } from "redis";

import { Client, NexusClientError } from "../dist/esm/index.js";
import { logTime, startNexusd, startRedis, teardown, tempDir } from "./support/servers.mjs";

const NS = "nx:";
let dir, server, nexusd;
const conns = {};

before(async () => {
  dir = tempDir();
  server = await startRedis(dir);
  nexusd = await startNexusd(dir, server, { namespace: NS, queues: ["default", "low"] });
  conns.ioredis = new IORedis({ path: server.sock });
  conns["node-redis"] = createClient({ socket: { path: server.sock } });
  await conns["node-redis"].connect();
});

after(() =>
  teardown({
    close: [() => conns.ioredis?.quit(), () => conns["node-redis"]?.quit()],
    nexusd,
    servers: [server],
    dir,
  }),
);

for (const kind of ["ioredis", "node-redis"]) {
  describe(`through ${kind}`, () => {
    const jobs = () => new Client({ redis: conns[kind], namespace: NS });

    it("a job runs once nexusd takes it", async () => {
      const { jid } = await jobs().enqueue("noop", [kind, 1]);
      const seen = await nexusd.waitJobs([jid]);
      assert.equal(seen[jid].class, "noop");
      assert.equal(seen[jid].queue, "default");
    });

    it("many jobs in one call all run", async () => {
      const argsList = Array.from({ length: 50 }, (_, i) => [kind, i]);
      const { jids } = await jobs().enqueueMany("noop", argsList, { queue: "low" });
      assert.equal(jids.length, 50);
      await nexusd.waitJobs(jids);
    });

    it("a job due in 1s runs after its time, not before", async () => {
      const pushed = Date.now() / 1000;
      const { jid } = await jobs().enqueue("noop", [kind], { in: "1s" });
      const seen = await nexusd.waitJobs([jid], { timeout: 15000 });
      assert.ok(
        logTime(seen[jid]) >= pushed + 1 - 0.01,
        `ran at ${seen[jid].ts}, pushed at ${pushed}`,
      );
    });

    it("retry: false sends a failing job to dead at its first failure", async () => {
      const { jid } = await jobs().enqueue("fail", [`${kind} on purpose`], { retry: false });
      const seen = await nexusd.waitJobs([jid], { outcome: "dead" });
      assert.equal(seen[jid].attempt, "1");
      assert.equal(nexusd.lines({ event: "job", jid, outcome: "retry" }).length, 0);
    });

    it("a job lands in Sidekiq's keys under the namespace as PROTOCOL.md says", async () => {
      const { jid } = await jobs().enqueue("email.welcome", [7], { queue: "nobody", retry: false });
      const raw = await conns.ioredis.lrange(`${NS}queue:nobody`, 0, -1);
      const job = JSON.parse(raw.find((t) => t.includes(jid)));
      assert.deepEqual(
        { class: job.class, args: job.args, queue: job.queue, retry: job.retry },
        { class: "email.welcome", args: [7], queue: "nobody", retry: false },
      );
      assert.match(job.jid, /^[0-9a-f]{24}$/);
      assert.ok(Math.abs(job.created_at - Date.now() / 1000) < 10);
      assert.ok(await conns.ioredis.sismember(`${NS}queues`, "nobody"));
      const { jid: later } = await jobs().enqueue("noop", [], { in: "1h", queue: "nobody" });
      const [text, score] = await conns.ioredis
        .zrange(`${NS}schedule`, 0, -1, "WITHSCORES")
        .then((r) => {
          const i = r.findIndex((t) => t.includes(later));
          return [r[i], Number(r[i + 1])];
        });
      assert.ok(Math.abs(score - (Date.now() / 1000 + 3600)) < 10);
      assert.equal("enqueued_at" in JSON.parse(text), false);
    });
  });
}

describe("a connection that cannot send", () => {
  it("is a redis error (ioredis, offline queue off)", async () => {
    const redis = new IORedis({
      path: dir + "/missing.sock",
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
    });
    try {
      await assert.rejects(
        new Client({ redis }).enqueue("noop", []),
        (e) => e instanceof NexusClientError && e.code === "redis" && /ioredis/.test(e.message),
      );
    } finally {
      redis.disconnect();
    }
  });

  it("is a redis error (node-redis, not connected)", async () => {
    const redis = createClient({ socket: { path: server.sock } });
    await assert.rejects(
      new Client({ redis }).enqueue("noop", []),
      (e) => e instanceof NexusClientError && e.code === "redis" && /node-redis/.test(e.message),
    );
  });
});
