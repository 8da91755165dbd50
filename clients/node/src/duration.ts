// duration.ts - durations as nexusd's configuration writes them ("250ms", "30s", "10m", "2h",
// "1d", or a number of seconds), in seconds (pure).

import { NexusClientError, describe } from "./errors.js";

const UNIT_S: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 };
const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/;

/** The furthest `in` reaches: 100 years, as `nexusctl enqueue --in`. */
export const MAX_DELAY_S = 36500 * 86400;

/** Seconds of `value` (a duration string, or a number of seconds), 0..MAX_DELAY_S; throws
 * `invalid_argument` naming it `name` otherwise. */
export function parseDuration(name: string, value: unknown): number {
  let seconds = NaN;
  if (typeof value === "number") {
    seconds = value;
  } else if (typeof value === "string") {
    const m = DURATION.exec(value);
    if (m) seconds = Number(m[1]) * UNIT_S[m[2] ?? "s"];
  }
  if (!Number.isFinite(seconds) || seconds < 0 || seconds > MAX_DELAY_S)
    throw new NexusClientError(
      "invalid_argument",
      `${name} must be a duration such as "30s", "10m", "2h" or "1d", or a number of seconds, ` +
        `0..36500d (got ${describe(value)})`,
    );
  return seconds;
}
