// node-redis.ts - the push through a node-redis v4 client (createClient, already connected):
// MULTI with SADD + LPUSH and/or ZADD.

import type { PushPlan, RedisAdapter } from "./adapter.js";

/** The part of node-redis v4's API used here. */
export interface NodeRedisLike {
  multi(): NodeRedisMulti;
  sAdd(...args: never[]): unknown;
}
interface NodeRedisMulti {
  sAdd(key: string, member: string): NodeRedisMulti;
  lPush(key: string, values: string[]): NodeRedisMulti;
  zAdd(key: string, members: Array<{ score: number; value: string }>): NodeRedisMulti;
  exec(): Promise<unknown[]>;
}

export function isNodeRedis(redis: unknown): redis is NodeRedisLike {
  const r = redis as Record<string, unknown>;
  return (
    typeof r.multi === "function" && typeof r.sAdd === "function" && typeof r.lPush === "function"
  );
}

export function nodeRedisAdapter(redis: NodeRedisLike): RedisAdapter {
  return {
    kind: "node-redis",
    async push(plan: PushPlan): Promise<void> {
      const m = redis.multi();
      if (plan.now.length > 0) m.sAdd(plan.queuesKey, plan.queue).lPush(plan.queueKey, plan.now);
      if (plan.later.length > 0)
        m.zAdd(
          plan.scheduleKey,
          plan.later.map(([score, value]) => ({ score, value })),
        );
      const replies = await m.exec();
      for (const reply of replies) if (reply instanceof Error) throw reply;
    },
  };
}
