// jobs.ts - the app's @nexusd/client on the Node runtime: jobs pushed through ioredis to
// REDIS_URL (rediss:// for TLS), the connection kept across the dev server's hot reloads.

import { Client } from "@nexusd/client";
import { Redis } from "ioredis";

const kept = globalThis as unknown as { nexusRedis?: Redis };

const redis = kept.nexusRedis ?? new Redis(process.env.REDIS_URL ?? "redis://127.0.0.1:6379");

if (process.env.NODE_ENV !== "production") kept.nexusRedis = redis;

/** namespace: nexusd's redis.namespace ("" unless its configuration sets one). */
export const jobs = new Client({ redis, namespace: "" });
