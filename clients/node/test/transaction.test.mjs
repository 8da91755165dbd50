// transaction.test.mjs - enqueueInTransaction against a real PostgreSQL migrated by nexusd,
// with a nexusd relaying its outbox: a committed job runs once, a rolled-back one never, and
// of two unique duplicates only the first is pushed, a job's trace context reaches nexusd.
// Skipped when no PostgreSQL server is installed (/usr/lib/postgresql/*/bin).

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { after, before, describe, it } from "node:test";

import IORedis from "ioredis";
import pg from "pg";

import { Client, NexusClientError } from "../dist/esm/index.js";
import {
  pgBindir,
  sleep,
  startNexusd,
  startPostgres,
  startRedis,
  teardown,
  tempDir,
  waitFor,
} from "./support/servers.mjs";

const skip = pgBindir() ? false : "no PostgreSQL server under /usr/lib/postgresql";
const sha256 = (s) => createHash("sha256").update(s).digest("hex");
let dir, server, postgres, nexusd, redis, db;

describe("enqueueInTransaction", { skip }, () => {
  before(async () => {
    dir = tempDir();
    server = await startRedis(dir);
    postgres = await startPostgres(dir);
    nexusd = await startNexusd(dir, server, {
      queues: ["default", "orders"],
      env: { DATABASE_URL: postgres.url },
    });
    await nexusd.waitLog(/event=db_listen_up .*channel=nexus_outbox/, 20000);
    redis = new IORedis({ path: server.sock });
    db = new pg.Client({ connectionString: postgres.url });
    await db.connect();
  });

  after(() =>
    teardown({
      close: [() => db?.end(), () => redis?.quit()],
      nexusd,
      servers: [postgres, server],
      dir,
    }),
  );

  const query = (sql, params) => db.query(sql, params);

  async function transaction(body, commit) {
    await db.query("BEGIN");
    try {
      const out = await body();
      await db.query(commit ? "COMMIT" : "ROLLBACK");
      return out;
    } catch (e) {
      await db.query("ROLLBACK");
      throw e;
    }
  }

  it("a committed job runs once, a rolled-back one never", async () => {
    const jobs = new Client({ redis });
    const kept = await transaction(
      () => jobs.enqueueInTransaction(query, "noop", [1, "x"], { queue: "orders" }),
      true,
    );
    const dropped = await transaction(() => jobs.enqueueInTransaction(query, "noop", [2]), false);
    assert.match(kept.jid, /^[0-9a-f]{24}$/);
    assert.match(dropped.jid, /^[0-9a-f]{24}$/);
    const seen = await nexusd.waitJobs([kept.jid]);
    assert.equal(seen[kept.jid].queue, "orders");
    await sleep(1000);
    assert.equal(nexusd.lines({ event: "job", jid: kept.jid }).length, 1);
    assert.equal(nexusd.lines({ event: "job", jid: dropped.jid }).length, 0);
    assert.equal((await db.query("SELECT count(*)::int AS n FROM nexus.outbox")).rows[0].n, 0);
  });

  it("takes rows as Prisma's $queryRawUnsafe and postgres.js give them, and `in`", async () => {
    const rowsOnly = (sql, params) => db.query(sql, params).then((r) => r.rows);
    const jobs = new Client({ redis });
    const { jid } = await transaction(
      () => jobs.enqueueInTransaction(rowsOnly, "noop", [], { in: "1h", retry: 3 }),
      true,
    );
    const due = Date.now() / 1000 + 3600;
    const [text, score] = await waitFor(
      async () => {
        const all = await redis.zrange("schedule", 0, -1, "WITHSCORES");
        const i = all.findIndex((t) => t.includes(jid));
        return i >= 0 && [all[i], Number(all[i + 1])];
      },
      { what: "the relay to put the job in the schedule" },
    );
    assert.ok(Math.abs(score - due) < 10, `due ${score}, expected about ${due}`);
    assert.equal(JSON.parse(text).retry, 3);
  });

  it("of two unique duplicates committed together, the relay pushes the first", async () => {
    const jobs = new Client({ redis });
    const [a, b] = await transaction(
      async () => [
        await jobs.enqueueInTransaction(query, "noop", ["unique"], { uniqueFor: "1m" }),
        await jobs.enqueueInTransaction(query, "noop", ["unique"], { uniqueFor: "1m" }),
      ],
      true,
    );
    assert.notEqual(a.jid, b.jid);
    await nexusd.waitJobs([a.jid]);
    const lock = `unique:${sha256(`noop:${sha256(JSON.stringify(["unique"]))}`)}`;
    await waitFor(async () => !(await redis.exists(lock)), { what: "the lock let go" });
    await sleep(500);
    assert.equal(nexusd.lines({ event: "job", jid: b.jid }).length, 0);
    assert.equal((await db.query("SELECT count(*)::int AS n FROM nexus.outbox")).rows[0].n, 0);
  });

  it("a job's trace context goes through the outbox: nexusd logs its trace id", async () => {
    const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    const jobs = new Client({ redis });
    const [traced, unique] = await transaction(
      async () => [
        await jobs.enqueueInTransaction(query, "noop", ["t"], {
          traceparent,
          tracestate: "rojo=1",
        }),
        await jobs.enqueueInTransaction(query, "noop", ["u"], { uniqueFor: "1m", traceparent }),
      ],
      true,
    );
    const seen = await nexusd.waitJobs([traced.jid, unique.jid]);
    assert.equal(seen[traced.jid].trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    assert.equal(seen[unique.jid].trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    await assert.rejects(
      transaction(
        () => jobs.enqueueInTransaction(query, "noop", [], { traceparent: "00-bad" }),
        true,
      ),
      (e) => e instanceof NexusClientError && e.code === "invalid_argument",
    );
  });

  it("a failing statement is a database error, and invalid args never reach it", async () => {
    const jobs = new Client({ redis });
    const failing = async () => {
      throw new Error("current transaction is aborted");
    };
    await assert.rejects(
      jobs.enqueueInTransaction(failing, "noop", []),
      (e) => e instanceof NexusClientError && e.code === "database" && /aborted/.test(e.message),
    );
    let called = false;
    const spy = async () => ((called = true), []);
    await assert.rejects(
      jobs.enqueueInTransaction(spy, "noop", [undefined]),
      (e) => e.code === "invalid_argument",
    );
    assert.equal(called, false);
  });
});
