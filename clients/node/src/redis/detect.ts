// detect.ts - which library a Redis connection comes from, by what it has (duck typing, so
// that the package depends on none of them).

import { NexusClientError, describe } from "../errors.js";
import type { RedisAdapter } from "./adapter.js";
import { ioredisAdapter, isIoredis } from "./ioredis.js";
import { isNodeRedis, nodeRedisAdapter } from "./node-redis.js";
import { isUpstash, upstashAdapter } from "./upstash.js";

/** The adapter for `redis`: @upstash/redis (an HTTP requester as `client`) is told apart
 * first, since it has ioredis's lowercase commands too; node-redis v4 (camelCase commands)
 * from ioredis (lowercase ones). Throws `invalid_argument` for anything else. */
export function adapterFor(redis: unknown): RedisAdapter {
  if (redis !== null && typeof redis === "object") {
    if (isUpstash(redis)) return upstashAdapter(redis);
    if (isNodeRedis(redis)) return nodeRedisAdapter(redis);
    if (isIoredis(redis)) return ioredisAdapter(redis);
  }
  throw new NexusClientError(
    "invalid_argument",
    "redis must be an ioredis client, a node-redis v4 client or an @upstash/redis client " +
      `(got ${describe(redis)})`,
  );
}
