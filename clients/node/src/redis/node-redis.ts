// node-redis.ts - the push through a node-redis v4 client (createClient, already connected):
// MULTI with SADD + LPUSH and/or ZADD, or with an EVAL per job.

import type { EvalCall, PushPlan, RedisAdapter } from "./adapter.js";

/** The part of node-redis v4's API used here. */
export interface NodeRedisLike {
  multi(): NodeRedisMulti;
  sAdd(...args: never[]): unknown;
}
interface NodeRedisMulti {
  sAdd(key: string, member: string): NodeRedisMulti;
  lPush(key: string, values: string[]): NodeRedisMulti;
  zAdd(key: string, members: Array<{ score: number; value: string }>): NodeRedisMulti;
  eval(script: string, options: { keys: string[]; arguments: string[] }): NodeRedisMulti;
  exec(): Promise<unknown[]>;
}

export function isNodeRedis(redis: unknown): redis is NodeRedisLike {
  const r = redis as Record<string, unknown>;
  return (
    typeof r.multi === "function" && typeof r.sAdd === "function" && typeof r.lPush === "function"
  );
}

/** EXEC's replies; throws the first error among them. */
async function results(m: NodeRedisMulti): Promise<unknown[]> {
  const replies = await m.exec();
  for (const reply of replies) if (reply instanceof Error) throw reply;
  return replies;
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
      await results(m);
    },
    async evalAll(script: string, calls: EvalCall[]): Promise<unknown[]> {
      const m = redis.multi();
      for (const c of calls) m.eval(script, { keys: c.keys, arguments: c.args });
      return results(m);
    },
  };
}
