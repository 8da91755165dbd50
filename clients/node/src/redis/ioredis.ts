// ioredis.ts - the push through an ioredis client (Redis or Cluster): MULTI with SADD +
// LPUSH and/or ZADD, replies as [error, result] pairs.

import type { PushPlan, RedisAdapter } from "./adapter.js";

/** The part of ioredis's API used here (its Redis and Cluster classes both have it). */
export interface IoredisLike {
  multi(): IoredisMulti;
  sadd(...args: never[]): unknown;
}
interface IoredisMulti {
  sadd(key: string, member: string): IoredisMulti;
  lpush(key: string, ...values: string[]): IoredisMulti;
  zadd(key: string, ...scoreMembers: string[]): IoredisMulti;
  exec(): Promise<Array<[Error | null, unknown]> | null>;
}

export function isIoredis(redis: unknown): redis is IoredisLike {
  const r = redis as Record<string, unknown>;
  return (
    typeof r.multi === "function" && typeof r.sadd === "function" && typeof r.lpush === "function"
  );
}

export function ioredisAdapter(redis: IoredisLike): RedisAdapter {
  return {
    kind: "ioredis",
    async push(plan: PushPlan): Promise<void> {
      const m = redis.multi();
      if (plan.now.length > 0) m.sadd(plan.queuesKey, plan.queue).lpush(plan.queueKey, ...plan.now);
      if (plan.later.length > 0)
        m.zadd(plan.scheduleKey, ...plan.later.flatMap(([at, job]) => [String(at), job]));
      const replies = await m.exec();
      if (replies === null) throw new Error("the transaction was aborted");
      for (const [err] of replies) if (err) throw err;
    },
  };
}
