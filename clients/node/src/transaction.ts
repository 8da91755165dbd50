// transaction.ts - a job written inside the app's PostgreSQL transaction through
// nexus.enqueue() (sql/migrations/002_outbox.sql): it exists for nexusd only once that
// transaction commits, and nexusd's outbox relay pushes it to Redis exactly once.

import { NexusClientError, wrapError } from "./errors.js";
import type { Placement } from "./job.js";

/** Runs one SQL statement with $1.. parameters in the app's transaction and resolves to its
 * result: pg's `(sql, params) => client.query(sql, params)`, Prisma's
 * `(sql, params) => tx.$queryRawUnsafe(sql, ...params)`, postgres.js's
 * `(sql, params) => tx.unsafe(sql, params)`. */
export type QueryFn = (sql: string, params: unknown[]) => Promise<unknown>;

/** nexus.enqueue(class, args jsonb, queue, run_at timestamptz, retry jsonb) returns the jid. */
export const ENQUEUE_SQL =
  "SELECT nexus.enqueue($1::text, $2::jsonb, $3::text, to_timestamp($4::double precision), $5::jsonb) AS jid";
/** ... and of a unique job, with unique_for and unique_key (migration 010). */
export const ENQUEUE_UNIQUE_SQL =
  "SELECT nexus.enqueue($1::text, $2::jsonb, $3::text, to_timestamp($4::double precision), " +
  "$5::jsonb, $6::double precision, $7::text) AS jid";

/** ... and of a job with trace context, with traceparent and tracestate too (migration 012). */
export const ENQUEUE_TRACE_SQL =
  "SELECT nexus.enqueue($1::text, $2::jsonb, $3::text, to_timestamp($4::double precision), " +
  "$5::jsonb, $6::double precision, $7::text, $8::text, $9::text) AS jid";

/** The statement for each number of parameters enqueueParams() gives. */
const ENQUEUE_BY_PARAMS: Record<number, string> = {
  5: ENQUEUE_SQL,
  7: ENQUEUE_UNIQUE_SQL,
  9: ENQUEUE_TRACE_SQL,
};

/** The parameters of ENQUEUE_SQL (or, for a unique job with its key, ENQUEUE_UNIQUE_SQL; for
 * a job with trace context, ENQUEUE_TRACE_SQL) for a checked job. */
export function enqueueParams(
  cls: string,
  argsJson: string,
  placement: Placement,
  uniqueKey?: string,
): unknown[] {
  const retry = JSON.stringify(placement.retry);
  const params: unknown[] = [cls, argsJson, placement.queue, placement.at ?? null, retry];
  if (placement.unique || placement.trace)
    params.push(placement.unique?.forS ?? null, placement.unique ? uniqueKey : null);
  if (placement.trace) params.push(placement.trace.traceparent, placement.trace.tracestate ?? null);
  return params;
}

/** The jid in what `query` resolved to: pg's result ({ rows }), or an array of rows (Prisma's
 * $queryRawUnsafe, postgres.js). null when the result holds no rows, as a row count from
 * Prisma's $executeRawUnsafe: the job is written, its jid unknown. */
export function jidOf(result: unknown): string | null {
  const rows = Array.isArray(result) ? result : (result as { rows?: unknown } | null)?.rows;
  if (!Array.isArray(rows) || rows.length === 0) return null;
  const jid = (rows[0] as { jid?: unknown } | null)?.jid;
  return typeof jid === "string" ? jid : null;
}

/** Runs ENQUEUE_SQL through `query`; a failure is a `database` error (the app's transaction
 * is then aborted, as for any failed statement). */
export async function enqueueThrough(query: QueryFn, params: unknown[]): Promise<string | null> {
  if (typeof query !== "function")
    throw new NexusClientError(
      "invalid_argument",
      "query must be a function (sql, params) => Promise",
    );
  let result: unknown;
  try {
    result = await query(ENQUEUE_BY_PARAMS[params.length] ?? ENQUEUE_SQL, params);
  } catch (e) {
    throw wrapError("database", "nexus.enqueue() failed", e);
  }
  return jidOf(result);
}
