// route.ts - POST /api/edge/welcome {userId} on the edge runtime (the auth provider's
// "user created" webhook, say): enqueues `email.welcome` through Upstash's REST API, since
// the edge has no TCP connections for ioredis. UPSTASH_REDIS_REST_URL and
// UPSTASH_REDIS_REST_TOKEN name the database; nexusd reads the same one over TCP (REDIS_URL).

import { Client, NexusClientError } from "@nexusd/client";
import { Redis } from "@upstash/redis";

export const runtime = "edge";

const jobs = new Client({
  // a function, so each request gets its own deadline; an answer later than that is an error
  redis: Redis.fromEnv({ signal: () => AbortSignal.timeout(5000) }),
  namespace: "",
});

export async function POST(request: Request): Promise<Response> {
  const { userId } = (await request.json()) as { userId?: unknown };
  if (typeof userId !== "number" || !Number.isInteger(userId) || userId <= 0)
    return Response.json({ error: "userId must be a positive integer" }, { status: 400 });
  try {
    const { jid } = await jobs.enqueue("email.welcome", [userId]);
    return Response.json({ jid }, { status: 202 });
  } catch (e) {
    if (e instanceof NexusClientError && e.code === "rate_limited")
      return Response.json(
        { error: "busy, retry later" },
        { status: 503, headers: { "Retry-After": "30" } },
      );
    throw e; // unauthorized (a wrong token), redis: a 500, logged by the platform
  }
}
