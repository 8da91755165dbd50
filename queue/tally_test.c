/* tally_test.c - attempts noted into fields, and fields read back into the metrics' answer. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "queue/tally.h"

static void test_buckets_are_a_fifth_wide_and_clamped(void **state)
{
    assert_int_equal(tally_bucket(0), 0);
    assert_int_equal(tally_bucket(-3), 0);
    assert_int_equal(tally_bucket(0.1), 0);
    assert_int_equal(tally_bucket(1), 8);
    assert_int_equal(tally_bucket(2), 12);
    assert_int_equal(tally_bucket(1e12), TALLY_BUCKETS - 1);
    for (double ms = 0.3; ms < 1e7; ms *= 1.7) { /* the middle is within 10 % of the value */
        double mid = tally_bucket_ms(tally_bucket(ms));
        assert_true(fabs(mid - ms) / ms < 0.1);
    }
}

static void test_text_gives_one_line_per_field_until_cleared(void **state)
{
    struct tally *t = tally_new();
    size_t len = 0;
    char *text;

    assert_null(tally_text(t, &len));
    tally_note(t, "mail", "default", false, 0.001, 0.002);
    tally_note(t, "mail", "default", true, 0.001, -1);
    tally_note(t, "tab\there", "default", false, 0.001, -1); /* not a line of its own */
    text = tally_text(t, &len);
    assert_string_equal(text, "n|mail\t2\n"
                              "f|mail\t1\n"
                              "d|8|mail\t2\n"
                              "l|12|mail\t1\n"
                              "q|default\t2\n"
                              "k|default\t1\n");
    assert_int_equal(len, strlen(text));
    free(text);
    tally_clear(t);
    assert_null(tally_text(t, &len));
    tally_free(t);
}

static void add(struct tally_view *v, unsigned slot, const char *field, long long n)
{
    tally_view_add(v, slot, field, strlen(field), n);
}

static void test_view_answers_counts_rates_and_percentiles(void **state)
{
    struct tally_view *v = tally_view_new(60, 3, 600);
    json_t *j, *c;

    add(v, 0, "n|mail", 90);
    add(v, 2, "n|mail", 10);
    add(v, 2, "f|mail", 5);
    add(v, 0, "d|8|mail", 95);  /* 1 ms */
    add(v, 2, "d|16|mail", 5);  /* 4 ms */
    add(v, 1, "n|sms", 200);
    add(v, 1, "q|default", 30);
    add(v, 1, "k|default", 3);
    add(v, 1, "x|junk", 3);      /* another shape: ignored */
    add(v, 1, "d|999|mail", 3);  /* no such bucket */
    add(v, 7, "n|mail", 3);      /* no such slot */
    j = tally_view_json(v, 1, 10);
    assert_int_equal(json_integer_value(json_object_get(j, "classes_total")), 2);
    assert_true(json_is_true(json_object_get(j, "classes_truncated")));
    c = json_array_get(json_object_get(j, "classes"), 0);
    assert_string_equal(json_string_value(json_object_get(c, "class")), "sms"); /* most first */
    json_decref(j);
    j = tally_view_json(v, 10, 10);
    c = json_array_get(json_object_get(j, "classes"), 1);
    assert_string_equal(json_string_value(json_object_get(c, "class")), "mail");
    assert_int_equal(json_integer_value(json_object_get(c, "jobs")), 100);
    assert_int_equal(json_integer_value(json_object_get(c, "failed")), 5);
    assert_true(json_real_value(json_object_get(c, "failure_rate")) == 0.05);
    assert_true(fabs(json_real_value(json_object_get(json_object_get(c, "duration_ms"), "p50")) - 1) < 0.1);
    assert_true(fabs(json_real_value(json_object_get(json_object_get(c, "duration_ms"), "p99")) -
                     4) < 0.4);
    assert_true(json_is_null(json_object_get(json_object_get(c, "latency_ms"), "p50")));
    assert_int_equal(json_integer_value(json_array_get(json_object_get(c, "series"), 2)), 10);
    assert_int_equal(json_integer_value(json_array_get(
                         json_object_get(json_object_get(j, "throughput"), "processed"), 1)),
                     200);
    c = json_array_get(json_object_get(j, "queues"), 0);
    assert_true(json_is_null(json_array_get(json_object_get(c, "latency_ms"), 0)));
    assert_true(json_real_value(json_array_get(json_object_get(c, "latency_ms"), 1)) == 10);
    json_decref(j);
    tally_view_free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buckets_are_a_fifth_wide_and_clamped),
        cmocka_unit_test(test_text_gives_one_line_per_field_until_cleared),
        cmocka_unit_test(test_view_answers_counts_rates_and_percentiles),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
