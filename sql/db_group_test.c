/* db_group_test.c - group commit (db_atomic_group(), sql/db_atomic.c): units waiting together
 * share one transaction, each still all or none with its own result; a failure reruns each
 * alone; losses and db_pool_free reach every member once. Run by db_test. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <ev.h>

#include "sql/db.h"
#include "sql/db_test.h"

#define MEMBERS 20

static void group_on_done(const struct db_rows *rows, int err, int failed, void *arg)
{
    struct res *r = arg;

    res_record(r, rows, err);
    r->failed = failed;
    t_done(r->t);
}

/* Starts a unit that may share its transaction; its outcome lands in `r`. */
static void ug(struct t *t, struct res *r, const struct db_stmt *stmts, int n)
{
    memset(r, 0, sizeof(*r));
    r->t = t;
    assert_int_equal(db_atomic_group(t->pool, stmts, n, group_on_done, r), 0);
    assert_int_equal(r->calls, 0); /* never from inside db_atomic_group */
    t->pending++;
}

/* A pool of `size` connections with group_max `max`, and db_test_tx; `busy` (size of them)
 * are queries that hold the connections for a moment, so that the units started next wait
 * together. */
static void group_open_size(struct t *t, unsigned size, unsigned max, bool prepared, bool pooled,
                            struct res *busy)
{
    struct db_pool_cfg cfg = cfg_default();

    cfg.size = size;
    cfg.group_max = max;
    cfg.prepared = prepared;
    cfg.pooled = pooled;
    cfg.statement_timeout_s = pooled ? 10 : 0;
    t_open(t, &cfg);
    tx_table(t);
    for (unsigned i = 0; i < size; i++)
        q(t, &busy[i], "SELECT pg_sleep(0.2)", NULL, 0);
}

static void group_open(struct t *t, unsigned max, bool prepared, bool pooled, struct res *busy)
{
    group_open_size(t, 1, max, prepared, pooled, busy);
}

/* Unit i of a test: INSERT key i, then SELECT its transaction's id and the key back. */
struct unit {
    char key[64];
    const char *p[1];
    struct db_stmt stmts[2];
};

static void unit_make(struct unit *u, const char *name, int i, const char *second)
{
    char label[48];

    (void)snprintf(label, sizeof(label), "%s-%d", name, i);
    key_for(u->key, sizeof(u->key), label);
    u->p[0] = u->key;
    u->stmts[0] = (struct db_stmt){"INSERT INTO db_test_tx VALUES ($1, 1)", u->p, 1};
    u->stmts[1] = (struct db_stmt){second ? second : "SELECT txid_current()::text, $1::text",
                                   second ? NULL : u->p, second ? 0 : 1};
}

static void assert_own_result(const struct res *r, const struct unit *u)
{
    assert_ok(r);
    assert_int_equal(r->failed, -1);
    assert_int_equal(r->nrows, 1);
    assert_string_equal(r->v[1], u->key); /* its own last statement's result */
}

static void groups_of(unsigned max, bool prepared, bool pooled)
{
    static struct unit units[MEMBERS];
    static struct res r[MEMBERS];
    struct res busy;
    struct t t;
    char name[32];

    group_open(&t, max, prepared, pooled, &busy);

    (void)snprintf(name, sizeof(name), "group-%u-%d-%d", max, prepared, pooled);
    for (int i = 0; i < MEMBERS; i++) {
        unit_make(&units[i], name, i, NULL);
        ug(&t, &r[i], units[i].stmts, 2);
    }
    t_wait(&t);
    assert_ok(&busy);
    for (int i = 0; i < MEMBERS; i++) {
        assert_own_result(&r[i], &units[i]);
        assert_stored(&t, units[i].key, "1");
    }
    /* the first `max` share a transaction, the rest another */
    for (int i = 1; i < MEMBERS; i++) {
        bool same = strcmp(r[i].v[0], r[i - 1].v[0]) == 0;
        if (same != (i % (int)max != 0))
            fail_msg("units %d and %d: transactions %s and %s (group_max %u)", i - 1, i,
                     r[i - 1].v[0], r[i].v[0], max);
    }
    t_close(&t);
}

void test_group_units_waiting_together_share_one_transaction(void **state)
{
    groups_of(16, true, false);
    groups_of(16, false, false);
    groups_of(16, false, true); /* pooled: the group's statement_timeout goes first */
    groups_of(7, true, false);
}

void test_group_max_1_and_db_atomic_units_share_nothing(void **state)
{
    static struct unit units[6];
    struct res r[6], busy;
    struct t t;

    for (unsigned max = 1; max <= 16; max += 15) {
        group_open(&t, max, true, false, &busy);
        for (int i = 0; i < 6; i++) {
            unit_make(&units[i], "alone", i + (int)max * 10, NULL);
            if (max == 1)
                ug(&t, &r[i], units[i].stmts, 2);
            else
                u(&t, &r[i], units[i].stmts, 2); /* db_atomic(): never grouped */
        }
        t_wait(&t);
        for (int i = 0; i < 6; i++) {
            assert_own_result(&r[i], &units[i]);
            for (int k = 0; k < i; k++)
                assert_string_not_equal(r[i].v[0], r[k].v[0]);
        }
        t_close(&t);
    }
}

void test_group_with_a_failing_unit_reruns_each_alone(void **state)
{
    static struct unit units[5];
    struct res r[5], busy;
    struct t t;

    group_open(&t, 16, true, false, &busy);
    for (int i = 0; i < 5; i++) {
        unit_make(&units[i], "fail", i, i == 2 ? "SELECT 1 / 0" : NULL);
        ug(&t, &r[i], units[i].stmts, 2);
    }
    t_wait(&t);
    for (int i = 0; i < 5; i++) {
        if (i == 2) {
            assert_unit_failed(&r[i], -EIO, 1, "22012"); /* its own statement's index */
            assert_stored(&t, units[i].key, "none");
            continue;
        }
        assert_own_result(&r[i], &units[i]);
        assert_stored(&t, units[i].key, "1");
        for (int k = 0; k < i; k++) /* each ran alone */
            assert_string_not_equal(r[i].v[0], r[k].v[0]);
    }
    t_close(&t);
}

void test_group_same_marker_twice_writes_once(void **state)
{
    static struct unit units[4];
    struct res r[4], busy;
    struct t t;

    group_open(&t, 16, true, false, &busy);
    for (int i = 0; i < 4; i++) {
        unit_make(&units[i], "twice", i == 3 ? 1 : i, NULL); /* units 1 and 3: one key */
        ug(&t, &r[i], units[i].stmts, 2);
    }
    t_wait(&t);
    for (int i = 0; i < 3; i++)
        assert_own_result(&r[i], &units[i]);
    assert_unit_failed(&r[3], -EIO, 0, "23505");
    assert_stored(&t, units[1].key, "1");
    t_close(&t);
}

void test_group_unit_opening_a_transaction_block_fails_alone(void **state)
{
    static struct unit units[3];
    struct res r[3], busy[3];
    struct t t;

    /* a connection that ran the BEGIN is closed (the server rolls back): the group's and the
     * unit's own when it runs alone; a third keeps the pool up, so that the units waiting
     * meanwhile are not failed for want of a connection */
    group_open_size(&t, 3, 16, true, false, busy);
    for (int i = 0; i < 3; i++) {
        unit_make(&units[i], "begin", i, i == 1 ? "BEGIN" : NULL);
        ug(&t, &r[i], units[i].stmts, 2);
    }
    t_wait(&t);
    assert_own_result(&r[0], &units[0]);
    assert_own_result(&r[2], &units[2]);
    assert_int_equal(r[1].calls, 1);
    assert_int_equal(r[1].err, -EIO);
    assert_non_null(strstr(r[1].error, "transaction block"));
    for (int i = 0; i < 3; i++)
        assert_stored(&t, units[i].key, i == 1 ? "none" : "1");
    t_close(&t);
}

void test_group_connection_lost_mid_group_fails_each_member_once(void **state)
{
    static struct unit units[4];
    struct res r[4], busy, after;
    struct t t;

    group_open(&t, 16, true, false, &busy);
    for (int i = 0; i < 4; i++) {
        unit_make(&units[i], "lost", i,
                  i == 2 ? "SELECT pg_terminate_backend(pg_backend_pid())" : NULL);
        ug(&t, &r[i], units[i].stmts, 2);
    }
    t_wait(&t);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(r[i].calls, 1);
        assert_int_equal(r[i].err, -ENOTCONN);
    }
    t_wait_up(&t);
    for (int i = 0; i < 4; i++)
        assert_stored(&t, units[i].key, "none"); /* the group was rolled back */
    ug(&t, &after, units[0].stmts, 2); /* the pool goes on */
    t_wait(&t);
    assert_own_result(&after, &units[0]);
    t_close(&t);
}

static void free_on_member(const struct db_rows *rows, int err, int failed, void *arg)
{
    struct res *r = arg;

    res_record(r, rows, err);
    r->failed = failed;
    db_pool_free(r->t->pool); /* from inside the first member's callback */
    r->t->pool = NULL;
    ev_break(r->t->loop, EVBREAK_ONE);
}

void test_group_pool_free_inside_a_member_callback_tells_the_rest_once(void **state)
{
    static struct unit units[4];
    struct res first = {0}, r[3], busy;
    struct t t;

    group_open(&t, 16, true, false, &busy);
    unit_make(&units[0], "free", 0, NULL);
    first.t = &t;
    assert_int_equal(db_atomic_group(t.pool, units[0].stmts, 2, free_on_member, &first), 0);
    for (int i = 0; i < 3; i++) {
        unit_make(&units[i + 1], "free", i + 1, NULL);
        ug(&t, &r[i], units[i + 1].stmts, 2);
    }
    t_run(&t, RUN_MAX_S);
    assert_own_result(&first, &units[0]);
    for (int i = 0; i < 3; i++)
        assert_unit_failed(&r[i], -ECANCELED, -1, "");
    t_close(&t);
}
