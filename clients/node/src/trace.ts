// trace.ts - a job's W3C trace context (docs/PROTOCOL.md, "Trace context"): the `traceparent`
// option checked as nexusd checks it, or by default the active OpenTelemetry span's, read
// through @opentelemetry/api when the app has it installed (an optional peer dependency,
// loaded on first use; without it, or without an active span, jobs carry none).

import { NexusClientError, describe } from "./errors.js";

/** What a job carries: a version-00 traceparent and, optionally, its tracestate. */
export interface TraceContext {
  traceparent: string;
  tracestate: string | undefined;
}

/** Level 1, version 00: lowercase hex, neither id all zeros (what nexusd accepts). */
const TRACEPARENT = /^00-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}$/;
/** Passed on as it is: 1..512 bytes of printable ASCII. */
const TRACESTATE = /^[\x20-\x7e]{1,512}$/;

function invalid(message: string): NexusClientError {
  return new NexusClientError("invalid_argument", message);
}

/** The `traceparent` and `tracestate` options, checked: the context they give, `false` for
 * none (`traceparent: false`), or undefined when the option is left out (then the active
 * span's, activeTrace()). Throws `invalid_argument`. */
export function traceOption(
  traceparent: unknown,
  tracestate: unknown,
): TraceContext | false | undefined {
  if (traceparent === undefined || traceparent === false) {
    if (tracestate !== undefined) throw invalid("`tracestate` needs `traceparent`");
    return traceparent;
  }
  if (typeof traceparent !== "string" || !TRACEPARENT.test(traceparent))
    throw invalid(
      "`traceparent` must be W3C trace context, 00-<32 hex trace-id>-<16 hex parent-id>-<2 hex " +
        `flags> in lowercase, neither id all zeros (got ${describe(traceparent)})`,
    );
  if (tracestate !== undefined && (typeof tracestate !== "string" || !TRACESTATE.test(tracestate)))
    throw invalid(
      `\`tracestate\` must be 1..512 printable ASCII characters (got ${describe(tracestate)})`,
    );
  return { traceparent, tracestate };
}

/** The parts of @opentelemetry/api 1.x read here. */
interface OtelSpanContext {
  traceId: string;
  spanId: string;
  traceFlags: number;
  traceState?: { serialize(): string };
}
interface OtelApi {
  trace: { getActiveSpan(): { spanContext(): OtelSpanContext } | undefined };
}

/** A variable, not a literal: bundlers leave the optional module alone instead of failing
 * the build of an app without it. */
const OTEL_API = "@opentelemetry/api";
let otel: Promise<OtelApi | undefined> | undefined;

function loadOtel(): Promise<OtelApi | undefined> {
  otel ??= import(/* webpackIgnore: true */ OTEL_API).then(
    (m: { default?: unknown } & Partial<OtelApi>) => {
      const api = (m.trace ? m : m.default) as Partial<OtelApi> | undefined;
      return typeof api?.trace?.getActiveSpan === "function" ? (api as OtelApi) : undefined;
    },
    () => undefined, // not installed: no trace context
  );
  return otel;
}

/** The active OpenTelemetry span's context, when @opentelemetry/api is installed and a span is
 * active with valid ids (a non-recording span too: it is what the app passes on); else
 * undefined. */
export async function activeTrace(): Promise<TraceContext | undefined> {
  const api = await loadOtel();
  const sc = api?.trace.getActiveSpan()?.spanContext();
  if (!sc || !Number.isInteger(sc.traceFlags)) return undefined;
  const flags = (sc.traceFlags & 0xff).toString(16).padStart(2, "0");
  const traceparent = `00-${sc.traceId}-${sc.spanId}-${flags}`;
  if (!TRACEPARENT.test(traceparent)) return undefined;
  const state = sc.traceState?.serialize();
  return { traceparent, tracestate: state && TRACESTATE.test(state) ? state : undefined };
}

/** The trace context the jobs of a call carry, from its options: the option's, none, or the
 * active span's. Throws `invalid_argument`. */
export async function traceFor(
  opts: { traceparent?: unknown; tracestate?: unknown } | undefined,
): Promise<TraceContext | undefined> {
  const given =
    opts !== null && typeof opts === "object"
      ? traceOption(opts.traceparent, opts.tracestate)
      : undefined;
  if (given === false) return undefined;
  return given ?? (await activeTrace());
}
