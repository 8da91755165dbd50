// client.test.mjs - what the client sends, checked against a stand-in connection that records
// each transaction (no server): the job's fields, keys, one round trip per call, and every
// refusal before anything is sent. Also that the CommonJS build loads.

import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { describe, it } from "node:test";

import { Client, NexusClientError } from "../dist/esm/index.js";
import { fakeIoredis } from "./support/fake-ioredis.mjs";

function refused(code, pattern) {
  return (e) => e instanceof NexusClientError && e.code === code && pattern.test(e.message);
}

describe("a push", () => {
  it("is one MULTI of SADD queues and LPUSH, the job in Sidekiq's format", async () => {
    const redis = fakeIoredis();
    const before = Date.now() / 1000;
    const { jid } = await new Client({ redis, namespace: "{app}:" }).enqueue(
      "email.welcome",
      [42],
      { retry: 5 },
    );
    assert.match(jid, /^[0-9a-f]{24}$/);
    assert.equal(redis.sent.length, 1);
    const [[sadd, lpush]] = redis.sent;
    assert.deepEqual(sadd, ["sadd", "{app}:queues", "default"]);
    assert.equal(lpush[1], "{app}:queue:default");
    const job = JSON.parse(lpush[2]);
    assert.deepEqual(Object.keys(job), [
      "jid",
      "class",
      "queue",
      "retry",
      "created_at",
      "enqueued_at",
      "args",
    ]);
    assert.equal(job.jid, jid);
    assert.equal(job.class, "email.welcome");
    assert.deepEqual(job.args, [42]);
    assert.equal(job.retry, 5);
    assert.ok(
      job.created_at >= before && job.created_at <= Date.now() / 1000 && job.created_at < 1e11,
    );
    assert.equal(job.enqueued_at, job.created_at);
  });

  it("for later is one ZADD schedule scored by its due time, without enqueued_at", async () => {
    const redis = fakeIoredis();
    const client = new Client({ redis });
    const now = Date.now() / 1000;
    await client.enqueue("noop", [], { in: "10m" });
    await client.enqueue("noop", [], { at: new Date((now + 3600) * 1000), queue: "low" });
    await client.enqueue("noop", [], { at: now + 60 });
    const [[a], [b], [c]] = redis.sent;
    assert.equal(a[0], "zadd");
    assert.equal(a[1], "schedule");
    assert.ok(Math.abs(Number(a[2]) - (now + 600)) < 5);
    assert.ok(Math.abs(Number(b[2]) - (now + 3600)) < 1);
    assert.ok(Math.abs(Number(c[2]) - (now + 60)) < 1);
    const job = JSON.parse(b[3]);
    assert.equal(job.queue, "low");
    assert.equal("enqueued_at" in job, false);
    assert.equal("at" in job, false);
  });

  it("due in the past goes to its queue now, as Sidekiq's", async () => {
    const redis = fakeIoredis();
    await new Client({ redis }).enqueue("noop", [], {
      at: new Date(Date.now() - 1000),
      queue: "q",
    });
    assert.deepEqual(
      redis.sent[0].map((c) => c[0]),
      ["sadd", "lpush"],
    );
  });

  it("of many jobs is one LPUSH with every job, jids in order", async () => {
    const redis = fakeIoredis();
    const { jids } = await new Client({ redis }).enqueueMany("analytics.rollup", [
      ["2026-11-01"],
      ["2026-11-02"],
      ["2026-11-03"],
    ]);
    assert.equal(redis.sent.length, 1);
    const lpush = redis.sent[0][1];
    assert.equal(lpush.length, 2 + 3);
    assert.deepEqual(
      lpush.slice(2).map((t) => JSON.parse(t).jid),
      jids,
    );
    assert.deepEqual(
      lpush.slice(2).map((t) => JSON.parse(t).args[0]),
      ["2026-11-01", "2026-11-02", "2026-11-03"],
    );
    assert.equal(new Set(jids).size, 3);
  });

  it("of no jobs sends nothing", async () => {
    const redis = fakeIoredis();
    assert.deepEqual(await new Client({ redis }).enqueueMany("noop", []), {
      jids: [],
      duplicates: [],
    });
    assert.equal(redis.sent.length, 0);
  });
});

describe("a call is refused before anything is sent", () => {
  const redis = fakeIoredis();
  const client = new Client({ redis });
  const cases = [
    ["an empty class", () => client.enqueue("", []), /class/],
    ["a class with a control character", () => client.enqueue("a\nb", []), /control/],
    ["a class over 128 bytes", () => client.enqueue("é".repeat(65), []), /1\.\.128/],
    ["a queue with a space", () => client.enqueue("noop", [], { queue: "a b" }), /queue/],
    ["args that are not an array", () => client.enqueue("noop", { a: 1 }), /args must be an array/],
    [
      "a Date in args",
      () => client.enqueue("noop", [{ when: new Date() }]),
      /args\[0\]\.when is a Date.*toISOString/,
    ],
    ["undefined in args", () => client.enqueue("noop", [undefined]), /args\[0\] is undefined/],
    ["NaN in args", () => client.enqueue("noop", [NaN]), /NaN/],
    ["a bigint in args", () => client.enqueue("noop", [1n]), /bigint/],
    ["a function in args", () => client.enqueue("noop", [() => 1]), /function/],
    ["a lone surrogate in args", () => client.enqueue("noop", ["\ud800"]), /surrogate/],
    ["a retry of -1", () => client.enqueue("noop", [], { retry: -1 }), /retry/],
    ["a retry of 10001", () => client.enqueue("noop", [], { retry: 10001 }), /retry/],
    ["both at and in", () => client.enqueue("noop", [], { at: new Date(), in: "1s" }), /together/],
    ["an unknown duration", () => client.enqueue("noop", [], { in: "10 minutes" }), /duration/],
    ["at in milliseconds", () => client.enqueue("noop", [], { at: Date.now() }), /milliseconds/],
    [
      "one bad job of many",
      () => client.enqueueMany("noop", [[1], [undefined]]),
      /argsList\[1\]\[0\]/,
    ],
  ];
  for (const [what, call, pattern] of cases)
    it(`: ${what}`, async () => {
      await assert.rejects(call, refused("invalid_argument", pattern));
      assert.equal(redis.sent.length, 0);
    });

  it(": a cycle in args", async () => {
    const a = [];
    a.push(a);
    await assert.rejects(client.enqueue("noop", [a]), refused("invalid_argument", /cycle/));
  });

  it(": a job over maxJobSize (too_large)", async () => {
    const small = new Client({ redis, maxJobSize: 2048 });
    await assert.rejects(
      small.enqueue("noop", ["x".repeat(2048)]),
      refused("too_large", /max_job_size/),
    );
    await small.enqueue("noop", ["x".repeat(1800)]);
    assert.equal(redis.sent.length, 1);
  });

  it(": a connection of no known library", () => {
    assert.throws(
      () => new Client({ redis: {} }),
      refused("invalid_argument", /ioredis.*node-redis/),
    );
    assert.throws(
      () => new Client({ redis: fakeIoredis(), namespace: 7 }),
      refused("invalid_argument", /namespace/),
    );
  });
});

describe("a failing Redis", () => {
  it("is a redis error with the library's message", async () => {
    const redis = fakeIoredis();
    redis.multi = () => {
      const m = {
        sadd: () => m,
        lpush: () => m,
        exec: async () => [
          [null, 1],
          [new Error("OOM command not allowed"), null],
        ],
      };
      return m;
    };
    await assert.rejects(
      new Client({ redis }).enqueue("noop", []),
      refused("redis", /ioredis.*OOM/),
    );
  });
});

describe("the packages", () => {
  it("CommonJS exports the same API", () => {
    const cjs = createRequire(import.meta.url)("../dist/cjs/index.js");
    assert.equal(typeof cjs.Client, "function");
    assert.equal(new cjs.NexusClientError("redis", "x").code, "redis");
  });
});
