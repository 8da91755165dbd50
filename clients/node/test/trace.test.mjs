// trace.test.mjs - a job's W3C trace context: the `traceparent` option checked and written into
// the job, and by default the active OpenTelemetry span's, read through @opentelemetry/api
// (loaded lazily, by the ESM and the CommonJS builds alike) with a context manager on
// AsyncLocalStorage standing in for the app's SDK. No server: a stand-in connection records
// what is sent.

import assert from "node:assert/strict";
import { AsyncLocalStorage } from "node:async_hooks";
import { createRequire } from "node:module";
import { before, describe, it } from "node:test";

import { ROOT_CONTEXT, TraceFlags, context, createTraceState, trace } from "@opentelemetry/api";

import { Client, NexusClientError } from "../dist/esm/index.js";
import { fakeIoredis } from "./support/fake-ioredis.mjs";

const TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";
const SPAN_ID = "00f067aa0ba902b7";
const TRACEPARENT = `00-${TRACE_ID}-${SPAN_ID}-01`;

/** The jobs pushed through `redis` (a fakeIoredis()), parsed. */
function pushed(redis) {
  return redis.sent
    .flat()
    .filter((c) => c[0] === "lpush")
    .flatMap((c) => c.slice(2).map((t) => JSON.parse(t)));
}

/** The part of an OpenTelemetry SDK that makes a span active: contexts on AsyncLocalStorage. */
class AlsContextManager {
  #als = new AsyncLocalStorage();
  active() {
    return this.#als.getStore() ?? ROOT_CONTEXT;
  }
  with(ctx, fn, thisArg, ...args) {
    return this.#als.run(ctx, () => fn.call(thisArg, ...args));
  }
  bind(_ctx, target) {
    return target;
  }
  enable() {
    return this;
  }
  disable() {
    this.#als.disable();
    return this;
  }
}

/** Runs `fn` with a span of that trace active, as an instrumented request handler does. */
function inSpan(fn, { flags = TraceFlags.SAMPLED, state } = {}) {
  const span = trace.wrapSpanContext({
    traceId: TRACE_ID,
    spanId: SPAN_ID,
    traceFlags: flags,
    isRemote: false,
    traceState: state === undefined ? undefined : createTraceState(state),
  });
  return context.with(trace.setSpan(context.active(), span), fn);
}

const refused = (pattern) => (e) =>
  e instanceof NexusClientError && e.code === "invalid_argument" && pattern.test(e.message);

describe("the traceparent option", () => {
  it("goes into the job with its tracestate, after the args", async () => {
    const redis = fakeIoredis();
    await new Client({ redis }).enqueue("noop", [1], {
      traceparent: TRACEPARENT,
      tracestate: "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE",
    });
    const [job] = pushed(redis);
    assert.equal(job.traceparent, TRACEPARENT);
    assert.equal(job.tracestate, "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
    const keys = Object.keys(job);
    assert.ok(keys.indexOf("traceparent") > keys.indexOf("args"));
  });

  it("is given to every job of an enqueueMany, unique ones too", async () => {
    const redis = fakeIoredis();
    await new Client({ redis }).enqueueMany("noop", [[1], [2]], { traceparent: TRACEPARENT });
    assert.deepEqual(
      pushed(redis).map((j) => [j.args[0], j.traceparent, "tracestate" in j]),
      [
        [1, TRACEPARENT, false],
        [2, TRACEPARENT, false],
      ],
    );
  });

  it("is refused, nothing sent, unless it is what nexusd reads", async () => {
    const bad = [
      `01-${TRACE_ID}-${SPAN_ID}-01`,
      `00-${TRACE_ID.toUpperCase()}-${SPAN_ID}-01`,
      `00-${"0".repeat(32)}-${SPAN_ID}-01`,
      `00-${TRACE_ID}-${"0".repeat(16)}-01`,
      `00-${TRACE_ID}-${SPAN_ID}-01-extra`,
      "",
      42,
      null,
      true,
    ];
    const redis = fakeIoredis();
    const client = new Client({ redis });
    for (const traceparent of bad)
      await assert.rejects(
        client.enqueue("noop", [], { traceparent }),
        refused(/`traceparent` must be W3C trace context/),
      );
    await assert.rejects(
      client.enqueue("noop", [], { traceparent: TRACEPARENT, tracestate: "a=1\nb=2" }),
      refused(/`tracestate` must be 1..512 printable ASCII/),
    );
    await assert.rejects(
      client.enqueue("noop", [], { traceparent: TRACEPARENT, tracestate: "x".repeat(513) }),
      refused(/`tracestate`/),
    );
    await assert.rejects(
      client.enqueue("noop", [], { tracestate: "a=1" }),
      refused(/`tracestate` needs `traceparent`/),
    );
    assert.deepEqual(pushed(redis), []);
  });
});

describe("the active OpenTelemetry span", () => {
  before(() => {
    assert.ok(context.setGlobalContextManager(new AlsContextManager()));
  });

  it("gives its context to a job by default", async () => {
    const redis = fakeIoredis();
    const client = new Client({ redis });
    await inSpan(() => client.enqueue("noop", ["in"]), { state: "rojo=1" });
    await client.enqueue("noop", ["out"]);
    const [inside, outside] = pushed(redis);
    assert.equal(inside.traceparent, TRACEPARENT);
    assert.equal(inside.tracestate, "rojo=1");
    assert.ok(!("traceparent" in outside) && !("tracestate" in outside));
  });

  it("keeps its flags: an unsampled span stays unsampled", async () => {
    const redis = fakeIoredis();
    await inSpan(() => new Client({ redis }).enqueue("noop", []), { flags: TraceFlags.NONE });
    assert.equal(pushed(redis)[0].traceparent, `00-${TRACE_ID}-${SPAN_ID}-00`);
  });

  it("gives way to the option, and to traceparent: false", async () => {
    const redis = fakeIoredis();
    const client = new Client({ redis });
    const other = `00-${"a".repeat(32)}-${"b".repeat(16)}-01`;
    await inSpan(async () => {
      await client.enqueue("noop", [1], { traceparent: other });
      await client.enqueue("noop", [2], { traceparent: false });
    });
    const [given, none] = pushed(redis);
    assert.equal(given.traceparent, other);
    assert.ok(!("traceparent" in none));
  });

  it("is read by the CommonJS build too", async () => {
    const require = createRequire(import.meta.url);
    const cjs = require("../dist/cjs/index.js");
    const redis = fakeIoredis();
    await inSpan(() => new cjs.Client({ redis }).enqueue("noop", []));
    assert.equal(pushed(redis)[0].traceparent, TRACEPARENT);
  });
});
