/* db_tx_test.c - transactions a caller holds (sql/db_tx.c): commit, rollback, failed
 * statements, one statement at a time, a connection lost mid-way. Run by db_test. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
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

static void txrun_next(struct txrun *run);

static void txrun_on_done(const struct db_rows *rows, int err, void *arg)
{
    struct txrun *run = arg;

    res_record(&run->res[run->next++], rows, err);
    txrun_next(run);
}

static void txrun_on_commit(const struct db_rows *rows, int err, void *arg)
{
    struct txrun *run = arg;

    res_record(&run->end, rows, err);
    t_done(run->t);
}

static void txrun_next(struct txrun *run)
{
    if (run->next < run->nsteps) {
        const struct step *s = &run->steps[run->next];
        assert_int_equal(db_tx_query(run->tx, s->sql, s->p, s->nparams, txrun_on_done, run), 0);
        return;
    }
    if (run->commit) {
        assert_int_equal(db_tx_commit(run->tx, txrun_on_commit, run), 0);
        run->tx = NULL;
        assert_int_equal(run->end.calls, 0);
        return;
    }
    db_tx_rollback(run->tx);
    run->tx = NULL;
    t_done(run->t);
}

static void txrun_on_ready(struct db_tx *tx, int err, const char *why, void *arg)
{
    struct txrun *run = arg;

    run->ready_calls++;
    run->ready_err = err;
    if (err < 0) {
        assert_null(tx);
        assert_non_null(why);
        t_done(run->t);
        return;
    }
    assert_non_null(tx);
    run->tx = tx;
    txrun_next(run);
}

static void txrun_start(struct t *t, struct txrun *run, const struct step *steps, int n,
                        bool commit)
{
    memset(run, 0, sizeof(*run));
    run->t = t;
    run->steps = steps;
    run->nsteps = n;
    run->commit = commit;
    assert_int_equal(db_tx_begin(t->pool, txrun_on_ready, run), 0);
    assert_int_equal(run->ready_calls, 0);
    t->pending++;
}

void test_tx_commit_is_visible(void **state)
{
    struct txrun run;
    struct t t;
    char key[64];

    t_open_size(&t, 2);
    tx_table(&t);
    key_for(key, sizeof(key), "commit");
    struct step steps[] = {
        {"INSERT INTO db_test_tx VALUES ($1, 1)", 1, {key}},
        {"UPDATE db_test_tx SET v = v + 1 WHERE k = $1", 1, {key}},
    };
    txrun_start(&t, &run, steps, 2, true);
    t_wait(&t);
    assert_int_equal(run.ready_calls, 1);
    assert_int_equal(run.ready_err, 0);
    assert_ok(&run.res[0]);
    assert_int_equal(run.res[1].affected, 1);
    assert_ok(&run.end);
    assert_stored(&t, key, "2");
    t_close(&t);
}

static void never_on_notify(const char *channel, const char *payload, void *arg)
{
    fail_msg("a pooled pool must not listen (notified on %s)", channel);
}

/* Pooled (through a transaction-mode pooler): nothing SET at connect; statement_timeout is set
 * in each transaction, a held one, a query's and a unit's, whose statements keep their index. */
void test_tx_pooled_pool_sets_statement_timeout_in_each_transaction(void **state)
{
    struct db_pool_cfg cfg = cfg_default();
    const struct db_stmt unit[] = {{"SELECT 1", NULL, 0}, {"SELECT 1 / 0", NULL, 0}};
    const struct step steps[] = {{"SHOW statement_timeout", 0, {NULL}}};
    struct txrun run;
    struct res r[4];
    struct t t;

    cfg.size = 1;
    cfg.pooled = true;
    cfg.prepared = false;
    cfg.statement_timeout_s = 0.2;
    t_open(&t, &cfg);
    q(&t, &r[0], "SELECT pg_sleep(2)", NULL, 0);
    q(&t, &r[1], "SELECT current_setting('statement_timeout'), "
                 "current_setting('application_name')", NULL, 0);
    u(&t, &r[2], unit, 2);
    u(&t, &r[3], &select_one, 1);
    txrun_start(&t, &run, steps, 1, true);
    t_wait(&t);
    assert_int_equal(r[0].err, -ETIMEDOUT);
    assert_ok(&r[1]);
    assert_string_equal(r[1].v[0], "200ms");
    assert_string_equal(r[1].v[1], ""); /* no SET application_name: a pooler's to keep */
    assert_unit_failed(&r[2], -EIO, 1, "22012");
    assert_ok(&r[3]);
    assert_ok(&run.res[0]);
    assert_string_equal(run.res[0].v[0], "200ms");
    assert_ok(&run.end);
    assert_int_equal(db_pool_listen(t.pool, "db_test_chan", never_on_notify, NULL), -EOPNOTSUPP);
    t_close(&t);
}

void test_tx_rollback_is_invisible(void **state)
{
    struct txrun run;
    struct t t;
    char key[64];

    t_open_size(&t, 2);
    tx_table(&t);
    key_for(key, sizeof(key), "rollback");
    struct step steps[] = {{"INSERT INTO db_test_tx VALUES ($1, 1)", 1, {key}}};
    txrun_start(&t, &run, steps, 1, false);
    t_wait(&t);
    assert_ok(&run.res[0]);
    assert_stored(&t, key, "none");
    t_close(&t);
}

void test_tx_failing_statement_then_rollback(void **state)
{
    struct txrun run;
    struct res after[3];
    struct t t;
    char key[64], key2[64];
    const char *params2[] = {key2};

    t_open_size(&t, 1); /* the next queries reuse the rolled back connection */
    tx_table(&t);
    key_for(key, sizeof(key), "fail-rollback");
    struct step steps[] = {
        {"INSERT INTO db_test_tx VALUES ($1, 1)", 1, {key}},
        {"SELECT 1 / 0", 0, {NULL}},
        {"SELECT 1", 0, {NULL}},
    };
    txrun_start(&t, &run, steps, 3, false);
    t_wait(&t);
    assert_ok(&run.res[0]);
    assert_int_equal(run.res[1].err, -EIO);
    assert_string_equal(run.res[1].sqlstate, "22012");
    assert_int_equal(run.res[2].err, -EIO);
    assert_string_equal(run.res[2].sqlstate, "25P02");
    assert_stored(&t, key, "none");
    q(&t, &after[0], "SELECT 1", NULL, 0);
    q(&t, &after[1], "SELECT 2", NULL, 0);
    /* prepared inside the rolled back transaction: PREPARE is not undone, the cache holds */
    key_for(key2, sizeof(key2), "after-rollback");
    q(&t, &after[2], "INSERT INTO db_test_tx VALUES ($1, 1)", params2, 1);
    t_wait(&t);
    assert_ok(&after[0]);
    assert_ok(&after[1]);
    assert_ok(&after[2]);
    assert_stored(&t, key2, "1");
    assert_int_equal(t.downs, 0);
    t_close(&t);
}

void test_tx_commit_after_a_failed_statement_reports_the_rollback(void **state)
{
    struct txrun run;
    struct t t;
    char key[64];

    t_open_size(&t, 1);
    tx_table(&t);
    key_for(key, sizeof(key), "fail-commit");
    struct step steps[] = {
        {"INSERT INTO db_test_tx VALUES ($1, 1)", 1, {key}},
        {"SELECT 1 / 0", 0, {NULL}},
    };
    txrun_start(&t, &run, steps, 2, true);
    t_wait(&t);
    assert_int_equal(run.end.calls, 1);
    assert_int_equal(run.end.err, -EIO);
    assert_string_equal(run.end.sqlstate, "25P02");
    assert_stored(&t, key, "none");
    t_close(&t);
}

/* One statement at a time; rollback with a statement outstanding cancels it. */
struct busy {
    struct t *t;
    const char *key;
    int query2, commit, calls, err;
};

static void busy_on_done(const struct db_rows *rows, int err, void *arg)
{
    struct busy *b = arg;

    b->calls++;
    b->err = err;
    t_done(b->t);
}

static void busy_on_ready(struct db_tx *tx, int err, const char *why, void *arg)
{
    struct busy *b = arg;
    const char *params[] = {b->key};

    assert_int_equal(err, 0);
    assert_int_equal(db_tx_query(tx, "INSERT INTO db_test_tx SELECT $1, 1 FROM pg_sleep(0.2)",
                                 params, 1, busy_on_done, b),
                     0);
    b->query2 = db_tx_query(tx, "SELECT 1", NULL, 0, never_on_done, NULL);
    b->commit = db_tx_commit(tx, never_on_done, NULL);
    db_tx_rollback(tx); /* takes tx; the INSERT's done gets -ECANCELED */
    assert_int_equal(b->calls, 0);
}

void test_tx_one_statement_at_a_time_and_rollback_cancels_the_outstanding_one(void **state)
{
    struct busy b = {0};
    struct res r;
    struct t t;
    char key[64];

    t_open_size(&t, 1);
    tx_table(&t);
    b.t = &t;
    b.key = key_for(key, sizeof(key), "busy");
    assert_int_equal(db_tx_begin(t.pool, busy_on_ready, &b), 0);
    t.pending++;
    t_wait(&t);
    assert_int_equal(b.query2, -EBUSY);
    assert_int_equal(b.commit, -EBUSY);
    assert_int_equal(b.calls, 1);
    assert_int_equal(b.err, -ECANCELED);
    assert_stored(&t, key, "none");
    q(&t, &r, "SELECT 1", NULL, 0); /* the connection went back to the pool */
    t_wait(&t);
    assert_ok(&r);
    t_close(&t);
}

/* A transaction whose connection is killed while a statement runs. */
struct dead {
    struct t *t;
    struct db_tx *tx;
    char pid[64];
    struct res pid_res, sleep_res, kill_res, commit_res;
    int query_after, commit_ret;
    bool idle_kill; /* kill while idle in the transaction, then roll back */
    ev_timer later;
};

static void dead_on_commit(const struct db_rows *rows, int err, void *arg)
{
    struct dead *d = arg;

    res_record(&d->commit_res, rows, err);
    t_done(d->t);
}

static void dead_on_sleep(const struct db_rows *rows, int err, void *arg)
{
    struct dead *d = arg;

    res_record(&d->sleep_res, rows, err);
    d->query_after = db_tx_query(d->tx, "SELECT 1", NULL, 0, never_on_done, NULL);
    d->commit_ret = db_tx_commit(d->tx, dead_on_commit, d);
    d->tx = NULL;
    assert_int_equal(d->commit_res.calls, 0);
}

static void dead_on_later(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct dead *d = w->data;

    d->query_after = db_tx_query(d->tx, "SELECT 1", NULL, 0, never_on_done, NULL);
    db_tx_rollback(d->tx);
    d->tx = NULL;
    t_done(d->t);
}

static void dead_on_kill(const struct db_rows *rows, int err, void *arg)
{
    struct dead *d = arg;

    res_record(&d->kill_res, rows, err);
    if (d->idle_kill) {
        ev_timer_init(&d->later, dead_on_later, 0.5, 0); /* the loss has been seen by then */
        d->later.data = d;
        ev_timer_start(d->t->loop, &d->later);
        return;
    }
    t_done(d->t);
}

static void dead_on_pid(const struct db_rows *rows, int err, void *arg)
{
    struct dead *d = arg;
    const char *params[] = {d->pid};

    res_record(&d->pid_res, rows, err);
    (void)snprintf(d->pid, sizeof(d->pid), "%s", d->pid_res.v[0]);
    if (!d->idle_kill) {
        assert_int_equal(db_tx_query(d->tx, "SELECT pg_sleep(5)", NULL, 0, dead_on_sleep, d), 0);
        d->t->pending++;
    }
    assert_int_equal(
        db_query(d->t->pool, "SELECT pg_terminate_backend($1::int)", params, 1, dead_on_kill, d),
        0);
}

static void dead_on_ready(struct db_tx *tx, int err, const char *why, void *arg)
{
    struct dead *d = arg;

    assert_int_equal(err, 0);
    d->tx = tx;
    assert_int_equal(db_tx_query(tx, "SELECT pg_backend_pid()", NULL, 0, dead_on_pid, d), 0);
}

static void dead_run(struct dead *d, bool idle_kill)
{
    struct res after[4];
    struct t t;

    memset(d, 0, sizeof(*d));
    t_open_size(&t, 2);
    d->t = &t;
    d->idle_kill = idle_kill;
    assert_int_equal(db_tx_begin(t.pool, dead_on_ready, d), 0);
    t.pending++;
    t_wait(&t);
    assert_ok(&d->kill_res);
    assert_string_equal(d->kill_res.v[0], "t");
    assert_int_equal(d->query_after, -ENOTCONN);
    assert_int_equal(t.downs, 0); /* the other connection stayed up */
    for (int i = 0; i < 4; i++)
        q(&t, &after[i], "SELECT 1", NULL, 0);
    t_wait(&t);
    for (int i = 0; i < 4; i++)
        assert_ok(&after[i]);
    t_close(&t);
}

void test_tx_connection_lost_mid_statement_fails_it_and_commit(void **state)
{
    struct dead d;

    dead_run(&d, false);
    assert_int_equal(d.sleep_res.err, -ENOTCONN);
    /* the server's FATAL 57P01, unless the socket's end was read before it (seen under load) */
    if (d.sleep_res.sqlstate[0])
        assert_string_equal(d.sleep_res.sqlstate, "57P01");
    assert_int_equal(d.commit_ret, 0);
    assert_int_equal(d.commit_res.calls, 1);
    assert_int_equal(d.commit_res.err, -ENOTCONN);
}

void test_tx_connection_lost_while_idle_then_rollback_frees_it(void **state)
{
    struct dead d;

    dead_run(&d, true);
}
