/* durable_test.c - WAITs coalesced per turn, answered exactly once, on a real loop with the
 * connection played by the test (rconn_command_blocking() and rconn_reply_error() below). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <ev.h>
#include <hiredis/hiredis.h>

#include "lib/log.h"
#include "queue/durable.h"
#include "queue/rconn.h"

/* ---- the connection, as the test plays it ---- */

static struct {
    bool down;
    int ncommands;
    char argv[3][32];
    double block_s;
    rconn_reply_fn *done;
    void *arg;
} conn;

int rconn_command_blocking(struct rconn *rc, double block_s, rconn_reply_fn *done, void *arg,
                           int argc, const char **argv, const size_t *argvlen)
{
    if (conn.down)
        return -ENOTCONN;
    assert_int_equal(argc, 3);
    assert_null(conn.done); /* one WAIT out at a time in these tests */
    conn.ncommands++;
    for (int i = 0; i < 3; i++)
        (void)snprintf(conn.argv[i], sizeof(conn.argv[i]), "%s", argv[i]);
    conn.block_s = block_s;
    conn.done = done;
    conn.arg = arg;
    return 0;
}

const char *rconn_reply_error(const struct redisReply *reply)
{
    if (!reply)
        return "connection lost";
    return reply->type == REDIS_REPLY_ERROR ? reply->str : NULL;
}

/* Answers the WAIT out: an integer, an error (`err`), or a lost connection (NULL). */
static void conn_answer(long long replicas, const char *err, bool lost)
{
    redisReply reply = {.type = err ? REDIS_REPLY_ERROR : REDIS_REPLY_INTEGER,
                        .integer = replicas,
                        .str = (char *)err,
                        .len = err ? strlen(err) : 0};
    rconn_reply_fn *done = conn.done;

    assert_non_null(done);
    conn.done = NULL;
    done(lost ? NULL : &reply, conn.arg);
}

/* ---- callers ---- */

struct seen {
    int calls;
    int acked;
    unsigned want;
};

static void on_done(int acked, unsigned want, void *arg)
{
    struct seen *s = arg;

    s->calls++;
    s->acked = acked;
    s->want = want;
}

static struct ev_loop *loop;

static int setup(void **state)
{
    memset(&conn, 0, sizeof(conn));
    loop = ev_loop_new(EVFLAG_AUTO);
    log_setup(LOG_LEVEL_OFF, NULL);
    return 0;
}

static int teardown(void **state)
{
    ev_loop_destroy(loop);
    return 0;
}

static void turn(void)
{
    ev_run(loop, EVRUN_NOWAIT);
}

static void test_without_replicas_done_runs_from_the_loop_and_nothing_is_sent(void **state)
{
    struct durable *d = durable_new(loop, NULL, 0, 1.0);
    struct seen s = {0};

    durable_after(d, "test", on_done, &s);
    assert_int_equal(s.calls, 0); /* never from inside the call */
    turn();
    assert_int_equal(s.calls, 1);
    assert_int_equal(s.acked, 0);
    assert_int_equal(s.want, 0);
    assert_int_equal(conn.ncommands, 0);
    durable_free(d);
}

static void test_without_replicas_or_callback_nothing_happens(void **state)
{
    struct durable *d = durable_new(loop, NULL, 0, 1.0);

    durable_after(d, "test", NULL, NULL);
    turn();
    assert_int_equal(conn.ncommands, 0);
    durable_free(d);
}

static void test_writes_of_one_turn_share_one_wait(void **state)
{
    struct durable *d = durable_new(loop, NULL, 1, 0.25);
    struct seen a = {0}, b = {0};

    durable_after(d, "test", on_done, &a);
    durable_after(d, "test", NULL, NULL);
    durable_after(d, "test", on_done, &b);
    assert_int_equal(conn.ncommands, 0); /* lazily, once the turn's writes are queued */
    turn();
    assert_int_equal(conn.ncommands, 1);
    assert_string_equal(conn.argv[0], "WAIT");
    assert_string_equal(conn.argv[1], "1");
    assert_string_equal(conn.argv[2], "250");
    assert_true(conn.block_s == 0.25);
    turn();
    assert_int_equal(conn.ncommands, 1); /* nothing more to wait for */
    conn_answer(1, NULL, false);
    assert_int_equal(a.calls, 1);
    assert_int_equal(a.acked, 1);
    assert_int_equal(a.want, 1);
    assert_int_equal(b.calls, 1);
    durable_free(d);
}

static void test_fewer_replicas_than_wanted_is_a_counted_shortfall(void **state)
{
    struct durable *d = durable_new(loop, NULL, 2, 1.0);
    unsigned long long before = durable_short_total();
    struct seen s = {0};

    durable_after(d, "test", on_done, &s);
    durable_after(d, "test", NULL, NULL);
    turn();
    conn_answer(1, NULL, false);
    assert_int_equal(s.acked, 1);
    assert_int_equal(s.want, 2);
    assert_true(durable_short_total() == before + 2);
    durable_free(d);
}

static void test_a_lost_connection_answers_enotconn(void **state)
{
    struct durable *d = durable_new(loop, NULL, 1, 1.0);
    struct seen s = {0};

    durable_after(d, "test", on_done, &s);
    turn();
    conn_answer(0, NULL, true);
    assert_int_equal(s.calls, 1);
    assert_int_equal(s.acked, -ENOTCONN);
    durable_free(d);
}

static void test_a_connection_down_answers_enotconn_from_the_loop(void **state)
{
    struct durable *d = durable_new(loop, NULL, 1, 1.0);
    struct seen s = {0};

    conn.down = true;
    durable_after(d, "test", on_done, &s);
    assert_int_equal(s.calls, 0);
    turn();
    assert_int_equal(s.calls, 1);
    assert_int_equal(s.acked, -ENOTCONN);
    durable_free(d);
}

static void test_a_refused_wait_answers_eio(void **state)
{
    struct durable *d = durable_new(loop, NULL, 1, 1.0);
    struct seen s = {0};

    durable_after(d, "test", on_done, &s);
    turn();
    conn_answer(0, "NOPERM this user has no permissions to run the 'wait' command", false);
    assert_int_equal(s.acked, -EIO);
    durable_free(d);
}

static void test_free_cancels_what_was_not_sent(void **state)
{
    struct durable *d = durable_new(loop, NULL, 1, 1.0);
    struct seen s = {0};

    durable_after(d, "test", on_done, &s);
    durable_free(d);
    assert_int_equal(s.calls, 1);
    assert_int_equal(s.acked, -ECANCELED);
    assert_int_equal(conn.ncommands, 0);
}

static void test_free_cancels_a_wait_out_when_its_reply_comes(void **state)
{
    struct durable *d = durable_new(loop, NULL, 1, 1.0);
    struct seen s = {0};

    durable_after(d, "test", on_done, &s);
    turn();
    durable_free(d);
    assert_int_equal(s.calls, 0);
    conn_answer(0, NULL, true); /* what rconn_free() does */
    assert_int_equal(s.calls, 1);
    assert_int_equal(s.acked, -ECANCELED);
}

/* A callback that writes again: its writes get a WAIT of their own. */
struct again {
    struct durable *d;
    struct seen second;
};

static void again_on_done(int acked, unsigned want, void *arg)
{
    struct again *ag = arg;

    durable_after(ag->d, "test", on_done, &ag->second);
}

static void test_waiters_added_by_a_callback_run_in_the_same_turn(void **state)
{
    struct again ag = {.d = durable_new(loop, NULL, 0, 1.0)};

    durable_after(ag.d, "test", again_on_done, &ag);
    turn();
    assert_int_equal(ag.second.calls, 1);
    durable_free(ag.d);
}

static void test_wait_ms_rounds_up_to_at_least_one(void **state)
{
    assert_int_equal(durable_wait_ms(1.0), 1000);
    assert_int_equal(durable_wait_ms(0.001), 1);
    assert_int_equal(durable_wait_ms(0.0001), 1);
    assert_int_equal(durable_wait_ms(0.0015), 2);
    assert_int_equal(durable_wait_ms(60), 60000);
}

static void test_short_means_fewer_than_wanted_or_no_answer(void **state)
{
    static const struct {
        int acked;
        unsigned want;
        bool is_short;
    } cases[] = {
        {0, 0, false}, {1, 1, false},         {2, 1, false},   {0, 1, true},
        {1, 2, true},  {-ENOTCONN, 1, true},  {-EIO, 1, true}, {-ENOTCONN, 0, false},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_int_equal(durable_short(cases[i].acked, cases[i].want), cases[i].is_short);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_without_replicas_done_runs_from_the_loop_and_nothing_is_sent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_without_replicas_or_callback_nothing_happens, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_writes_of_one_turn_share_one_wait, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fewer_replicas_than_wanted_is_a_counted_shortfall,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_lost_connection_answers_enotconn, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_connection_down_answers_enotconn_from_the_loop,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_refused_wait_answers_eio, setup, teardown),
        cmocka_unit_test_setup_teardown(test_free_cancels_what_was_not_sent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_free_cancels_a_wait_out_when_its_reply_comes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_waiters_added_by_a_callback_run_in_the_same_turn,
                                        setup, teardown),
        cmocka_unit_test(test_wait_ms_rounds_up_to_at_least_one),
        cmocka_unit_test(test_short_means_fewer_than_wanted_or_no_answer),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
