/* rollup_parse.c - dates, args, funnel keys and SCAN passes of analytics.rollup (pure). */
#include "jobs/rollup_parse.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "lib/err.h"
#include "lib/job.h"
#include "lib/parse.h"

#define STEP_SEP ":step:"
#define GOT_MAX 64 /* bytes of a bad value shown in a message */

static bool is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int month_days(int y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

    return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian), counting years from March so that
 * the leap day is the last of its year. */
static int32_t days_from_civil(int y, int m, int d)
{
    int era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;                                   /* 0..399 */
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1; /* 0..365 */
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;           /* 0..146096 */
    return (int32_t)(era * 146097 + doe - 719468);
}

static void civil_from_days(int32_t day, int *ret_y, int *ret_m, int *ret_d)
{
    int z = day + 719468, era, doe, yoe, doy, mp;

    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *ret_d = doy - (153 * mp + 2) / 5 + 1;
    *ret_m = mp < 10 ? mp + 3 : mp - 9;
    *ret_y = yoe + era * 400 + (*ret_m <= 2);
}

/* `n` decimal digits at `s`, or -1. */
static int digits(const char *s, int n)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

int rollup_day_parse(const char *s, size_t len, int32_t *ret_day)
{
    int y, m, d;

    if (len != ROLLUP_DATE_LEN || s[4] != '-' || s[7] != '-')
        return -EINVAL;
    y = digits(s, 4);
    m = digits(s + 5, 2);
    d = digits(s + 8, 2);
    if (y < 1000 || m < 1 || m > 12 || d < 1 || d > month_days(y, m))
        return -EINVAL;
    *ret_day = days_from_civil(y, m, d);
    return 0;
}

void rollup_day_format(int32_t day, char out[ROLLUP_DATE_LEN + 1])
{
    int y, m, d;

    civil_from_days(day, &y, &m, &d);
    (void)snprintf(out, ROLLUP_DATE_LEN + 1, "%04u-%02u-%02u", (unsigned)y % 10000u,
                   (unsigned)m % 100u, (unsigned)d % 100u);
}

/* How a JSON value looks in a message: a string quoted and cut, else its kind. */
static const char *got(const json_t *v, char *buf, size_t size)
{
    switch (json_typeof(v)) {
    case JSON_STRING: {
        const char *s = json_string_value(v);
        int cut = (int)strnlen(s, GOT_MAX);
        (void)snprintf(buf, size, "\"%.*s%s\"", cut, s, s[cut] ? "..." : "");
        return buf;
    }
    default:
        return job_json_phrase(v);
    }
}

static int arg_day(const json_t *args, size_t i, int32_t *ret_day, struct err *err)
{
    const json_t *v = json_array_get(args, i);
    char buf[GOT_MAX + 8];

    if (!json_is_string(v) ||
        rollup_day_parse(json_string_value(v), json_string_length(v), ret_day) < 0)
        return err_set(err, -EINVAL, "args[%zu] must be a date \"YYYY-MM-DD\" (got %s)", i,
                       got(v, buf, sizeof(buf)));
    return 0;
}

int rollup_args_parse(const json_t *args, unsigned max_days, struct rollup_range *ret,
                      struct err *err)
{
    size_t n = json_array_size(args);
    struct rollup_range range = {0};
    char from[ROLLUP_DATE_LEN + 1], to[ROLLUP_DATE_LEN + 1];
    int r;

    if (!json_is_array(args) || n > 2)
        return err_set(err, -EINVAL,
                       "args must be [], [\"YYYY-MM-DD\"] or [\"FROM\", \"TO\"] (got %zu args)", n);
    if (n == 0) {
        range.today = true;
        *ret = range;
        return 0;
    }
    r = arg_day(args, 0, &range.from, err);
    range.to = range.from;
    if (r == 0 && n == 2)
        r = arg_day(args, 1, &range.to, err);
    if (r < 0)
        return r;
    rollup_day_format(range.from, from);
    rollup_day_format(range.to, to);
    if (range.to < range.from)
        return err_set(err, -EINVAL, "args: the range %s..%s is reversed (FROM after TO)", from,
                       to);
    if ((int64_t)range.to - range.from + 1 > (int64_t)max_days)
        return err_set(err, -EINVAL,
                       "args: the range %s..%s has %ld days, more than analytics.max_days = %u",
                       from, to, (long)range.to - range.from + 1, max_days);
    *ret = range;
    return 0;
}

void rollup_range_today(struct rollup_range *range, int32_t today)
{
    range->from = today - 1;
    range->to = today;
}

/* Whether `len` bytes at `s` are UTF-8 (shortest forms, no surrogates, up to U+10FFFF)
 * without control characters. */
static bool text_ok(const unsigned char *s, size_t len)
{
    size_t i = 0;

    while (i < len) {
        unsigned c = s[i], need, cp;

        if (c < 0x80) {
            if (c < 0x20 || c == 0x7f)
                return false;
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf)
            need = 1, cp = c & 0x1f;
        else if (c >= 0xe0 && c <= 0xef)
            need = 2, cp = c & 0x0f;
        else if (c >= 0xf0 && c <= 0xf4)
            need = 3, cp = c & 0x07;
        else
            return false;
        if (len - i <= need)
            return false;
        for (unsigned k = 1; k <= need; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if ((need == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
            (need == 3 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0x80 && cp <= 0x9f))
            return false;
        i += need + 1;
    }
    return true;
}

int rollup_key_parse(const char *key, size_t len, const char *prefix, struct rollup_key *ret,
                     struct err *err)
{
    size_t plen = strlen(prefix), seplen = strlen(STEP_SEP), end, start;
    struct rollup_key k = {0};
    int64_t step = 0;

    if (len < plen || memcmp(key, prefix, plen) != 0)
        return err_set(err, -EINVAL, "does not start with the prefix \"%s\"", prefix);
    if (len < plen + 1 + ROLLUP_DATE_LEN || key[len - ROLLUP_DATE_LEN - 1] != ':' ||
        rollup_day_parse(key + len - ROLLUP_DATE_LEN, ROLLUP_DATE_LEN, &k.day) < 0)
        return err_set(err, -EINVAL, "does not end with a date :YYYY-MM-DD");
    end = len - ROLLUP_DATE_LEN - 1; /* the step's digits end here */
    for (start = end; start > plen && key[start - 1] >= '0' && key[start - 1] <= '9';)
        start--;
    if (start == end || end - start > 10 || (key[start] == '0' && end - start > 1))
        return err_set(err, -EINVAL,
                       "step must be a whole number 0..2147483647 without leading zeros");
    for (size_t i = start; i < end; i++)
        step = step * 10 + (key[i] - '0');
    if (step > INT32_MAX)
        return err_set(err, -EINVAL,
                       "step must be a whole number 0..2147483647 without leading zeros");
    if (start < plen + seplen || memcmp(key + start - seplen, STEP_SEP, seplen) != 0)
        return err_set(err, -EINVAL, "has no \"" STEP_SEP "\" before the step");
    k.id = key + plen;
    k.id_len = start - seplen - plen;
    k.step = (int32_t)step;
    if (k.id_len == 0 || k.id_len > ROLLUP_ID_MAX)
        return err_set(err, -EINVAL, "the funnel id must be 1..%d bytes (got %zu)", ROLLUP_ID_MAX,
                       k.id_len);
    if (!text_ok((const unsigned char *)k.id, k.id_len))
        return err_set(err, -EINVAL, "the funnel id must be UTF-8 without control characters");
    *ret = k;
    return 0;
}

int rollup_count_parse(const char *s, size_t len, int64_t *ret)
{
    char num[24];

    if (len == 0 || len > 19)
        return -EINVAL;
    for (size_t i = 0; i < len; i++)
        if (s[i] < '0' || s[i] > '9')
            return -EINVAL;
    memcpy(num, s, len);
    num[len] = '\0';
    return parse_i64(num, 0, INT64_MAX, ret) < 0 ? -EINVAL : 0;
}

int rollup_pass(const struct rollup_range *range, int32_t start, const char *prefix, char *pattern,
                size_t size, int32_t *ret_last)
{
    char date[ROLLUP_DATE_LEN + 1];
    int32_t last = start;
    size_t n = 0;
    int y, m, d;

    rollup_day_format(start, date);
    if (range->to - range->from + 1 > ROLLUP_DAY_PASSES_MAX) {
        civil_from_days(start, &y, &m, &d);
        last = start + (month_days(y, m) - d);
        if (last > range->to)
            last = range->to;
        if (last > start)
            memcpy(date + 8, "??", 2); /* the whole month; one day stays exact */
    }
    for (const char *p = prefix; *p; p++) {
        if (n + 3 > size)
            return -ENOSPC;
        if (strchr("*?[]\\", *p))
            pattern[n++] = '\\';
        pattern[n++] = *p;
    }
    if (n + strlen("*" STEP_SEP "*:") + ROLLUP_DATE_LEN + 1 > size)
        return -ENOSPC;
    n += (size_t)snprintf(pattern + n, size - n, "*" STEP_SEP "*:%s", date);
    *ret_last = last;
    return 0;
}
