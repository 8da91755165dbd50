// errors.ts - the one error type the client throws, with a code to branch on, and how its
// messages quote a bad value.

/**
 * What went wrong:
 * - `invalid_argument`: a class, queue, args, option or client the call cannot use; nothing
 *   was sent.
 * - `too_large`: the job's JSON is over `maxJobSize` (nexusd's `worker.max_job_size`, 1 MiB
 *   by default), which nexusd would bury unread as `NexusJobTooLarge`; nothing was sent.
 * - `redis`: Redis refused the push or could not be reached; the job may or may not exist
 *   (a lost reply after EXEC): retrying can push it twice.
 * - `unauthorized`: the Redis service refused the credentials or the command (Upstash's
 *   HTTP 401/403: a wrong or read-only token); nothing was pushed, and retrying cannot help.
 * - `rate_limited`: the Redis service refused the request for a request, size or bandwidth
 *   limit (Upstash's HTTP 429, "max ... limit exceeded"); nothing was pushed: retry later.
 * - `database`: the query function of `enqueueInTransaction` failed or returned no rows.
 */
export type NexusErrorCode =
  "invalid_argument" | "too_large" | "redis" | "unauthorized" | "rate_limited" | "database";

export class NexusClientError extends Error {
  readonly code: NexusErrorCode;
  readonly cause?: unknown;

  constructor(code: NexusErrorCode, message: string, cause?: unknown) {
    super(message);
    this.name = "NexusClientError";
    this.code = code;
    if (cause !== undefined) this.cause = cause;
  }
}

/** A NexusClientError of code `code` carrying `cause`'s message after `what`. */
export function wrapError(code: NexusErrorCode, what: string, cause: unknown): NexusClientError {
  const why = cause instanceof Error ? cause.message : String(cause);
  return new NexusClientError(code, `${what}: ${why}`, cause);
}

/** A short phrase for a bad value in an error message. */
export function describe(value: unknown): string {
  if (typeof value === "string")
    return JSON.stringify(value.length > 60 ? value.slice(0, 60) + "…" : value);
  if (value === null || typeof value !== "object") return String(value);
  if (Array.isArray(value)) return "an array";
  const name = Object.getPrototypeOf(value)?.constructor?.name;
  return name && name !== "Object" ? `a ${name}` : "an object";
}
