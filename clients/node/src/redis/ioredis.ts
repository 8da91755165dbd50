// ioredis.ts - the push through an ioredis client (Redis or Cluster): MULTI with SADD +
// LPUSH and/or ZADD, or with an EVAL per job; replies as [error, result] pairs.

import type { EvalCall, PushPlan, RedisAdapter } from "./adapter.js";

/** The part of ioredis's API used here (its Redis and Cluster classes both have it). */
export interface IoredisLike {
  multi(): IoredisMulti;
  sadd(...args: never[]): unknown;
}
interface IoredisMulti {
  sadd(key: string, member: string): IoredisMulti;
  lpush(key: string, ...values: string[]): IoredisMulti;
  zadd(key: string, ...scoreMembers: string[]): IoredisMulti;
  eval(script: string, numKeys: number, ...keysAndArgs: string[]): IoredisMulti;
  exec(): Promise<Array<[Error | null, unknown]> | null>;
}

export function isIoredis(redis: unknown): redis is IoredisLike {
  const r = redis as Record<string, unknown>;
  return (
    typeof r.multi === "function" && typeof r.sadd === "function" && typeof r.lpush === "function"
  );
}

/** The results of EXEC's replies; throws the first error. */
async function results(m: IoredisMulti): Promise<unknown[]> {
  const replies = await m.exec();
  if (replies === null) throw new Error("the transaction was aborted");
  for (const [err] of replies) if (err) throw err;
  return replies.map(([, result]) => result);
}

export function ioredisAdapter(redis: IoredisLike): RedisAdapter {
  return {
    kind: "ioredis",
    async push(plan: PushPlan): Promise<void> {
      const m = redis.multi();
      if (plan.now.length > 0) m.sadd(plan.queuesKey, plan.queue).lpush(plan.queueKey, ...plan.now);
      if (plan.later.length > 0)
        m.zadd(plan.scheduleKey, ...plan.later.flatMap(([at, job]) => [String(at), job]));
      await results(m);
    },
    async evalAll(script: string, calls: EvalCall[]): Promise<unknown[]> {
      const m = redis.multi();
      for (const c of calls) m.eval(script, c.keys.length, ...c.keys, ...c.args);
      return results(m);
    },
  };
}
