/* outcome_test.c - every branch of outcome_decide(). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "queue/backoff.h"
#include "queue/outcome.h"

#define NOW 1700000000.0

static struct outcome decide(struct outcome_input in)
{
    struct outcome out;

    in.now = NOW;
    outcome_decide(&in, &out);
    return out;
}

static void test_success_is_done_now(void **state)
{
    struct outcome o = decide((struct outcome_input){.cause = OUTCOME_CAUSE_OK, .retry_count = 3});

    assert_int_equal(o.kind, OUTCOME_DONE);
    assert_true(o.at == NOW);
    assert_string_equal(outcome_name(o.kind), "ok");
}

static void test_failure_with_retries_left_is_retried_after_backoff(void **state)
{
    for (int count = 1; count <= 24; count++) {
        struct outcome o = decide((struct outcome_input){.cause = OUTCOME_CAUSE_FAILED,
                                                         .retry_count = count,
                                                         .max_retries = 25,
                                                         .dead_allowed = true,
                                                         .rnd = 12345});
        assert_int_equal(o.kind, OUTCOME_RETRY);
        assert_true(o.at == NOW + backoff_delay_s(count, 12345));
        assert_true(o.at > NOW);
        assert_int_equal(o.retries, 25);
    }
}

static void test_first_failure_is_retried_within_seconds(void **state)
{
    struct outcome o = decide((struct outcome_input){
        .cause = OUTCOME_CAUSE_FAILED, .retry_count = 0, .max_retries = 1, .dead_allowed = true});

    assert_int_equal(o.kind, OUTCOME_RETRY);
    assert_true(o.at >= NOW + 15 && o.at < NOW + 25);
}

static void test_last_failure_goes_to_dead(void **state)
{
    struct outcome o = decide((struct outcome_input){
        .cause = OUTCOME_CAUSE_FAILED, .retry_count = 25, .max_retries = 25, .dead_allowed = true});

    assert_int_equal(o.kind, OUTCOME_DEAD);
    assert_int_equal(o.retries, 25);
    assert_string_equal(outcome_name(o.kind), "dead");
}

static void test_no_retries_goes_to_dead_at_once(void **state)
{
    struct outcome o = decide((struct outcome_input){
        .cause = OUTCOME_CAUSE_FAILED, .retry_count = 0, .max_retries = 0, .dead_allowed = true});

    assert_int_equal(o.kind, OUTCOME_DEAD);
}

static void test_last_failure_of_a_job_refusing_dead_is_discarded(void **state)
{
    struct outcome o = decide((struct outcome_input){
        .cause = OUTCOME_CAUSE_FAILED, .retry_count = 3, .max_retries = 3, .dead_allowed = false});

    assert_int_equal(o.kind, OUTCOME_DISCARD);
    assert_string_equal(outcome_name(o.kind), "discarded");
}

static void test_refused_job_is_never_retried(void **state)
{
    struct outcome o = decide((struct outcome_input){
        .cause = OUTCOME_CAUSE_REFUSED, .retry_count = 1, .max_retries = 25, .dead_allowed = true});

    assert_int_equal(o.kind, OUTCOME_DEAD);
    assert_int_equal(o.retries, 1); /* logged as retries=1/1 */
    o = decide((struct outcome_input){
        .cause = OUTCOME_CAUSE_REFUSED, .retry_count = 1, .max_retries = 25, .dead_allowed = false});
    assert_int_equal(o.kind, OUTCOME_DISCARD);
}

static void test_deferred_job_is_due_after_its_delay(void **state)
{
    struct outcome o = decide((struct outcome_input){
        .cause = OUTCOME_CAUSE_DEFERRED, .defer_s = 2.5, .retry_count = 25, .max_retries = 0});

    assert_int_equal(o.kind, OUTCOME_DEFER);
    assert_true(o.at == NOW + 2.5);
    assert_string_equal(outcome_name(o.kind), "deferred");
}

static void test_recovered_job_is_requeued_below_the_crash_loop_limit(void **state)
{
    struct outcome o = decide((struct outcome_input){
        .cause = OUTCOME_CAUSE_RECOVERED, .recoveries = 2, .max_recoveries = 3});

    assert_int_equal(o.kind, OUTCOME_REQUEUE);
    assert_string_equal(outcome_name(o.kind), "requeued");
}

static void test_crash_loop_goes_to_dead_even_for_a_job_refusing_dead(void **state)
{
    struct outcome o = decide((struct outcome_input){.cause = OUTCOME_CAUSE_RECOVERED,
                                                     .recoveries = 3,
                                                     .max_recoveries = 3,
                                                     .dead_allowed = false});

    assert_int_equal(o.kind, OUTCOME_DEAD);
    o = decide((struct outcome_input){
        .cause = OUTCOME_CAUSE_RECOVERED, .recoveries = 1, .max_recoveries = 1});
    assert_int_equal(o.kind, OUTCOME_DEAD);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_success_is_done_now),
        cmocka_unit_test(test_failure_with_retries_left_is_retried_after_backoff),
        cmocka_unit_test(test_first_failure_is_retried_within_seconds),
        cmocka_unit_test(test_last_failure_goes_to_dead),
        cmocka_unit_test(test_no_retries_goes_to_dead_at_once),
        cmocka_unit_test(test_last_failure_of_a_job_refusing_dead_is_discarded),
        cmocka_unit_test(test_refused_job_is_never_retried),
        cmocka_unit_test(test_deferred_job_is_due_after_its_delay),
        cmocka_unit_test(test_recovered_job_is_requeued_below_the_crash_loop_limit),
        cmocka_unit_test(test_crash_loop_goes_to_dead_even_for_a_job_refusing_dead),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
