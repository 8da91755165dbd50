/* rollup_parse_test.c - dates, args, funnel keys and SCAN passes of analytics.rollup. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <jansson.h>

#include "jobs/rollup_parse.h"
#include "lib/err.h"

static int32_t day_of(const char *s)
{
    int32_t day = INT32_MIN;

    assert_int_equal(rollup_day_parse(s, strlen(s), &day), 0);
    return day;
}

static void test_day_parse_counts_from_1970(void **state)
{
    (void)state;
    assert_int_equal(day_of("1970-01-01"), 0);
    assert_int_equal(day_of("1970-01-02"), 1);
    assert_int_equal(day_of("1969-12-31"), -1);
    assert_int_equal(day_of("2000-03-01"), 11017);
    assert_int_equal(day_of("2026-11-24"), 20781);
    assert_int_equal(day_of("2024-02-29") + 1, day_of("2024-03-01"));
}

/* Every day of 1000..9999 formats and parses back to itself, and agrees with timegm(). */
static void test_day_format_and_parse_round_trip_every_day(void **state)
{
    char buf[ROLLUP_DATE_LEN + 1];
    int32_t first = day_of("1000-01-01"), last = day_of("9999-12-31"), back;

    (void)state;
    for (int32_t day = first; day <= last; day++) {
        rollup_day_format(day, buf);
        assert_int_equal(rollup_day_parse(buf, strlen(buf), &back), 0);
        assert_int_equal(back, day);
        if (day % 97 == 0) {
            struct tm tm = {0};
            assert_non_null(strptime(buf, "%Y-%m-%d", &tm));
            assert_int_equal((int64_t)timegm(&tm), (int64_t)day * 86400);
        }
    }
}

static void test_day_parse_rejects_what_is_not_a_calendar_date(void **state)
{
    static const char *const bad[] = {
        "",           "2026-11-2",  "2026-11-240", "2026/11/24", "2026-13-01", "2026-00-10",
        "2026-11-00", "2026-11-31", "2025-02-29",  "1900-02-29", "0999-12-31", "2026-1a-01",
        " 026-11-24", "+026-11-24", "2026-11-2 ",  "20261124xx", "2026--11-4",
    };
    int32_t day = 7;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(rollup_day_parse(bad[i], strlen(bad[i]), &day), -EINVAL);
        assert_int_equal(day, 7);
    }
    assert_int_equal(rollup_day_parse("2000-02-29", 10, &day), 0);
    assert_int_equal(rollup_day_parse("2026-11-24 trailing", 10, &day), 0); /* len counts */
}

static int args_parse(const char *json, unsigned max_days, struct rollup_range *ret,
                      struct err *err)
{
    json_t *args = json_loads(json, 0, NULL);
    int r;

    assert_non_null(args);
    r = rollup_args_parse(args, max_days, ret, err);
    json_decref(args);
    return r;
}

static void test_args_give_today_a_day_or_a_range(void **state)
{
    struct rollup_range range;
    struct err err = {0};

    (void)state;
    assert_int_equal(args_parse("[]", 366, &range, &err), 0);
    assert_true(range.today);
    rollup_range_today(&range, 20781);
    assert_int_equal(range.from, 20780);
    assert_int_equal(range.to, 20781);

    assert_int_equal(args_parse("[\"2026-11-24\"]", 366, &range, &err), 0);
    assert_false(range.today);
    assert_int_equal(range.from, 20781);
    assert_int_equal(range.to, 20781);

    assert_int_equal(args_parse("[\"2026-11-01\", \"2026-11-24\"]", 366, &range, &err), 0);
    assert_int_equal(range.from, day_of("2026-11-01"));
    assert_int_equal(range.to, 20781);

    assert_int_equal(args_parse("[\"2025-11-25\", \"2026-11-24\"]", 365, &range, &err), 0);
    assert_int_equal(range.to - range.from + 1, 365);
}

static void test_args_reject_bad_input_with_a_sentence(void **state)
{
    static const struct {
        const char *args;
        const char *msg;
    } cases[] = {
        {"[\"2026-13-01\"]", "args[0] must be a date \"YYYY-MM-DD\" (got \"2026-13-01\")"},
        {"[20261124]", "args[0] must be a date \"YYYY-MM-DD\" (got a number)"},
        {"[null]", "args[0] must be a date \"YYYY-MM-DD\" (got null)"},
        {"[{\"from\": \"2026-11-01\"}]", "args[0] must be a date \"YYYY-MM-DD\" (got an object)"},
        {"[\"2026-11-01\", \"tomorrow\"]",
         "args[1] must be a date \"YYYY-MM-DD\" (got \"tomorrow\")"},
        {"[\"2026-11-24\", \"2026-11-01\"]",
         "args: the range 2026-11-24..2026-11-01 is reversed (FROM after TO)"},
        {"[\"2025-11-24\", \"2026-11-24\"]",
         "args: the range 2025-11-24..2026-11-24 has 366 days, more than analytics.max_days = "
         "365"},
        {"[\"2026-11-01\", \"2026-11-02\", \"2026-11-03\"]",
         "args must be [], [\"YYYY-MM-DD\"] or [\"FROM\", \"TO\"] (got 3 args)"},
        {"[\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"]",
         "args[0] must be a date \"YYYY-MM-DD\" (got "
         "\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...\")"},
    };
    struct rollup_range range = {.from = 5, .to = 6};

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct err err = {0};
        assert_int_equal(args_parse(cases[i].args, 365, &range, &err), -EINVAL);
        assert_string_equal(err.msg, cases[i].msg);
        assert_int_equal(range.from, 5);
    }
}

static int key_parse(const char *key, struct rollup_key *ret, struct err *err)
{
    return rollup_key_parse(key, strlen(key), "funnel:", ret, err);
}

static void test_key_parse_reads_id_step_and_date(void **state)
{
    struct rollup_key k;
    struct err err = {0};

    (void)state;
    assert_int_equal(key_parse("funnel:signup:step:3:2026-11-24", &k, &err), 0);
    assert_int_equal(k.id_len, 6);
    assert_memory_equal(k.id, "signup", 6);
    assert_int_equal(k.step, 3);
    assert_int_equal(k.day, 20781);

    assert_int_equal(key_parse("funnel:a:b:step:c:step:0:2026-11-24", &k, &err), 0);
    assert_int_equal(k.id_len, 10);
    assert_memory_equal(k.id, "a:b:step:c", 10);
    assert_int_equal(k.step, 0);

    assert_int_equal(
        key_parse("funnel:caf\xc3\xa9 \xe2\x82\xac:step:2147483647:2026-11-24", &k, &err), 0);
    assert_int_equal(k.step, INT32_MAX);
    assert_int_equal(k.id_len, 9);

    assert_int_equal(rollup_key_parse("x:step:1:2026-11-24", 19, "", &k, &err), 0);
    assert_int_equal(k.id_len, 1);
}

static void test_key_parse_rejects_malformed_keys_with_a_reason(void **state)
{
    static const struct {
        const char *key;
        const char *msg;
    } cases[] = {
        {"other:a:step:1:2026-11-24", "does not start with the prefix \"funnel:\""},
        {"funnel:a:step:1", "does not end with a date :YYYY-MM-DD"},
        {"funnel:a:step:1:2026-02-30", "does not end with a date :YYYY-MM-DD"},
        {"funnel:a:step:1-2026-11-24", "does not end with a date :YYYY-MM-DD"},
        {"funnel:a:step::2026-11-24",
         "step must be a whole number 0..2147483647 without leading zeros"},
        {"funnel:a:step:x:2026-11-24",
         "step must be a whole number 0..2147483647 without leading zeros"},
        {"funnel:a:step:01:2026-11-24",
         "step must be a whole number 0..2147483647 without leading zeros"},
        {"funnel:a:step:-1:2026-11-24", "has no \":step:\" before the step"},
        {"funnel:a:step:2147483648:2026-11-24",
         "step must be a whole number 0..2147483647 without leading zeros"},
        {"funnel:a:step:12345678901:2026-11-24",
         "step must be a whole number 0..2147483647 without leading zeros"},
        {"funnel:a:stop:1:2026-11-24", "has no \":step:\" before the step"},
        {"funnel:step:1:2026-11-24", "has no \":step:\" before the step"},
        {"funnel::step:1:2026-11-24", "the funnel id must be 1..200 bytes (got 0)"},
        {"funnel:a\tb:step:1:2026-11-24", "the funnel id must be UTF-8 without control characters"},
        {"funnel:\xc3(:step:1:2026-11-24",
         "the funnel id must be UTF-8 without control characters"},
        {"funnel:\xc0\xaf:step:1:2026-11-24",
         "the funnel id must be UTF-8 without control characters"},
        {"funnel:\xed\xa0\x80:step:1:2026-11-24",
         "the funnel id must be UTF-8 without control characters"},
        {"funnel:\xc2\x85:step:1:2026-11-24",
         "the funnel id must be UTF-8 without control characters"},
        {"funnel:\xe2\x82:step:1:2026-11-24",
         "the funnel id must be UTF-8 without control characters"},
    };
    struct rollup_key k = {.step = 99};

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct err err = {0};
        assert_int_equal(key_parse(cases[i].key, &k, &err), -EINVAL);
        assert_string_equal(err.msg, cases[i].msg);
        assert_int_equal(k.step, 99);
    }
}

static void test_key_parse_is_binary_safe_and_bounds_the_id(void **state)
{
    char key[300];
    struct rollup_key k;
    struct err err = {0};
    size_t n;

    (void)state;
    memcpy(key, "funnel:a\0b:step:1:2026-11-24", 28);
    assert_int_equal(rollup_key_parse(key, 28, "funnel:", &k, &err), -EINVAL);
    assert_string_equal(err.msg, "the funnel id must be UTF-8 without control characters");

    n = (size_t)snprintf(key, sizeof(key), "funnel:%0200d:step:1:2026-11-24", 7);
    assert_int_equal(rollup_key_parse(key, n, "funnel:", &k, &err), 0);
    assert_int_equal(k.id_len, 200);
    n = (size_t)snprintf(key, sizeof(key), "funnel:%0201d:step:1:2026-11-24", 7);
    assert_int_equal(rollup_key_parse(key, n, "funnel:", &k, &err), -EINVAL);
    assert_string_equal(err.msg, "the funnel id must be 1..200 bytes (got 201)");
    assert_int_equal(rollup_key_parse("funnel:", 7, "funnel:", &k, &err), -EINVAL);
}

static void test_count_parse_takes_digits_only(void **state)
{
    static const char *const bad[] = {"",
                                      "-1",
                                      "+1",
                                      " 1",
                                      "1 ",
                                      "1.5",
                                      "abc",
                                      "1e3",
                                      "9223372036854775808",
                                      "99999999999999999999"};
    int64_t v = -7;

    (void)state;
    assert_int_equal(rollup_count_parse("0", 1, &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(rollup_count_parse("9223372036854775807", 19, &v), 0);
    assert_int_equal(v, INT64_MAX);
    assert_int_equal(rollup_count_parse("42xyz", 2, &v), 0);
    assert_int_equal(v, 42);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        v = -7;
        assert_int_equal(rollup_count_parse(bad[i], strlen(bad[i]), &v), -EINVAL);
        assert_int_equal(v, -7);
    }
}

/* The passes of a range, as "pattern until last" lines. */
static void passes(const char *from, const char *to, const char *prefix, char *out, size_t size)
{
    struct rollup_range range = {.from = day_of(from), .to = day_of(to)};
    char pattern[ROLLUP_PATTERN_MAX], last[ROLLUP_DATE_LEN + 1];
    int32_t start = range.from, end;
    size_t n = 0;

    out[0] = '\0';
    while (start <= range.to) {
        assert_int_equal(rollup_pass(&range, start, prefix, pattern, sizeof(pattern), &end), 0);
        assert_true(end >= start && end <= range.to);
        rollup_day_format(end, last);
        n += (size_t)snprintf(out + n, size - n, "%s until %s\n", pattern, last);
        start = end + 1;
    }
}

static void test_pass_reads_short_ranges_day_by_day(void **state)
{
    char out[1024];

    (void)state;
    passes("2026-11-23", "2026-11-24", "funnel:", out, sizeof(out));
    assert_string_equal(out, "funnel:*:step:*:2026-11-23 until 2026-11-23\n"
                             "funnel:*:step:*:2026-11-24 until 2026-11-24\n");
    passes("2026-12-31", "2027-01-06", "funnel:", out, sizeof(out));
    assert_int_equal(strlen(out), 7 * strlen("funnel:*:step:*:2026-12-31 until 2026-12-31\n"));
}

static void test_pass_reads_long_ranges_month_by_month(void **state)
{
    char out[1024];

    (void)state;
    passes("2026-10-30", "2027-01-01", "funnel:", out, sizeof(out));
    assert_string_equal(out, "funnel:*:step:*:2026-10-?? until 2026-10-31\n"
                             "funnel:*:step:*:2026-11-?? until 2026-11-30\n"
                             "funnel:*:step:*:2026-12-?? until 2026-12-31\n"
                             "funnel:*:step:*:2027-01-01 until 2027-01-01\n");
    passes("2024-02-01", "2024-02-29", "f:", out, sizeof(out));
    assert_string_equal(out, "f:*:step:*:2024-02-?? until 2024-02-29\n");
}

static void test_pass_escapes_glob_characters_of_the_prefix(void **state)
{
    struct rollup_range range = {.from = 20781, .to = 20781};
    char pattern[ROLLUP_PATTERN_MAX], small[20], big[200];
    int32_t last;

    (void)state;
    assert_int_equal(rollup_pass(&range, 20781, "a*b?[c]\\:", pattern, sizeof(pattern), &last), 0);
    assert_string_equal(pattern, "a\\*b\\?\\[c\\]\\\\:*:step:*:2026-11-24");
    assert_int_equal(rollup_pass(&range, 20781, "funnel:", small, sizeof(small), &last), -ENOSPC);
    memset(big, '*', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(rollup_pass(&range, 20781, big, pattern, sizeof(pattern), &last), -ENOSPC);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_day_parse_counts_from_1970),
        cmocka_unit_test(test_day_format_and_parse_round_trip_every_day),
        cmocka_unit_test(test_day_parse_rejects_what_is_not_a_calendar_date),
        cmocka_unit_test(test_args_give_today_a_day_or_a_range),
        cmocka_unit_test(test_args_reject_bad_input_with_a_sentence),
        cmocka_unit_test(test_key_parse_reads_id_step_and_date),
        cmocka_unit_test(test_key_parse_rejects_malformed_keys_with_a_reason),
        cmocka_unit_test(test_key_parse_is_binary_safe_and_bounds_the_id),
        cmocka_unit_test(test_count_parse_takes_digits_only),
        cmocka_unit_test(test_pass_reads_short_ranges_day_by_day),
        cmocka_unit_test(test_pass_reads_long_ranges_month_by_month),
        cmocka_unit_test(test_pass_escapes_glob_characters_of_the_prefix),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
