// index.ts - @nexusd/client: enqueue jobs for nexusd from Node (docs/from-the-app.md).

export { Client, type ClientOptions } from "./client.js";
export { NexusClientError, type NexusErrorCode } from "./errors.js";
export type { EnqueueOptions, JsonValue } from "./job.js";
export type { ArgsThen, ClassOf, JobMap } from "./types.js";
export type { QueryFn } from "./transaction.js";
