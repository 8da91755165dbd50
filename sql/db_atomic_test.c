/* db_atomic_test.c - atomic units (sql/db_atomic.c): all or none, the marker of a jid done,
 * timeouts, COPY, lost connections, many units at once, db_pool_free. Run by db_test. */
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

void test_atomic_two_inserts_commit_together(void **state)
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

void test_atomic_64_statements_run_in_order(void **state)
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

void test_atomic_same_jid_twice_writes_once_and_fails_on_the_marker(void **state)
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

void test_atomic_failing_statement_rolls_back_the_whole_unit(void **state)
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

void test_atomic_statement_timeout_is_etimedout_and_connection_survives(void **state)
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

void test_atomic_begin_copy_and_empty_statements(void **state)
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
void test_atomic_connection_lost_mid_unit_is_enotconn(void **state)
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

void test_atomic_2000_units_on_4_connections_with_queries_answered_once(void **state)
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

void test_atomic_units_run_on_prepared_and_unprepared_pools(void **state)
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

void test_atomic_pool_free_cancels_running_and_waiting_units_once(void **state)
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

void test_atomic_pool_free_inside_a_unit_callback(void **state)
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

void test_atomic_throughput_is_printed(void **state)
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
