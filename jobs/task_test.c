/* task_test.c - jobs/task.c: what an attempt reports, read back by the worker. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jobs/task.h"
#include "lib/err.h"
#include "lib/job.h"
#include "lib/xalloc.h"

static const char JOB[] = "{\"class\":\"noop\",\"args\":[],\"jid\":\"0123456789abcdef01234567\","
                          "\"queue\":\"default\",\"retry\":true}";

struct fixture {
    struct job *job;
    struct task *task;
    int finished; /* calls of on_finish */
};

static void on_finish(struct task *task, void *arg)
{
    struct fixture *f = arg;

    f->finished++;
}

static int setup(void **state)
{
    static const struct task_env env; /* no loop, configuration or connections: unused */
    struct fixture *f = xcalloc(1, sizeof(*f));
    struct err err = {0};

    assert_int_equal(job_decode(JOB, strlen(JOB), "default", 1, &f->job, &err), 0);
    f->task = task_new(f->job, &env, on_finish, f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    task_free(f->task);
    job_free(f->job);
    free(f);
    return 0;
}

static void test_success_reads_as_empty_error_and_class(void **state)
{
    struct fixture *f = *state;

    assert_string_equal(task_error(f->task), "");
    task_succeed(f->task);
    assert_int_equal(f->finished, 1);
    assert_int_equal(task_result(f->task), TASK_OK);
    assert_string_equal(task_error(f->task), "");
    assert_string_equal(task_error_class(f->task), "");
}

static void test_fail_keeps_class_and_formatted_message(void **state)
{
    struct fixture *f = *state;

    task_fail(f->task, "Net::ReadTimeout", "no answer in %d s", 30);
    assert_int_equal(task_result(f->task), TASK_FAILED);
    assert_string_equal(task_error_class(f->task), "Net::ReadTimeout");
    assert_string_equal(task_error(f->task), "no answer in 30 s");
}

static void test_message_is_cut_to_what_a_job_keeps(void **state)
{
    struct fixture *f = *state;
    char *long_msg = xmalloc(JOB_MAX_ERROR + 100);

    memset(long_msg, 'e', JOB_MAX_ERROR + 99);
    long_msg[JOB_MAX_ERROR + 99] = '\0';
    task_refuse(f->task, "ArgumentError", "%s", long_msg);
    assert_int_equal(task_result(f->task), TASK_REFUSED);
    assert_int_equal(strlen(task_error(f->task)), JOB_MAX_ERROR);
    assert_memory_equal(task_error(f->task), long_msg, JOB_MAX_ERROR);
    free(long_msg);
}

static void test_defer_keeps_its_delay_and_reason(void **state)
{
    struct fixture *f = *state;

    task_defer(f->task, 2.5, "rate limit %s", "api");
    assert_int_equal(task_result(f->task), TASK_DEFER);
    assert_true(task_defer_s(f->task) == 2.5);
    assert_string_equal(task_error(f->task), "rate limit api");
}

static void test_second_report_is_ignored(void **state)
{
    struct fixture *f = *state;

    task_fail(f->task, "First", "first");
    task_fail(f->task, "Second", "second");
    task_defer(f->task, 1, "third");
    assert_int_equal(f->finished, 1);
    assert_string_equal(task_error_class(f->task), "First");
    assert_string_equal(task_error(f->task), "first");
}

static void test_report_after_cancel_is_ignored(void **state)
{
    struct fixture *f = *state;

    task_cancel(f->task, TASK_STOP_TIMEOUT);
    task_fail(f->task, "Late", "after the deadline");
    assert_int_equal(f->finished, 0);
    assert_string_equal(task_error(f->task), "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_success_reads_as_empty_error_and_class, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_fail_keeps_class_and_formatted_message, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_message_is_cut_to_what_a_job_keeps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_defer_keeps_its_delay_and_reason, setup, teardown),
        cmocka_unit_test_setup_teardown(test_second_report_is_ignored, setup, teardown),
        cmocka_unit_test_setup_teardown(test_report_after_cancel_is_ignored, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
