/* rollup_parse.h - what analytics.rollup reads, checked strictly (pure): civil dates, the
 * job's args, the app's funnel counter keys and values, and the SCAN passes over a range. */
#ifndef ROLLUP_PARSE_H
#define ROLLUP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct err;
typedef struct json_t json_t;

#define ROLLUP_DATE_LEN 10      /* "YYYY-MM-DD" */
#define ROLLUP_ID_MAX 200       /* bytes of a funnel id */
#define ROLLUP_DAY_PASSES_MAX 7 /* ranges up to this many days: one SCAN pass per day */
#define ROLLUP_PATTERN_MAX 320  /* bytes of a SCAN MATCH pattern, NUL included */

/* A day is a civil date counted in days from 1970-01-01 (negative before it). */

/* Parses exactly `len` bytes "YYYY-MM-DD" (years 1000..9999, a real calendar date).
 * Returns 0 and writes *ret_day, or -EINVAL. */
int rollup_day_parse(const char *s, size_t len, int32_t *ret_day);
/* Writes "YYYY-MM-DD" and a NUL to `out`. `day` within the years 1000..9999. */
void rollup_day_format(int32_t day, char out[ROLLUP_DATE_LEN + 1]);

/* Inclusive range of days; `today` when the args were empty: the caller then fills from/to
 * with yesterday and today (rollup_range_today()). */
struct rollup_range {
    int32_t from, to; /* from <= to, to - from < max_days */
    bool today;
};

/* The job's args: [] (yesterday and today), ["YYYY-MM-DD"] (that day) or
 * ["YYYY-MM-DD", "YYYY-MM-DD"] (from, to: inclusive, from <= to, at most `max_days` days).
 * Returns 0, or -EINVAL with a sentence such as
 * "args[1] must be a date \"YYYY-MM-DD\" (got \"2026-13-01\")". */
int rollup_args_parse(const json_t *args, unsigned max_days, struct rollup_range *ret,
                      struct err *err);
/* Sets `range` to yesterday..today. */
void rollup_range_today(struct rollup_range *range, int32_t today);

/* A funnel counter key, PREFIX{id}:step:{step}:{YYYY-MM-DD}. `id` borrowed from the key. */
struct rollup_key {
    const char *id; /* not NUL-terminated: id_len bytes */
    size_t id_len;  /* 1..ROLLUP_ID_MAX, UTF-8 without control characters */
    int32_t step;   /* 0..INT32_MAX, written without leading zeros */
    int32_t day;
};

/* Parses `len` bytes of `key` (binary-safe) from the right, so that an id may hold colons.
 * Returns 0, or -EINVAL with the reason in `err` (e.g. "step must be a whole number
 * 0..2147483647 without leading zeros"). */
int rollup_key_parse(const char *key, size_t len, const char *prefix, struct rollup_key *ret,
                     struct err *err);
/* A counter's value: decimal digits only, 0..INT64_MAX. Returns 0, or -EINVAL. */
int rollup_count_parse(const char *s, size_t len, int64_t *ret);

/* A pass of SCAN over the days start..*ret_last of `range` (from <= start <= to): a range of
 * up to ROLLUP_DAY_PASSES_MAX days is read one day per pass (MATCH on the exact date, so Redis
 * returns only that day's keys); a longer one one month per pass (MATCH "YYYY-MM-??"; the
 * caller drops keys outside the range). Writes the MATCH pattern: `prefix` with glob
 * characters escaped, then "*:step:*:" and the date glob. Returns 0, or -ENOSPC when the
 * pattern does not fit `size` bytes. */
int rollup_pass(const struct rollup_range *range, int32_t start, const char *prefix, char *pattern,
                size_t size, int32_t *ret_last);

#endif
