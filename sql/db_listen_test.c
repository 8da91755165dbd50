/* db_listen_test.c - LISTEN (sql/db_listen.c): notifications, the call after each
 * (re)connect, db_pool_free() from inside the callback. Run by db_test. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <ev.h>

#include "sql/db.h"
#include "sql/db_test.h"

/* What a listener saw. */
struct heard {
    int ups;                       /* calls with payload NULL: the listener (re)connected */
    int notes;                     /* notifications */
    char channel[64], payload[64]; /* the last notification's */
    struct ev_loop *loop;
};

static void heard_on_notify(const char *channel, const char *payload, void *arg)
{
    struct heard *h = arg;

    if (payload) {
        h->notes++;
        (void)snprintf(h->channel, sizeof(h->channel), "%s", channel);
        (void)snprintf(h->payload, sizeof(h->payload), "%s", payload);
    } else {
        h->ups++;
        assert_string_equal(channel, "nx_test_1");
    }
    ev_break(h->loop, EVBREAK_ONE);
}

/* Runs the loop until the listener has seen `ups` (re)connects and `notes` notifications. */
static void heard_wait(struct t *t, struct heard *h, int ups, int notes)
{
    while (h->ups < ups || h->notes < notes)
        t_run(t, RUN_MAX_S);
    assert_int_equal(h->ups, ups);
    assert_int_equal(h->notes, notes);
}

void test_listen_delivers_notifications_and_comes_back_after_a_loss(void **state)
{
    static const char *const bad[] = {
        "",
        "1abc",
        "Abc",
        "a-b",
        "a b",
        "x\"y",
        "a;",
        "\xc3\xa9",
        "a123456789012345678901234567890123456789012345678901234567890123"}; /* 64 bytes */
    static const char kill_sql[] =
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        "WHERE pid <> pg_backend_pid() AND query LIKE '%LISTEN \"nx_test_1\"'";
    const struct db_stmt unit[] = {{.sql = "SELECT pg_notify('nx_test_1', 'rolled back')"},
                                   {.sql = "SELECT 1 / 0"}};
    struct heard h = {0};
    struct res r;
    struct t t;

    t_open_size(&t, 2);
    h.loop = t.loop;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(db_pool_listen(t.pool, bad[i], heard_on_notify, &h), -EINVAL);
    assert_int_equal(db_pool_listen(t.pool, NULL, heard_on_notify, &h), -EINVAL);
    assert_int_equal(db_pool_listen(t.pool, "nx_test_1", NULL, &h), -EINVAL);
    assert_int_equal(db_pool_listen(t.pool, "nx_test_1", heard_on_notify, &h), 0);
    assert_int_equal(db_pool_listen(t.pool, "nx_test_2", heard_on_notify, &h), -EBUSY);
    assert_int_equal(h.ups, 0); /* never from inside the call */
    heard_wait(&t, &h, 1, 0);

    /* sent from a connection of the same pool; another channel's never arrives */
    q(&t, &r, "SELECT pg_notify('nx_other', 'x'), pg_notify('nx_test_1', 'hello')", NULL, 0);
    t_wait(&t);
    assert_ok(&r);
    heard_wait(&t, &h, 1, 1);
    assert_string_equal(h.channel, "nx_test_1");
    assert_string_equal(h.payload, "hello");

    /* sent in a unit that rolls back: never delivered (the next one is the next to arrive) */
    u(&t, &r, unit, 2);
    t_wait(&t);
    assert_int_equal(r.err, -EIO);
    assert_int_equal(r.failed, 1);
    q(&t, &r, "NOTIFY nx_test_1, 'after the rollback'", NULL, 0);
    t_wait(&t);
    assert_ok(&r);
    heard_wait(&t, &h, 1, 2);
    assert_string_equal(h.payload, "after the rollback");

    /* the server ends the listener's session: it reconnects, LISTENs again and says so */
    q(&t, &r, kill_sql, NULL, 0);
    t_wait(&t);
    assert_ok(&r);
    assert_string_equal(r.v[0], "1");
    heard_wait(&t, &h, 2, 2);
    q(&t, &r, "SELECT pg_notify('nx_test_1', 'again')", NULL, 0);
    t_wait(&t);
    assert_ok(&r);
    heard_wait(&t, &h, 2, 3);
    assert_string_equal(h.payload, "again");
    assert_int_equal(t.ups, 1); /* the pool's own state never changed */
    assert_int_equal(t.downs, 0);
    t_close(&t);
}

static void free_on_notify(const char *channel, const char *payload, void *arg)
{
    struct t *t = arg;

    db_pool_free(t->pool); /* from inside the listener's (re)connect call */
    t->pool = NULL;
    ev_break(t->loop, EVBREAK_ONE);
}

void test_listen_pool_free_inside_the_callback(void **state)
{
    struct t t;

    t_open_size(&t, 1);
    assert_int_equal(db_pool_listen(t.pool, "nx_free", free_on_notify, &t), 0);
    t_run(&t, RUN_MAX_S);
    assert_null(t.pool);
    t_close(&t); /* no watcher of the listener is left */
}
