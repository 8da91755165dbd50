/* backoff_test.c - Sidekiq's retry delays: exact values, jitter bounds, the whole schedule. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "queue/backoff.h"

#define DAY_S 86400.0

static void test_delay_is_count_to_the_fourth_plus_15_plus_jitter(void **state)
{
    static const struct {
        int count;
        unsigned long long rnd;
        double want_s;
    } cases[] = {
        {0, 0, 15},  /* 0 + 15 + 0 */
        {0, 9, 24},  /* jitter below 10 */
        {0, 10, 15}, /* 10 mod 10 */
        {1, 0, 16},  /* 1 + 15 */
        {1, 19, 35}, /* 1 + 15 + 19 (jitter below 20) */
        {1, 20, 16}, /* 20 mod 20 */
        {2, 29, 60}, /* 16 + 15 + 29 */
        {5, 7, 647}, /* 625 + 15 + 7 */
        {10, 1234, 10015 + 1234 % 110},
        {24, 123, 331914}, /* 331776 + 15 + 123 */
        {24, 250, 331791}, /* 250 mod 250 */
        {-3, 4, 19},       /* a negative count counts as 0 */
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        double got = backoff_delay_s(cases[i].count, cases[i].rnd);

        if (got != cases[i].want_s)
            print_error("count %d rnd %llu: got %.1f\n", cases[i].count, cases[i].rnd, got);
        assert_true(got == cases[i].want_s);
    }
}

static void test_jitter_is_a_whole_number_below_ten_times_count_plus_one(void **state)
{
    static const unsigned long long rnds[] = {
        0, 1, 9, 10, 249, 250, 0x7fffffffull, 0xdeadbeefcafebabeull, ULLONG_MAX};
    int count;
    size_t i;

    for (count = 0; count <= 24; count++) {
        double base = (double)count * count * count * count + 15;
        double span = 10.0 * (count + 1);
        double lo = 1e9, hi = -1;
        unsigned long long rnd;

        for (rnd = 0; rnd < 3 * (unsigned long long)span; rnd++) {
            double jitter = backoff_delay_s(count, rnd) - base;

            assert_true(jitter >= 0 && jitter < span);
            assert_true(jitter == (double)(long long)jitter);
            lo = jitter < lo ? jitter : lo;
            hi = jitter > hi ? jitter : hi;
        }
        /* Every value of the range is reached: 0 .. span - 1. */
        assert_true(lo == 0);
        assert_true(hi == span - 1);
        for (i = 0; i < sizeof(rnds) / sizeof(rnds[0]); i++) {
            double jitter = backoff_delay_s(count, rnds[i]) - base;

            assert_true(jitter >= 0 && jitter < span);
        }
    }
}

static void test_delay_grows_with_each_retry(void **state)
{
    int count;

    /* Even the largest jitter of one retry stays below the smallest delay of the next
     * from the third retry on (count 2: at most 16 + 15 + 29 = 60 < 81 + 15). */
    for (count = 2; count < 24; count++)
        assert_true(backoff_delay_s(count, 10ull * (count + 1) - 1) <
                    backoff_delay_s(count + 1, 0));
}

/* Sidekiq's default of 25 retries (counts 0..24) waits, without jitter,
 * sum(n^4, n = 0..24) + 25 * 15 = 1,763,020 + 375 = 1,763,395 s (20.41 days); the jitter
 * adds 0 .. sum(10 * (n + 1) - 1) = 3,225 s, so the whole schedule spans 1,763,395 ..
 * 1,766,620 s, about 20.4 days, on average 1,765,007.5 s: "about three weeks". */
static void test_25_retries_span_about_three_weeks(void **state)
{
    double least = 0, most = 0;
    int count;

    for (count = 0; count <= 24; count++) {
        least += backoff_delay_s(count, 0);
        most += backoff_delay_s(count, 10ull * (count + 1) - 1);
    }
    assert_true(least == 1763395);
    assert_true(most == 1766620);
    assert_true(least > 20 * DAY_S && most < 21 * DAY_S);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_delay_is_count_to_the_fourth_plus_15_plus_jitter),
        cmocka_unit_test(test_jitter_is_a_whole_number_below_ten_times_count_plus_one),
        cmocka_unit_test(test_delay_grows_with_each_retry),
        cmocka_unit_test(test_25_retries_span_about_three_weeks),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
