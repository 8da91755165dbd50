/* cron_test.c - cron expressions: fields, shorthands, error sentences, next fire times, DST. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "lib/cron.h"
#include "lib/err.h"

#define NY "America/New_York"
#define PARIS "Europe/Paris"
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* A UTC time written as year, month, day, hour, minute, second. */
struct ymd {
    int y, mo, d, h, mi, s;
};

static time_t utc(struct ymd t)
{
    struct tm tm = {.tm_year = t.y - 1900,
                    .tm_mon = t.mo - 1,
                    .tm_mday = t.d,
                    .tm_hour = t.h,
                    .tm_min = t.mi,
                    .tm_sec = t.s};

    return timegm(&tm);
}

static struct cron_expr parse_ok(const char *text)
{
    struct cron_expr e;
    struct err err = {0};
    int r = cron_parse(text, &e, &err);

    if (r != 0)
        print_error("cron_parse(\"%s\") gave %d: %s\n", text, r, err.msg);
    assert_int_equal(r, 0);
    return e;
}

static time_t next_ok(const char *text, const char *tz, time_t after)
{
    struct cron_expr e = parse_ok(text);
    struct err err = {0};
    time_t next = 0;
    int r = cron_next(&e, tz, after, &next, &err);

    if (r != 0)
        print_error("cron_next(\"%s\", %s, %lld) gave %d: %s\n", text, tz, (long long)after, r,
                    err.msg);
    assert_int_equal(r, 0);
    assert_true(next > after);
    return next;
}

/* How many times `text` fires in (from, to]. */
static int count_fires(const char *text, const char *tz, time_t from, time_t to)
{
    int n = 0;

    for (time_t t = next_ok(text, tz, from); t <= to; t = next_ok(text, tz, t))
        n++;
    return n;
}

/* --- parsing ------------------------------------------------------------------------------ */

static void test_parse_fills_each_field_bit_set(void **state)
{
    static const struct {
        const char *text;
        uint64_t minutes;
        uint32_t hours, mdays;
        uint16_t months;
        uint8_t wdays;
    } ok[] = {
        {"0 0 1 1 0", 1, 1, 1u << 1, 1u << 1, 1},
        {"1-5/2 */6 1,15,31 12 6", 0x2a, 0x041041, 1u << 1 | 1u << 15 | 1u << 31, 1u << 12,
         1u << 6},
        {"5/20 20/2 30/1 11/1 5/1", 1ULL << 5 | 1ULL << 25 | 1ULL << 45, 0x00500000, 0xc0000000,
         1u << 11 | 1u << 12, 0x61}, /* "5/1" day-of-week: 5, 6, 7 = Fri, Sat, Sun */
        {"* * * * *", 0x0fffffffffffffffULL, 0x00ffffff, 0xfffffffe, 0x1ffe, 0x7f},
        {"59 23 31 12 7", 1ULL << 59, 1u << 23, 1u << 31, 1u << 12, 1},
        {"*/15 * * * */2", 1ULL | 1ULL << 15 | 1ULL << 30 | 1ULL << 45, 0x00ffffff, 0xfffffffe,
         0x1ffe, 0x55},
        {"0,0,0 0 1 1 0-7", 1, 1, 2, 2, 0x7f},
        {"\t0  0\t1 1 0 ", 1, 1, 2, 2, 1}, /* runs of blanks, leading and trailing */
        {"*/60 */24 */31 */12 */8", 1, 1, 2, 2, 1},
    };

    for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
        struct cron_expr e = parse_ok(ok[i].text);

        if (e.minutes != ok[i].minutes || e.wdays != ok[i].wdays)
            print_error("case %zu: \"%s\"\n", i, ok[i].text);
        assert_int_equal(e.minutes, ok[i].minutes);
        assert_int_equal(e.hours, ok[i].hours);
        assert_int_equal(e.mdays, ok[i].mdays);
        assert_int_equal(e.months, ok[i].months);
        assert_int_equal(e.wdays, ok[i].wdays);
    }
}

static void test_parse_reads_names_in_any_case(void **state)
{
    struct cron_expr a = parse_ok("0 0 * JAN,jul,Dec MON-FRI");
    struct cron_expr b = parse_ok("0 0 * 1,7,12 1-5");
    struct cron_expr c = parse_ok("0 0 * feb-Apr sun,Sat");

    assert_memory_equal(&a, &b, sizeof(a));
    assert_int_equal(c.months, 1u << 2 | 1u << 3 | 1u << 4);
    assert_int_equal(c.wdays, 1u << 0 | 1u << 6);
}

static void test_parse_marks_fields_that_start_with_a_star(void **state)
{
    struct cron_expr e = parse_ok("*/5 3 */2 * 1");

    assert_true(e.minute_star);
    assert_false(e.hour_star);
    assert_true(e.mday_star); /* cronie: "*" with a step still counts as "*" */
    assert_false(e.wday_star);
    e = parse_ok("0 *,3 1 * *,1");
    assert_false(e.minute_star);
    assert_true(e.hour_star);
    assert_false(e.mday_star);
    assert_true(e.wday_star);
}

static void test_parse_expands_shorthands(void **state)
{
    static const char *const pairs[][2] = {
        {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
        {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
        {"@hourly", "0 * * * *"}, {" @Daily\t", "0 0 * * *"},
    };

    for (size_t i = 0; i < ARRAY_SIZE(pairs); i++) {
        struct cron_expr a = parse_ok(pairs[i][0]), b = parse_ok(pairs[i][1]);

        assert_memory_equal(&a, &b, sizeof(a));
    }
}

static void test_parse_rejects_bad_expressions_with_a_sentence(void **state)
{
    static char too_long[CRON_TEXT_MAX + 2];
    static const struct {
        const char *text;
        const char *msg;
    } bad[] = {
        {"", "expected 5 fields (got 0)"},
        {" \t ", "expected 5 fields (got 0)"},
        {"* * * *", "expected 5 fields (got 4)"},
        {"* * * * * *", "expected 5 fields (got 6)"},
        {"60 * * * *", "minute: '60' is out of range 0-59"},
        {"* 24 * * *", "hour: '24' is out of range 0-23"},
        {"* * 0 * *", "day-of-month: '0' is out of range 1-31"},
        {"* * 32 * *", "day-of-month: '32' is out of range 1-31"},
        {"* * * 13 *", "month: '13' is out of range 1-12"},
        {"* * * 0 *", "month: '0' is out of range 1-12"},
        {"* * * * 8", "day-of-week: '8' is out of range 0-7"},
        {"1-99999999999999999999 * * * *", "minute: '99999999999999999999' is out of range 0-59"},
        {"* * * * MOX", "day-of-week: 'MOX' is not a day (SUN-SAT or 0-7)"},
        {"* * * * MONDAY", "day-of-week: 'MONDAY' is not a day (SUN-SAT or 0-7)"},
        {"* * * FOO *", "month: 'FOO' is not a month (JAN-DEC or 1-12)"},
        {"x * * * *", "minute: 'x' is not a number (0-59)"},
        {"MON * * * *", "minute: 'MON' is not a number (0-59)"},
        {"* * JAN * *", "day-of-month: 'JAN' is not a number (1-31)"},
        {"+5 * * * *", "minute: '+5' is not a number (0-59)"},
        {"** * * * *", "minute: '**' is not a number (0-59)"},
        {"*-5 * * * *", "minute: '*' is not a number (0-59)"},
        {"1-2-3 * * * *", "minute: '2-3' is not a number (0-59)"},
        {"-5 * * * *", "minute: '-5' is missing a number"},
        {"5- * * * *", "minute: '5-' is missing a number"},
        {"/5 * * * *", "minute: '/5' is missing a number"},
        {"* */0 * * *", "hour: step '0' must be 1 or more"},
        {"* 1-5/00 * * *", "hour: step '00' must be 1 or more"},
        {"* */x * * *", "hour: step 'x' is not a number"},
        {"* */ * * *", "hour: step '' is not a number"},
        {"* */1/2 * * *", "hour: step '1/2' is not a number"},
        {"*/99999999999 * * * *", "minute: step '99999999999' is too large"},
        {"* * * 5-2 *", "month: range '5-2' goes backwards"},
        {"* * * * FRI-MON", "day-of-week: range 'FRI-MON' goes backwards"},
        {"* * 20-10/2 * *", "day-of-month: range '20-10' goes backwards"},
        {"1,,2 * * * *", "minute: empty item in '1,,2'"},
        {"1, * * * *", "minute: empty item in '1,'"},
        {"* * * * ,", "day-of-week: empty item in ','"},
        {"@often", "unknown shorthand '@often'"},
        {"@reboot", "unknown shorthand '@reboot'"},
        {"@", "unknown shorthand '@'"},
        {"@daily 5", "expected only '@daily' (got 2 fields)"},
        {"0 0 @daily * *", "day-of-month: '@daily' is not a number (1-31)"},
        {too_long, "expression is too long (more than 1024 bytes)"},
    };

    memset(too_long, '1', sizeof(too_long) - 1);
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        struct cron_expr e = {.minutes = 42};
        struct err err = {0};

        assert_int_equal(cron_parse(bad[i].text, &e, &err), -EINVAL);
        assert_int_equal(err.code, -EINVAL);
        assert_string_equal(err.msg, bad[i].msg);
        assert_int_equal(e.minutes, 42); /* written only on success */
    }
}

/* --- next fire times ---------------------------------------------------------------------- */

/* Every expected time was computed twice: by hand from the calendar, and by a brute-force
 * walk over real time, minute by minute, with python3's zoneinfo (local time of each UTC
 * minute; fold == 1 marks the second occurrence of a repeated local time). DST instants were
 * also checked with `TZ=America/New_York date -d @EPOCH` (1772953200 is "Sun Mar 8 03:00:00
 * EDT 2026", 1793511000 "Sun Nov 1 01:30:00 EDT 2026") and `TZ=Europe/Paris date`
 * (1774746000 is "Sun Mar 29 03:00:00 CEST 2026"). All times below are UTC. */
static const struct next_case {
    const char *text;
    const char *tz;
    struct ymd after, want;
} next_cases[] = {
    /* every minute; not a whole minute yet */
    {"* * * * *", "UTC", {2026, 1, 1, 0, 0, 30}, {2026, 1, 1, 0, 1, 0}},
    {"* * * * *", "UTC", {2026, 1, 1, 0, 1, 0}, {2026, 1, 1, 0, 2, 0}},
    {"*/15 * * * *", "UTC", {2026, 1, 1, 0, 15, 0}, {2026, 1, 1, 0, 30, 0}},
    {"*/15 * * * *", "UTC", {2026, 1, 1, 0, 59, 0}, {2026, 1, 1, 1, 0, 0}},
    {"5/20 * * * *", "UTC", {2026, 1, 1, 0, 45, 0}, {2026, 1, 1, 1, 5, 0}},
    /* nightly at 03:00: strictly after, so 03:00 itself moves to the next day */
    {"0 3 * * *", "UTC", {2026, 1, 1, 3, 0, 0}, {2026, 1, 2, 3, 0, 0}},
    {"0 3 * * *", "UTC", {2026, 1, 1, 2, 59, 59}, {2026, 1, 1, 3, 0, 0}},
    /* Sunday: 2026-01-01 is a Thursday, 2026-01-04 a Sunday; 0 and 7 both mean Sunday */
    {"0 0 * * 0", "UTC", {2026, 1, 1, 0, 0, 0}, {2026, 1, 4, 0, 0, 0}},
    {"0 0 * * 7", "UTC", {2026, 1, 1, 0, 0, 0}, {2026, 1, 4, 0, 0, 0}},
    {"@weekly", "UTC", {2026, 1, 1, 0, 0, 0}, {2026, 1, 4, 0, 0, 0}},
    /* monthly on the 1st, from Jan 31 */
    {"0 0 1 * *", "UTC", {2026, 1, 31, 0, 0, 0}, {2026, 2, 1, 0, 0, 0}},
    {"@monthly", "UTC", {2026, 12, 15, 0, 0, 0}, {2027, 1, 1, 0, 0, 0}},
    {"@yearly", "UTC", {2026, 1, 1, 0, 0, 0}, {2027, 1, 1, 0, 0, 0}},
    {"@daily", "UTC", {2026, 2, 28, 0, 0, 0}, {2026, 3, 1, 0, 0, 0}},
    {"@hourly", "UTC", {2026, 12, 31, 23, 0, 0}, {2027, 1, 1, 0, 0, 0}},
    /* leap day: 2028 is the next leap year after 2025-03-01 */
    {"0 0 29 2 *", "UTC", {2025, 3, 1, 0, 0, 0}, {2028, 2, 29, 0, 0, 0}},
    {"0 0 29 2 *", "UTC", {2028, 2, 29, 0, 0, 0}, {2032, 2, 29, 0, 0, 0}},
    /* the 31st skips April (30 days) */
    {"0 0 31 * *", "UTC", {2026, 3, 31, 0, 0, 0}, {2026, 5, 31, 0, 0, 0}},
    {"0 0 31 * *", "UTC", {2026, 1, 31, 0, 0, 0}, {2026, 3, 31, 0, 0, 0}},
    /* the 13th OR any Friday: 2026-04-13 is a Monday, 2026-04-17 a Friday */
    {"0 0 13 * 5", "UTC", {2026, 4, 11, 0, 0, 0}, {2026, 4, 13, 0, 0, 0}},
    {"0 0 13 * 5", "UTC", {2026, 4, 13, 0, 0, 0}, {2026, 4, 17, 0, 0, 0}},
    {"0 0 1,15 * 3", "UTC", {2026, 1, 1, 0, 0, 0}, {2026, 1, 7, 0, 0, 0}}, /* a Wednesday */
    /* day-of-month starts with "*": both must match (1, 11, 21, 31 AND Monday) */
    {"0 0 */10 * 1", "UTC", {2026, 1, 1, 0, 0, 0}, {2026, 5, 11, 0, 0, 0}},
    /* weekdays: Friday 2026-01-02 to Monday 2026-01-05 */
    {"0 0 * * 1-5", "UTC", {2026, 1, 2, 0, 0, 0}, {2026, 1, 5, 0, 0, 0}},
    {"0 9 * * mon-fri", "UTC", {2026, 1, 2, 9, 0, 0}, {2026, 1, 5, 9, 0, 0}},
    {"0 12 1 JAN *", "UTC", {2026, 1, 1, 12, 0, 0}, {2027, 1, 1, 12, 0, 0}},
    {"0 0 1 jul,Dec *", "UTC", {2026, 1, 1, 0, 0, 0}, {2026, 7, 1, 0, 0, 0}},
    /* New York midnight is 05:00 UTC in winter (EST, UTC-5) */
    {"0 0 * * *", NY, {2026, 1, 1, 0, 0, 0}, {2026, 1, 1, 5, 0, 0}},
    /* 2026-03-08 in New York: 02:00 EST jumps to 03:00 EDT at 07:00 UTC. A fixed job due
     * in the gap fires once at 03:00 EDT, then at 02:30 EDT (06:30 UTC) the next day. */
    {"30 2 * * *", NY, {2026, 3, 8, 5, 0, 0}, {2026, 3, 8, 7, 0, 0}},
    {"30 2 * * *", NY, {2026, 3, 8, 6, 59, 59}, {2026, 3, 8, 7, 0, 0}},
    {"30 2 * * *", NY, {2026, 3, 8, 7, 0, 0}, {2026, 3, 9, 6, 30, 0}},
    {"0,15,30,45 2 * * *", NY, {2026, 3, 8, 5, 0, 0}, {2026, 3, 8, 7, 0, 0}},
    {"0,15,30,45 2 * * *", NY, {2026, 3, 8, 7, 0, 0}, {2026, 3, 9, 6, 0, 0}},
    {"0 3 * * *", NY, {2026, 3, 8, 5, 0, 0}, {2026, 3, 8, 7, 0, 0}},
    {"30 2 8 3 *", NY, {2026, 1, 1, 0, 0, 0}, {2026, 3, 8, 7, 0, 0}},
    /* wildcard jobs follow real time: 01:45 EST, then 03:00 EDT 15 minutes later; "30 * * *
     * *" has no 02:30 that day, so 01:30 EST is followed by 03:30 EDT */
    {"*/15 * * * *", NY, {2026, 3, 8, 6, 45, 0}, {2026, 3, 8, 7, 0, 0}},
    {"30 * * * *", NY, {2026, 3, 8, 6, 30, 0}, {2026, 3, 8, 7, 30, 0}},
    /* 2026-11-01 in New York: 02:00 EDT goes back to 01:00 EST at 06:00 UTC. A fixed job at
     * 01:30 fires at 01:30 EDT (05:30 UTC) only, not at 01:30 EST (06:30 UTC). */
    {"30 1 * * *", NY, {2026, 11, 1, 4, 0, 0}, {2026, 11, 1, 5, 30, 0}},
    {"30 1 * * *", NY, {2026, 11, 1, 5, 30, 0}, {2026, 11, 2, 6, 30, 0}},
    {"30 1 * * *", NY, {2026, 11, 1, 6, 10, 0}, {2026, 11, 2, 6, 30, 0}},
    /* a wildcard job goes on through the repeated hour: 01:45 EDT, then 01:00 EST */
    {"*/15 * * * *", NY, {2026, 11, 1, 5, 45, 0}, {2026, 11, 1, 6, 0, 0}},
    /* 2026-03-29 in Paris: 02:00 CET jumps to 03:00 CEST at 01:00 UTC */
    {"30 2 * * *", PARIS, {2026, 3, 29, 0, 0, 0}, {2026, 3, 29, 1, 0, 0}},
    {"30 2 * * *", PARIS, {2026, 3, 29, 1, 0, 0}, {2026, 3, 30, 0, 30, 0}},
    /* 2026-10-25 in Paris: 03:00 CEST goes back to 02:00 CET at 01:00 UTC: 02:30 CEST
     * (00:30 UTC) fires, 02:30 CET (01:30 UTC) does not */
    {"30 2 * * *", PARIS, {2026, 10, 24, 23, 0, 0}, {2026, 10, 25, 0, 30, 0}},
    {"30 2 * * *", PARIS, {2026, 10, 25, 0, 30, 0}, {2026, 10, 26, 1, 30, 0}},
};

static void test_next_fires_at_the_expected_times(void **state)
{
    for (size_t i = 0; i < ARRAY_SIZE(next_cases); i++) {
        const struct next_case *c = &next_cases[i];
        time_t want = utc(c->want), got = next_ok(c->text, c->tz, utc(c->after));

        if (got != want)
            print_error("case %zu \"%s\" in %s: got %lld, want %lld\n", i, c->text, c->tz,
                        (long long)got, (long long)want);
        assert_int_equal(got, want);
    }
}

static void test_next_fires_a_gap_job_once_on_the_spring_forward_day(void **state)
{
    struct ymd from = {2026, 3, 8, 5, 0, 0}, to = {2026, 3, 9, 4, 0, 0}; /* local midnights */

    assert_int_equal(count_fires("30 2 * * *", NY, utc(from), utc(to)), 1);
    assert_int_equal(count_fires("*/5 2 * * *", NY, utc(from), utc(to)), 0); /* wildcard */
    /* the local day has 23 hours: a job every 15 minutes fires 92 times, never twice */
    assert_int_equal(count_fires("*/15 * * * *", NY, utc(from), utc(to)), 23 * 4);
}

static void test_next_fires_a_repeated_time_once_on_the_fall_back_day(void **state)
{
    struct ymd from = {2026, 11, 1, 4, 0, 0}, to = {2026, 11, 2, 5, 0, 0}; /* local midnights */

    assert_int_equal(count_fires("30 1 * * *", NY, utc(from), utc(to)), 1);
    assert_int_equal(count_fires("0-59 1 * * *", NY, utc(from), utc(to)), 60);
    /* wildcard jobs run in both 01:xx hours: the local day has 25 hours */
    assert_int_equal(count_fires("*/15 * * * *", NY, utc(from), utc(to)), 25 * 4);
    assert_int_equal(count_fires("*/15 1 * * *", NY, utc(from), utc(to)), 8);
}

/* "0 * * * *" starts with "*" in the hour, so it follows real time (cronie's HR_STAR): from
 * 00:00 EDT to 03:00 EST it fires 4 times, once every real hour: 01:00 EDT (05:00 UTC),
 * 01:00 EST (06:00 UTC), 02:00 EST (07:00 UTC) and 03:00 EST (08:00 UTC). */
static void test_next_fires_an_hourly_job_every_real_hour_across_fall_back(void **state)
{
    static const struct ymd want[] = {{2026, 11, 1, 5, 0, 0},
                                      {2026, 11, 1, 6, 0, 0},
                                      {2026, 11, 1, 7, 0, 0},
                                      {2026, 11, 1, 8, 0, 0}};
    time_t t = utc((struct ymd){2026, 11, 1, 4, 0, 0});

    for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
        t = next_ok("0 * * * *", NY, t);
        assert_int_equal(t, utc(want[i]));
    }
    assert_int_equal(count_fires("0 * * * *", NY, utc((struct ymd){2026, 11, 1, 4, 0, 0}),
                                 utc((struct ymd){2026, 11, 1, 8, 0, 0})),
                     4);
}

static void test_next_reports_an_expression_that_never_fires(void **state)
{
    static const char *const never[] = {"0 0 30 2 *", "0 0 31 4,6,9,11 *", "0 0 30 2 */2"};
    struct err err = {0};
    time_t next = 17;

    for (size_t i = 0; i < ARRAY_SIZE(never); i++) {
        struct cron_expr e = parse_ok(never[i]);

        assert_int_equal(cron_next(&e, "UTC", utc((struct ymd){2026, 1, 1, 0, 0, 0}), &next, &err),
                         -ERANGE);
        assert_string_equal(err.msg, "never fires within 5 years");
        assert_int_equal(cron_next(&e, NY, 0, &next, &err), -ERANGE);
    }
    assert_int_equal(next, 17);
}

static void test_next_rejects_unknown_zones(void **state)
{
    static const struct {
        const char *tz;
        const char *msg;
    } bad[] = {
        {"Mars/Base", "unknown time zone 'Mars/Base'"},
        {"", "unknown time zone ''"},
        {"utc", "unknown time zone 'utc'"},
        {"America", "unknown time zone 'America'"},   /* a directory */
        {"zone.tab", "unknown time zone 'zone.tab'"}, /* a file, but not TZif */
        {"../../../etc/passwd", "unknown time zone '../../../etc/passwd'"},
        {"/usr/share/zoneinfo/UTC", "unknown time zone '/usr/share/zoneinfo/UTC'"},
        {NULL, "unknown time zone ''"},
    };
    struct cron_expr e = parse_ok("* * * * *");
    time_t next = 17;

    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        struct err err = {0};

        assert_int_equal(cron_next(&e, bad[i].tz, 0, &next, &err), -EINVAL);
        assert_string_equal(err.msg, bad[i].msg);
    }
    assert_int_equal(next, 17);
}

static void test_next_accepts_zone_files_beside_utc(void **state)
{
    time_t after = utc((struct ymd){2026, 7, 1, 0, 0, 0});

    assert_int_equal(next_ok("0 0 * * *", "Etc/UTC", after), after + 86400);
    assert_int_equal(next_ok("0 0 * * *", "Asia/Kolkata", after), after + 86400 - 19800);
    assert_int_equal(next_ok("0 0 * * *", "Australia/Lord_Howe", after), after + 86400 - 37800);
}

static void test_next_leaves_tz_as_it_found_it(void **state)
{
    time_t after = utc((struct ymd){2026, 1, 1, 0, 0, 0});
    struct tm tm;

    assert_int_equal(setenv("TZ", "Asia/Tokyo", 1), 0);
    tzset();
    (void)next_ok("0 0 * * *", NY, after);
    assert_string_equal(getenv("TZ"), "Asia/Tokyo");
    assert_non_null(localtime_r(&after, &tm));
    assert_int_equal(tm.tm_gmtoff, 9 * 3600);

    assert_int_equal(unsetenv("TZ"), 0);
    tzset();
    (void)next_ok("0 0 * * *", PARIS, after);
    assert_null(getenv("TZ"));
}

static void test_local_time_shows_the_zone_s_time_and_leaves_tz(void **state)
{
    time_t winter = utc((struct ymd){2026, 3, 28, 1, 30, 0});
    time_t summer = utc((struct ymd){2026, 3, 29, 1, 0, 0});
    struct err err = {0};
    char buf[40];

    assert_int_equal(setenv("TZ", "Asia/Tokyo", 1), 0);
    tzset();
    assert_int_equal(cron_local_time(winter, PARIS, buf, sizeof(buf), &err), 0);
    assert_string_equal(buf, "2026-03-28 02:30:00 CET");
    assert_int_equal(cron_local_time(summer, PARIS, buf, sizeof(buf), &err), 0);
    assert_string_equal(buf, "2026-03-29 03:00:00 CEST");
    assert_int_equal(cron_local_time(summer, "UTC", buf, sizeof(buf), &err), 0);
    assert_string_equal(buf, "2026-03-29 01:00:00 UTC");
    assert_string_equal(getenv("TZ"), "Asia/Tokyo");
    assert_int_equal(cron_local_time(summer, "Mars/Base", buf, sizeof(buf), &err), -EINVAL);
    assert_string_equal(err.msg, "unknown time zone 'Mars/Base'");
    assert_int_equal(cron_local_time(summer, PARIS, buf, 8, &err), -ENOSPC);
    assert_int_equal(unsetenv("TZ"), 0);
    tzset();
}

static void test_next_rejects_start_times_outside_the_supported_years(void **state)
{
    struct cron_expr e = parse_ok("* * * * *");
    struct err err = {0};
    time_t next = 17;

    assert_int_equal(cron_next(&e, "UTC", (time_t)-2208988801LL, &next, &err), -ERANGE);
    assert_string_equal(err.msg, "start time -2208988801 is outside the years 1900..9990");
    assert_int_equal(cron_next(&e, "UTC", (time_t)INT64_MAX, &next, &err), -ERANGE);
    assert_int_equal(next, 17);
    assert_int_equal(next_ok("* * * * *", NY, (time_t)-2208988800LL), -2208988800LL + 60);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_fills_each_field_bit_set),
        cmocka_unit_test(test_parse_reads_names_in_any_case),
        cmocka_unit_test(test_parse_marks_fields_that_start_with_a_star),
        cmocka_unit_test(test_parse_expands_shorthands),
        cmocka_unit_test(test_parse_rejects_bad_expressions_with_a_sentence),
        cmocka_unit_test(test_next_fires_at_the_expected_times),
        cmocka_unit_test(test_next_fires_a_gap_job_once_on_the_spring_forward_day),
        cmocka_unit_test(test_next_fires_a_repeated_time_once_on_the_fall_back_day),
        cmocka_unit_test(test_next_fires_an_hourly_job_every_real_hour_across_fall_back),
        cmocka_unit_test(test_next_reports_an_expression_that_never_fires),
        cmocka_unit_test(test_next_rejects_unknown_zones),
        cmocka_unit_test(test_next_accepts_zone_files_beside_utc),
        cmocka_unit_test(test_next_leaves_tz_as_it_found_it),
        cmocka_unit_test(test_next_rejects_start_times_outside_the_supported_years),
        cmocka_unit_test(test_local_time_shows_the_zone_s_time_and_leaves_tz),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
