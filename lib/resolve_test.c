/* resolve_test.c - lookups off the loop: answered on the loop, cancelled ones never. */
#include <errno.h>
#include <netdb.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>
#include <ev.h>

#include "lib/log.h"
#include "lib/resolve.h"

struct answer {
    int calls, gai_error, family;
};

static void on_done(struct addrinfo *ais, int gai_error, int sys_errno, void *arg)
{
    struct answer *a = arg;

    (void)sys_errno;
    a->calls++;
    a->gai_error = gai_error;
    a->family = ais ? ais->ai_family : 0;
    if (ais)
        freeaddrinfo(ais);
}

static void test_a_literal_address_is_answered_on_the_loop(void **state)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct answer a = {0};

    (void)resolve_start(loop, "127.0.0.1", "6379", on_done, &a);
    assert_int_equal(a.calls, 0); /* never from inside the call */
    ev_run(loop, 0);              /* the request keeps the loop running until it answered */
    assert_int_equal(a.calls, 1);
    assert_int_equal(a.gai_error, 0);
    assert_int_equal(a.family, AF_INET);
    ev_loop_destroy(loop);
}

static void test_a_bad_name_is_answered_with_the_error(void **state)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct answer a = {0};

    /* ".invalid" never resolves (RFC 6761); the numeric port check fails at once too */
    (void)resolve_start(loop, "nexus-test.invalid", "no-such-service-xyz", on_done, &a);
    ev_run(loop, 0);
    assert_int_equal(a.calls, 1);
    assert_int_not_equal(a.gai_error, 0);
    ev_loop_destroy(loop);
}

static void test_a_cancelled_lookup_never_answers(void **state)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct answer a = {0}, b = {0};
    struct resolve *r;

    for (int i = 0; i < 50; i++) { /* cancels racing the threads' answers */
        if (i % 2) /* the wake-ups of answers sent before their cancel: nothing to run */
            ev_run(loop, EVRUN_NOWAIT);
        r = resolve_start(loop, "::1", "6379", on_done, &a);
        if (i % 4 == 1)
            (void)sched_yield(); /* now and then the thread answers before the cancel */
        resolve_cancel(r); /* (never after the loop ran: an answer it ran is no longer r's) */
    }
    (void)resolve_start(loop, "::1", "6379", on_done, &b);
    ev_run(loop, 0); /* cancelled requests hold nothing: only b's keeps the loop */
    assert_int_equal(a.calls, 0);
    assert_int_equal(b.calls, 1);
    assert_int_equal(b.family, AF_INET6);
    ev_loop_destroy(loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_literal_address_is_answered_on_the_loop),
        cmocka_unit_test(test_a_bad_name_is_answered_with_the_error),
        cmocka_unit_test(test_a_cancelled_lookup_never_answers),
    };

    log_set_level(LOG_LEVEL_ERROR);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
