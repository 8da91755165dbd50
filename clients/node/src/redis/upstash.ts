// upstash.ts - the push through an @upstash/redis client (Redis over HTTP: Vercel's edge
// runtime, Cloudflare Workers, Node): one MULTI (SADD + LPUSH and/or ZADD, or an EVAL per job)
// as one request to Upstash's /multi-exec, and Upstash's refusals as NexusClientError codes.
// No Node-only API here: it runs on the edge.

import { NexusClientError, type NexusErrorCode } from "../errors.js";
import type { EvalCall, PushPlan, RedisAdapter } from "./adapter.js";

/** The part of @upstash/redis's API used here (its Redis class from "@upstash/redis",
 * "@upstash/redis/cloudflare" or "@upstash/redis/fastly", also behind its auto-pipelining
 * proxy). `client` is its HTTP requester, which only it has among the libraries detected. */
export interface UpstashLike {
  multi(): UpstashMulti;
  eval(...args: never[]): unknown;
  client: { request(...args: never[]): unknown };
}
interface UpstashMulti {
  sadd(key: string, member: string): UpstashMulti;
  lpush(key: string, ...elements: string[]): UpstashMulti;
  zadd(key: string, ...members: Array<{ score: number; member: string }>): UpstashMulti;
  eval(script: string, keys: string[], args: string[]): UpstashMulti;
  exec(): Promise<unknown[]>;
}

export function isUpstash(redis: unknown): redis is UpstashLike {
  const r = redis as Record<string, unknown>;
  const client = r.client as Record<string, unknown> | null | undefined;
  return (
    typeof r.multi === "function" &&
    typeof r.eval === "function" &&
    client !== null &&
    typeof client === "object" &&
    typeof client.request === "function"
  );
}

const KIND = "@upstash/redis";

const MAYBE = "the jobs may or may not have been pushed";

interface Refusal {
  match: RegExp;
  code: NexusErrorCode;
  what: string;
  then: string;
}

/** How Upstash's refusals read, first match wins (@upstash/redis keeps the body's `error`
 * but not the HTTP status): what happened, and what it means for the jobs. */
const REFUSALS: readonly Refusal[] = [
  {
    match: /^(Unauthorized|Forbidden|WRONGPASS|NOAUTH|NOPERM)|auth token/i,
    code: "unauthorized",
    what: "Upstash refused the token (HTTP 401/403)",
    then: "nothing was pushed; check UPSTASH_REDIS_REST_TOKEN (not the read-only token)",
  },
  {
    match: /limit exceeded|too many requests|rate limit/i,
    code: "rate_limited",
    what: "Upstash refused the request for a limit of the database's plan (HTTP 429)",
    then: "nothing was pushed; retry later",
  },
  {
    match: /^(TimeoutError|AbortError)\b/,
    code: "redis",
    what: "no answer from Upstash before the client's `signal` ended the request",
    then: MAYBE,
  },
  {
    match: /^Unable to parse response body/,
    code: "redis",
    what: "Upstash's answer is not its JSON (an HTTP 5xx page from a proxy?)",
    then: MAYBE,
  },
  { match: /^terminated\b/, code: "redis", what: "Upstash's answer was cut off", then: MAYBE },
  {
    match: /^fetch failed\b/,
    code: "redis",
    what: "Upstash could not be reached, or closed the connection without an answer",
    then: MAYBE,
  },
  {
    match: /not the replies|is not a function/,
    code: "redis",
    what:
      "Upstash's answer is not the transaction's replies (an AbortSignal given as the " +
      "client's `signal` ends a request this way: give a function, () => AbortSignal.timeout(ms))",
    then: MAYBE,
  },
];

/** Why `e` failed, in one line: its message (and its cause's: fetch's "fetch failed" says
 * why only there) without @upstash/redis's ", command was: [...]" tail, which repeats the
 * jobs' arguments in full. The token is never part of either. */
function reasonOf(e: unknown): string {
  const err = e as { name?: unknown; message?: unknown; cause?: { message?: unknown } } | null;
  let why = String(err?.message ?? e).replace(/, command was: [\s\S]*$/, "");
  if (err?.name === "TimeoutError" || err?.name === "AbortError") why = `${err.name}: ${why}`;
  if (typeof err?.cause?.message === "string") why += ` (${err.cause.message})`;
  return why;
}

/** The NexusClientError for what @upstash/redis threw, carrying it as `cause`. */
export function upstashError(e: unknown): NexusClientError {
  const why = reasonOf(e);
  const r = REFUSALS.find((r) => r.match.test(why));
  const what = r ? `${r.what}: ${why}; ${r.then}` : `Upstash refused the push: ${why}`;
  return new NexusClientError(r?.code ?? "redis", `pushing to Redis (${KIND}) failed: ${what}`, e);
}

/** EXEC's replies, `sent` of them; a failure, or anything else, as upstashError(). */
async function results(m: UpstashMulti, sent: number): Promise<unknown[]> {
  let replies: unknown;
  try {
    replies = await m.exec();
  } catch (e) {
    throw upstashError(e);
  }
  if (!Array.isArray(replies) || replies.length !== sent)
    throw upstashError(new Error(`not the replies of the ${sent} commands sent`));
  return replies;
}

export function upstashAdapter(redis: UpstashLike): RedisAdapter {
  return {
    kind: KIND,
    async push(plan: PushPlan): Promise<void> {
      const m = redis.multi();
      let sent = 0;
      if (plan.now.length > 0) {
        m.sadd(plan.queuesKey, plan.queue).lpush(plan.queueKey, ...plan.now);
        sent += 2;
      }
      if (plan.later.length > 0) {
        m.zadd(plan.scheduleKey, ...plan.later.map(([score, member]) => ({ score, member })));
        sent += 1;
      }
      await results(m, sent);
    },
    async evalAll(script: string, calls: EvalCall[]): Promise<unknown[]> {
      const m = redis.multi();
      for (const c of calls) m.eval(script, c.keys, c.args);
      return results(m, calls.length);
    },
  };
}
