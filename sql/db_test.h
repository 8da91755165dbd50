/* db_test.h - what sql/db_test.c (the harness, statements, the queue, db_pool_free, faults,
 * main) shares with db_tx_test.c, db_atomic_test.c, db_group_test.c and db_listen_test.c:
 * one loop and one pool per test against the PostgreSQL at $DATABASE_URL, and the outcome of
 * each request in a struct res (the test's own, borrowed by the pool until its callback ran). */
#ifndef DB_TEST_H
#define DB_TEST_H

#include <stdbool.h>
#include <stddef.h>

#include <ev.h>

#include "sql/db.h"

#define NV 4         /* columns of row 0 kept by res_record() */
#define RUN_MAX_S 20 /* a test's loop runs at most this long */

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

/* A pool's configuration for the tests: $DATABASE_URL, 2 connections, prepared. */
struct db_pool_cfg cfg_default(void);
/* Runs the loop until a callback breaks it; fails after `limit_s`. */
void t_run(struct t *t, double limit_s);
void t_sleep(struct t *t, double s);
void t_wait_up(struct t *t);
/* Runs the loop until the pool has gone down `downs` times in all. */
void t_wait_downs(struct t *t, int downs);
/* A loop and a pool that is up. */
void t_open(struct t *t, const struct db_pool_cfg *cfg);
void t_open_size(struct t *t, unsigned size);
/* Frees the pool and checks that it left no watcher on the loop. */
void t_close(struct t *t);
/* One pending callback came: the loop stops when none is left. */
void t_done(struct t *t);
/* Runs until every request is answered. */
void t_wait(struct t *t);
void res_record(struct res *r, const struct db_rows *rows, int err);
/* Starts a query whose outcome lands in `r`. */
void q(struct t *t, struct res *r, const char *sql, const char *const *params, int n);
void assert_ok(const struct res *r);
/* Runs `sql` until its first value is `want`, 10 ms apart; fails after RUN_MAX_S. */
void t_poll(struct t *t, const char *sql, const char *const *params, int n, const char *want);
/* `name` made unique to this process, in `buf`. */
const char *key_for(char *buf, size_t size, const char *name);
/* Callbacks that fail the test: for calls that must have been refused. */
void never_on_done(const struct db_rows *rows, int err, void *arg);
void never_on_unit(const struct db_rows *rows, int err, int failed, void *arg);
extern const struct db_stmt select_one; /* SELECT 1 */
/* Creates db_test_tx (k text PRIMARY KEY, v int). */
void tx_table(struct t *t);
/* Asserts the value stored under `key` in db_test_tx, or "none". */
void assert_stored(struct t *t, const char *key, const char *want);
/* Starts an atomic unit whose outcome lands in `r`. */
void u(struct t *t, struct res *r, const struct db_stmt *stmts, int n);
void assert_unit_failed(const struct res *r, int err, int failed, const char *sqlstate);

/* db_tx_test.c */
void test_tx_commit_is_visible(void **state);
void test_tx_rollback_is_invisible(void **state);
void test_tx_pooled_pool_sets_statement_timeout_in_each_transaction(void **state);
void test_tx_failing_statement_then_rollback(void **state);
void test_tx_commit_after_a_failed_statement_reports_the_rollback(void **state);
void test_tx_one_statement_at_a_time_and_rollback_cancels_the_outstanding_one(void **state);
void test_tx_connection_lost_mid_statement_fails_it_and_commit(void **state);
void test_tx_connection_lost_while_idle_then_rollback_frees_it(void **state);

/* db_atomic_test.c */
void test_atomic_two_inserts_commit_together(void **state);
void test_atomic_64_statements_run_in_order(void **state);
void test_atomic_same_jid_twice_writes_once_and_fails_on_the_marker(void **state);
void test_atomic_failing_statement_rolls_back_the_whole_unit(void **state);
void test_atomic_statement_timeout_is_etimedout_and_connection_survives(void **state);
void test_atomic_begin_copy_and_empty_statements(void **state);
void test_atomic_connection_lost_mid_unit_is_enotconn(void **state);
void test_atomic_2000_units_on_4_connections_with_queries_answered_once(void **state);
void test_atomic_units_run_on_prepared_and_unprepared_pools(void **state);
void test_atomic_pool_free_cancels_running_and_waiting_units_once(void **state);
void test_atomic_pool_free_inside_a_unit_callback(void **state);
void test_atomic_throughput_is_printed(void **state);

/* db_group_test.c */
void test_group_units_waiting_together_share_one_transaction(void **state);
void test_group_max_1_and_db_atomic_units_share_nothing(void **state);
void test_group_with_a_failing_unit_reruns_each_alone(void **state);
void test_group_same_marker_twice_writes_once(void **state);
void test_group_unit_opening_a_transaction_block_fails_alone(void **state);
void test_group_connection_lost_mid_group_fails_each_member_once(void **state);
void test_group_pool_free_inside_a_member_callback_tells_the_rest_once(void **state);

/* db_listen_test.c */
void test_listen_delivers_notifications_and_comes_back_after_a_loss(void **state);
void test_listen_pool_free_inside_the_callback(void **state);

#endif
