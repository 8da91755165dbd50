// adapter.ts - what the client needs of a Redis connection: one transaction that pushes jobs
// as a Sidekiq client does, and one that runs a script once per job (unique jobs). One
// implementation per client library, chosen by detect.ts.

/** One call's push: `now` jobs go to `queueKey` (with SADD of `queue` to `queuesKey`),
 * `later` ones to `scheduleKey` with their due time (epoch s) as score. Either may be
 * empty, not both. */
export interface PushPlan {
  queuesKey: string;
  queue: string;
  queueKey: string;
  now: string[];
  scheduleKey: string;
  later: Array<[number, string]>;
}

/** One EVAL of a script: its KEYS and ARGV. */
export interface EvalCall {
  keys: string[];
  args: string[];
}

export interface RedisAdapter {
  /** "ioredis", "node-redis" or "@upstash/redis", for messages. */
  readonly kind: string;
  /** Sends `plan` in one round trip (MULTI ... EXEC). Rejects with the library's error, or
   * with an Error naming the command Redis refused. */
  push(plan: PushPlan): Promise<void>;
  /** Runs `script` (Lua source, sent whole: EVAL, no script cache) once per call, in order,
   * in one round trip (MULTI, an EVAL per call, EXEC), and resolves to each call's reply:
   * an integer as a number, a bulk string as a string, an array as an array of those.
   * Rejects as push() does, also when one of the calls fails. */
  evalAll(script: string, calls: EvalCall[]): Promise<unknown[]>;
}
