// job.ts - a job as docs/PROTOCOL.md defines it: options checked, the JSON text written, and
// its size checked before anything is sent (pure, apart from the random jid).

import { MAX_DELAY_S, parseDuration } from "./duration.js";
import { NexusClientError, describe } from "./errors.js";
import type { TraceContext } from "./trace.js";

/** A job's arguments: any JSON values. */
export type JsonValue =
  null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

export interface EnqueueOptions {
  /** The queue, 1..128 bytes without white space; default "default". */
  queue?: string;
  /** When it is due: a Date, or epoch seconds (as Sidekiq's perform_at). A time already past
   * pushes it now. */
  at?: Date | number;
  /** Due after this long: "30s", "10m", "2h", "1d", or a number of seconds. Not with `at`. */
  in?: string | number;
  /** true (default): the class's retries; false or 0: none; N: at most N (0..10000). */
  retry?: boolean | number;
  /** A unique job (docs/PROTOCOL.md, "Unique jobs"): not pushed while a job of the same key
   * holds its lock, for at most this long ("1h", or seconds, above 0) after it is due; the
   * call then resolves to that job's jid with `duplicate: true`. */
  uniqueFor?: string | number;
  /** With `uniqueFor`: the lock's key, 1..512 bytes; default the class and a SHA-256 of the
   * args' JSON. Give the same key in every producer (and language) that must not duplicate. */
  uniqueKey?: string;
  /** The W3C trace context the job carries (docs/PROTOCOL.md, "Trace context"), as the HTTP
   * header: "00-<32 hex trace-id>-<16 hex parent-id>-<2 hex flags>". nexusd logs its trace id
   * with the job's lines and passes it on to http classes' requests and commands'
   * environments. Default: the active OpenTelemetry span's, when the app has
   * @opentelemetry/api installed; false: none. */
  traceparent?: string | false;
  /** With `traceparent`: the W3C tracestate passed on with it, 1..512 printable ASCII
   * characters. */
  tracestate?: string;
}

/** Limits of docs/PROTOCOL.md's job table. */
export const MAX_CLASS_BYTES = 128;
export const MAX_QUEUE_BYTES = 128;
export const MAX_RETRIES = 10000;
export const MAX_UNIQUE_KEY_BYTES = 512;
/** nexusd's default worker.max_job_size. */
export const DEFAULT_MAX_JOB_SIZE = 1 << 20;
/** An `at` above this is epoch milliseconds given by mistake (year 5138 in seconds). */
const MAX_AT_S = 1e11;

/** A job checked and written: `text` is what goes to Redis; `at` is its due time in epoch
 * seconds, or undefined for now. */
export interface BuiltJob {
  jid: string;
  text: string;
  at: number | undefined;
}

/** Where and when the jobs of one call go, checked once for all of them. */
export interface Placement {
  queue: string;
  at: number | undefined; /* epoch s; undefined: now */
  retry: boolean | number;
  unique: Uniqueness | undefined; /* a unique job's options; undefined: not unique */
  trace: TraceContext | undefined; /* the trace context the jobs carry; undefined: none */
}

/** A unique job's options: `forS` seconds (> 0), the key given (or undefined: the default). */
export interface Uniqueness {
  forS: number;
  key: string | undefined;
}

function invalid(message: string): NexusClientError {
  return new NexusClientError("invalid_argument", message);
}

const UTF8 = new TextEncoder();

/** The UTF-8 of `s` (TextEncoder, not Buffer: the edge runtime has no Buffer). */
export function utf8(s: string): Uint8Array {
  return UTF8.encode(s);
}

/** The UTF-8 size of `s`. */
export function utf8Bytes(s: string): number {
  return utf8(s).length;
}

/** `bytes` in lowercase hex, two characters each. */
export function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** A string with lone surrogates has no UTF-8 form: nexusd would bury the job as invalid. */
function wellFormed(s: string): boolean {
  return !/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(s);
}

/** Throws unless `cls` is a class name nexusd decodes: 1..128 bytes, no control characters. */
export function checkClass(cls: unknown): asserts cls is string {
  if (typeof cls !== "string" || cls.length === 0)
    throw invalid(`the class must be a non-empty string (got ${describe(cls)})`);
  if (utf8Bytes(cls) > MAX_CLASS_BYTES || /[\u0000-\u001f\u007f]/.test(cls) || !wellFormed(cls))
    throw invalid(
      `the class must be 1..128 bytes without control characters (got ${describe(cls)})`,
    );
}

/** Throws unless `queue` is 1..128 bytes without white space or control characters. */
export function checkQueue(queue: unknown): asserts queue is string {
  if (
    typeof queue !== "string" ||
    queue.length === 0 ||
    utf8Bytes(queue) > MAX_QUEUE_BYTES ||
    /[\u0000-\u0020\u007f]/.test(queue) ||
    !wellFormed(queue)
  )
    throw invalid(
      `the queue must be 1..128 bytes without spaces or control characters (got ${describe(queue)})`,
    );
}

function checkRetry(retry: unknown): asserts retry is boolean | number {
  if (typeof retry === "boolean") return;
  if (typeof retry === "number" && Number.isInteger(retry) && retry >= 0 && retry <= MAX_RETRIES)
    return;
  throw invalid(
    `retry must be true, false or a whole number 0..${MAX_RETRIES} (got ${describe(retry)})`,
  );
}

/** The due time in epoch seconds of `at` or `in`, or undefined for now (also for a time past). */
function dueAt(opts: EnqueueOptions, nowS: number): number | undefined {
  if (opts.at !== undefined && opts.in !== undefined)
    throw invalid("`at` and `in` cannot be used together");
  let at: number | undefined;
  if (opts.in !== undefined) {
    at = nowS + parseDuration("`in`", opts.in);
  } else if (opts.at instanceof Date) {
    at = opts.at.getTime() / 1000;
    if (!Number.isFinite(at)) throw invalid("`at` is an invalid Date");
  } else if (opts.at !== undefined) {
    if (
      typeof opts.at !== "number" ||
      !Number.isFinite(opts.at) ||
      opts.at < 0 ||
      opts.at > MAX_AT_S
    )
      throw invalid(
        `\`at\` must be a Date or epoch seconds (not milliseconds) below 1e11 (got ${describe(opts.at)})`,
      );
    at = opts.at;
  }
  if (at !== undefined && at - nowS > MAX_DELAY_S)
    throw invalid("`at` is more than 36500 days away");
  return at !== undefined && at > nowS ? at : undefined;
}

/** The options of one call, checked (`trace`: what traceFor() made of them): throws
 * `invalid_argument`. */
export function placementOf(
  opts: EnqueueOptions | undefined,
  nowS: number,
  trace?: TraceContext,
): Placement {
  if (opts === undefined || opts === null) opts = {};
  if (typeof opts !== "object") throw invalid(`options must be an object (got ${describe(opts)})`);
  const queue = opts.queue ?? "default";
  checkQueue(queue);
  const retry = opts.retry ?? true;
  checkRetry(retry);
  return { queue, at: dueAt(opts, nowS), retry, unique: uniqueOf(opts), trace };
}

/** `uniqueFor` and `uniqueKey`, checked as nexusd checks unique_for and unique_key. */
function uniqueOf(opts: EnqueueOptions): Uniqueness | undefined {
  if (opts.uniqueFor === undefined) {
    if (opts.uniqueKey !== undefined) throw invalid("`uniqueKey` needs `uniqueFor`");
    return undefined;
  }
  const forS = parseDuration("`uniqueFor`", opts.uniqueFor);
  if (forS <= 0) throw invalid(`\`uniqueFor\` must be above 0 (got ${describe(opts.uniqueFor)})`);
  const key = opts.uniqueKey;
  if (
    key !== undefined &&
    (typeof key !== "string" ||
      key.length === 0 ||
      utf8Bytes(key) > MAX_UNIQUE_KEY_BYTES ||
      !wellFormed(key))
  )
    throw invalid(`\`uniqueKey\` must be a string of 1..512 bytes (got ${describe(key)})`);
  return { forS, key };
}

/** Throws unless `value` is made of JSON's own values only (what JSON.stringify would keep
 * as it is): no undefined, function, symbol, bigint, NaN, Infinity, Date, Map, class
 * instance or cycle. `path` names the value in the message ("args[0].when"). */
function checkJson(value: unknown, path: string, seen: Set<object>): void {
  switch (typeof value) {
    case "string":
      if (!wellFormed(value))
        throw invalid(`${path} holds a lone UTF-16 surrogate, which has no UTF-8 form`);
      return;
    case "boolean":
      return;
    case "number":
      if (!Number.isFinite(value)) throw invalid(`${path} is ${value}, which JSON cannot hold`);
      return;
    case "object":
      break;
    default:
      throw invalid(
        `${path} is ${typeof value === "undefined" ? "undefined" : "a " + typeof value}, which JSON cannot hold`,
      );
  }
  if (value === null) return;
  if (seen.has(value)) throw invalid(`${path} refers back to itself (a cycle)`);
  seen.add(value);
  if (Array.isArray(value)) {
    value.forEach((v, i) => checkJson(v, `${path}[${i}]`, seen));
  } else {
    const proto = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null)
      throw invalid(
        `${path} is ${describe(value)}; pass plain JSON values (e.g. a date as date.toISOString())`,
      );
    for (const [k, v] of Object.entries(value)) {
      if (!wellFormed(k)) throw invalid(`${path} has a key with a lone UTF-16 surrogate`);
      checkJson(v, `${path}.${k}`, seen);
    }
  }
  seen.delete(value);
}

/** Throws unless `args` is an array of JSON values. */
export function checkArgs(args: unknown, name = "args"): asserts args is unknown[] {
  if (!Array.isArray(args)) throw invalid(`${name} must be an array (got ${describe(args)})`);
  checkJson(args, name, new Set());
}

/** 24 lowercase hex characters: 12 random bytes, as Sidekiq's clients make them. */
export function newJid(): string {
  return hex(crypto.getRandomValues(new Uint8Array(12))); // Web Crypto: Node 20+ and the edge
}

/** The job's JSON text for `placement`, its jid, class and queue first (so that the excerpt
 * nexusd keeps of an oversized job names them). A job for the schedule carries no
 * enqueued_at (the score says when; the poller sets it when it moves the job), as Sidekiq.
 * A unique job carries unique_for and `uniqueKey` (the key uniqueKeyOf() chose) after its args,
 * a traced one traceparent (and tracestate) after those.
 * `args` must have passed checkArgs(). Throws `too_large` over `maxJobSize` bytes. */
export function buildJob(
  cls: string,
  args: readonly unknown[],
  placement: Placement,
  nowS: number,
  maxJobSize: number,
  uniqueKey?: string,
): BuiltJob {
  const jid = newJid();
  const job: Record<string, unknown> = {
    jid,
    class: cls,
    queue: placement.queue,
    retry: placement.retry,
    created_at: nowS,
  };
  if (placement.at === undefined) job.enqueued_at = nowS;
  job.args = args;
  if (placement.unique) {
    job.unique_for = placement.unique.forS;
    job.unique_key = uniqueKey;
  }
  if (placement.trace) {
    job.traceparent = placement.trace.traceparent;
    if (placement.trace.tracestate !== undefined) job.tracestate = placement.trace.tracestate;
  }
  const text = JSON.stringify(job);
  const size = utf8Bytes(text);
  if (size > maxJobSize)
    throw new NexusClientError(
      "too_large",
      `the ${cls} job is ${size} bytes, over the limit of ${maxJobSize} (nexusd's worker.max_job_size); ` +
        "keep large data elsewhere and pass its id",
    );
  return { jid, text, at: placement.at };
}
