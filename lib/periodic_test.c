/* periodic_test.c - the delay between rounds, and rounds that never overlap, on a real loop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

/* A task whose rounds stay out until the test ends them. */
struct task {
    struct periodic *p;
    int rounds;
    bool out;       /* the round trip a tick starts */
    bool done_now;  /* ends its round trip before returning (a synchronous failure) */
};

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

static void test_kick_runs_a_round_and_none_while_one_is_out(void **state)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct task t = {.out = true};

    t.p = periodic_new(loop, 3600, 0, task_on_tick, &t);
    periodic_kick(t.p);
    assert_int_equal(t.rounds, 1);
    periodic_kick(t.p);
    assert_int_equal(t.rounds, 1);
    periodic_done(t.p, false);
    periodic_kick(t.p);
    assert_int_equal(t.rounds, 2);
    periodic_free(t.p);
    ev_loop_destroy(loop);
}

static void test_a_round_that_ended_returning_false_leaves_it_idle(void **state)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct task t = {.out = false};

    t.p = periodic_new(loop, 3600, 0, task_on_tick, &t);
    periodic_kick(t.p);
    periodic_kick(t.p);
    assert_int_equal(t.rounds, 2);
    periodic_free(t.p);
    ev_loop_destroy(loop);
}

static void test_done_with_more_runs_the_next_round_at_once(void **state)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct task t = {.out = true};

    t.p = periodic_new(loop, 3600, 0, task_on_tick, &t);
    periodic_kick(t.p);
    periodic_done(t.p, true);
    assert_int_equal(t.rounds, 2);
    periodic_done(t.p, false);
    assert_int_equal(t.rounds, 2);
    periodic_free(t.p);
    ev_loop_destroy(loop);
}

static void test_done_inside_the_tick_leaves_it_idle(void **state)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct task t = {.out = true, .done_now = true};

    t.p = periodic_new(loop, 3600, 0, task_on_tick, &t);
    periodic_kick(t.p);
    periodic_kick(t.p); /* not out: this one runs and stays out */
    assert_int_equal(t.rounds, 2);
    periodic_kick(t.p);
    assert_int_equal(t.rounds, 2);
    periodic_free(t.p);
    ev_loop_destroy(loop);
}

static void test_stop_ends_kicks_more_and_the_timer(void **state)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct task t = {.out = true};

    t.p = periodic_new(loop, 0.001, 0, task_on_tick, &t);
    periodic_kick(t.p);
    periodic_stop(t.p);
    assert_true(periodic_stopped(t.p));
    periodic_done(t.p, true); /* the round trip out still ends */
    periodic_kick(t.p);
    ev_run(loop, 0); /* returns: no timer is left */
    assert_int_equal(t.rounds, 1);
    periodic_free(t.p);
    ev_loop_destroy(loop);
}

static void on_give_up(struct ev_loop *loop, ev_timer *w, int revents)
{
    ev_break(loop, EVBREAK_ALL);
}

/* Ends each round at once and stops after the third, as a shutdown would. */
static bool count_on_tick(void *arg)
{
    struct task *t = arg;

    if (++t->rounds == 3)
        periodic_stop(t->p);
    return false;
}

static void test_the_timer_runs_rounds_again_and_again(void **state)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct task t = {0};
    ev_timer give_up;

    ev_timer_init(&give_up, on_give_up, 10, 0);
    ev_timer_start(loop, &give_up);
    t.p = periodic_new(loop, 0.005, 0.5, count_on_tick, &t);
    while (t.rounds < 3 && ev_is_active(&give_up))
        ev_run(loop, EVRUN_ONCE);
    assert_int_equal(t.rounds, 3);
    periodic_free(t.p);
    ev_timer_stop(loop, &give_up);
    ev_loop_destroy(loop);
}

static void test_a_new_interval_restarts_the_timer_from_now(void **state)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct task t = {0};
    ev_timer give_up;

    ev_timer_init(&give_up, on_give_up, 10, 0);
    ev_timer_start(loop, &give_up);
    t.p = periodic_new(loop, 3600, 0, count_on_tick, &t);
    periodic_set_interval(t.p, 0.005);
    while (t.rounds < 3 && ev_is_active(&give_up))
        ev_run(loop, EVRUN_ONCE);
    assert_int_equal(t.rounds, 3);
    periodic_free(t.p);
    ev_timer_stop(loop, &give_up);
    ev_loop_destroy(loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_delay_without_jitter_is_the_interval),
        cmocka_unit_test(test_delay_with_half_jitter_spans_half_to_one_and_a_half),
        cmocka_unit_test(test_delay_stays_within_its_range_for_any_random),
        cmocka_unit_test(test_kick_runs_a_round_and_none_while_one_is_out),
        cmocka_unit_test(test_a_round_that_ended_returning_false_leaves_it_idle),
        cmocka_unit_test(test_done_with_more_runs_the_next_round_at_once),
        cmocka_unit_test(test_done_inside_the_tick_leaves_it_idle),
        cmocka_unit_test(test_stop_ends_kicks_more_and_the_timer),
        cmocka_unit_test(test_the_timer_runs_rounds_again_and_again),
        cmocka_unit_test(test_a_new_interval_restarts_the_timer_from_now),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
