/* cron.c - cron expressions and their next fire time in a time zone, as cronie fires them. */
#include "lib/cron.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "lib/err.h"
#include "lib/parse.h"
#include "lib/xalloc.h"

#define ZONEINFO_DIR "/usr/share/zoneinfo"
#define ZONE_NAME_MAX 64              /* bytes; the longest IANA name has 32 */
#define HORIZON_S (5 * 366 * 86400LL) /* "5 years", leap days included */
#define AFTER_MIN (-2208988800LL)     /* 1900-01-01T00:00:00Z */
#define AFTER_MAX 253086768000LL      /* 9990-01-01T00:00:00Z */
#define PROBE_S 86400 /* offset changes are further apart than this in every real zone */
#define DAY_S 86400LL

/* --- parsing ------------------------------------------------------------------------------ */

static const char *const month_names[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL",
                                          "AUG", "SEP", "OCT", "NOV", "DEC", NULL};
static const char *const day_names[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT", NULL};

static const struct field {
    const char *name;         /* in messages */
    unsigned min, max;        /* accepted numbers; max <= 63 */
    const char *const *names; /* NULL, or names of min, min + 1, ... */
    const char *not_value;    /* the sentence's end for a token that is no value */
} fields[] = {
    {"minute", 0, 59, NULL, "is not a number (0-59)"},
    {"hour", 0, 23, NULL, "is not a number (0-23)"},
    {"day-of-month", 1, 31, NULL, "is not a number (1-31)"},
    {"month", 1, 12, month_names, "is not a month (JAN-DEC or 1-12)"},
    {"day-of-week", 0, 7, day_names, "is not a day (SUN-SAT or 0-7)"},
};
#define NFIELDS (sizeof(fields) / sizeof(fields[0]))

static const struct shorthand {
    const char *name;
    const char *text;
} shorthands[] = {
    {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
    {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
    {"@hourly", "0 * * * *"},
};

static int is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* One number or name of field `f`; `item` is the whole list item, for messages. */
static int value_parse(const struct field *f, const char *s, size_t n, const char *item,
                       size_t item_n, unsigned *ret, struct err *err)
{
    char buf[16];
    uint32_t v = 0;
    size_t i;
    int r = -EINVAL;

    if (n == 0)
        return err_set(err, -EINVAL, "%s: '%.*s' is missing a number", f->name, (int)item_n, item);
    if (n < sizeof(buf)) {
        memcpy(buf, s, n);
        buf[n] = '\0';
        for (i = 0; f->names && f->names[i]; i++)
            if (strcasecmp(buf, f->names[i]) == 0) {
                *ret = f->min + (unsigned)i;
                return 0;
            }
        r = parse_u32(buf, f->min, f->max, &v);
    } else if (strspn(s, "0123456789") >= n) {
        r = -ERANGE; /* too many digits for any field */
    }
    if (r == -ERANGE)
        return err_set(err, -EINVAL, "%s: '%.*s' is out of range %u-%u", f->name, (int)n, s, f->min,
                       f->max);
    if (r < 0)
        return err_set(err, -EINVAL, "%s: '%.*s' %s", f->name, (int)n, s, f->not_value);
    *ret = v;
    return 0;
}

static int step_parse(const struct field *f, const char *s, size_t n, unsigned *ret,
                      struct err *err)
{
    char buf[16];
    uint32_t v = 0;
    int r = -EINVAL;

    if (n > 0 && n < sizeof(buf)) {
        memcpy(buf, s, n);
        buf[n] = '\0';
        r = parse_u32(buf, 0, UINT32_MAX, &v);
    } else if (n > 0 && strspn(s, "0123456789") >= n) {
        r = -ERANGE;
    }
    if (r == -ERANGE)
        return err_set(err, -EINVAL, "%s: step '%.*s' is too large", f->name, (int)n, s);
    if (r < 0)
        return err_set(err, -EINVAL, "%s: step '%.*s' is not a number", f->name, (int)n, s);
    if (v == 0)
        return err_set(err, -EINVAL, "%s: step '%.*s' must be 1 or more", f->name, (int)n, s);
    *ret = v;
    return 0;
}

/* One list item: "*", "a", "a-b", each optionally followed by "/step". */
static int item_parse(const struct field *f, const char *item, size_t n, uint64_t *bits,
                      struct err *err)
{
    const char *slash = memchr(item, '/', n), *dash;
    size_t base_n = slash ? (size_t)(slash - item) : n;
    unsigned lo = f->min, hi = f->max, step = 1, v;
    int r;

    if (slash) {
        r = step_parse(f, slash + 1, n - base_n - 1, &step, err);
        if (r < 0)
            return r;
    }
    if (base_n == 1 && item[0] == '*') {
        /* the whole field */
    } else if ((dash = memchr(item, '-', base_n)) != NULL) {
        size_t a_n = (size_t)(dash - item);

        r = value_parse(f, item, a_n, item, n, &lo, err);
        if (r < 0)
            return r;
        r = value_parse(f, dash + 1, base_n - a_n - 1, item, n, &hi, err);
        if (r < 0)
            return r;
        if (lo > hi)
            return err_set(err, -EINVAL, "%s: range '%.*s' goes backwards", f->name, (int)base_n,
                           item);
    } else {
        r = value_parse(f, item, base_n, item, n, &lo, err);
        if (r < 0)
            return r;
        if (!slash)
            hi = lo; /* "a/n" means a-max/n */
    }
    for (v = lo; v <= hi; v += step) {
        *bits |= 1ULL << v;
        if (step > hi - v)
            break; /* v + step would pass hi, or wrap */
    }
    return 0;
}

/* A comma-separated list of items of field `f`, `n` bytes at `s`. */
static int field_parse(const struct field *f, const char *s, size_t n, uint64_t *ret,
                       struct err *err)
{
    const char *end = s + n, *p = s;
    uint64_t bits = 0;
    int r;

    for (;;) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        size_t item_n = comma ? (size_t)(comma - p) : (size_t)(end - p);

        if (item_n == 0)
            return err_set(err, -EINVAL, "%s: empty item in '%.*s'", f->name, (int)n, s);
        r = item_parse(f, p, item_n, &bits, err);
        if (r < 0)
            return r;
        if (!comma)
            break;
        p = comma + 1;
    }
    *ret = bits;
    return 0;
}

/* Splits `text` on runs of blanks: up to `max` fields into start/len, returns the count. */
static size_t split_fields(const char *text, const char **start, size_t *len, size_t max)
{
    size_t count = 0;
    const char *p = text;

    for (;;) {
        while (is_blank(*p))
            p++;
        if (!*p)
            return count;
        if (count < max)
            start[count] = p;
        while (*p && !is_blank(*p))
            p++;
        if (count < max)
            len[count] = (size_t)(p - start[count]);
        count++;
    }
}

static int shorthand_parse(const char *name, size_t n, struct cron_expr *ret, struct err *err)
{
    for (size_t i = 0; i < sizeof(shorthands) / sizeof(shorthands[0]); i++)
        if (strlen(shorthands[i].name) == n && strncasecmp(name, shorthands[i].name, n) == 0)
            return cron_parse(shorthands[i].text, ret, err);
    return err_set(err, -EINVAL, "unknown shorthand '%.*s'", (int)n, name);
}

int cron_parse(const char *text, struct cron_expr *ret, struct err *err)
{
    const char *start[NFIELDS];
    size_t len[NFIELDS], count, text_n;
    uint64_t bits[NFIELDS];
    struct cron_expr e = {0};
    int r;

    if (!text)
        text = "";
    text_n = strnlen(text, CRON_TEXT_MAX + 1);
    if (text_n > CRON_TEXT_MAX)
        return err_set(err, -EINVAL, "expression is too long (more than %d bytes)", CRON_TEXT_MAX);
    count = split_fields(text, start, len, NFIELDS);
    if (count >= 1 && start[0][0] == '@') {
        if (count > 1)
            return err_set(err, -EINVAL, "expected only '%.*s' (got %zu fields)", (int)len[0],
                           start[0], count);
        return shorthand_parse(start[0], len[0], ret, err);
    }
    if (count != NFIELDS)
        return err_set(err, -EINVAL, "expected %zu fields (got %zu)", NFIELDS, count);
    for (size_t i = 0; i < NFIELDS; i++) {
        r = field_parse(&fields[i], start[i], len[i], &bits[i], err);
        if (r < 0)
            return r;
    }
    e.minutes = bits[0];
    e.hours = (uint32_t)bits[1];
    e.mdays = (uint32_t)bits[2];
    e.months = (uint16_t)bits[3];
    e.wdays = (uint8_t)((bits[4] | bits[4] >> 7) & 0x7f); /* 7 is Sunday too */
    e.minute_star = start[0][0] == '*';
    e.hour_star = start[1][0] == '*';
    e.mday_star = start[2][0] == '*';
    e.wday_star = start[4][0] == '*';
    *ret = e;
    return 0;
}

/* --- calendar arithmetic on local wall-clock seconds ---------------------------------------
 * A local time is counted like UTC from 1970 ("local seconds"): the offset of the zone is
 * added by the caller, so these functions know nothing of zones. */

struct civil {
    int64_t days; /* since 1970-01-01 */
    int64_t year;
    unsigned month, mday, wday, hour, minute; /* 1-12, 1-31, 0-6 (Sunday 0), 0-23, 0-59 */
};

static int64_t floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

/* Howard Hinnant's days_from_civil: days since 1970-01-01 of a proleptic Gregorian date. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    int64_t era, yoe, doy, doe;

    y -= m <= 2;
    era = floor_div(y, 400);
    yoe = y - era * 400;
    doy = (153 * ((int64_t)m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_local(int64_t t, struct civil *c)
{
    int64_t days = floor_div(t, DAY_S), sod = t - days * DAY_S;
    int64_t z = days + 719468, era = floor_div(z, 146097), doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;

    c->days = days;
    c->mday = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
    c->month = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
    c->year = yoe + era * 400 + (c->month <= 2);
    c->wday = (unsigned)(days + 4 - 7 * floor_div(days + 4, 7)); /* 1970-01-01: Thursday */
    c->hour = (unsigned)(sod / 3600);
    c->minute = (unsigned)(sod % 3600 / 60);
}

/* cronie's rule: both restricted, either matches; one starting with '*', both must. */
static int day_matches(const struct cron_expr *e, const struct civil *c)
{
    int mday = (int)(e->mdays >> c->mday & 1), wday = (int)(e->wdays >> c->wday & 1);

    if (e->mday_star || e->wday_star)
        return mday && wday;
    return mday || wday;
}

/* The lowest set bit of `bits` at or above `from`, or -1. */
static int next_bit(uint64_t bits, unsigned from)
{
    if (from > 63)
        return -1;
    bits >>= from;
    return bits ? (int)from + __builtin_ctzll(bits) : -1;
}

/* The first local minute in [from, to] that the expression matches: skips whole months,
 * days and hours that cannot match. Returns 1 and writes *ret, or 0. */
static int cal_find(const struct cron_expr *e, int64_t from, int64_t to, int64_t *ret)
{
    int64_t t = -floor_div(-from, 60) * 60; /* round up to a whole minute */
    struct civil c;
    int h, m;

    while (t <= to) {
        civil_from_local(t, &c);
        if (!(e->months >> c.month & 1)) {
            t = DAY_S * (c.month == 12 ? days_from_civil(c.year + 1, 1, 1)
                                       : days_from_civil(c.year, c.month + 1, 1));
            continue;
        }
        if (!day_matches(e, &c)) {
            t = (c.days + 1) * DAY_S;
            continue;
        }
        h = next_bit(e->hours, c.hour);
        if (h < 0) {
            t = (c.days + 1) * DAY_S;
            continue;
        }
        m = next_bit(e->minutes, (unsigned)h == c.hour ? c.minute : 0);
        if (m < 0 || m > 59) {
            t = c.days * DAY_S + (h + 1) * 3600LL;
            continue;
        }
        t = c.days * DAY_S + h * 3600LL + m * 60LL;
        if (t > to)
            return 0;
        *ret = t;
        return 1;
    }
    return 0;
}

/* --- time zones ---------------------------------------------------------------------------- */

struct zone {
    int utc;      /* 1: offset 0 always, TZ untouched */
    char *old_tz; /* owned: TZ before the call, NULL when it was unset */
};

/* A name that can only be a file below ZONEINFO_DIR holding a TZif file (glibc would quietly
 * use UTC for anything else, e.g. "zone.tab"). */
static int zone_exists(const char *name)
{
    char path[sizeof(ZONEINFO_DIR) + ZONE_NAME_MAX + 1], magic[4];
    size_t n = strlen(name);
    ssize_t got;
    int fd;

    if (n == 0 || n > ZONE_NAME_MAX || name[0] == '/' ||
        strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/_+-") != n)
        return 0;
    memcpy(path, ZONEINFO_DIR "/", sizeof(ZONEINFO_DIR));
    memcpy(path + sizeof(ZONEINFO_DIR), name, n + 1);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    got = read(fd, magic, sizeof(magic));
    (void)close(fd);
    return got == (ssize_t)sizeof(magic) && memcmp(magic, "TZif", sizeof(magic)) == 0;
}

static int zone_open(struct zone *z, const char *name, struct err *err)
{
    char tz[sizeof(ZONEINFO_DIR) + ZONE_NAME_MAX + 2];
    const char *old;

    z->utc = 0;
    z->old_tz = NULL;
    if (name && strcmp(name, "UTC") == 0) {
        z->utc = 1;
        return 0;
    }
    if (!name || !zone_exists(name))
        return err_set(err, -EINVAL, "unknown time zone '%s'", name ? name : "");
    old = getenv("TZ");
    if (old)
        z->old_tz = xstrdup(old);
    (void)snprintf(tz, sizeof(tz), ":" ZONEINFO_DIR "/%s", name);
    if (setenv("TZ", tz, 1) < 0) {
        free(z->old_tz);
        return err_set(err, -ENOMEM, "out of memory");
    }
    tzset(); /* localtime_r need not look at TZ again */
    return 0;
}

static void zone_close(struct zone *z)
{
    if (z->utc)
        return;
    if (z->old_tz)
        (void)setenv("TZ", z->old_tz, 1);
    else
        (void)unsetenv("TZ");
    tzset();
    free(z->old_tz);
}

/* Seconds east of UTC at instant `t`. */
static int64_t zone_offset(const struct zone *z, int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;

    if (z->utc || !localtime_r(&tt, &tm))
        return 0; /* localtime_r cannot fail within AFTER_MIN..AFTER_MAX + HORIZON_S */
    return tm.tm_gmtoff;
}

/* The first instant in (from, to] whose offset is not `off` (the offset at `from`), or 0. */
static int64_t zone_change(const struct zone *z, int64_t from, int64_t to, int64_t off)
{
    int64_t lo, hi, mid;

    if (z->utc)
        return 0;
    for (lo = from; lo < to; lo = hi) {
        hi = to - lo > PROBE_S ? lo + PROBE_S : to;
        if (zone_offset(z, hi) == off)
            continue;
        while (hi - lo > 1) {
            mid = lo + (hi - lo) / 2;
            if (zone_offset(z, mid) == off)
                lo = mid;
            else
                hi = mid;
        }
        return hi;
    }
    return 0;
}

/* Local time `local`, reached at `t` with offset `off`, was reached before: the clock was
 * set back within the last day and `local` came once already under the earlier offset. */
static int zone_repeats(const struct zone *z, int64_t local, int64_t t, int64_t off)
{
    int64_t before = zone_offset(z, t - PROBE_S);

    return before > off && zone_offset(z, local - before) == before;
}

/* --- next fire ----------------------------------------------------------------------------- */

/* Walks real time from `after` one stretch of constant offset at a time: the first matching
 * local time of a stretch is its candidate, unless the offset changes before it. */
static int next_fire(const struct cron_expr *e, const struct zone *z, int64_t after, int64_t *ret)
{
    int fixed = !e->minute_star && !e->hour_star;
    int64_t limit = after + HORIZON_S, s = after + 1, off, before, local, t, from, change;

    while (s <= limit) {
        off = zone_offset(z, s);
        before = zone_offset(z, s - 1);
        /* spring forward at s: a fixed job due inside the gap fires once, at s */
        if (fixed && off > before && cal_find(e, s + before, s + off - 1, &local)) {
            *ret = s;
            return 0;
        }
        from = s;
        local = s + off;
        for (;;) {
            if (!cal_find(e, local, limit + off, &local))
                return -ERANGE;
            t = local - off;
            change = zone_change(z, from, t, off);
            if (change) {
                s = change;
                break;
            }
            if (!fixed || !zone_repeats(z, local, t, off)) {
                *ret = t;
                return 0;
            }
            from = t; /* fall back: this local time fired at its first occurrence */
            local += 60;
        }
    }
    return -ERANGE;
}

int cron_local_time(time_t t, const char *tz, char *buf, size_t size, struct err *err)
{
    struct zone zone;
    struct tm tm;
    int r = zone_open(&zone, tz, err);

    if (r < 0)
        return r;
    if (zone.utc ? !gmtime_r(&t, &tm) : !localtime_r(&t, &tm))
        r = err_set(err, -ERANGE, "time %lld cannot be shown", (long long)t);
    else if (strftime(buf, size, zone.utc ? "%Y-%m-%d %H:%M:%S UTC" : "%Y-%m-%d %H:%M:%S %Z",
                      &tm) == 0)
        r = err_set(err, -ENOSPC, "no room to show time %lld", (long long)t);
    zone_close(&zone);
    return r;
}

int cron_next(const struct cron_expr *expr, const char *tz, time_t after, time_t *ret_next,
              struct err *err)
{
    struct zone zone;
    int64_t next = 0;
    int r;

    if ((int64_t)after < AFTER_MIN || (int64_t)after > AFTER_MAX)
        return err_set(err, -ERANGE, "start time %lld is outside the years 1900..9990",
                       (long long)after);
    r = zone_open(&zone, tz, err);
    if (r < 0)
        return r;
    r = next_fire(expr, &zone, (int64_t)after, &next);
    zone_close(&zone);
    if (r < 0)
        return err_set(err, r, "never fires within 5 years");
    *ret_next = (time_t)next;
    return 0;
}
