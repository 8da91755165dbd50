/* db.h - PostgreSQL connection pool on the libev loop: non-blocking libpq, parameterized
 * queries only, prepared statements (switchable off for PgBouncer), transactions. */
#ifndef DB_H
#define DB_H

#include <stdbool.h>
#include <stddef.h>

struct ev_loop;
struct err;
struct db_pool; /* opaque */
struct db_rows; /* opaque; read with db_rows_*() */
struct db_tx;   /* opaque; one connection held for a transaction */

struct db_pool_cfg {
    const char *conninfo;       /* libpq URL or key=value string; copied */
    unsigned size;              /* connections, 1..100 */
    unsigned max_waiting;       /* requests queued while every connection is busy, >= 1 */
    double connect_timeout_s;   /* > 0 */
    double statement_timeout_s; /* SET statement_timeout on each connection; 0 = none */
    bool prepared;              /* prepare each distinct SQL text once per connection; false
                                   for PgBouncer in transaction mode */
};

/* How a request ended: 0, or a negative errno with a sentence in db_rows_error():
 * -EIO (the server reported an error: db_rows_sqlstate() says which), -ENOTCONN (no
 * connection: PostgreSQL down; the request never reached the server or its connection was
 * lost), -ETIMEDOUT (statement_timeout), -ECANCELED (pool freed). `rows` is borrowed, valid
 * only during the call, and never NULL. */
typedef void db_done_fn(const struct db_rows *rows, int err, void *arg);
/* `up` changes: called once per change, never from inside db_pool_new/db_pool_free. */
typedef void db_state_fn(bool up, void *arg);

/* Connects `size` connections in the background and reconnects each with backoff (0.1 s
 * doubling to 5 s) after a loss, logging each change of the pool's state once. Caller owns
 * the pool; release with db_pool_free(), which accepts NULL and ends every waiting and
 * running request with -ECANCELED. Returns NULL and fills `err` when `cfg` is unusable. */
struct db_pool *db_pool_new(struct ev_loop *loop, const struct db_pool_cfg *cfg,
                            db_state_fn *on_state, void *arg, struct err *err);
void db_pool_free(struct db_pool *pool);
/* true while at least one connection is up. */
bool db_pool_up(const struct db_pool *pool);

/* Runs one statement with `nparams` text parameters ($1..$n; NULL = SQL NULL) on a free
 * connection, or queues it. `sql` and `params` are copied before return. `done` runs exactly
 * once, always later from the loop, unless a negative errno is returned: -EAGAIN when the
 * wait queue is full, -ENOTCONN when no connection is up (fail fast: the caller retries). */
int db_query(struct db_pool *pool, const char *sql, const char *const *params, int nparams,
             db_done_fn *done, void *arg);

/* A transaction: `ready` runs once with a tx bound to one connection after BEGIN succeeded,
 * or with tx NULL and err < 0. The caller then issues db_tx_query()s one at a time and ends
 * with db_tx_commit() or db_tx_rollback(), which release the connection. */
typedef void db_tx_ready_fn(struct db_tx *tx, int err, const char *why, void *arg);
int db_tx_begin(struct db_pool *pool, db_tx_ready_fn *ready, void *arg);
int db_tx_query(struct db_tx *tx, const char *sql, const char *const *params, int nparams,
                db_done_fn *done, void *arg);
/* `done` gets the COMMIT's result (a failed COMMIT means nothing was written). The tx is
 * freed by the pool after `done`. */
int db_tx_commit(struct db_tx *tx, db_done_fn *done, void *arg);
/* Rolls back and releases; no callback (a failed ROLLBACK just drops the connection). */
void db_tx_rollback(struct db_tx *tx);

/* Reading results. Strings are borrowed, valid as `rows`. */
int db_rows_count(const struct db_rows *rows);
int db_rows_columns(const struct db_rows *rows);
/* The text value, or NULL for SQL NULL or out of range. */
const char *db_rows_get(const struct db_rows *rows, int row, int col);
/* Rows affected by INSERT/UPDATE/DELETE (PQcmdTuples), 0 when none. */
long long db_rows_affected(const struct db_rows *rows);
const char *db_rows_error(const struct db_rows *rows);    /* "" when none */
const char *db_rows_sqlstate(const struct db_rows *rows); /* "" when none, e.g. "23505" */

#endif
