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

#define NV 4         /* columns of row 0 kept by res_record() */
#define RUN_MAX_S 20 /* a test's loop runs at most this long */

static const char *db_url;

/* One test's loop and pool. */
struct t {
    struct ev_loop *loop;
    struct db_pool *pool;
    ev_timer guard; /* ends a run that takes too long; guard.data = t */
    ev_timer nap;   /* t_sleep() */
    int pending;    /* callbacks still expected; the loop stops at 0 */
    int ups, downs; /* on_state calls */
    int want_downs; /* > 0: stop the loop when downs reaches it */
    bool want_up;   /* stop the loop at the next on_state(true) */
    bool timed_out;
};

/* What one `done` saw. */
struct res {
    struct t *t;
    int calls, err, nrows, ncols;
    int failed; /* db_atomic(): the statement that failed */
    long long affected;
    char v[NV][64]; /* row 0 */
    bool null[NV];
    bool oob_null; /* out-of-range reads gave NULL */
    char sqlstate[8];
    char error[256];
};

static struct db_pool_cfg cfg_default(void)
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
static void t_run(struct t *t, double limit_s)
{
    t->timed_out = false;
    ev_timer_set(&t->guard, limit_s, 0);
    ev_timer_start(t->loop, &t->guard);
    ev_run(t->loop, 0);
    ev_timer_stop(t->loop, &t->guard);
    assert_false(t->timed_out);
}

static void t_sleep(struct t *t, double s)
{
    ev_timer_set(&t->nap, s, 0);
    ev_timer_start(t->loop, &t->nap);
    t_run(t, s + RUN_MAX_S);
    ev_timer_stop(t->loop, &t->nap);
}

static void t_wait_up(struct t *t)
{
    t->want_up = true;
    if (!db_pool_up(t->pool))
        t_run(t, RUN_MAX_S);
    t->want_up = false;
    assert_true(db_pool_up(t->pool));
}

/* Runs the loop until the pool has gone down `downs` times in all. */
static void t_wait_downs(struct t *t, int downs)
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

static void t_open(struct t *t, const struct db_pool_cfg *cfg)
{
    t_new(t, cfg);
    t_wait_up(t);
}

static void t_open_size(struct t *t, unsigned size)
{
    struct db_pool_cfg cfg = cfg_default();

    cfg.size = size;
    t_open(t, &cfg);
}

/* Frees the pool and checks that it left no watcher on the loop. */
static void t_close(struct t *t)
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

static void t_done(struct t *t)
{
    if (--t->pending == 0)
        ev_break(t->loop, EVBREAK_ONE);
}

/* Runs until every request is answered. Other callbacks (a listener's) may break the loop
 * meanwhile: run again; t_run() fails the test when RUN_MAX_S pass without a break. */
static void t_wait(struct t *t)
{
    while (t->pending > 0)
        t_run(t, RUN_MAX_S);
}

static void res_record(struct res *r, const struct db_rows *rows, int err)
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
static void q(struct t *t, struct res *r, const char *sql, const char *const *params, int n)
{
    memset(r, 0, sizeof(*r));
    r->t = t;
    assert_int_equal(db_query(t->pool, sql, params, n, res_on_done, r), 0);
    assert_int_equal(r->calls, 0); /* never from inside db_query */
    t->pending++;
}

static void assert_ok(const struct res *r)
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
static void t_poll(struct t *t, const char *sql, const char *const *params, int n, const char *want)
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

static const char *key_for(char *buf, size_t size, const char *name)
{
    (void)snprintf(buf, size, "%s-%ld", name, (long)getpid());
    return buf;
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

static void never_on_done(const struct db_rows *rows, int err, void *arg)
{
    fail_msg("done must not run when db_query failed");
}

static void never_on_unit(const struct db_rows *rows, int err, int failed, void *arg)
{
    fail_msg("done must not run when db_atomic failed");
}

static const struct db_stmt select_one = {.sql = "SELECT 1"};

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

/* ---- transactions ------------------------------------------------------------------------ */

struct step {
    const char *sql;
    int nparams;
    const char *p[2];
};

/* Runs steps in a transaction one after the other (also after errors), then commits or
 * rolls back. */
struct txrun {
    struct t *t;
    struct db_tx *tx;
    const struct step *steps;
    int nsteps, next;
    bool commit;
    int ready_calls, ready_err;
    struct res res[8];
    struct res end; /* the COMMIT's */
};

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

static void tx_table(struct t *t)
{
    struct res r;

    q(t, &r, "CREATE TABLE IF NOT EXISTS db_test_tx (k text PRIMARY KEY, v int)", NULL, 0);
    t_wait(t);
    assert_ok(&r);
}

/* The value stored under `key`, or "none". */
static void assert_stored(struct t *t, const char *key, const char *want)
{
    const char *params[] = {key};
    struct res r;

    q(t, &r, "SELECT coalesce((SELECT v::text FROM db_test_tx WHERE k = $1), 'none')", params, 1);
    t_wait(t);
    assert_ok(&r);
    assert_string_equal(r.v[0], want);
}

static void test_tx_commit_is_visible(void **state)
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

static void test_tx_rollback_is_invisible(void **state)
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

static void test_tx_failing_statement_then_rollback(void **state)
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

static void test_tx_commit_after_a_failed_statement_reports_the_rollback(void **state)
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

static void test_tx_one_statement_at_a_time_and_rollback_cancels_the_outstanding_one(void **state)
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

static void test_tx_connection_lost_mid_statement_fails_it_and_commit(void **state)
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

static void test_tx_connection_lost_while_idle_then_rollback_frees_it(void **state)
{
    struct dead d;

    dead_run(&d, true);
}

/* ---- atomic units ------------------------------------------------------------------------- */

static void unit_on_done(const struct db_rows *rows, int err, int failed, void *arg)
{
    struct res *r = arg;

    res_record(r, rows, err);
    r->failed = failed;
    t_done(r->t);
}

/* Starts an atomic unit whose outcome lands in `r`. */
static void u(struct t *t, struct res *r, const struct db_stmt *stmts, int n)
{
    memset(r, 0, sizeof(*r));
    r->t = t;
    assert_int_equal(db_atomic(t->pool, stmts, n, unit_on_done, r), 0);
    assert_int_equal(r->calls, 0); /* never from inside db_atomic */
    t->pending++;
}

static void assert_unit_failed(const struct res *r, int err, int failed, const char *sqlstate)
{
    if (r->calls != 1 || r->err != err || r->failed != failed ||
        strcmp(r->sqlstate, sqlstate) != 0 || r->nrows != 0 || !r->error[0])
        fail_msg("calls=%d err=%d failed=%d sqlstate=%s nrows=%d (%s); want err=%d failed=%d "
                 "sqlstate=%s",
                 r->calls, r->err, r->failed, r->sqlstate, r->nrows, r->error, err, failed,
                 sqlstate);
}

/* db_test_tx for the writes, db_test_marker for the jids done. */
static void atomic_tables(struct t *t)
{
    struct res r;

    tx_table(t);
    q(t, &r, "CREATE TABLE IF NOT EXISTS db_test_marker (jid text PRIMARY KEY)", NULL, 0);
    t_wait(t);
    assert_ok(&r);
}

/* The connection's backend pid, so that a test can tell it was kept. */
static void backend_pid(struct t *t, char *buf, size_t size)
{
    struct res r;

    q(t, &r, "SELECT pg_backend_pid()", NULL, 0);
    t_wait(t);
    assert_ok(&r);
    (void)snprintf(buf, size, "%s", r.v[0]);
}

static void test_atomic_two_inserts_commit_together(void **state)
{
    char k1[64], k2[64];
    const char *p1[] = {k1}, *p2[] = {k2};
    const struct db_stmt unit[] = {
        {"INSERT INTO db_test_tx VALUES ($1, 1)", p1, 1},
        {"INSERT INTO db_test_tx VALUES ($1, 2) RETURNING v, k", p2, 1},
    };
    struct res r;
    struct t t;

    t_open_size(&t, 2);
    atomic_tables(&t);
    key_for(k1, sizeof(k1), "atomic-1");
    key_for(k2, sizeof(k2), "atomic-2");
    u(&t, &r, unit, 2);
    t_wait(&t);
    assert_ok(&r);
    assert_int_equal(r.failed, -1);
    assert_int_equal(r.nrows, 1); /* the last statement's result */
    assert_string_equal(r.v[0], "2");
    assert_string_equal(r.v[1], k2);
    assert_int_equal(r.affected, 1);
    assert_stored(&t, k1, "1");
    assert_stored(&t, k2, "2");
    t_close(&t);
}

static void test_atomic_64_statements_run_in_order(void **state)
{
    static char nums[64][8];
    static const char *params[64][1];
    struct db_stmt unit[64];
    struct res r[2];
    struct t t;

    t_open_size(&t, 1); /* a temporary table lives on one connection */
    q(&t, &r[0], "CREATE TEMP TABLE seq (n serial, i int)", NULL, 0);
    t_wait(&t);
    assert_ok(&r[0]);
    for (int i = 0; i < 63; i++) {
        (void)snprintf(nums[i], sizeof(nums[i]), "%d", i + 1);
        params[i][0] = nums[i];
        unit[i] = (struct db_stmt){"INSERT INTO seq (i) VALUES ($1::int)", params[i], 1};
    }
    unit[63] = (struct db_stmt){.sql = "SELECT bool_and(n = i), count(*) FROM seq"};
    u(&t, &r[1], unit, 64);
    t_wait(&t);
    assert_ok(&r[1]);
    assert_string_equal(r[1].v[0], "t");
    assert_string_equal(r[1].v[1], "63");
    t_close(&t);
}

/* The exactly-once pattern: the jid's marker, then a write that is not idempotent. */
static void once_unit(struct db_stmt unit[2], const char *const *jid)
{
    unit[0] = (struct db_stmt){"INSERT INTO db_test_marker (jid) VALUES ($1)", jid, 1};
    unit[1] = (struct db_stmt){"INSERT INTO db_test_tx VALUES ($1, 1) "
                               "ON CONFLICT (k) DO UPDATE SET v = db_test_tx.v + 1",
                               jid, 1};
}

static void test_atomic_same_jid_twice_writes_once_and_fails_on_the_marker(void **state)
{
    char jid[64], jid2[64];
    const char *p[] = {jid}, *p2[] = {jid2};
    struct db_stmt unit[2], unit2[2];
    struct res r[4];
    struct t t;

    t_open_size(&t, 2);
    atomic_tables(&t);
    key_for(jid, sizeof(jid), "once");
    once_unit(unit, p);
    u(&t, &r[0], unit, 2);
    t_wait(&t);
    assert_ok(&r[0]);
    u(&t, &r[1], unit, 2); /* delivered again */
    t_wait(&t);
    assert_unit_failed(&r[1], -EIO, 0, "23505");
    assert_stored(&t, jid, "1");

    /* two deliveries at once, on two connections: the marker's row lock serializes them */
    key_for(jid2, sizeof(jid2), "once-concurrent");
    once_unit(unit2, p2);
    u(&t, &r[2], unit2, 2);
    u(&t, &r[3], unit2, 2);
    t_wait(&t);
    if (r[2].err == 0)
        assert_unit_failed(&r[3], -EIO, 0, "23505");
    else
        assert_unit_failed(&r[2], -EIO, 0, "23505");
    assert_int_equal(r[2].calls + r[3].calls, 2);
    assert_stored(&t, jid2, "1");
    t_close(&t);
}

static void test_atomic_failing_statement_rolls_back_the_whole_unit(void **state)
{
    char k1[64], k2[64], pid[2][64];
    const char *p1[] = {k1}, *p2[] = {k2};
    const struct db_stmt middle[] = {
        {"INSERT INTO db_test_tx VALUES ($1, 1)", p1, 1},
        {"SELECT 1 / 0", NULL, 0},
        {"INSERT INTO db_test_tx VALUES ($1, 1)", p2, 1},
    };
    const struct db_stmt last[] = {
        {"INSERT INTO db_test_tx VALUES ($1, 1)", p1, 1},
        {"INSERT INTO db_test_tx VALUES ($1, 1)", p2, 1},
        {"INSERT INTO db_test_tx VALUES ($1, 2)", p1, 1}, /* duplicate key */
    };
    struct res r[2];
    struct t t;

    t_open_size(&t, 1); /* the same connection serves the checks */
    atomic_tables(&t);
    key_for(k1, sizeof(k1), "atomic-fail-1");
    key_for(k2, sizeof(k2), "atomic-fail-2");
    backend_pid(&t, pid[0], sizeof(pid[0]));
    u(&t, &r[0], middle, 3);
    u(&t, &r[1], last, 3);
    t_wait(&t);
    assert_unit_failed(&r[0], -EIO, 1, "22012");
    assert_non_null(strstr(r[0].error, "division by zero"));
    assert_unit_failed(&r[1], -EIO, 2, "23505");
    assert_stored(&t, k1, "none");
    assert_stored(&t, k2, "none");
    /* the same connection, out of pipeline mode and out of the transaction */
    backend_pid(&t, pid[1], sizeof(pid[1]));
    assert_string_equal(pid[0], pid[1]);
    assert_int_equal(t.downs, 0);
    t_close(&t);
}

static void test_atomic_statement_timeout_is_etimedout_and_connection_survives(void **state)
{
    struct db_pool_cfg cfg = cfg_default();
    char key[64], pid[2][64];
    const char *p[] = {key};
    const struct db_stmt slow[] = {
        {"INSERT INTO db_test_tx VALUES ($1, 1)", p, 1},
        {"SELECT pg_sleep(2)", NULL, 0},
    };
    struct res r[2];
    struct t t;
    ev_tstamp start;

    cfg.size = 1;
    cfg.statement_timeout_s = 0.2;
    t_open(&t, &cfg);
    atomic_tables(&t);
    key_for(key, sizeof(key), "atomic-timeout");
    backend_pid(&t, pid[0], sizeof(pid[0]));
    ev_now_update(t.loop);
    start = ev_now(t.loop);
    u(&t, &r[0], slow, 2);
    t_wait(&t);
    assert_unit_failed(&r[0], -ETIMEDOUT, 1, "57014");
    assert_true(ev_now(t.loop) - start < 1.5);
    assert_stored(&t, key, "none");
    backend_pid(&t, pid[1], sizeof(pid[1]));
    assert_string_equal(pid[0], pid[1]);
    u(&t, &r[1], slow, 1); /* the connection still runs units */
    t_wait(&t);
    assert_ok(&r[1]);
    assert_stored(&t, key, "1");
    assert_int_equal(t.downs, 0);
    t_close(&t);
}

static void test_atomic_begin_copy_and_empty_statements(void **state)
{
    static const char *const names[] = {"begin", "copy-in", "copy-out", "empty"};
    char k[4][64];
    const char *p[4][1] = {{k[0]}, {k[1]}, {k[2]}, {k[3]}};
    const struct db_stmt begin[] = {
        {"INSERT INTO db_test_tx VALUES ($1, 1)", p[0], 1},
        {"BEGIN", NULL, 0},
        {"INSERT INTO db_test_tx VALUES ($1, 1)", p[1], 1},
    };
    const struct db_stmt copy_in[] = {
        {"INSERT INTO db_test_tx VALUES ($1, 1)", p[1], 1},
        {"COPY db_test_tx FROM STDIN", NULL, 0},
    };
    const struct db_stmt copy_out[] = {
        {"COPY (SELECT generate_series(1, 1000)) TO STDOUT", NULL, 0},
        {"INSERT INTO db_test_tx VALUES ($1, 1)", p[2], 1},
    };
    const struct db_stmt empty[] = {
        {"INSERT INTO db_test_tx VALUES ($1, 1)", p[3], 1},
        {"  -- nothing", NULL, 0},
    };
    struct res r[4];
    struct t t;

    t_open_size(&t, 1);
    atomic_tables(&t);
    for (int i = 0; i < 4; i++)
        key_for(k[i], sizeof(k[i]), names[i]);
    /* BEGIN keeps the transaction open past the Sync: the connection is closed instead */
    u(&t, &r[0], begin, 3);
    t_wait(&t);
    assert_unit_failed(&r[0], -EIO, -1, "");
    t_wait_downs(&t, 1);
    t_wait_up(&t);
    assert_stored(&t, k[0], "none");
    assert_stored(&t, k[1], "none");
    /* COPY FROM STDIN would wait for data: the connection is closed, rolling back */
    u(&t, &r[1], copy_in, 2);
    t_wait(&t);
    assert_unit_failed(&r[1], -EIO, 1, "");
    assert_string_equal(r[1].error, "COPY is not supported");
    t_wait_downs(&t, 2);
    t_wait_up(&t);
    assert_stored(&t, k[1], "none");
    /* COPY TO STDOUT's data is dropped; an empty statement does nothing: both commit */
    u(&t, &r[2], copy_out, 2);
    u(&t, &r[3], empty, 2);
    t_wait(&t);
    assert_ok(&r[2]);
    assert_ok(&r[3]);
    assert_int_equal(r[3].affected, 1); /* the INSERT's: the last statement with a result */
    assert_stored(&t, k[2], "1");
    assert_stored(&t, k[3], "1");
    assert_int_equal(t.downs, 2);
    t_close(&t);
}

/* A unit whose connection is killed while it runs: -ENOTCONN, nothing committed. */
static void test_atomic_connection_lost_mid_unit_is_enotconn(void **state)
{
    static const char sleep_sql[] = "SELECT pg_sleep(5) /* db_test atomic kill */";
    char key[64];
    const char *p[] = {key}, *kill_p[] = {sleep_sql};
    const struct db_stmt unit[] = {
        {"INSERT INTO db_test_tx VALUES ($1, 1)", p, 1},
        {sleep_sql, NULL, 0},
    };
    struct res r[6];
    struct t t;

    t_open_size(&t, 2);
    atomic_tables(&t);
    key_for(key, sizeof(key), "atomic-lost");
    u(&t, &r[0], unit, 2);
    t_poll(&t,
           "SELECT count(*) FROM pg_stat_activity "
           "WHERE query = $1 AND state = 'active' AND pid <> pg_backend_pid()",
           kill_p, 1, "1");
    q(&t, &r[1],
      "SELECT count(*), bool_and(pg_terminate_backend(pid)) FROM pg_stat_activity "
      "WHERE query = $1 AND pid <> pg_backend_pid()",
      kill_p, 1);
    t_wait(&t);
    assert_ok(&r[1]);
    assert_string_equal(r[1].v[0], "1");
    assert_unit_failed(&r[0], -ENOTCONN, -1, "57P01");
    assert_int_equal(t.downs, 0); /* the other connection stayed up */
    assert_stored(&t, key, "none");
    for (int i = 2; i < 6; i++)
        u(&t, &r[i], unit, 1);
    t_wait(&t);
    assert_ok(&r[2]);
    for (int i = 3; i < 6; i++)
        assert_unit_failed(&r[i], -EIO, 0, "23505");
    t_close(&t);
}

#define UNITS 2000

/* Units and plain queries interleaved; every 7th unit fails in its second statement. */
struct mix {
    struct t *t;
    int unit_calls[UNITS], query_calls[UNITS];
    int errors;
};

struct mix_req {
    struct mix *m;
    int i;
};

static void mix_on_unit(const struct db_rows *rows, int err, int failed, void *arg)
{
    struct mix_req *mr = arg;
    const char *v = db_rows_get(rows, 0, 0);

    mr->m->unit_calls[mr->i]++;
    if (mr->i % 7 == 6) {
        if (err != -EIO || failed != 1 || strcmp(db_rows_sqlstate(rows), "22012") != 0)
            mr->m->errors++;
    } else if (err != 0 || failed != -1 || !v || atoi(v) != 2 * mr->i) {
        mr->m->errors++;
    }
    t_done(mr->m->t);
}

static void mix_on_query(const struct db_rows *rows, int err, void *arg)
{
    struct mix_req *mr = arg;
    const char *v = db_rows_get(rows, 0, 0);

    mr->m->query_calls[mr->i]++;
    if (err != 0 || !v || atoi(v) != mr->i)
        mr->m->errors++;
    t_done(mr->m->t);
}

static void mix_run(bool prepared)
{
    static struct mix m;
    static struct mix_req reqs[UNITS];
    struct db_pool_cfg cfg = cfg_default();
    char num[16];
    const char *p[] = {num};
    const struct db_stmt ok[] = {{"SELECT $1::int", p, 1}, {"SELECT $1::int * 2", p, 1}},
                         bad[] = {{"SELECT $1::int", p, 1}, {"SELECT $1::int / 0", p, 1}};
    struct t t;

    cfg.size = 4;
    cfg.max_waiting = 2 * UNITS;
    cfg.prepared = prepared;
    t_open(&t, &cfg);
    memset(&m, 0, sizeof(m));
    m.t = &t;
    for (int i = 0; i < UNITS; i++) {
        reqs[i] = (struct mix_req){.m = &m, .i = i};
        (void)snprintf(num, sizeof(num), "%d", i);
        assert_int_equal(db_atomic(t.pool, i % 7 == 6 ? bad : ok, 2, mix_on_unit, &reqs[i]), 0);
        assert_int_equal(db_query(t.pool, "SELECT $1::int", p, 1, mix_on_query, &reqs[i]), 0);
        t.pending += 2;
    }
    t_wait(&t);
    for (int i = 0; i < UNITS; i++) {
        assert_int_equal(m.unit_calls[i], 1);
        assert_int_equal(m.query_calls[i], 1);
    }
    assert_int_equal(m.errors, 0);
    assert_int_equal(t.downs, 0);
    t_close(&t);
}

static void test_atomic_2000_units_on_4_connections_with_queries_answered_once(void **state)
{
    mix_run(true);
    mix_run(false);
}

/* Units share the connection's prepared statements with queries. A PREPARE that failed or
 * was not run (after an earlier error) is forgotten; one that ran stays, though its unit was
 * rolled back (PREPARE is not transactional). */
static void prepared_check(bool prepared)
{
    static const char insert[] = "INSERT INTO db_test_tx VALUES ($1, 1)", echo[] = "SELECT $1",
                      bad[] = "SELEC $1", kept[] = "SELECT $1::int + 1",
                      skipped[] = "SELECT $1 || 'x'", twice[] = "SELECT $1::int * 2";
    struct db_pool_cfg cfg = cfg_default();
    char k[3][64];
    const char *p[3][1] = {{k[0]}, {k[1]}, {k[2]}}, *seven[] = {"7"};
    const char *texts[] = {insert, echo, kept, skipped, twice};
    const struct db_stmt both[] = {{insert, p[1], 1}, {echo, p[1], 1}},
                         bad_last[] = {{echo, seven, 1}, {bad, seven, 1}},
                         bad_first[] = {{bad, seven, 1}},
                         kept_then_fail[] = {{kept, seven, 1}, {"SELECT 1 / 0", NULL, 0}},
                         fail_then_skipped[] = {{"SELECT 1 / 0", NULL, 0}, {skipped, seven, 1}},
                         again[] = {{kept, seven, 1}, {skipped, seven, 1}},
                         same_twice[] = {{twice, seven, 1}, {twice, seven, 1}};
    struct res r[10];
    struct t t;

    cfg.size = 1;
    cfg.prepared = prepared;
    t_open(&t, &cfg);
    atomic_tables(&t);
    for (int i = 0; i < 3; i++) {
        char name[32];
        (void)snprintf(name, sizeof(name), "prep-%d-%d", prepared, i);
        key_for(k[i], sizeof(k[i]), name);
    }
    q(&t, &r[0], insert, p[0], 1);
    u(&t, &r[1], both, 2);
    q(&t, &r[2], insert, p[2], 1);
    u(&t, &r[3], bad_last, 2);
    u(&t, &r[4], bad_first, 1);
    u(&t, &r[5], kept_then_fail, 2);
    u(&t, &r[6], fail_then_skipped, 2);
    u(&t, &r[7], again, 2);
    u(&t, &r[8], same_twice, 2);
    q(&t, &r[9],
      "SELECT count(*) FROM pg_prepared_statements WHERE statement IN ($1, $2, $3, $4, $5)", texts,
      5);
    t_wait(&t);
    assert_ok(&r[0]);
    assert_ok(&r[1]);
    assert_string_equal(r[1].v[0], k[1]);
    assert_ok(&r[2]);
    assert_unit_failed(&r[3], -EIO, 1, "42601");
    assert_unit_failed(&r[4], -EIO, 0, "42601"); /* not 26000: nx_<id> was forgotten */
    assert_unit_failed(&r[5], -EIO, 1, "22012");
    assert_unit_failed(&r[6], -EIO, 0, "22012");
    assert_ok(&r[7]);
    assert_string_equal(r[7].v[0], "7x");
    assert_ok(&r[8]);
    assert_string_equal(r[8].v[0], "14");
    assert_ok(&r[9]);
    assert_string_equal(r[9].v[0], prepared ? "5" : "0"); /* each text once */
    for (int i = 0; i < 3; i++)
        assert_stored(&t, k[i], "1");
    assert_int_equal(t.downs, 0);
    t_close(&t);
}

static void test_atomic_units_run_on_prepared_and_unprepared_pools(void **state)
{
    prepared_check(true);
    prepared_check(false);
}

/* A unit whose callback frees the pool, and cancelled units that call db_atomic(). */
struct cancel {
    struct res res;
    int again; /* what db_atomic() returned from inside the callback */
};

static void cancel_on_done(const struct db_rows *rows, int err, int failed, void *arg)
{
    struct cancel *c = arg;

    res_record(&c->res, rows, err);
    c->res.failed = failed;
    c->again = db_atomic(c->res.t->pool, &select_one, 1, never_on_unit, NULL);
}

static void test_atomic_pool_free_cancels_running_and_waiting_units_once(void **state)
{
    const struct db_stmt slow[] = {{.sql = "SELECT pg_sleep(5)"}, select_one};
    struct cancel c[6] = {0};
    struct res r;
    struct t t;

    t_open_size(&t, 1);
    for (int i = 0; i < 6; i++) {
        c[i].res.t = &t;
        assert_int_equal(
            db_atomic(t.pool, i == 0 ? slow : &select_one, i == 0 ? 2 : 1, cancel_on_done, &c[i]),
            0);
        if (i == 2)
            q(&t, &r, "SELECT 1", NULL, 0);
    }
    t_sleep(&t, 0.1);
    for (int i = 0; i < 6; i++)
        assert_int_equal(c[i].res.calls, 0);
    db_pool_free(t.pool);
    for (int i = 0; i < 6; i++) {
        assert_unit_failed(&c[i].res, -ECANCELED, -1, "");
        assert_int_equal(c[i].again, -ECANCELED);
    }
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.err, -ECANCELED);
    t.pool = NULL;
    t_close(&t);
    for (int i = 0; i < 6; i++)
        assert_int_equal(c[i].res.calls, 1);
}

static void free_on_unit(const struct db_rows *rows, int err, int failed, void *arg)
{
    struct res *r = arg;

    res_record(r, rows, err);
    r->failed = failed;
    db_pool_free(r->t->pool); /* from inside the pool's own callback */
    r->t->pool = NULL;
    ev_break(r->t->loop, EVBREAK_ONE);
}

static void test_atomic_pool_free_inside_a_unit_callback(void **state)
{
    struct res first = {0}, r[3];
    struct t t;

    t_open_size(&t, 1);
    first.t = &t;
    assert_int_equal(db_atomic(t.pool, &select_one, 1, free_on_unit, &first), 0);
    for (int i = 0; i < 3; i++)
        u(&t, &r[i], &select_one, 1);
    t_run(&t, RUN_MAX_S);
    assert_ok(&first);
    for (int i = 0; i < 3; i++)
        assert_unit_failed(&r[i], -ECANCELED, -1, "");
    t_close(&t);
}

/* Not asserted: units per second for the exactly-once pattern, printed for the docs. */
#define BENCH_UNITS 20000
#define BENCH_CONCURRENCY 64

struct bench {
    struct t *t;
    int started, errors;
};

static void bench_start(struct bench *b);

static void bench_on_done(const struct db_rows *rows, int err, int failed, void *arg)
{
    struct bench *b = arg;

    if (err != 0 && b->errors++ == 0)
        (void)fprintf(stderr, "db_test: bench unit failed: err=%d failed=%d %s\n", err, failed,
                      db_rows_error(rows));
    t_done(b->t);
    bench_start(b);
}

static void bench_start(struct bench *b)
{
    char jid[48], v[16];
    const char *p[] = {jid, v};
    const struct db_stmt unit[] = {
        {"INSERT INTO db_test_bench_marker (jid) VALUES ($1)", p, 1},
        {"INSERT INTO db_test_bench (jid, v) VALUES ($1, $2::int)", p, 2},
    };

    if (b->started == BENCH_UNITS)
        return;
    (void)snprintf(jid, sizeof(jid), "%ld-%d", (long)getpid(), b->started);
    (void)snprintf(v, sizeof(v), "%d", b->started);
    assert_int_equal(db_atomic(b->t->pool, unit, 2, bench_on_done, b), 0);
    b->started++;
}

static void test_atomic_throughput_is_printed(void **state)
{
    struct bench b = {0};
    struct res r[4];
    struct t t;
    ev_tstamp start, s;

    t_open_size(&t, 4);
    q(&t, &r[0], "CREATE TABLE IF NOT EXISTS db_test_bench_marker (jid text PRIMARY KEY)", NULL, 0);
    q(&t, &r[1], "CREATE TABLE IF NOT EXISTS db_test_bench (jid text, v int)", NULL, 0);
    t_wait(&t);
    q(&t, &r[2], "TRUNCATE db_test_bench_marker, db_test_bench", NULL, 0);
    t_wait(&t);
    for (int i = 0; i < 3; i++)
        assert_ok(&r[i]);
    b.t = &t;
    t.pending = BENCH_UNITS;
    ev_now_update(t.loop);
    start = ev_now(t.loop);
    for (int i = 0; i < BENCH_CONCURRENCY; i++)
        bench_start(&b);
    t_run(&t, 600);
    ev_now_update(t.loop);
    s = ev_now(t.loop) - start;
    assert_int_equal(t.pending, 0);
    assert_int_equal(b.errors, 0);
    (void)printf("atomic units/s: %.0f (%d two-statement units, concurrency %d, pool of 4, "
                 "%.2fs)\n",
                 BENCH_UNITS / s, BENCH_UNITS, BENCH_CONCURRENCY, s);
    q(&t, &r[3], "SELECT count(*) FROM db_test_bench", NULL, 0);
    t_wait(&t);
    assert_int_equal(atoi(r[3].v[0]), BENCH_UNITS);
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

/* ---- LISTEN ------------------------------------------------------------------------------ */

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

static void test_listen_delivers_notifications_and_comes_back_after_a_loss(void **state)
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

static void test_listen_pool_free_inside_the_callback(void **state)
{
    struct t t;

    t_open_size(&t, 1);
    assert_int_equal(db_pool_listen(t.pool, "nx_free", free_on_notify, &t), 0);
    t_run(&t, RUN_MAX_S);
    assert_null(t.pool);
    t_close(&t); /* no watcher of the listener is left */
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
    cfg.size = 0;
    assert_null(db_pool_new(loop, &cfg, NULL, NULL, &err));
    assert_int_equal(err.code, -EINVAL);
    assert_string_equal(err.msg, "database pool size must be 1..100 (got 0)");
    cfg.size = 1;
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
