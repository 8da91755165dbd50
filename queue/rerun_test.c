/* rerun_test.c - a set's job made ready for its queue; a schedule's job. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "conf/cfg.h"
#include "lib/err.h"
#include "lib/job.h"
#include "queue/rerun.h"

static struct job *decode(const char *text)
{
    struct job *job = NULL;
    struct err err = {0};

    assert_int_equal(job_decode(text, strlen(text), NULL, 1, &job, &err), 0);
    return job;
}

static json_t *field(const struct job *job, const char *name)
{
    return json_object_get(job_root(job), name);
}

static void test_prepare_again_gives_one_attempt_back(void **state)
{
    struct job *job = decode("{\"class\":\"noop\",\"args\":[],\"queue\":\"q\",\"jid\":\"j1\","
                             "\"retry\":true,\"retry_count\":3,\"at\":5.0,\"enqueued_at\":1.0}");

    rerun_prepare(job, true, 1000.5);
    assert_int_equal(json_integer_value(field(job, "retry_count")), 2);
    assert_null(field(job, "at"));
    assert_true(json_real_value(field(job, "enqueued_at")) == 1000.5);
    job_free(job);
}

static void test_prepare_again_at_zero_removes_the_count(void **state)
{
    struct job *job = decode("{\"class\":\"noop\",\"args\":[],\"queue\":\"q\",\"jid\":\"j1\","
                             "\"retry_count\":0}");

    rerun_prepare(job, true, 7);
    assert_null(field(job, "retry_count"));
    job_free(job);
}

static void test_prepare_without_again_keeps_the_count(void **state)
{
    struct job *job = decode("{\"class\":\"noop\",\"args\":[],\"queue\":\"q\",\"jid\":\"j1\","
                             "\"retry_count\":4,\"at\":9}");

    rerun_prepare(job, false, 7);
    assert_int_equal(json_integer_value(field(job, "retry_count")), 4);
    assert_null(field(job, "at"));
    job_free(job);
}

static void test_prepare_keeps_milliseconds_in_milliseconds(void **state)
{
    struct job *job = decode("{\"class\":\"noop\",\"args\":[],\"queue\":\"q\",\"jid\":\"j1\","
                             "\"created_at\":1700000000000,\"enqueued_at\":1700000000000}");

    rerun_prepare(job, true, 1700000001.25);
    assert_int_equal(json_integer_value(field(job, "enqueued_at")), 1700000001250);
    job_free(job);
}

static void test_schedule_job_carries_class_args_queue_and_schedule(void **state)
{
    struct cfg_schedule sc = {.name = "nightly", .class_name = "report.daily",
                              .args = "[1, \"x\"]", .queue = "reports"};
    struct job *job = rerun_schedule_job(&sc, 1234.5, 42);
    json_t *args;

    assert_non_null(job);
    assert_string_equal(job_class(job), "report.daily");
    assert_string_equal(job_queue(job), "reports");
    assert_string_equal(json_string_value(field(job, "nexus_schedule")), "nightly");
    args = field(job, "args");
    assert_int_equal(json_array_size(args), 2);
    assert_string_equal(json_string_value(json_array_get(args, 1)), "x");
    assert_int_equal(strlen(job_jid(job)), 24);
    assert_null(field(job, "nexus_tick"));
    job_free(job);
}

static void test_schedule_job_is_unique_when_the_schedule_sets_unique_for(void **state)
{
    struct cfg_schedule sc = {.name = "hourly", .class_name = "noop", .args = "[]",
                              .queue = "default", .unique_for_s = 90};
    struct job *job = rerun_schedule_job(&sc, 1234.5, 42);

    assert_true(job_unique_for(job) == 90);
    job_free(job);
    sc.unique_for_s = 0;
    job = rerun_schedule_job(&sc, 1234.5, 42);
    assert_null(field(job, "unique_for"));
    job_free(job);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prepare_again_gives_one_attempt_back),
        cmocka_unit_test(test_prepare_again_at_zero_removes_the_count),
        cmocka_unit_test(test_prepare_without_again_keeps_the_count),
        cmocka_unit_test(test_prepare_keeps_milliseconds_in_milliseconds),
        cmocka_unit_test(test_schedule_job_carries_class_args_queue_and_schedule),
        cmocka_unit_test(test_schedule_job_is_unique_when_the_schedule_sets_unique_for),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
