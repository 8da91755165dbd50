/* cron.h - cron expressions and their next fire time in a time zone (pure). */
#ifndef CRON_H
#define CRON_H

#include <stdint.h>
#include <time.h>

struct err;

#define CRON_TEXT_MAX 1024 /* bytes of one expression; longer text is an error */

/* A parsed expression: the five standard fields as bit sets. */
struct cron_expr {
    uint64_t minutes;  /* bits 0..59 */
    uint32_t hours;    /* bits 0..23 */
    uint32_t mdays;    /* bits 1..31 */
    uint16_t months;   /* bits 1..12 */
    uint8_t wdays;     /* bits 0..6, Sunday = 0 (7 is accepted as Sunday) */
    int mday_star;     /* day-of-month was "*" (or "*" with a step): see cron_next */
    int wday_star;     /* day-of-week was "*" */
    int minute_star;   /* minute started with "*" (cronie's MIN_STAR): see cron_next */
    int hour_star;     /* hour started with "*" (cronie's HR_STAR): see cron_next */
};

/* Parses "m h dom mon dow" with lists (1,5), ranges (1-5), steps (*\/15, 1-30/5), names
 * (JAN-DEC, SUN-SAT, case-insensitive), and the shorthands @yearly (@annually), @monthly,
 * @weekly, @daily (@midnight), @hourly. Returns 0, or -EINVAL with a sentence naming the
 * field and the offending text, e.g. "day-of-week: 'MOX' is not a day (SUN-SAT or 0-7)". */
int cron_parse(const char *text, struct cron_expr *ret, struct err *err);

/* The first fire time strictly after `after` (epoch s), in time zone `tz` (an IANA name such
 * as "Europe/Paris", or "UTC"), as cronie does:
 * - day-of-month and day-of-week: when both are restricted, a day matching either fires;
 *   when one starts with "*" (also "*\/2"), only the other counts;
 * - fixed-time jobs (neither minute nor hour starts with "*"): a local time skipped by a
 *   daylight-saving change (spring forward) fires once, at the first instant after the gap;
 *   a local time repeated (fall back) fires once, at its first occurrence;
 * - wildcard jobs (minute or hour starts with "*", e.g. "*\/15 * * * *", "0 * * * *") follow
 *   real time: they fire at every instant whose local time matches, so also in the repeated
 *   hour, and not for local times inside a gap.
 * The zone must name a TZif file under /usr/share/zoneinfo, or be "UTC". Other zones are
 * computed by glibc with TZ set for the call and restored after it: not thread-safe.
 * Writes *ret_next. Returns 0, -EINVAL for an unknown zone, or -ERANGE when nothing fires
 * within 5 years (e.g. "0 0 30 2 *") or `after` is outside the years 1900..9990. */
int cron_next(const struct cron_expr *expr, const char *tz, time_t after, time_t *ret_next,
              struct err *err);

/* `t` as local time in zone `tz` (as cron_next() reads it): "2026-12-04 03:00:00 CET" into
 * `buf` (`size` bytes, 40 are enough). Returns 0, -EINVAL for an unknown zone, or -ENOSPC.
 * Not thread-safe, as cron_next(). */
int cron_local_time(time_t t, const char *tz, char *buf, size_t size, struct err *err);

#endif
