// detect.ts - which library a Redis connection comes from, by what it has (duck typing, so
// that the package depends on neither).

import { NexusClientError, describe } from "../errors.js";
import type { RedisAdapter } from "./adapter.js";
import { ioredisAdapter, isIoredis } from "./ioredis.js";
import { isNodeRedis, nodeRedisAdapter } from "./node-redis.js";

/** The adapter for `redis`: node-redis v4 (camelCase commands) is told apart from ioredis
 * (lowercase ones). Throws `invalid_argument` for anything else. */
export function adapterFor(redis: unknown): RedisAdapter {
  if (redis !== null && typeof redis === "object") {
    if (isNodeRedis(redis)) return nodeRedisAdapter(redis);
    if (isIoredis(redis)) return ioredisAdapter(redis);
  }
  throw new NexusClientError(
    "invalid_argument",
    `redis must be an ioredis client or a node-redis v4 client (got ${describe(redis)})`,
  );
}
