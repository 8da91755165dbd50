// unique.ts - unique jobs (docs/PROTOCOL.md, "Unique jobs"): the key a job carries, its lock
// unique:SHA256, and its push by nexusd's own push.lua, which takes the lock and pushes in one
// step (one EVAL per job, all of a call's in one MULTI).

import { hex, utf8, type BuiltJob, type Uniqueness } from "./job.js";
import type { Keys } from "./keys.js";
import type { EvalCall } from "./redis/adapter.js";

/** SHA-256 of the UTF-8 of `s`, in lowercase hex (Web Crypto: Node 20+ and the edge). */
export async function sha256Hex(s: string): Promise<string> {
  return hex(new Uint8Array(await crypto.subtle.digest("SHA-256", utf8(s))));
}

/** The unique_key a job carries: the one given, else its class, ":" and the SHA-256 of
 * JSON.stringify(args) (so that it fits 512 bytes whatever the args, and the lock does not
 * depend on how another language would write the same JSON). */
export async function uniqueKeyOf(
  unique: Uniqueness,
  cls: string,
  args: readonly unknown[],
): Promise<string> {
  return unique.key ?? `${cls}:${await sha256Hex(JSON.stringify(args))}`;
}

/** push.lua's KEYS and ARGV for `job` (built with `uniqueKey`) onto `queue`: its lock lives
 * `forS` seconds after the job is due. */
export async function uniquePushCall(
  keys: Keys,
  queue: string,
  job: BuiltJob,
  uniqueKey: string,
  forS: number,
  nowS: number,
): Promise<EvalCall> {
  const dueInS = job.at === undefined ? 0 : Math.max(0, job.at - nowS);
  return {
    keys: [keys.queues, keys.queue(queue), keys.schedule, keys.unique(await sha256Hex(uniqueKey))],
    args: [
      queue,
      job.text,
      job.at === undefined ? "" : String(job.at),
      job.jid,
      String(Math.max(1, Math.ceil((dueInS + forS) * 1000))),
    ],
  };
}

/** The jid holding the lock when push.lua's `reply` says the job was a duplicate (an array
 * holding it), else undefined (pushed: the queue's length or ZADD's count). */
export function holderOf(reply: unknown): string | undefined {
  return Array.isArray(reply) && reply.length === 1 ? String(reply[0]) : undefined;
}
