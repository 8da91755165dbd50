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

#define DB_PARAMS_MAX 65535 /* parameters of one statement ($1..$65535), PostgreSQL's limit */

struct db_pool_cfg {
    const char *conninfo;       /* libpq URL or key=value string; copied. Host names are
                                   looked up off the loop before each attempt and given to
                                   libpq as hostaddr= (host= kept for TLS and .pgpass) */
    unsigned size;              /* connections, 1..100; 0: none, a pool only for
                                   db_pool_listen() (its requests would wait forever) */
    unsigned max_waiting;       /* requests queued while every connection is busy, >= 1 */
    double connect_timeout_s;   /* > 0 */
    double statement_timeout_s; /* SET statement_timeout on each connection (pooled: SET
                                   LOCAL in each transaction); 0 = none */
    bool prepared;              /* prepare each distinct SQL text once per connection; false
                                   for PgBouncer in transaction mode */
    bool pooled;                /* conninfo is a transaction-mode pooler (PgBouncer): no
                                   session state at all. No SET at connect (a SELECT 1 checks
                                   the server is reached); BEGIN is followed by SET LOCAL
                                   statement_timeout, and a db_query() or db_atomic() unit is
                                   sent in pipeline mode after set_config('statement_timeout',
                                   ms, true), both in the same transaction (so a statement
                                   that cannot run in one, VACUUM, fails). `prepared` must
                                   be false (PgBouncer < 1.21 hands each transaction any
                                   server connection: "prepared statement does not exist") */
    unsigned group_max;         /* units of db_atomic_group() that may share one transaction,
                                   1..64 (statements of a group: at most 64 too); 0 or 1:
                                   none shares */
};

/* How a request ended: 0, or a negative errno with a sentence in db_rows_error():
 * -EIO (the server reported an error: db_rows_sqlstate() says which), -ENOTCONN (no
 * connection: PostgreSQL down; the request never reached the server or its connection was
 * lost, so it may or may not have run: never retried here, the caller decides), -ETIMEDOUT
 * (statement_timeout or a cancel: SQLSTATE 57014), -ECANCELED (pool freed, or the query was
 * outstanding when its transaction was rolled back). `rows` is borrowed, valid only during
 * the call, and never NULL. */
typedef void db_done_fn(const struct db_rows *rows, int err, void *arg);
/* `up` changes: called once per change, never from inside db_pool_new/db_pool_free.
 * db_pool_new() takes NULL for none. */
typedef void db_state_fn(bool up, void *arg);

/* Connects `size` connections in the background (from the loop, not inside this call) and
 * reconnects each with backoff (0.1 s doubling to 5 s) after a loss. The pool's state is
 * logged once per change: `event=db_down` (error; also when the first attempts fail) and
 * `event=db_up` (info); a connection lost while others stay up logs `event=db_conn_lost`
 * (warn); each connection's own attempts and ups are debug lines. Caller owns the pool;
 * release with db_pool_free(), which accepts NULL and, before it returns, ends every waiting
 * and running request with -ECANCELED (a tx_begin's `ready` with tx NULL), frees every
 * transaction, including those the caller holds (don't use a db_tx after db_pool_free()),
 * and closes the connections. It may be called from inside any callback of the pool; while
 * it runs, calls on the pool return -ECANCELED. Returns NULL and fills `err` when `cfg` is
 * unusable (-EINVAL) or libpq ran out of memory reading the conninfo (-ENOMEM); memory of
 * its own that cannot be had aborts the process (lib/xalloc.h). */
struct db_pool *db_pool_new(struct ev_loop *loop, const struct db_pool_cfg *cfg,
                            db_state_fn *on_state, void *arg, struct err *err);
void db_pool_free(struct db_pool *pool);
/* Whether libpq can read `conninfo` (a URL or key=value string). Returns 0, or -EINVAL with
 * a sentence that shows no credential (a bad %-escape is named by part and position, quoted
 * text of libpq's message that repeats a hidden part becomes "***"), or -ENOMEM when libpq
 * ran out of memory. */
int db_conninfo_check(const char *conninfo, struct err *err);
/* libpq's error for a connection that failed (PQerrorMessage(): one line per host and
 * address tried, and hint lines) on one line: the attempts joined with "; ", hints left out,
 * each masked with url_mask_msg() against `conninfo`, cut to fit `size` (>= 8). Returns buf. */
#define DB_ERROR_MAX 512 /* enough for the attempts at a few addresses */
const char *db_connect_error(const char *msg, const char *conninfo, char *buf, size_t size);
/* true while at least one connection is up. */
bool db_pool_up(const struct db_pool *pool);

/* A notification on the channel the pool listens on, or (payload NULL) the listener has just
 * (re)connected: notifications sent while it was down are lost, so look for missed work.
 * `channel` and `payload` are borrowed, valid during the call. */
typedef void db_notify_fn(const char *channel, const char *payload, void *arg);

/* LISTENs on `channel` ([a-z_][a-z0-9_]*, at most 63 bytes; quoted into LISTEN) on a
 * connection of its own, apart from the `size` ones and never used for queries. It connects
 * from the loop, LISTENs, and after a loss reconnects with the same backoff; logged once per
 * change: `event=db_listen_down` (warn), `event=db_listen_up` (info). `fn` runs from the loop,
 * never from inside this call nor after db_pool_free(): once per notification (PostgreSQL
 * sends NOTIFY at the sender's commit and folds identical ones of a transaction into one),
 * and once with payload NULL after each LISTEN succeeded. One channel per pool. Returns 0,
 * -EINVAL (bad channel, fn NULL), -EBUSY (the pool already listens), or -ECANCELED (inside
 * db_pool_free()). Notifications need a session: through PgBouncer in transaction
 * mode none arrive, so a pooled pool refuses with -EOPNOTSUPP: give LISTEN a pool of its own
 * (size 0) on a direct URL. */
int db_pool_listen(struct db_pool *pool, const char *channel, db_notify_fn *fn, void *arg);

/* Runs one statement with `nparams` text parameters ($1..$n; NULL = SQL NULL) on a free
 * connection, or queues it (FIFO). `sql` and `params` are copied before return. `done` runs
 * exactly once, always later from the loop, unless a negative errno is returned: -EAGAIN
 * when the wait queue is full, -ENOTCONN when no connection is up (fail fast: the caller
 * retries; but until the pool's first connection attempt has ended, requests wait for it, so
 * that work started with the process does not fail while it connects), -EINVAL (sql NULL, nparams
 * outside 0..DB_PARAMS_MAX, or params NULL with nparams > 0), -ECANCELED (inside
 * db_pool_free()). Waiting requests end with -ENOTCONN when the last connection is lost. A
 * statement must not leave a transaction open (use db_tx_begin()): its connection is then closed
 * and reopened. */
int db_query(struct db_pool *pool, const char *sql, const char *const *params, int nparams,
             db_done_fn *done, void *arg);

/* A transaction: `ready` runs once with a tx bound to one connection after BEGIN succeeded,
 * or with tx NULL, err < 0 and `why` a sentence (borrowed, valid during the call; NULL when
 * err is 0). The caller then issues db_tx_query()s one at a time and ends with
 * db_tx_commit() or db_tx_rollback(), which release the connection.
 *
 * Who frees a tx: the pool, always. With ready(NULL, err) there is none to free. After
 * ready(tx, 0) the caller holds `tx` until it calls db_tx_commit() (returning 0) or
 * db_tx_rollback() exactly once, on every path, also after errors and after the connection
 * was lost; from that call on `tx` is the pool's and must not be used again. db_pool_free()
 * frees every tx, held ones included.
 *
 * db_tx_begin() returns 0 (`ready` runs exactly once, later) or, never calling `ready`, the
 * errors of db_query(). BEGIN waits in the same FIFO queue as db_query(). */
typedef void db_tx_ready_fn(struct db_tx *tx, int err, const char *why, void *arg);
int db_tx_begin(struct db_pool *pool, db_tx_ready_fn *ready, void *arg);
/* Runs one statement in the transaction; `done` as for db_query(). Returns -EBUSY while a
 * statement of this tx is outstanding (one at a time), -ENOTCONN when the tx's connection
 * was lost (the tx is dead: the server rolled it back; commit or roll back to free it), and
 * otherwise the errors of db_query() except -EAGAIN. A statement that fails aborts the
 * transaction on the server (later ones fail with SQLSTATE 25P02 until rollback). */
int db_tx_query(struct db_tx *tx, const char *sql, const char *const *params, int nparams,
                db_done_fn *done, void *arg);
/* Sends COMMIT. Returns 0 and takes `tx`: `done` runs exactly once, later, with the COMMIT's
 * result, and the pool frees the tx (before `done` runs). A failed COMMIT means nothing was
 * written: -EIO for an error, also when an earlier statement had failed (the server rolls
 * back; sqlstate 25P02), -ENOTCONN when the tx's connection was lost before the COMMIT
 * (nothing was written) or while it ran (then it is unknown whether it was committed).
 * Returns -EBUSY, changing nothing (the caller still holds `tx`), while a statement of this tx
 * is outstanding; -ECANCELED inside db_pool_free(). */
int db_tx_commit(struct db_tx *tx, db_done_fn *done, void *arg);
/* Takes `tx`: rolls back and releases; no callback (a failed ROLLBACK just drops the
 * connection). A statement of this tx still outstanding runs to its end on the server, then
 * its `done` gets -ECANCELED, then ROLLBACK is sent. */
void db_tx_rollback(struct db_tx *tx);

/* One statement of an atomic unit. Strings borrowed until db_atomic() returns. */
struct db_stmt {
    const char *sql;
    const char *const *params; /* text, NULL = SQL NULL */
    int nparams;
};

/* How an atomic unit ended: err 0 when every statement succeeded and the unit committed;
 * otherwise the unit was rolled back, `failed` is the index of the statement that failed
 * (-1 when the failure was not a statement's, e.g. the connection), and `rows` holds that
 * statement's error (db_rows_sqlstate()). On success `rows` is the last statement's result.
 * `rows` is borrowed, valid during the call only, never NULL. */
typedef void db_atomic_fn(const struct db_rows *rows, int err, int failed, void *arg);

/* Runs `n` statements (1..64) as one transaction in one round trip: libpq pipeline mode with
 * a single Sync, so the server runs them in one implicit transaction and an error in any of
 * them rolls back all (the rest are not run). No BEGIN/COMMIT may be among them. Queued like
 * db_query() and with the same return codes; `done` runs exactly once, later. Used by the
 * exactly-once helper: the jid marker and the job's writes commit together or not at all. */
int db_atomic(struct db_pool *pool, const struct db_stmt *stmts, int n, db_atomic_fn *done,
              void *arg);
/* db_atomic() for a unit that may share its transaction with others of its kind (group
 * commit): when such units wait for a connection, the first with those right behind it (up to
 * cfg.group_max units, 64 statements) go as one pipeline with one Sync, one transaction, so
 * that the server commits once for all of them. Each unit still commits with all of its
 * statements or none, and its `done` gets what it would get alone: when every statement of the
 * group succeeded, each unit gets err 0 and its own last statement's result; when any failed
 * (or opened a transaction block), the group was rolled back and each of its units runs again
 * alone, first in the queue, and reports that run. A lost connection fails every unit of the
 * group with -ENOTCONN, as it fails a unit alone. What sharing changes for a unit: its
 * statements may see the writes of the units before it in the group and share their
 * transaction's timestamp (now()), their locks are held until the group commits, and a
 * transaction-local setting (SET LOCAL, set_config(..., true)) would reach the units after
 * it: such units must use db_atomic(). A unit that fails runs twice (a statement_timeout is
 * waited twice), so this is for units that rarely fail. */
int db_atomic_group(struct db_pool *pool, const struct db_stmt *stmts, int n, db_atomic_fn *done,
                    void *arg);

/* Reading results. Strings are borrowed, valid as `rows`. After an error there are no rows. */
int db_rows_count(const struct db_rows *rows);
int db_rows_columns(const struct db_rows *rows);
/* The text value, or NULL for SQL NULL or out of range. */
const char *db_rows_get(const struct db_rows *rows, int row, int col);
/* Rows affected by INSERT/UPDATE/DELETE (PQcmdTuples), 0 when none. */
long long db_rows_affected(const struct db_rows *rows);
const char *db_rows_error(const struct db_rows *rows);    /* "" when none */
const char *db_rows_sqlstate(const struct db_rows *rows); /* "" when none, e.g. "23505" */

#endif
