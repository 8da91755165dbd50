/* periodic_test.c - the delay between rounds, and rounds that never overlap, on a real loop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>
#include <ev.h>

#include "lib/periodic.h"

static void test_delay_without_jitter_is_the_interval(void **state)
{
    assert_true(periodic_delay(2.5, 0, 0) == 2.5);
    assert_true(periodic_delay(2.5, 0, 999) == 2.5);
    assert_true(periodic_delay(2.5, 0, 123456789) == 2.5);
}

static void test_delay_with_half_jitter_spans_half_to_one_and_a_half(void **state)
{
    assert_float_equal(periodic_delay(2.0, 0.5, 0), 1.0, 1e-12);
    assert_float_equal(periodic_delay(2.0, 0.5, 500), 2.0, 1e-12);
    assert_float_equal(periodic_delay(2.0, 0.5, 999), 2.998, 1e-12);
    assert_float_equal(periodic_delay(2.0, 0.5, 1000), 1.0, 1e-12); /* modulo a thousand */
}

static void test_delay_stays_within_its_range_for_any_random(void **state)
{
    unsigned long long r = 0x9e3779b97f4a7c15ULL;

    for (int i = 0; i < 10000; i++) {
        double d = periodic_delay(1.0, 0.2, r);
        assert_true(d >= 0.8 && d < 1.2);
        r = r * 6364136223846793005ULL + 1442695040888963407ULL;
    }
}

/* A task whose rounds stay out until the test ends them, on a loop of its own. */
struct task {
    struct ev_loop *loop;
    struct periodic *p;
    int rounds;
    bool out;      /* the round trip a tick starts */
    bool done_now; /* ends its round trip before returning (a synchronous failure) */
    ev_timer give_up;
};

static void on_give_up(struct ev_loop *loop, ev_timer *w, int revents)
{
    ev_break(loop, EVBREAK_ALL);
}

static int task_setup(void **state)
{
    struct task *t = calloc(1, sizeof(*t));

    t->loop = ev_loop_new(EVFLAG_AUTO);
    ev_timer_init(&t->give_up, on_give_up, 10, 0);
    *state = t;
    return 0;
}

static int task_teardown(void **state)
{
    struct task *t = *state;

    periodic_free(t->p);
    ev_timer_stop(t->loop, &t->give_up);
    ev_loop_destroy(t->loop);
    free(t);
    return 0;
}

static bool task_on_tick(void *arg)
{
    struct task *t = arg;

    t->rounds++;
    if (t->done_now) {
        t->done_now = false;
        periodic_done(t->p, false);
    }
    return t->out;
}

/* Ends each round at once and stops after the third, as a shutdown would. */
static bool count_on_tick(void *arg)
{
    struct task *t = arg;

    if (++t->rounds == 3)
        periodic_stop(t->p);
    return false;
}

/* Runs the loop until the third round, or 10 s have gone. */
static void task_run_three(struct task *t)
{
    ev_timer_start(t->loop, &t->give_up);
    while (t->rounds < 3 && ev_is_active(&t->give_up))
        ev_run(t->loop, EVRUN_ONCE);
    assert_int_equal(t->rounds, 3);
}

static void test_kick_runs_a_round_and_none_while_one_is_out(void **state)
{
    struct task *t = *state;

    t->out = true;
    t->p = periodic_new(t->loop, 3600, 0, task_on_tick, t);
    periodic_kick(t->p);
    assert_int_equal(t->rounds, 1);
    periodic_kick(t->p);
    assert_int_equal(t->rounds, 1);
    periodic_done(t->p, false);
    periodic_kick(t->p);
    assert_int_equal(t->rounds, 2);
}

static void test_a_round_that_ended_returning_false_leaves_it_idle(void **state)
{
    struct task *t = *state;

    t->p = periodic_new(t->loop, 3600, 0, task_on_tick, t);
    periodic_kick(t->p);
    periodic_kick(t->p);
    assert_int_equal(t->rounds, 2);
}

static void test_done_with_more_runs_the_next_round_at_once(void **state)
{
    struct task *t = *state;

    t->out = true;
    t->p = periodic_new(t->loop, 3600, 0, task_on_tick, t);
    periodic_kick(t->p);
    periodic_done(t->p, true);
    assert_int_equal(t->rounds, 2);
    periodic_done(t->p, false);
    assert_int_equal(t->rounds, 2);
}

static void test_done_inside_the_tick_leaves_it_idle(void **state)
{
    struct task *t = *state;

    t->out = true;
    t->done_now = true;
    t->p = periodic_new(t->loop, 3600, 0, task_on_tick, t);
    periodic_kick(t->p);
    periodic_kick(t->p); /* the first is not out: this one runs, and stays out */
    assert_int_equal(t->rounds, 2);
    periodic_kick(t->p);
    assert_int_equal(t->rounds, 2);
}

static void test_stop_ends_kicks_more_and_the_timer(void **state)
{
    struct task *t = *state;

    t->out = true;
    t->p = periodic_new(t->loop, 0.001, 0, task_on_tick, t);
    periodic_kick(t->p);
    periodic_stop(t->p);
    assert_true(periodic_stopped(t->p));
    periodic_done(t->p, true); /* the round trip out still ends */
    periodic_kick(t->p);
    ev_run(t->loop, 0); /* returns: no timer is left */
    assert_int_equal(t->rounds, 1);
}

static void test_the_timer_runs_rounds_again_and_again(void **state)
{
    struct task *t = *state;

    t->p = periodic_new(t->loop, 0.005, 0.5, count_on_tick, t);
    task_run_three(t);
}

static void test_a_new_interval_restarts_the_timer_from_now(void **state)
{
    struct task *t = *state;

    t->p = periodic_new(t->loop, 3600, 0, count_on_tick, t);
    periodic_set_interval(t->p, 0.005);
    task_run_three(t);
}

#define TASK_TEST(f) cmocka_unit_test_setup_teardown(f, task_setup, task_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_delay_without_jitter_is_the_interval),
        cmocka_unit_test(test_delay_with_half_jitter_spans_half_to_one_and_a_half),
        cmocka_unit_test(test_delay_stays_within_its_range_for_any_random),
        TASK_TEST(test_kick_runs_a_round_and_none_while_one_is_out),
        TASK_TEST(test_a_round_that_ended_returning_false_leaves_it_idle),
        TASK_TEST(test_done_with_more_runs_the_next_round_at_once),
        TASK_TEST(test_done_inside_the_tick_leaves_it_idle),
        TASK_TEST(test_stop_ends_kicks_more_and_the_timer),
        TASK_TEST(test_the_timer_runs_rounds_again_and_again),
        TASK_TEST(test_a_new_interval_restarts_the_timer_from_now),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
