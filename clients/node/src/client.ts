// client.ts - the producer's side of nexusd: jobs pushed to Redis as a Sidekiq client pushes
// them (one MULTI per call), or written into the app's PostgreSQL transaction.

import { NexusClientError, describe, wrapError } from "./errors.js";
import {
  DEFAULT_MAX_JOB_SIZE,
  buildJob,
  checkArgs,
  checkClass,
  placementOf,
  utf8Bytes,
  type BuiltJob,
  type EnqueueOptions,
} from "./job.js";
import { keysFor, type Keys } from "./keys.js";
import { PUSH_LUA } from "./push-lua.js";
import type { PushPlan, RedisAdapter } from "./redis/adapter.js";
import { traceFor } from "./trace.js";
import { adapterFor } from "./redis/detect.js";
import { enqueueParams, enqueueThrough, type QueryFn } from "./transaction.js";
import type { ArgsThen, ClassOf, JobMap } from "./types.js";
import { holderOf, uniqueKeyOf, uniquePushCall } from "./unique.js";

export interface ClientOptions {
  /** An ioredis client (Redis or Cluster), a connected node-redis v4 client, or an
   * @upstash/redis client (HTTP: the edge runtime). The client borrows it: it never
   * connects, closes or configures it. */
  redis: object;
  /** nexusd's redis.namespace: the prefix of every key, "" (default) for none. */
  namespace?: string;
  /** nexusd's worker.max_job_size in bytes (default 1 MiB): a larger job is refused here
   * instead of being buried unread by nexusd. */
  maxJobSize?: number;
}

const MAX_NAMESPACE_BYTES = 128;

/** `Jobs`: each class and its args tuple, as `nexusctl types` writes them (NexusJobs); then
 * the compiler checks every class and args given. Default: any class, any args. */
export class Client<Jobs extends JobMap = JobMap> {
  private readonly adapter: RedisAdapter;
  private readonly keys: Keys;
  private readonly maxJobSize: number;

  constructor(options: ClientOptions) {
    if (options === null || typeof options !== "object")
      throw new NexusClientError(
        "invalid_argument",
        `options must be an object (got ${describe(options)})`,
      );
    const ns = options.namespace ?? "";
    if (typeof ns !== "string" || utf8Bytes(ns) > MAX_NAMESPACE_BYTES)
      throw new NexusClientError(
        "invalid_argument",
        `namespace must be a string of at most 128 bytes (got ${describe(ns)})`,
      );
    const max = options.maxJobSize ?? DEFAULT_MAX_JOB_SIZE;
    if (!Number.isInteger(max) || max < 1024)
      throw new NexusClientError(
        "invalid_argument",
        `maxJobSize must be a whole number of bytes, at least 1024 (got ${describe(max)})`,
      );
    this.adapter = adapterFor(options.redis);
    this.keys = keysFor(ns);
    this.maxJobSize = max;
  }

  /** Pushes one job of class `cls`; resolves to its jid once Redis has it. With `uniqueFor`,
   * when a job of the same key holds the lock nothing is pushed and the call resolves to that
   * job's jid with `duplicate: true`. */
  async enqueue<C extends ClassOf<Jobs>>(
    cls: C,
    ...[args, options]: ArgsThen<Jobs[C], EnqueueOptions>
  ): Promise<{ jid: string; duplicate: boolean }> {
    // left out: only a class that takes none allows it
    const given = args === undefined ? ([] as unknown as Jobs[C]) : args;
    const { jids, duplicates } = await this.enqueueMany(cls, [given], options);
    return { jid: jids[0], duplicate: duplicates[0] };
  }

  /** Pushes one job of class `cls` per element of `argsList`, all with the same options, in
   * one round trip (one LPUSH, or one ZADD; for unique jobs one MULTI of an EVAL each);
   * resolves to their jids in that order, `duplicates[i]` true when job i was not pushed
   * (`jids[i]` is then the jid holding its lock). Nothing is sent when any of them is
   * invalid. */
  async enqueueMany<C extends ClassOf<Jobs>>(
    cls: C,
    argsList: ReadonlyArray<Jobs[C]>,
    options?: EnqueueOptions,
  ): Promise<{ jids: string[]; duplicates: boolean[] }> {
    checkClass(cls);
    if (!Array.isArray(argsList))
      throw new NexusClientError(
        "invalid_argument",
        `argsList must be an array of args arrays (got ${describe(argsList)})`,
      );
    const trace = await traceFor(options);
    const nowS = Date.now() / 1000;
    const placement = placementOf(options, nowS, trace);
    argsList.forEach((args, i) =>
      checkArgs(args, argsList.length === 1 ? "args" : `argsList[${i}]`),
    );
    const unique = placement.unique;
    const uniqueKeys = unique
      ? await Promise.all(argsList.map((args) => uniqueKeyOf(unique, cls, args)))
      : [];
    const jobs = argsList.map((args, i) =>
      buildJob(cls, args, placement, nowS, this.maxJobSize, uniqueKeys[i]),
    );
    let holders: Array<string | undefined> = jobs.map(() => undefined);
    if (jobs.length > 0 && unique) {
      const calls = await Promise.all(
        jobs.map((j, i) =>
          uniquePushCall(this.keys, placement.queue, j, uniqueKeys[i], unique.forS, nowS),
        ),
      );
      holders = (await this.send(() => this.adapter.evalAll(PUSH_LUA, calls))).map(holderOf);
    } else if (jobs.length > 0) {
      await this.push(placement.queue, jobs);
    }
    return {
      jids: jobs.map((j, i) => holders[i] ?? j.jid),
      duplicates: holders.map((h) => h !== undefined),
    };
  }

  /** Writes one job through `query` inside the app's transaction (nexus.enqueue()): nexusd
   * relays it to Redis exactly once if the transaction commits, never if it rolls back.
   * Resolves to the jid PostgreSQL made, or null when `query` resolves to no rows (Prisma's
   * $executeRawUnsafe: use $queryRawUnsafe to get it). Needs nexusd's migrations
   * (`nexusd migrate`) and a nexusd with database.url to relay. */
  async enqueueInTransaction<C extends ClassOf<Jobs>>(
    query: QueryFn,
    cls: C,
    ...[given, options]: ArgsThen<Jobs[C], EnqueueOptions>
  ): Promise<{ jid: string | null }> {
    const args: unknown = given === undefined ? [] : given;
    checkClass(cls);
    checkArgs(args);
    const trace = await traceFor(options);
    const nowS = Date.now() / 1000;
    const placement = placementOf(options, nowS, trace);
    const uniqueKey = placement.unique && (await uniqueKeyOf(placement.unique, cls, args));
    buildJob(cls, args, placement, nowS, this.maxJobSize, uniqueKey); // the size check
    const jid = await enqueueThrough(
      query,
      enqueueParams(cls, JSON.stringify(args), placement, uniqueKey),
    );
    return { jid };
  }

  private async push(queue: string, jobs: BuiltJob[]): Promise<void> {
    const plan: PushPlan = {
      queuesKey: this.keys.queues,
      queue,
      queueKey: this.keys.queue(queue),
      now: jobs.filter((j) => j.at === undefined).map((j) => j.text),
      scheduleKey: this.keys.schedule,
      later: jobs.filter((j) => j.at !== undefined).map((j) => [j.at as number, j.text]),
    };
    await this.send(() => this.adapter.push(plan));
  }

  /** What `call` resolves to; its failure as a NexusClientError. */
  private async send<T>(call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (e) {
      if (e instanceof NexusClientError) throw e; // an adapter's own reading (upstash.ts)
      throw wrapError("redis", `pushing to Redis (${this.adapter.kind}) failed`, e);
    }
  }
}
