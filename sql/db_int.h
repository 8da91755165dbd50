/* db_int.h - private to sql/db_*.c: the pool, its connections, requests and transactions as
 * the files of db.h's implementation share them, and what each file offers the others.
 *
 *   db_pool.c    the pool: set-up and freeing, the wait queue, dispatch to free connections
 *   db_conn.c    one connection's state machine: connect, session set-up, send, read, lose
 *   db_tx.c      transactions a caller holds (BEGIN ... COMMIT/ROLLBACK on one connection)
 *   db_atomic.c  atomic units: statements in one pipeline with one Sync; groups of units
 *                sharing one transaction
 *   db_listen.c  LISTEN on a connection of its own, notifications to the owner
 *   db_hosts.c   the conninfo's hosts taken apart, hostaddr= spliced in (pure)
 *   db_addr.c    before each attempt, the hosts' names looked up off the loop
 *   db_rows.c    results: how a request ended, and reading its rows
 *
 * Nothing here is for use outside sql/db_*.c. */
#ifndef DB_INT_H
#define DB_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <ev.h>
#include <libpq-fe.h>

#include "sql/db.h"

#define BACKOFF_MIN_S 0.1
#define BACKOFF_MAX_S 5.0
#define STMT_MAX 128   /* prepared statements per connection; past it, statements go unprepared */
#define WHY_MAX 256    /* one line of an error text */
#define ADDR_MAX 160   /* host:port/dbname in logs */
#define ATOMIC_MAX 64  /* statements in one atomic unit */
#define CHANNEL_MAX 63 /* PostgreSQL's identifier length (NAMEDATALEN - 1) */
#define HOST_ADDRS_MAX 8 /* addresses of one host name handed to libpq, in the resolver's order */

enum req_kind {
    REQ_QUERY,
    REQ_TX_QUERY,
    REQ_ATOMIC,
    REQ_BEGIN,
    REQ_COMMIT,
    REQ_ROLLBACK,
    REQ_GROUP, /* groupable ATOMICs sent as one unit (struct group) */
};

/* One request. QUERY, TX_QUERY and ATOMIC are one allocation holding their copied SQL texts
 * and parameters; BEGIN, COMMIT and ROLLBACK are embedded in their db_tx (never freed alone);
 * a GROUP is one allocation holding its struct group and its members' statements (borrowed
 * from the members, which it owns while it runs). */
struct req {
    struct req *next; /* in the pool's wait queue */
    enum req_kind kind;
    struct db_stmt *stmts; /* in this allocation, nstmts of them (1 but for ATOMIC); NULL for
                              BEGIN/COMMIT/ROLLBACK */
    int nstmts;
    db_done_fn *done;     /* QUERY, TX_QUERY, COMMIT */
    db_atomic_fn *atomic; /* ATOMIC */
    void *arg;            /* also `ready`'s for BEGIN */
    struct db_tx *tx;     /* NULL for QUERY and ATOMIC */
    bool groupable;       /* ATOMIC: may share its transaction (db_atomic_group()) */
    bool solo;            /* ATOMIC: its group failed, so it runs alone from now on */
    PGresult *last;       /* ATOMIC in a running GROUP: its last statement's result, owned */
    struct group *group;  /* GROUP: its members */
};

/* The members of a GROUP, in the order they were queued: member i's statements are the
 * group's from end[i - 1] (0 for the first) up to end[i]. */
struct group {
    int n;                /* 2..ATOMIC_MAX */
    int delivered;        /* members already handed their result */
    struct req *member[ATOMIC_MAX];
    int end[ATOMIC_MAX];
};

enum tx_state {
    TX_BEGINNING, /* BEGIN waits or runs; the caller has no pointer yet */
    TX_OPEN,      /* the caller holds it; its connection is held */
    TX_DEAD,      /* its connection was lost; the caller still holds it */
    TX_ENDING,    /* the caller called commit or rollback: the pool's from now on */
};

struct db_tx {
    struct db_tx *prev, *next; /* pool->txs: every tx, so that db_pool_free() frees them */
    struct db_pool *pool;      /* borrowed: outlives the tx */
    struct conn *conn;         /* held from BEGIN's start to the end; NULL when dead */
    struct req *req;           /* the outstanding request of this tx, or NULL */
    struct req ctl;            /* BEGIN, then COMMIT or ROLLBACK */
    enum tx_state state;
    db_tx_ready_fn *ready;
    bool rollback_after; /* rolled back while a statement was out: ROLLBACK follows it */
    bool commit_later;   /* committed while dead: `done` gets -ENOTCONN from `later` */
};

enum conn_state {
    CONN_WAIT,       /* down; timer: the backoff before the next attempt */
    CONN_RESOLVING,  /* the hosts' names being looked up (db_addr.c); timer: the deadline */
    CONN_CONNECTING, /* PQconnectPoll steps; timer: the connect deadline */
    CONN_SETUP,      /* SET statement_timeout and application_name; timer: the deadline */
    CONN_UP,         /* usable */
};

enum step { STEP_SETUP, STEP_PREPARE, STEP_EXEC, STEP_PIPELINE };

/* A statement prepared on one connection as nx_<id>. */
struct stmt {
    char *sql; /* owned */
    uint64_t hash;
    unsigned id;
};

struct conn {
    struct db_pool *pool; /* borrowed: owns this conn */
    unsigned id;          /* 1..size, in logs */
    enum conn_state state;
    PGconn *pg;       /* NULL in CONN_WAIT and CONN_RESOLVING */
    struct addr_lookup *lookup; /* CONN_RESOLVING: this attempt's lookups, owned; else NULL */
    ev_io io;         /* on PQsocket(pg); io.data = conn */
    ev_timer timer;   /* backoff or connect deadline; timer.data = conn */
    double backoff_s; /* before the next attempt after a failure */
    struct req *req;  /* running, or NULL; owned (see struct req) */
    struct db_tx *tx; /* holding this connection, or NULL */
    PGresult *res;    /* kept for req: its first error, else its last result */
    enum step step;
    unsigned prep_id;      /* STEP_PREPARE: the statement being prepared */
    int unit_next;         /* STEP_PIPELINE: the statement whose results come next */
    int unit_failed;       /* STEP_PIPELINE: the first statement that failed, or -1 */
    bool unit_in_prep;     /* STEP_PIPELINE: the results coming are unit_next's PREPARE's */
    uint64_t unit_prep;    /* STEP_PIPELINE: bit i: statement i is prepared in the pipeline */
    uint64_t unit_prep_ok; /* STEP_PIPELINE: bit i: and that PREPARE succeeded */
    bool flushing;         /* PQflush() said 1: also wait for write */
    bool copy;             /* the statement started a COPY, which is refused */
    bool copy_out;         /* reading and dropping COPY TO STDOUT data */
    struct stmt *stmts;    /* STMT_MAX slots, nstmts used */
    unsigned nstmts;
    unsigned next_id;
    char broken[WHY_MAX]; /* non-empty: a send failed; conn_lost() runs from `later` */
    char notice[WHY_MAX]; /* the server's FATAL notice: why it is closing the connection */
};

struct db_pool {
    struct ev_loop *loop;
    char *conninfo;         /* owned */
    struct hosts *hosts;    /* the conninfo taken apart (db_hosts.c), owned */
    struct db_pool_cfg cfg; /* cfg.conninfo == conninfo */
    char addr[ADDR_MAX];    /* for logs; never the password */
    char setup_sql[96];
    char begin_sql[64];  /* BEGIN, and when pooled SET LOCAL statement_timeout after it */
    char timeout_ms[24]; /* cfg.statement_timeout_s in ms, text: pooled units set it first */
    db_state_fn *on_state;
    void *arg;
    struct conn *conns;       /* cfg.size */
    unsigned nup;             /* conns in CONN_UP: the pool is up while > 0 */
    bool starting;            /* no connection attempt has ended yet: requests wait */
    bool told_down;           /* this outage was logged */
    struct req *head, **tail; /* waiting requests, FIFO */
    unsigned nwaiting;
    unsigned group_max;       /* cfg.group_max, 1..ATOMIC_MAX */
    struct req *delivering;   /* a GROUP whose members are being told their results: those
                                 not told yet get -ECANCELED if db_pool_free() runs meanwhile */
    struct db_tx *txs;
    struct conn *listener; /* db_pool_listen()'s connection, or NULL; not in conns */
    char channel[CHANNEL_MAX + 1];
    char listen_sql[192]; /* setup_sql, then LISTEN "channel" */
    db_notify_fn *notify;
    void *notify_arg;
    bool listen_told_down; /* the listener's outage was logged */
    ev_prepare later;      /* what must not run inside an API call; later.data = pool */
    unsigned depth;        /* our watcher callbacks and db_pool_free() on the stack */
    bool closing;          /* db_pool_free() ran; the memory goes when depth drops to 0 */
};

struct db_rows {
    PGresult *res;        /* NULL when there is none */
    const char *error;    /* "" when none */
    const char *sqlstate; /* "" when none */
};

/* ---- db_rows.c --------------------------------------------------------------------------- */

/* A field of the server's error, "" when none. */
const char *res_field(const PGresult *res, int field);
bool res_is_error(const PGresult *res);
/* 0, or how a statement failed (-EIO, -ETIMEDOUT, -ENOTCONN after FATAL/PANIC or 08xxx). */
int res_err(const PGresult *res);
/* `res`'s rows and error; `why` (NULL: the server's message) says what went wrong. `res` is
 * borrowed by the rows: the caller clears it (rows_deliver() does). */
struct db_rows rows_make(PGresult *res, const char *why);
/* Keeps an error result, clears any other and returns NULL. */
PGresult *res_if_error(PGresult *res);
/* Runs `done` once; clears rows->res after. Returns true when the pool was freed meanwhile. */
bool rows_deliver(struct db_pool *pool, db_done_fn *done, void *arg, struct db_rows *rows, int err);

/* ---- db_pool.c --------------------------------------------------------------------------- */

/* A QUERY, TX_QUERY or ATOMIC holding copies of the `n` statements' texts and parameters, in
 * one allocation; the caller sets its callback. Caller owns it, free(). */
struct req *req_new(enum req_kind kind, const struct db_stmt *stmts, int n, void *arg);
/* Whether `sql`, `params` and `nparams` make a statement db.h accepts. */
bool req_args_ok(const char *sql, const char *const *params, int nparams);
/* Ends `req`, which got no usable result, with `err` and the sentence `why`; takes `req` (for
 * a transaction's, see tx_fail()) and `res` (the server's error, may be NULL). Returns true
 * when the pool was freed meanwhile. */
bool req_fail(struct db_pool *pool, struct req *req, PGresult *res, int err, const char *why);
/* 0 when a new request may wait in the queue, else the error db.h's calls return. */
int pool_admit(const struct db_pool *pool);
/* Appends `req` to the wait queue (FIFO); pool_push_front() puts it first instead;
 * pool_dequeue() takes the first, NULL when none waits. */
void pool_enqueue(struct db_pool *pool, struct req *req);
void pool_push_front(struct db_pool *pool, struct req *req);
struct req *pool_dequeue(struct db_pool *pool);
/* Fails every waiting request. Returns true when the pool was freed meanwhile. */
bool pool_fail_waiting(struct db_pool *pool, int err, const char *why);
/* Hands waiting requests, oldest first, to free connections. */
void pool_dispatch(struct db_pool *pool);
/* Leaves one of the pool's callbacks: frees the pool when db_pool_free() ran meanwhile and
 * nothing of it is on the stack any more. */
void pool_leave(struct db_pool *pool);

/* ---- db_conn.c --------------------------------------------------------------------------- */

/* Sets up `c` (down, no PGconn) as connection `id` of `pool`; its timer, once started, makes
 * the first attempt. */
void conn_init(struct db_pool *pool, struct conn *c, unsigned id);
/* Runs `req` (owned by c from now on, see struct req) on the free connection `c`. */
void conn_start(struct conn *c, struct req *req);
/* `c` ran its last request for now: gives it the next one, unless a statement left a
 * transaction open on it, which closes it. */
void conn_release(struct conn *c);
/* Watches the connection's socket for `events` (renew: see there). 0 or -ENOTCONN. */
int conn_watch(struct conn *c, int events, bool renew);
/* Flushes what libpq holds to send; waits for write too while some remains. */
void conn_flush(struct conn *c);
/* A send failed, possibly inside an API call: conn_lost() runs from the pool's `later`. */
void conn_break(struct conn *c, const char *why);
/* The connection failed to come up, or was lost: fails what it ran, reconnects after the
 * backoff, and when it was the last, fails the waiting requests and tells the owner. */
void conn_lost(struct conn *c, const char *text);
/* conn_lost() for a connection conn_break() marked; nothing for any other. */
void conn_lost_broken(struct conn *c);
/* Reads and drops COPY TO STDOUT data: 1 when it ended, 0 when more must come, -1 on error. */
int conn_copy_drain(struct conn *c);
/* Keeps `res` (taken) in c->res unless an error is kept there: the first error, else the
 * last result. */
void conn_hold(struct conn *c, PGresult *res);
/* The prepared statements of `c`: stmt_plan() says how to send `sql` (0: unnamed, else the id
 * of nx_<id>, which must be prepared first when *ret_new); stmt_add() remembers one prepared,
 * stmt_drop() forgets one whose PREPARE failed, stmts_clear() all of them. */
unsigned stmt_plan(struct conn *c, const char *sql, bool *ret_new);
void stmt_add(struct conn *c, const char *sql, unsigned id);
void stmt_drop(struct conn *c, const char *sql);
void stmts_clear(struct conn *c);

/* Connects `c` (CONN_WAIT, its connect deadline running) with these settings (borrowed for
 * the call): PQconnectStartParams(), then CONN_CONNECTING; conn_lost() when libpq refuses. */
void conn_connect_params(struct conn *c, const char *const *keys, const char *const *vals);

/* ---- db_hosts.c -------------------------------------------------------------------------- */

/* A conninfo's settings, and its hosts as libpq reads them: `host` split at ',', each a name
 * to look up or not (an IP address, a socket directory), `port` split the same way. */
struct hosts {
    char **keys, **vals; /* the conninfo's non-empty settings, nkeys of each; owned */
    unsigned nkeys;
    char **host;  /* nhost of them (0: no host= given); owned */
    unsigned nhost;
    char **port;  /* nport of them: 0, 1 (for every host) or one per host; owned */
    unsigned nport;
    bool *named;  /* per host: a name libpq would look up itself */
    bool lookup;  /* some host is a name and no hostaddr= is given: look them up first */
};

/* Settings for PQconnectStartParams(), NULL-terminated; owned, release with
 * conn_params_clear(). */
struct conn_params {
    char **keys, **vals;
};

/* The settings PQconninfoParse() read (`opts`, borrowed for the call), copied and taken
 * apart. Caller owns the result, release with hosts_free() (accepts NULL). */
struct hosts *hosts_new(const PQconninfoOption *opts);
void hosts_free(struct hosts *h);
/* The value of setting `key` (non-empty), or NULL when not given; borrowed from `h`. */
const char *hosts_get(const struct hosts *h, const char *key);
/* `h`'s settings with the addresses found: addrs[i] (for each of h->nhost hosts) is NULL for
 * a host passed as it is, else a NULL-terminated list of IP addresses; a host is repeated once
 * per address (libpq tries them in turn; host= stays for TLS's name check and .pgpass), none
 * drops it, and a port list per host follows. Fills *ret (caller owns it, release with
 * conn_params_clear()) and returns 0, or -ENOENT when no host is left. */
int hosts_splice(const struct hosts *h, char *const *const *addrs, struct conn_params *ret);
void conn_params_clear(struct conn_params *p);

/* ---- db_addr.c --------------------------------------------------------------------------- */

/* Starts `c`'s connection attempt (CONN_WAIT, its connect deadline running, which covers the
 * lookups): with a host name to look up, looks the names up one by one off the loop
 * (lib/resolve.h; c->state CONN_RESOLVING), then conn_connect_params() with hostaddr= the
 * addresses found, or conn_lost() with the resolver's error when no host has one; otherwise
 * conn_connect_params() at once. */
void addr_connect(struct conn *c);
/* Drops `c`'s lookups, if any: their answers are never used (conn_close, db_pool_free). */
void addr_cancel(struct conn *c);

/* ---- db_tx.c ----------------------------------------------------------------------------- */

/* Releases the tx's connection (if any), unlinks it from the pool and frees it. */
void tx_free(struct db_tx *tx);
/* req_fail() for a BEGIN, TX_QUERY, COMMIT or ROLLBACK: `rows` holds the server's error (its
 * res is cleared here). Returns true when the pool was freed meanwhile. */
bool tx_fail(struct db_pool *pool, struct req *req, struct db_rows *rows, int err);
/* A transaction's request on `c` has all its results; `rows` holds them (cleared here). */
void tx_finish(struct conn *c, struct req *req, struct db_rows *rows, int err);
/* Ends the commits of transactions whose connection died (their `done` waits) with `err`;
 * when `stop_on_close`, stops as soon as a callback began freeing the pool. */
void tx_commits_end(struct db_pool *pool, int err, const char *why, bool stop_on_close);

/* ---- db_atomic.c ------------------------------------------------------------------------- */

/* Sends c->req, an ATOMIC or a GROUP, as one pipeline with one Sync. */
void atomic_send(struct conn *c);
/* `req`, an ATOMIC just taken from the wait queue, or a GROUP of it and the groupable ATOMICs
 * waiting right behind it (at most pool->group_max units and ATOMIC_MAX statements). */
struct req *group_gather(struct db_pool *pool, struct req *req);
/* Ends every member of the GROUP `req` not told yet with `err` (< 0) and `why`, then frees
 * the group; `res` (the server's error, may be NULL) is cleared. Returns true when the pool
 * was freed meanwhile. */
bool group_fail(struct db_pool *pool, struct req *req, PGresult *res, int err, const char *why);
/* Reads the unit's results as they come, and ends it at the Sync's. */
void atomic_read(struct conn *c);
/* Runs an ATOMIC's `done` once (`failed` only for an error) and frees `req`; clears rows->res
 * after. Returns true when the pool was freed meanwhile. */
bool atomic_deliver(struct db_pool *pool, struct req *req, struct db_rows *rows, int err,
                    int failed);

/* ---- db_listen.c ------------------------------------------------------------------------- */

/* The listener `c` is up and LISTENs. */
void listen_up(struct conn *c);
/* The listener `c` failed to come up or was lost: logs it once per outage. */
void listen_lost(struct conn *c, const char *why, double retry_s);
/* Hands notifications read on `c` to the owner (those on other connections are dropped).
 * Returns true when the pool was freed meanwhile. */
bool listen_notify(struct conn *c);
/* Closes the listener's connection and stops its watchers (db_pool_free()). */
void listen_close(struct db_pool *pool);

#endif
