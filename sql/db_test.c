/* db_test.c - sql/db_*.c (db.h) against the PostgreSQL at $DATABASE_URL; run by
 * tests/integration/test_db_pool.py (also in its fault modes --fault-restart, --wait-up). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <ev.h>

#include "lib/err.h"
#include "lib/log.h"
#include "lib/parse.h"
#include "sql/db.h"
#include "sql/db_test.h"

static const char *db_url;

struct db_pool_cfg cfg_default(void)
{
    return (struct db_pool_cfg){.conninfo = db_url,
                                .size = 2,
                                .max_waiting = 1000,
                                .connect_timeout_s = 5,
                                .statement_timeout_s = 0,
                                .prepared = true};
}

static void t_on_state(bool up, void *arg)
{
    struct t *t = arg;

    if (up)
        t->ups++;
    else
        t->downs++;
    if ((up && t->want_up) || (!up && t->want_downs > 0 && t->downs >= t->want_downs))
        ev_break(t->loop, EVBREAK_ONE);
}

static void guard_on_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct t *t = w->data;

    t->timed_out = true;
    ev_break(loop, EVBREAK_ONE);
}

static void nap_on_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
    ev_break(loop, EVBREAK_ONE);
}

/* Runs the loop until a callback breaks it; fails after `limit_s`. */
void t_run(struct t *t, double limit_s)
{
    t->timed_out = false;
    ev_timer_set(&t->guard, limit_s, 0);
    ev_timer_start(t->loop, &t->guard);
    ev_run(t->loop, 0);
    ev_timer_stop(t->loop, &t->guard);
    assert_false(t->timed_out);
}

void t_sleep(struct t *t, double s)
{
    ev_timer_set(&t->nap, s, 0);
    ev_timer_start(t->loop, &t->nap);
    t_run(t, s + RUN_MAX_S);
    ev_timer_stop(t->loop, &t->nap);
}

void t_wait_up(struct t *t)
{
    t->want_up = true;
    if (!db_pool_up(t->pool))
        t_run(t, RUN_MAX_S);
    t->want_up = false;
    assert_true(db_pool_up(t->pool));
}

/* Runs the loop until the pool has gone down `downs` times in all. */
void t_wait_downs(struct t *t, int downs)
{
    t->want_downs = downs;
    while (t->downs < downs)
        t_run(t, RUN_MAX_S);
    t->want_downs = 0;
}

/* A loop and a pool that is not yet up. */
static void t_new(struct t *t, const struct db_pool_cfg *cfg)
{
    struct err err = {0};

    memset(t, 0, sizeof(*t));
    t->loop = ev_loop_new(EVFLAG_AUTO);
    assert_non_null(t->loop);
    ev_timer_init(&t->guard, guard_on_timeout, 0, 0);
    t->guard.data = t;
    ev_timer_init(&t->nap, nap_on_timeout, 0, 0);
    t->pool = db_pool_new(t->loop, cfg, t_on_state, t, &err);
    if (!t->pool)
        fail_msg("db_pool_new: %s", err.msg);
    assert_false(db_pool_up(t->pool));
    assert_int_equal(t->ups + t->downs, 0); /* never from inside db_pool_new */
}

void t_open(struct t *t, const struct db_pool_cfg *cfg)
{
    t_new(t, cfg);
    t_wait_up(t);
}

void t_open_size(struct t *t, unsigned size)
{
    struct db_pool_cfg cfg = cfg_default();

    cfg.size = size;
    t_open(t, &cfg);
}

/* Frees the pool and checks that it left no watcher on the loop. */
void t_close(struct t *t)
{
    int states = t->ups + t->downs;

    db_pool_free(t->pool);
    t->pool = NULL;
    assert_int_equal(t->ups + t->downs, states); /* never from inside db_pool_free */
    t->timed_out = false;
    ev_timer_set(&t->guard, 2.0, 0);
    ev_timer_start(t->loop, &t->guard);
    ev_unref(t->loop); /* ev_run() returns at once unless another watcher is active */
    ev_run(t->loop, 0);
    ev_ref(t->loop);
    ev_timer_stop(t->loop, &t->guard);
    assert_false(t->timed_out);
    ev_loop_destroy(t->loop);
}

void t_done(struct t *t)
{
    if (--t->pending == 0)
        ev_break(t->loop, EVBREAK_ONE);
}

/* Runs until every request is answered. Other callbacks (a listener's) may break the loop
 * meanwhile: run again; t_run() fails the test when RUN_MAX_S pass without a break. */
void t_wait(struct t *t)
{
    while (t->pending > 0)
        t_run(t, RUN_MAX_S);
}

void res_record(struct res *r, const struct db_rows *rows, int err)
{
    r->calls++;
    r->err = err;
    r->nrows = db_rows_count(rows);
    r->ncols = db_rows_columns(rows);
    r->affected = db_rows_affected(rows);
    for (int i = 0; i < NV; i++) {
        const char *v = db_rows_get(rows, 0, i);
        r->null[i] = !v;
        (void)snprintf(r->v[i], sizeof(r->v[i]), "%s", v ? v : "");
    }
    r->oob_null = !db_rows_get(rows, -1, 0) && !db_rows_get(rows, r->nrows, 0) &&
                  !db_rows_get(rows, 0, -1) && !db_rows_get(rows, 0, r->ncols);
    (void)snprintf(r->sqlstate, sizeof(r->sqlstate), "%s", db_rows_sqlstate(rows));
    (void)snprintf(r->error, sizeof(r->error), "%s", db_rows_error(rows));
}

static void res_on_done(const struct db_rows *rows, int err, void *arg)
{
    struct res *r = arg;

    res_record(r, rows, err);
    t_done(r->t);
}

/* Starts a query whose outcome lands in `r`. */
void q(struct t *t, struct res *r, const char *sql, const char *const *params, int n)
{
    memset(r, 0, sizeof(*r));
    r->t = t;
    assert_int_equal(db_query(t->pool, sql, params, n, res_on_done, r), 0);
    assert_int_equal(r->calls, 0); /* never from inside db_query */
    t->pending++;
}

void assert_ok(const struct res *r)
{
    if (r->calls != 1 || r->err != 0)
        fail_msg("calls=%d err=%d (%s) sqlstate=%s", r->calls, r->err, r->error, r->sqlstate);
}

static void poll_on_done(const struct db_rows *rows, int err, void *arg)
{
    struct res *r = arg;

    res_record(r, rows, err);
    ev_break(r->t->loop, EVBREAK_ONE);
}

/* Runs `sql` until its first value is `want`, 10 ms apart, while other requests may be
 * pending; fails after RUN_MAX_S. */
void t_poll(struct t *t, const char *sql, const char *const *params, int n, const char *want)
{
    ev_tstamp end = ev_now(t->loop) + RUN_MAX_S;
    struct res r;

    for (;;) {
        memset(&r, 0, sizeof(r));
        r.t = t;
        assert_int_equal(db_query(t->pool, sql, params, n, poll_on_done, &r), 0);
        while (r.calls == 0)
            t_run(t, RUN_MAX_S);
        assert_ok(&r);
        if (strcmp(r.v[0], want) == 0)
            return;
        if (ev_now(t->loop) > end)
            fail_msg("%s gave %s for %d s (want %s)", sql, r.v[0], RUN_MAX_S, want);
        t_sleep(t, 0.01);
    }
}

const char *key_for(char *buf, size_t size, const char *name)
{
    (void)snprintf(buf, size, "%s-%ld", name, (long)getpid());
    return buf;
}

void tx_table(struct t *t)
{
    struct res r;

    q(t, &r, "CREATE TABLE IF NOT EXISTS db_test_tx (k text PRIMARY KEY, v int)", NULL, 0);
    t_wait(t);
    assert_ok(&r);
}

/* The value stored under `key`, or "none". */
void assert_stored(struct t *t, const char *key, const char *want)
{
    const char *params[] = {key};
    struct res r;

    q(t, &r, "SELECT coalesce((SELECT v::text FROM db_test_tx WHERE k = $1), 'none')", params, 1);
    t_wait(t);
    assert_ok(&r);
    assert_string_equal(r.v[0], want);
}

static void unit_on_done(const struct db_rows *rows, int err, int failed, void *arg)
{
    struct res *r = arg;

    res_record(r, rows, err);
    r->failed = failed;
    t_done(r->t);
}

/* Starts an atomic unit whose outcome lands in `r`. */
void u(struct t *t, struct res *r, const struct db_stmt *stmts, int n)
{
    memset(r, 0, sizeof(*r));
    r->t = t;
    assert_int_equal(db_atomic(t->pool, stmts, n, unit_on_done, r), 0);
    assert_int_equal(r->calls, 0); /* never from inside db_atomic */
    t->pending++;
}

void assert_unit_failed(const struct res *r, int err, int failed, const char *sqlstate)
{
    if (r->calls != 1 || r->err != err || r->failed != failed ||
        strcmp(r->sqlstate, sqlstate) != 0 || r->nrows != 0 || !r->error[0])
        fail_msg("calls=%d err=%d failed=%d sqlstate=%s nrows=%d (%s); want err=%d failed=%d "
                 "sqlstate=%s",
                 r->calls, r->err, r->failed, r->sqlstate, r->nrows, r->error, err, failed,
                 sqlstate);
}

/* ---- statements -------------------------------------------------------------------------- */

static void test_select_with_text_and_null_params(void **state)
{
    const char *params[] = {"h\xc3\xa9llo'; DROP TABLE x; --", NULL};
    struct t t;
    struct res r;

    t_open_size(&t, 2);
    q(&t, &r, "SELECT $1::text, $2::text IS NULL, $2::text, 42", params, 2);
    t_wait(&t);
    assert_ok(&r);
    assert_int_equal(r.nrows, 1);
    assert_int_equal(r.ncols, 4);
    assert_string_equal(r.v[0], params[0]);
    assert_string_equal(r.v[1], "t");
    assert_true(r.null[2]);
    assert_string_equal(r.v[3], "42");
    assert_true(r.oob_null);
    assert_string_equal(r.error, "");
    assert_string_equal(r.sqlstate, "");
    t_close(&t);
}

static void test_insert_update_delete_report_affected_rows(void **state)
{
    const char *five[] = {"5"}, *upd[] = {"y", "2"}, *one[] = {"1"}, *y[] = {"y"};
    struct res r[5];
    struct t t;

    t_open_size(&t, 1); /* a temporary table lives on one connection; FIFO keeps the order */
    q(&t, &r[0], "CREATE TEMP TABLE aff (id int PRIMARY KEY, v text)", NULL, 0);
    q(&t, &r[1], "INSERT INTO aff SELECT g, 'x' FROM generate_series(1, $1::int) g", five, 1);
    q(&t, &r[2], "UPDATE aff SET v = $1 WHERE id > $2::int", upd, 2);
    q(&t, &r[3], "DELETE FROM aff WHERE id = $1::int", one, 1);
    q(&t, &r[4], "SELECT count(*) FROM aff WHERE v = $1", y, 1);
    t_wait(&t);
    for (int i = 0; i < 5; i++)
        assert_ok(&r[i]);
    assert_int_equal(r[0].affected, 0);
    assert_int_equal(r[1].affected, 5);
    assert_int_equal(r[2].affected, 3);
    assert_int_equal(r[3].affected, 1);
    assert_string_equal(r[4].v[0], "3");
    t_close(&t);
}

static void syntax_error_check(bool prepared)
{
    struct db_pool_cfg cfg = cfg_default();
    const char *abc[] = {"abc"};
    struct res r[3];
    struct t t;

    cfg.size = 1;
    cfg.prepared = prepared;
    t_open(&t, &cfg);
    q(&t, &r[0], "SELEC 1", NULL, 0);
    q(&t, &r[1], "SELECT $1::int", abc, 1);
    q(&t, &r[2], "SELECT 1", NULL, 0);
    t_wait(&t);
    assert_int_equal(r[0].err, -EIO);
    assert_string_equal(r[0].sqlstate, "42601");
    assert_non_null(strstr(r[0].error, "syntax error"));
    assert_int_equal(r[0].nrows, 0);
    assert_int_equal(r[1].err, -EIO);
    assert_string_equal(r[1].sqlstate, "22P02");
    assert_ok(&r[2]); /* the connection is fine after errors */
    assert_string_equal(r[2].v[0], "1");
    assert_int_equal(t.downs, 0);
    t_close(&t);
}

static void test_syntax_error_is_eio_with_sqlstate_42601(void **state)
{
    syntax_error_check(true);
    syntax_error_check(false);
}

static void test_statement_timeout_is_etimedout_and_connection_survives(void **state)
{
    struct db_pool_cfg cfg = cfg_default();
    struct res r[4];
    struct t t;
    ev_tstamp start;

    cfg.size = 1;
    cfg.statement_timeout_s = 0.2;
    t_open(&t, &cfg);
    ev_now_update(t.loop);
    start = ev_now(t.loop);
    q(&t, &r[0], "SELECT pg_backend_pid()", NULL, 0);
    q(&t, &r[1], "SELECT pg_sleep(2)", NULL, 0);
    q(&t, &r[2], "SELECT pg_backend_pid()", NULL, 0);
    q(&t, &r[3], "SELECT current_setting('statement_timeout'), current_setting('application_name')",
      NULL, 0);
    t_wait(&t);
    assert_ok(&r[0]);
    assert_ok(&r[3]);
    assert_string_equal(r[3].v[0], "200ms");
    assert_string_equal(r[3].v[1], "nexusd");
    assert_int_equal(r[1].err, -ETIMEDOUT);
    assert_string_equal(r[1].sqlstate, "57014");
    assert_non_null(strstr(r[1].error, "statement timeout"));
    assert_ok(&r[2]);
    assert_string_equal(r[0].v[0], r[2].v[0]); /* the same connection */
    assert_true(ev_now(t.loop) - start < 1.5);
    assert_int_equal(t.downs, 0);
    t_close(&t);
}

/* ---- the queue --------------------------------------------------------------------------- */

#define MANY 500

struct many {
    struct t *t;
    int calls[MANY];
    long pids[8];
    int last[8]; /* per connection: the last request it answered */
    int npids;
    int bad_order, errors;
    int order[MANY]; /* answer order */
    int nanswered;
};

struct many_req {
    struct many *m;
    int i;
};

static void many_on_done(const struct db_rows *rows, int err, void *arg)
{
    struct many_req *mr = arg;
    struct many *m = mr->m;
    const char *pid = db_rows_get(rows, 0, 1);
    const char *echo = db_rows_get(rows, 0, 0);
    long p = pid ? strtol(pid, NULL, 10) : -1;
    int k;

    m->calls[mr->i]++;
    m->order[m->nanswered++] = mr->i;
    if (err != 0 || !echo || atoi(echo) != mr->i)
        m->errors++;
    for (k = 0; k < m->npids && m->pids[k] != p; k++)
        ;
    if (k == m->npids && k < 8) {
        m->pids[k] = p;
        m->last[k] = -1;
        m->npids++;
    }
    if (k < 8) {
        if (mr->i <= m->last[k])
            m->bad_order++; /* each connection takes requests in FIFO order */
        m->last[k] = mr->i;
    }
    t_done(m->t);
}

static void run_many(struct t *t, struct many *m, struct many_req *reqs, int n)
{
    char num[16];
    const char *params[] = {num};

    memset(m, 0, sizeof(*m));
    m->t = t;
    for (int i = 0; i < n; i++) {
        reqs[i] = (struct many_req){.m = m, .i = i};
        (void)snprintf(num, sizeof(num), "%d", i);
        assert_int_equal(db_query(t->pool, "SELECT $1::int, pg_backend_pid()", params, 1,
                                  many_on_done, &reqs[i]),
                         0);
        t->pending++;
    }
    assert_int_equal(m->nanswered, 0);
    t_wait(t);
}

static void test_500_queries_on_4_connections_answered_once_in_fifo_order(void **state)
{
    static struct many m;
    static struct many_req reqs[MANY];
    struct t t;

    t_open_size(&t, 4);
    run_many(&t, &m, reqs, MANY);
    for (int i = 0; i < MANY; i++)
        assert_int_equal(m.calls[i], 1);
    assert_int_equal(m.errors, 0);
    assert_int_equal(m.bad_order, 0);
    assert_in_range(m.npids, 1, 4);
    t_close(&t);
}

static void test_one_connection_answers_in_submission_order(void **state)
{
    static struct many m;
    static struct many_req reqs[50];
    struct t t;

    t_open_size(&t, 1);
    run_many(&t, &m, reqs, 50);
    for (int i = 0; i < 50; i++)
        assert_int_equal(m.order[i], i);
    assert_int_equal(m.errors, 0);
    t_close(&t);
}

static void never_on_ready(struct db_tx *tx, int err, const char *why, void *arg)
{
    fail_msg("ready must not run when db_tx_begin failed");
}

void never_on_done(const struct db_rows *rows, int err, void *arg)
{
    fail_msg("done must not run when db_query failed");
}

void never_on_unit(const struct db_rows *rows, int err, int failed, void *arg)
{
    fail_msg("done must not run when db_atomic failed");
}

const struct db_stmt select_one = {.sql = "SELECT 1"};

static void test_max_waiting_exceeded_is_eagain(void **state)
{
    struct db_pool_cfg cfg = cfg_default();
    struct res r[3];
    struct t t;

    cfg.size = 1;
    cfg.max_waiting = 2;
    t_open(&t, &cfg);
    q(&t, &r[0], "SELECT pg_sleep(0.2)", NULL, 0); /* runs */
    q(&t, &r[1], "SELECT 1", NULL, 0);             /* waits */
    q(&t, &r[2], "SELECT 2", NULL, 0);             /* waits */
    assert_int_equal(db_query(t.pool, "SELECT 3", NULL, 0, never_on_done, NULL), -EAGAIN);
    assert_int_equal(db_tx_begin(t.pool, never_on_ready, NULL), -EAGAIN);
    assert_int_equal(db_atomic(t.pool, &select_one, 1, never_on_unit, NULL), -EAGAIN);
    t_wait(&t);
    for (int i = 0; i < 3; i++)
        assert_ok(&r[i]);
    assert_string_equal(r[2].v[0], "2");
    t_close(&t);
}

static void test_bad_arguments_are_einval(void **state)
{
    static struct db_stmt many[65];
    const char *one[] = {"1"};
    const struct db_stmt no_sql[] = {select_one, {.sql = NULL}},
                         no_params[] = {select_one, {.sql = "SELECT $1", .nparams = 1}},
                         negative[] = {{.sql = "SELECT 1", .params = one, .nparams = -1}};
    struct t t;

    t_open_size(&t, 1);
    assert_int_equal(db_query(t.pool, NULL, NULL, 0, never_on_done, NULL), -EINVAL);
    assert_int_equal(db_query(t.pool, "SELECT 1", NULL, 1, never_on_done, NULL), -EINVAL);
    assert_int_equal(db_query(t.pool, "SELECT 1", one, -1, never_on_done, NULL), -EINVAL);
    assert_int_equal(db_query(t.pool, "SELECT 1", one, DB_PARAMS_MAX + 1, never_on_done, NULL),
                     -EINVAL);
    for (int i = 0; i < 65; i++)
        many[i] = select_one;
    assert_int_equal(db_atomic(t.pool, NULL, 1, never_on_unit, NULL), -EINVAL);
    assert_int_equal(db_atomic(t.pool, many, 0, never_on_unit, NULL), -EINVAL);
    assert_int_equal(db_atomic(t.pool, many, 65, never_on_unit, NULL), -EINVAL);
    assert_int_equal(db_atomic(t.pool, no_sql, 2, never_on_unit, NULL), -EINVAL);
    assert_int_equal(db_atomic(t.pool, no_params, 2, never_on_unit, NULL), -EINVAL);
    assert_int_equal(db_atomic(t.pool, negative, 1, never_on_unit, NULL), -EINVAL);
    t_close(&t);
}

/* ---- prepared statements ----------------------------------------------------------------- */

#define NCASES 5

static void run_cases(bool prepared, struct res *r)
{
    static const char *const p0[] = {"41", "ab", "true"}, *p1[] = {"3"}, *p2[] = {"abc"},
                             *p4[] = {"{\"k\": \"v\"}"};
    struct db_pool_cfg cfg = cfg_default();
    struct t t;

    cfg.prepared = prepared;
    t_open(&t, &cfg);
    q(&t, &r[0], "SELECT $1::int + 1, $2::text || 'x', NULL::text, $3::boolean", p0, 3);
    q(&t, &r[1], "SELECT generate_series(1, $1::int)", p1, 1);
    q(&t, &r[2], "SELECT $1::int", p2, 1);
    q(&t, &r[3], "SELEC", NULL, 0);
    q(&t, &r[4], "SELECT $1::jsonb ->> 'k'", p4, 1);
    t_wait(&t);
    t_close(&t);
}

static void test_prepared_and_unprepared_give_the_same_results(void **state)
{
    struct res a[NCASES], b[NCASES];

    run_cases(true, a);
    run_cases(false, b);
    for (int i = 0; i < NCASES; i++) {
        assert_int_equal(a[i].calls, 1);
        assert_int_equal(b[i].calls, 1);
        assert_int_equal(a[i].err, b[i].err);
        assert_int_equal(a[i].nrows, b[i].nrows);
        assert_int_equal(a[i].ncols, b[i].ncols);
        assert_string_equal(a[i].sqlstate, b[i].sqlstate);
        assert_string_equal(a[i].error, b[i].error);
        for (int k = 0; k < NV; k++) {
            assert_string_equal(a[i].v[k], b[i].v[k]);
            assert_int_equal(a[i].null[k], b[i].null[k]);
        }
    }
    assert_string_equal(a[0].v[0], "42");
    assert_string_equal(a[0].v[1], "abx");
    assert_true(a[0].null[2]);
    assert_string_equal(a[0].v[3], "t");
    assert_int_equal(a[1].nrows, 3);
    assert_string_equal(a[2].sqlstate, "22P02");
    assert_string_equal(a[3].sqlstate, "42601");
    assert_string_equal(a[4].v[0], "v");
}

static void reuse_check(bool prepared)
{
    struct db_pool_cfg cfg = cfg_default();
    static struct res r[100];
    struct res names;
    char nums[100][8];
    struct t t;

    cfg.size = 1;
    cfg.prepared = prepared;
    t_open(&t, &cfg);
    for (int i = 0; i < 100; i++) {
        const char *params[] = {nums[i]};
        (void)snprintf(nums[i], sizeof(nums[i]), "%d", i);
        q(&t, &r[i], "SELECT $1::int * 2", params, 1);
    }
    q(&t, &names, "SELECT name FROM pg_prepared_statements ORDER BY name", NULL, 0);
    t_wait(&t);
    for (int i = 0; i < 100; i++) {
        assert_ok(&r[i]);
        assert_int_equal(atoi(r[i].v[0]), 2 * i);
    }
    assert_ok(&names);
    if (prepared) {
        assert_int_equal(names.nrows, 2); /* prepared once, plus this query */
        assert_string_equal(names.v[0], "nx_1");
    } else {
        assert_int_equal(names.nrows, 0);
    }
    t_close(&t);
}

static void test_same_sql_reused_100_times(void **state)
{
    reuse_check(true);
    reuse_check(false);
}

static void test_copy_is_refused_and_connection_survives(void **state)
{
    struct res r[5];
    struct t t;

    t_open_size(&t, 1);
    q(&t, &r[0], "SELECT pg_backend_pid()", NULL, 0);
    q(&t, &r[1], "COPY (SELECT generate_series(1, 1000)) TO STDOUT", NULL, 0);
    q(&t, &r[2], "CREATE TEMP TABLE cp (x int)", NULL, 0);
    q(&t, &r[3], "COPY cp FROM STDIN", NULL, 0);
    q(&t, &r[4], "SELECT pg_backend_pid(), (SELECT count(*) FROM cp)", NULL, 0);
    t_wait(&t);
    assert_ok(&r[0]);
    assert_int_equal(r[1].err, -EIO);
    assert_string_equal(r[1].error, "COPY is not supported");
    assert_ok(&r[2]);
    assert_int_equal(r[3].err, -EIO);
    assert_ok(&r[4]);
    assert_string_equal(r[0].v[0], r[4].v[0]);
    assert_string_equal(r[4].v[1], "0");
    t_close(&t);
}

static void test_statement_leaving_a_transaction_open_gets_a_new_connection(void **state)
{
    struct res r[4];
    struct t t;

    t_open_size(&t, 1);
    q(&t, &r[0], "SELECT pg_backend_pid()", NULL, 0);
    q(&t, &r[1], "BEGIN", NULL, 0);
    t_wait(&t);
    assert_ok(&r[0]);
    assert_ok(&r[1]); /* delivered as it was; the connection is then replaced */
    t_wait_downs(&t, 1);
    t_wait_up(&t);
    q(&t, &r[2], "SELECT pg_backend_pid()", NULL, 0);
    q(&t, &r[3], "VACUUM pg_namespace", NULL, 0); /* fails inside a transaction block */
    t_wait(&t);
    assert_ok(&r[2]);
    assert_string_not_equal(r[0].v[0], r[2].v[0]);
    assert_ok(&r[3]);
    assert_int_equal(t.downs, 1);
    t_close(&t);
}

/* ---- db_pool_free ------------------------------------------------------------------------- */

static void count_on_ready(struct db_tx *tx, int err, const char *why, void *arg)
{
    struct txrun *run = arg;

    assert_null(tx);
    run->ready_calls++;
    run->ready_err = err;
}

static void test_pool_free_cancels_waiting_and_running_requests_once(void **state)
{
    struct txrun run = {0};
    struct res r[11];
    const char *num[] = {"7"};
    struct t t;

    t_open_size(&t, 1);
    q(&t, &r[0], "SELECT pg_sleep(5)", NULL, 0);
    for (int i = 1; i < 11; i++)
        q(&t, &r[i], "SELECT $1::int", num, 1);
    assert_int_equal(db_tx_begin(t.pool, count_on_ready, &run), 0);
    t_sleep(&t, 0.1);
    for (int i = 0; i < 11; i++)
        assert_int_equal(r[i].calls, 0);
    db_pool_free(t.pool);
    t.pool = NULL;
    for (int i = 0; i < 11; i++) {
        assert_int_equal(r[i].calls, 1);
        assert_int_equal(r[i].err, -ECANCELED);
        assert_string_not_equal(r[i].error, "");
    }
    assert_int_equal(run.ready_calls, 1);
    assert_int_equal(run.ready_err, -ECANCELED);
    t_close(&t);
    for (int i = 0; i < 11; i++)
        assert_int_equal(r[i].calls, 1);
}

struct held {
    struct t *t;
    struct res tx_res;
};

static void held_on_ready(struct db_tx *tx, int err, const char *why, void *arg)
{
    struct held *h = arg;

    assert_int_equal(err, 0);
    h->tx_res.t = h->t;
    assert_int_equal(db_tx_query(tx, "SELECT pg_sleep(5)", NULL, 0, res_on_done, &h->tx_res), 0);
    /* the tx is never ended: db_pool_free() frees it */
    ev_break(h->t->loop, EVBREAK_ONE);
}

static void test_pool_free_ends_held_transactions(void **state)
{
    struct held h = {0};
    struct res r[2];
    struct t t;

    t_open_size(&t, 2);
    h.t = &t;
    assert_int_equal(db_tx_begin(t.pool, held_on_ready, &h), 0);
    q(&t, &r[0], "SELECT pg_sleep(5)", NULL, 0);
    q(&t, &r[1], "SELECT 1", NULL, 0);
    while (!h.tx_res.t) /* until the transaction is held */
        t_run(&t, RUN_MAX_S);
    db_pool_free(t.pool);
    t.pool = NULL;
    assert_int_equal(h.tx_res.calls, 1);
    assert_int_equal(h.tx_res.err, -ECANCELED);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(r[i].calls, 1);
        assert_int_equal(r[i].err, -ECANCELED);
    }
    t_close(&t);
}

static void free_on_done(const struct db_rows *rows, int err, void *arg)
{
    struct res *r = arg;

    res_record(r, rows, err);
    db_pool_free(r->t->pool); /* from inside the pool's own callback */
    r->t->pool = NULL;
    ev_break(r->t->loop, EVBREAK_ONE);
}

static void test_pool_free_inside_a_callback(void **state)
{
    struct res first = {0}, r[4];
    struct t t;

    t_open_size(&t, 1);
    first.t = &t;
    assert_int_equal(db_query(t.pool, "SELECT 1", NULL, 0, free_on_done, &first), 0);
    for (int i = 0; i < 4; i++)
        q(&t, &r[i], "SELECT 2", NULL, 0);
    t_run(&t, RUN_MAX_S);
    assert_ok(&first);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(r[i].calls, 1);
        assert_int_equal(r[i].err, -ECANCELED);
    }
    t_close(&t);
}

/* ---- the loop ---------------------------------------------------------------------------- */

static int ticks;

static void tick_on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    ticks++;
}

static void test_the_loop_never_blocks(void **state)
{
    ev_timer tick;
    struct res r;
    struct t t;

    t_open_size(&t, 1);
    ticks = 0;
    ev_timer_init(&tick, tick_on_timer, 0.01, 0.01);
    ev_timer_start(t.loop, &tick);
    q(&t, &r, "SELECT pg_sleep(0.5)", NULL, 0);
    t_wait(&t);
    ev_timer_stop(t.loop, &tick);
    assert_ok(&r);
    if (ticks < 30)
        fail_msg("a 10 ms timer fired %d times during a 0.5 s query (want >= 30)", ticks);
    t_close(&t);
}

/* ---- no server --------------------------------------------------------------------------- */

static void test_bad_config_is_einval(void **state)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct db_pool_cfg cfg = cfg_default();
    struct err err = {0};

    cfg.conninfo = "host=localhost";
    cfg.size = 101;
    assert_null(db_pool_new(loop, &cfg, NULL, NULL, &err));
    assert_int_equal(err.code, -EINVAL);
    assert_string_equal(err.msg, "database pool size must be 0..100 (got 101)");
    cfg.size = 1;
    cfg.pooled = cfg.prepared = true;
    assert_null(db_pool_new(loop, &cfg, NULL, NULL, &err));
    assert_string_equal(err.msg, "database prepared statements cannot go through a "
                                 "transaction-mode pooler");
    cfg.pooled = false;
    cfg.max_waiting = 0;
    assert_null(db_pool_new(loop, &cfg, NULL, NULL, &err));
    assert_string_equal(err.msg, "database max_waiting must be at least 1 (got 0)");
    cfg.max_waiting = 1;
    cfg.connect_timeout_s = 0;
    assert_null(db_pool_new(loop, &cfg, NULL, NULL, &err));
    cfg.connect_timeout_s = 1;
    cfg.statement_timeout_s = -1;
    assert_null(db_pool_new(loop, &cfg, NULL, NULL, &err));
    cfg.statement_timeout_s = 0;
    cfg.conninfo = "nonsense";
    assert_null(db_pool_new(loop, &cfg, NULL, NULL, &err));
    assert_int_equal(err.code, -EINVAL);
    assert_non_null(strstr(err.msg, "database conninfo is unusable: "));
    cfg.conninfo = "postgresql://u:secret@db.example:5433/app?nosuchoption=1";
    assert_null(db_pool_new(loop, &cfg, NULL, NULL, &err));
    assert_null(strstr(err.msg, "secret"));
    db_pool_free(NULL);
    ev_loop_destroy(loop);
}

/* Runs `fn` with stderr going to a temporary file; returns what was written (free it). */
static char *capture_stderr(void (*fn)(void *), void *arg)
{
    FILE *tmp = tmpfile();
    int saved = dup(STDERR_FILENO);
    long size;
    char *text;

    assert_non_null(tmp);
    assert_true(saved >= 0);
    (void)fflush(stderr);
    assert_true(dup2(fileno(tmp), STDERR_FILENO) >= 0);
    fn(arg);
    (void)fflush(stderr);
    assert_true(dup2(saved, STDERR_FILENO) >= 0);
    (void)close(saved);
    size = lseek(fileno(tmp), 0, SEEK_END);
    text = calloc(1, (size_t)size + 1);
    assert_non_null(text);
    assert_int_equal(pread(fileno(tmp), text, (size_t)size, 0), size);
    (void)fclose(tmp);
    return text;
}

static int count_of(const char *text, const char *what)
{
    int n = 0;

    for (const char *p = text; (p = strstr(p, what)); p += strlen(what))
        n++;
    return n;
}

static void count_enotconn(const struct db_rows *rows, int err, void *arg)
{
    if (err == -ENOTCONN)
        ++*(int *)arg;
}

static void down_run(void *arg)
{
    const char *conninfo = arg;
    struct db_pool_cfg cfg = cfg_default();
    struct t t;
    int early = 0;

    cfg.conninfo = conninfo;
    cfg.connect_timeout_s = 0.2;
    t_new(&t, &cfg);
    /* made at once, a request waits for the first attempt, then fails with it */
    assert_int_equal(db_query(t.pool, "SELECT 1", NULL, 0, count_enotconn, &early), 0);
    t_sleep(&t, 0.6);
    assert_int_equal(early, 1);
    assert_false(db_pool_up(t.pool));
    assert_int_equal(db_query(t.pool, "SELECT 1", NULL, 0, never_on_done, NULL), -ENOTCONN);
    assert_int_equal(db_tx_begin(t.pool, never_on_ready, NULL), -ENOTCONN);
    assert_int_equal(db_atomic(t.pool, &select_one, 1, never_on_unit, NULL), -ENOTCONN);
    assert_int_equal(t.ups + t.downs, 0);
    t_close(&t);
}

static void test_no_server_fails_fast_and_logs_down_once(void **state)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t len = sizeof(sa);
    char conninfo[128], *log;
    int fd;

    /* refused: nothing listens on the port of a closed socket */
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    (void)close(fd);
    (void)snprintf(conninfo, sizeof(conninfo), "host=127.0.0.1 port=%d user=x dbname=x",
                   ntohs(sa.sin_port));
    log = capture_stderr(down_run, conninfo);
    assert_int_equal(count_of(log, "event=db_down"), 1);
    assert_int_equal(count_of(log, "event=db_up"), 0);
    free(log);

    /* silent: the kernel accepts, nobody answers: the connect timeout ends each attempt */
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    sa.sin_port = 0;
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fd, 16), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    (void)snprintf(conninfo, sizeof(conninfo), "host=127.0.0.1 port=%d user=x dbname=x",
                   ntohs(sa.sin_port));
    log = capture_stderr(down_run, conninfo);
    (void)close(fd);
    assert_int_equal(count_of(log, "event=db_down"), 1);
    assert_non_null(strstr(log, "err=\"connect timed out after 0.2s\""));
    free(log);
}

/* ---- fault modes, driven by test_db_pool.py ----------------------------------------------- */

#define FAULT_INFLIGHT 8

/* --fault-restart: queries back to back while the test restarts PostgreSQL; a listener comes
 * back too, and a NOTIFY sent after the restart reaches it. A line "running" tells the test
 * when queries succeed and the listener is up, so that the restart may begin. */
struct fault {
    struct ev_loop *loop;
    struct db_pool *pool;
    ev_timer end, retry;
    unsigned inflight;
    long ok, enotconn, refused, other, ok_after_failure, seq;
    int ups, downs;
    int listen_ups, heard; /* the listener's (re)connects; notifications after the restart */
    bool pinged;           /* the NOTIFY after the restart is sent */
    bool running;          /* the "running" line is out */
    bool ending;
};

static void fault_report_running(struct fault *f)
{
    if (f->running || f->ok == 0 || f->listen_ups == 0)
        return;
    f->running = true;
    (void)printf("running ok=%ld listen_ups=%d\n", f->ok, f->listen_ups);
    (void)fflush(stdout);
}

static void fault_on_notify(const char *channel, const char *payload, void *arg)
{
    struct fault *f = arg;

    if (!payload) {
        f->listen_ups++;
        fault_report_running(f);
    } else if (strcmp(payload, "after the restart") == 0)
        f->heard++;
}

static void fault_on_ping(const struct db_rows *rows, int err, void *arg)
{
    struct fault *f = arg;

    f->pinged = err == 0; /* else sent again after the next query */
}

static void fault_fill(struct fault *f);

static void fault_on_done(const struct db_rows *rows, int err, void *arg)
{
    struct fault *f = arg;

    f->inflight--;
    if (err == 0) {
        f->ok++;
        f->ok_after_failure++;
        fault_report_running(f);
        if (f->listen_ups >= 2 && !f->pinged && !f->ending)
            f->pinged = db_query(f->pool, "SELECT pg_notify('nx_fault', 'after the restart')", NULL,
                                 0, fault_on_ping, f) == 0;
    } else if (err == -ENOTCONN) {
        f->enotconn++;
        f->ok_after_failure = 0;
    } else {
        if (f->other++ < 5)
            (void)fprintf(stderr, "db_test: unexpected err=%d sqlstate=%s: %s\n", err,
                          db_rows_sqlstate(rows), db_rows_error(rows));
        f->ok_after_failure = 0;
    }
    if (f->ending && f->inflight == 0)
        ev_break(f->loop, EVBREAK_ONE);
    else
        fault_fill(f);
}

static void fault_fill(struct fault *f)
{
    char num[24];
    const char *params[] = {num};
    int r;

    while (!f->ending && f->inflight < FAULT_INFLIGHT) {
        (void)snprintf(num, sizeof(num), "%ld", ++f->seq);
        r = db_query(f->pool, "SELECT $1::bigint", params, 1, fault_on_done, f);
        if (r < 0) {
            if (r == -ENOTCONN) {
                f->refused++;
                f->ok_after_failure = 0;
            } else {
                f->other++;
            }
            if (!ev_is_active(&f->retry)) { /* down: try again in 10 ms */
                ev_timer_set(&f->retry, 0.01, 0);
                ev_timer_start(f->loop, &f->retry);
            }
            return;
        }
        f->inflight++;
    }
}

static void fault_on_retry(struct ev_loop *loop, ev_timer *w, int revents)
{
    ev_timer_stop(loop, w);
    fault_fill(w->data);
}

static void fault_on_end(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct fault *f = w->data;

    f->ending = true;
    ev_timer_stop(loop, &f->retry);
    if (f->inflight == 0)
        ev_break(loop, EVBREAK_ONE);
}

static void fault_on_state(bool up, void *arg)
{
    struct fault *f = arg;

    if (up) {
        f->ups++;
        fault_fill(f);
    } else {
        f->downs++;
    }
}

static int fault_restart(double seconds)
{
    struct fault f = {0};
    struct db_pool_cfg cfg = cfg_default();
    struct err err = {0};

    cfg.size = 4;
    cfg.connect_timeout_s = 2;
    cfg.statement_timeout_s = 5;
    f.loop = ev_loop_new(EVFLAG_AUTO);
    f.pool = db_pool_new(f.loop, &cfg, fault_on_state, &f, &err);
    if (!f.loop || !f.pool || db_pool_listen(f.pool, "nx_fault", fault_on_notify, &f) < 0) {
        (void)fprintf(stderr, "db_test: %s\n", err.msg);
        return 1;
    }
    ev_timer_init(&f.end, fault_on_end, seconds, 0);
    f.end.data = &f;
    ev_timer_init(&f.retry, fault_on_retry, 0.01, 0);
    f.retry.data = &f;
    ev_timer_start(f.loop, &f.end);
    ev_run(f.loop, 0);
    db_pool_free(f.pool);
    ev_timer_stop(f.loop, &f.end);
    ev_timer_stop(f.loop, &f.retry);
    ev_loop_destroy(f.loop);
    (void)printf("ok=%ld enotconn=%ld refused=%ld other=%ld ok_after_last_failure=%ld ups=%d "
                 "downs=%d listen_ups=%d heard=%d\n",
                 f.ok, f.enotconn, f.refused, f.other, f.ok_after_failure, f.ups, f.downs,
                 f.listen_ups, f.heard);
    if (f.listen_ups < 2 || f.heard != 1) {
        (void)fprintf(stderr,
                      "db_test: the listener did not come back after the restart "
                      "(listen_ups=%d heard=%d, want >= 2 and 1)\n",
                      f.listen_ups, f.heard);
        return 1;
    }
    return 0;
}

/* --wait-up: the pool is made while PostgreSQL is down; reports down, then waits for up. */
struct waitup {
    struct ev_loop *loop;
    int ups, downs, calls, err;
    bool timed_out;
};

static void waitup_on_state(bool up, void *arg)
{
    struct waitup *w = arg;

    if (up)
        w->ups++;
    else
        w->downs++;
    ev_break(w->loop, EVBREAK_ONE);
}

static void waitup_on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct waitup *wu = w->data;

    wu->timed_out = true;
    ev_break(loop, EVBREAK_ONE);
}

static void waitup_on_done(const struct db_rows *rows, int err, void *arg)
{
    struct waitup *w = arg;

    w->calls++;
    w->err = err;
    ev_break(w->loop, EVBREAK_ONE);
}

static int wait_up(double seconds)
{
    struct waitup w = {0};
    struct db_pool_cfg cfg = cfg_default();
    struct db_pool *pool;
    struct err err = {0};
    ev_timer timer;
    int r;

    cfg.connect_timeout_s = 1;
    w.loop = ev_loop_new(EVFLAG_AUTO);
    pool = db_pool_new(w.loop, &cfg, waitup_on_state, &w, &err);
    if (!w.loop || !pool) {
        (void)fprintf(stderr, "db_test: %s\n", err.msg);
        return 1;
    }
    ev_timer_init(&timer, waitup_on_timer, 0.5, 0);
    timer.data = &w;
    ev_timer_start(w.loop, &timer);
    ev_run(w.loop, 0);
    r = db_query(pool, "SELECT 1", NULL, 0, waitup_on_done, &w);
    (void)printf("state=%s early_query=%d ups=%d\n", db_pool_up(pool) ? "up" : "down", r, w.ups);
    (void)fflush(stdout);
    if (db_pool_up(pool) || r != -ENOTCONN)
        goto out;
    w.timed_out = false;
    ev_timer_stop(w.loop, &timer);
    ev_timer_set(&timer, seconds, 0);
    ev_timer_start(w.loop, &timer);
    ev_run(w.loop, 0);
    ev_timer_stop(w.loop, &timer);
    (void)printf("state=%s ups=%d downs=%d\n", db_pool_up(pool) ? "up" : "timeout", w.ups, w.downs);
    if (!db_pool_up(pool))
        goto out;
    if (db_query(pool, "SELECT 1", NULL, 0, waitup_on_done, &w) == 0)
        ev_run(w.loop, 0);
    (void)printf("query=%s\n", w.calls == 1 && w.err == 0 ? "ok" : "failed");
out:
    db_pool_free(pool);
    ev_timer_stop(w.loop, &timer);
    ev_loop_destroy(w.loop);
    (void)fflush(stdout);
    return 0;
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_config_is_einval),
        cmocka_unit_test(test_no_server_fails_fast_and_logs_down_once),
        cmocka_unit_test(test_select_with_text_and_null_params),
        cmocka_unit_test(test_insert_update_delete_report_affected_rows),
        cmocka_unit_test(test_syntax_error_is_eio_with_sqlstate_42601),
        cmocka_unit_test(test_statement_timeout_is_etimedout_and_connection_survives),
        cmocka_unit_test(test_500_queries_on_4_connections_answered_once_in_fifo_order),
        cmocka_unit_test(test_one_connection_answers_in_submission_order),
        cmocka_unit_test(test_max_waiting_exceeded_is_eagain),
        cmocka_unit_test(test_bad_arguments_are_einval),
        cmocka_unit_test(test_prepared_and_unprepared_give_the_same_results),
        cmocka_unit_test(test_same_sql_reused_100_times),
        cmocka_unit_test(test_copy_is_refused_and_connection_survives),
        cmocka_unit_test(test_statement_leaving_a_transaction_open_gets_a_new_connection),
        cmocka_unit_test(test_tx_commit_is_visible),
        cmocka_unit_test(test_tx_pooled_pool_sets_statement_timeout_in_each_transaction),
        cmocka_unit_test(test_tx_rollback_is_invisible),
        cmocka_unit_test(test_tx_failing_statement_then_rollback),
        cmocka_unit_test(test_tx_commit_after_a_failed_statement_reports_the_rollback),
        cmocka_unit_test(test_tx_one_statement_at_a_time_and_rollback_cancels_the_outstanding_one),
        cmocka_unit_test(test_tx_connection_lost_mid_statement_fails_it_and_commit),
        cmocka_unit_test(test_tx_connection_lost_while_idle_then_rollback_frees_it),
        cmocka_unit_test(test_atomic_two_inserts_commit_together),
        cmocka_unit_test(test_atomic_64_statements_run_in_order),
        cmocka_unit_test(test_atomic_same_jid_twice_writes_once_and_fails_on_the_marker),
        cmocka_unit_test(test_atomic_failing_statement_rolls_back_the_whole_unit),
        cmocka_unit_test(test_atomic_statement_timeout_is_etimedout_and_connection_survives),
        cmocka_unit_test(test_atomic_begin_copy_and_empty_statements),
        cmocka_unit_test(test_atomic_connection_lost_mid_unit_is_enotconn),
        cmocka_unit_test(test_atomic_2000_units_on_4_connections_with_queries_answered_once),
        cmocka_unit_test(test_atomic_units_run_on_prepared_and_unprepared_pools),
        cmocka_unit_test(test_atomic_pool_free_cancels_running_and_waiting_units_once),
        cmocka_unit_test(test_atomic_pool_free_inside_a_unit_callback),
        cmocka_unit_test(test_atomic_throughput_is_printed),
        cmocka_unit_test(test_group_units_waiting_together_share_one_transaction),
        cmocka_unit_test(test_group_max_1_and_db_atomic_units_share_nothing),
        cmocka_unit_test(test_group_with_a_failing_unit_reruns_each_alone),
        cmocka_unit_test(test_group_same_marker_twice_writes_once),
        cmocka_unit_test(test_group_unit_opening_a_transaction_block_fails_alone),
        cmocka_unit_test(test_group_connection_lost_mid_group_fails_each_member_once),
        cmocka_unit_test(test_group_pool_free_inside_a_member_callback_tells_the_rest_once),
        cmocka_unit_test(test_pool_free_cancels_waiting_and_running_requests_once),
        cmocka_unit_test(test_pool_free_ends_held_transactions),
        cmocka_unit_test(test_pool_free_inside_a_callback),
        cmocka_unit_test(test_listen_delivers_notifications_and_comes_back_after_a_loss),
        cmocka_unit_test(test_listen_pool_free_inside_the_callback),
        cmocka_unit_test(test_the_loop_never_blocks),
    };
    const char *level = getenv("DB_TEST_LOG");
    enum log_level lv;
    double seconds;

    if (level && log_level_parse(level, &lv) == 0)
        log_set_level(lv); /* stderr stays unbuffered: no log_setup() */
    db_url = getenv("DATABASE_URL");
    if (argc == 3 &&
        (strcmp(argv[1], "--fault-restart") == 0 || strcmp(argv[1], "--wait-up") == 0)) {
        if (!db_url || parse_double(argv[2], 0.1, 3600, &seconds) < 0) {
            (void)fprintf(stderr, "db_test: %s needs DATABASE_URL and 0.1..3600 seconds\n",
                          argv[1]);
            return 2;
        }
        return argv[1][2] == 'f' ? fault_restart(seconds) : wait_up(seconds);
    }
    if (argc != 1) {
        (void)fprintf(stderr, "usage: db_test [--fault-restart SECONDS | --wait-up SECONDS]\n");
        return 2;
    }
    if (!db_url) {
        (void)fprintf(stderr, "db_test: DATABASE_URL is not set (tests/integration/"
                              "test_db_pool.py starts PostgreSQL and sets it)\n");
        return 77;
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
