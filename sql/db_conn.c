/* db.c - a pool of non-blocking libpq connections on the libev loop, reconnecting by itself. */
#include "sql/db.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>
#include <libpq-fe.h>

#include "lib/err.h"
#include "lib/log.h"
#include "lib/parse.h"
#include "lib/urlmask.h"

#define BACKOFF_MIN_S 0.1
#define BACKOFF_MAX_S 5.0
#define POOL_SIZE_MAX 100
#define STMT_MAX 128 /* prepared statements per connection; past it, statements go unprepared */
#define WHY_MAX 256  /* one line of an error text */
#define ADDR_MAX 160 /* host:port/dbname in logs */
#define STATEMENT_TIMEOUT_MAX_S (INT_MAX / 1000.0)
#define ATOMIC_MAX 64  /* statements in one atomic unit */
#define CHANNEL_MAX 63 /* PostgreSQL's identifier length (NAMEDATALEN - 1) */

enum req_kind { REQ_QUERY, REQ_TX_QUERY, REQ_ATOMIC, REQ_BEGIN, REQ_COMMIT, REQ_ROLLBACK };

/* One request. QUERY, TX_QUERY and ATOMIC are one allocation holding their copied SQL texts
 * and parameters; BEGIN, COMMIT and ROLLBACK are embedded in their db_tx (never freed alone). */
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
    PGconn *pg;       /* NULL in CONN_WAIT */
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
    struct db_pool_cfg cfg; /* cfg.conninfo == conninfo */
    char addr[ADDR_MAX];    /* for logs; never the password */
    char setup_sql[96];
    db_state_fn *on_state;
    void *arg;
    struct conn *conns;       /* cfg.size */
    unsigned nup;             /* conns in CONN_UP: the pool is up while > 0 */
    bool starting;            /* no connection attempt has ended yet: requests wait */
    bool told_down;           /* this outage was logged */
    struct req *head, **tail; /* waiting requests, FIFO */
    unsigned nwaiting;
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

static void conn_lost(struct conn *c, const char *text);
static void conn_send(struct conn *c);

/* ---- small helpers ----------------------------------------------------------------------- */

/* The first line of `text`, cut to fit. */
static const char *line_of(char *buf, size_t size, const char *text)
{
    size_t n = strcspn(text, "\n");

    if (n >= size)
        n = size - 1;
    memcpy(buf, text, n);
    buf[n] = '\0';
    return buf;
}

static const char *res_field(const PGresult *res, int field)
{
    const char *s = res ? PQresultErrorField(res, field) : NULL;

    return s ? s : "";
}

static bool res_is_error(const PGresult *res)
{
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;

    return res && st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK;
}

/* 0, or how a statement failed. After FATAL or PANIC the server closes the connection. */
static int res_err(const PGresult *res)
{
    const char *severity = res_field(res, PG_DIAG_SEVERITY_NONLOCALIZED);
    const char *state = res_field(res, PG_DIAG_SQLSTATE);

    if (!res_is_error(res))
        return 0;
    if (strcmp(severity, "FATAL") == 0 || strcmp(severity, "PANIC") == 0 ||
        strncmp(state, "08", 2) == 0)
        return -ENOTCONN;
    if (strcmp(state, "57014") == 0) /* statement_timeout, or a cancel */
        return -ETIMEDOUT;
    return -EIO;
}

/* `res`'s rows and error; `why` (NULL: the server's message) says what went wrong. */
static struct db_rows rows_make(PGresult *res, const char *why)
{
    struct db_rows rows = {.res = res, .error = why, .sqlstate = res_field(res, PG_DIAG_SQLSTATE)};

    if (!rows.error)
        rows.error = res_field(res, PG_DIAG_MESSAGE_PRIMARY);
    if (!rows.error[0] && res_is_error(res))
        rows.error = PQresultStatus(res) == PGRES_EMPTY_QUERY ? "the statement is empty"
                                                              : "PostgreSQL reported an error";
    return rows;
}

/* Keeps an error result, clears any other (its rows mean nothing after a failure). */
static PGresult *res_if_error(PGresult *res)
{
    if (res_is_error(res))
        return res;
    PQclear(res);
    return NULL;
}

/* Runs `done` once; clears rows->res after. Returns true when the pool was freed meanwhile. */
static bool deliver(struct db_pool *pool, db_done_fn *done, void *arg, struct db_rows *rows,
                    int err)
{
    done(rows, err, arg);
    PQclear(rows->res);
    return pool->closing;
}

/* Runs an ATOMIC's `done` once (`failed` only for an error) and frees `req`; clears rows->res
 * after. Returns true when the pool was freed meanwhile. */
static bool atomic_deliver(struct db_pool *pool, struct req *req, struct db_rows *rows, int err,
                           int failed)
{
    db_atomic_fn *done = req->atomic;
    void *arg = req->arg;

    free(req);
    done(rows, err, err < 0 ? failed : -1, arg);
    PQclear(rows->res);
    return pool->closing;
}

static uint64_t hash_text(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */

    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* ---- requests and the wait queue --------------------------------------------------------- */

/* Copies `s` to *p and moves *p past the copy. */
static const char *text_copy(char **p, const char *s)
{
    size_t n = strlen(s) + 1;
    char *copy = memcpy(*p, s, n);

    *p += n;
    return copy;
}

/* A QUERY, TX_QUERY or ATOMIC with the `n` statements' SQL texts and parameters copied into
 * the same allocation: the req, the statements, their parameter arrays, then the texts. */
static struct req *req_new(enum req_kind kind, const struct db_stmt *stmts, int n, void *arg)
{
    size_t size = sizeof(struct req) + (size_t)n * sizeof(struct db_stmt);
    const char **values;
    struct req *req;
    char *p;

    for (int i = 0; i < n; i++) {
        size += (size_t)stmts[i].nparams * sizeof(char *) + strlen(stmts[i].sql) + 1;
        for (int k = 0; k < stmts[i].nparams; k++)
            size += stmts[i].params[k] ? strlen(stmts[i].params[k]) + 1 : 0;
    }
    req = malloc(size);
    if (!req)
        return NULL;
    *req =
        (struct req){.kind = kind, .stmts = (struct db_stmt *)(req + 1), .nstmts = n, .arg = arg};
    values = (const char **)(req->stmts + n);
    p = (char *)values;
    for (int i = 0; i < n; i++)
        p += (size_t)stmts[i].nparams * sizeof(char *);
    for (int i = 0; i < n; i++) {
        const struct db_stmt *s = &stmts[i];
        for (int k = 0; k < s->nparams; k++)
            values[k] = s->params[k] ? text_copy(&p, s->params[k]) : NULL;
        req->stmts[i] =
            (struct db_stmt){.sql = text_copy(&p, s->sql), .params = values, .nparams = s->nparams};
        values += s->nparams;
    }
    return req;
}

static void queue_push(struct db_pool *pool, struct req *req)
{
    req->next = NULL;
    *pool->tail = req;
    pool->tail = &req->next;
    pool->nwaiting++;
}

static struct req *queue_pop(struct db_pool *pool)
{
    struct req *req = pool->head;

    if (!req)
        return NULL;
    pool->head = req->next;
    if (!pool->head)
        pool->tail = &pool->head;
    pool->nwaiting--;
    req->next = NULL;
    return req;
}

/* ---- transactions ------------------------------------------------------------------------ */

static void tx_link(struct db_pool *pool, struct db_tx *tx)
{
    tx->prev = NULL;
    tx->next = pool->txs;
    if (pool->txs)
        pool->txs->prev = tx;
    pool->txs = tx;
}

/* Releases the tx's connection (if any) and frees it. */
static void tx_free(struct db_tx *tx)
{
    if (tx->conn)
        tx->conn->tx = NULL;
    if (tx->prev)
        tx->prev->next = tx->next;
    else
        tx->pool->txs = tx->next;
    if (tx->next)
        tx->next->prev = tx->prev;
    free(tx);
}

/* Ends `req`, which got no usable result, with `err` and the sentence `why`; `res` (taken,
 * may be NULL) is the server's error. Returns true when the pool was freed meanwhile. */
static bool req_fail(struct db_pool *pool, struct req *req, PGresult *res, int err, const char *why)
{
    struct db_rows rows = rows_make(res, why);
    struct db_tx *tx = req->tx;
    db_done_fn *done = req->done;
    db_tx_ready_fn *ready;
    void *arg = req->arg;

    switch (req->kind) {
    case REQ_QUERY:
        free(req);
        return deliver(pool, done, arg, &rows, err);
    case REQ_ATOMIC:
        return atomic_deliver(pool, req, &rows, err, -1); /* not a statement's failure */
    case REQ_TX_QUERY:
        free(req);
        tx->req = NULL;
        if (tx->rollback_after) {
            tx_free(tx); /* the caller gave it up: its connection is gone or going */
            PQclear(res);
            rows = rows_make(NULL, "the transaction was rolled back");
            err = -ECANCELED;
        }
        return deliver(pool, done, arg, &rows, err);
    case REQ_BEGIN:
        ready = tx->ready;
        tx_free(tx);
        ready(NULL, err, rows.error, arg);
        PQclear(res);
        return pool->closing;
    case REQ_COMMIT:
        tx_free(tx);
        return deliver(pool, done, arg, &rows, err);
    case REQ_ROLLBACK:
        tx_free(tx);
        PQclear(res);
        return pool->closing;
    }
    return pool->closing;
}

/* Fails every waiting request. Returns true when the pool was freed meanwhile. */
static bool queue_fail_all(struct db_pool *pool, int err, const char *why)
{
    struct req *req;

    while ((req = queue_pop(pool)))
        if (req_fail(pool, req, NULL, err, why))
            return true;
    return false;
}

/* ---- connections ------------------------------------------------------------------------- */

/* Watches the connection's socket for `events`. While connecting, `renew` re-registers it
 * even when nothing seems to change: libpq may have replaced the socket under the same
 * number. */
static int io_watch(struct conn *c, int events, bool renew)
{
    int fd = PQsocket(c->pg);

    if (fd < 0)
        return -ENOTCONN;
    if (!renew && ev_is_active(&c->io) && c->io.fd == fd &&
        (c->io.events & (EV_READ | EV_WRITE)) == events)
        return 0;
    ev_io_stop(c->pool->loop, &c->io);
    ev_io_set(&c->io, fd, events);
    ev_io_start(c->pool->loop, &c->io);
    return 0;
}

/* A send failed, possibly inside an API call: conn_lost() runs from `later`, so that no
 * callback runs inside the caller's call. */
static void conn_break(struct conn *c, const char *why)
{
    (void)line_of(c->broken, sizeof(c->broken), why && *why ? why : "connection lost");
    ev_io_stop(c->pool->loop, &c->io);
    ev_prepare_start(c->pool->loop, &c->pool->later);
}

static void conn_flush(struct conn *c)
{
    int r = PQflush(c->pg);

    if (r < 0) {
        conn_break(c, PQerrorMessage(c->pg));
        return;
    }
    c->flushing = r == 1;
    if (io_watch(c, c->flushing ? EV_READ | EV_WRITE : EV_READ, false) < 0)
        conn_break(c, "libpq has no socket");
}

static void stmts_clear(struct conn *c)
{
    for (unsigned i = 0; i < c->nstmts; i++)
        free(c->stmts[i].sql);
    c->nstmts = 0;
    c->next_id = 0;
}

static const struct stmt *stmt_find(const struct conn *c, const char *sql)
{
    uint64_t h = hash_text(sql);

    for (unsigned i = 0; i < c->nstmts; i++)
        if (c->stmts[i].hash == h && strcmp(c->stmts[i].sql, sql) == 0)
            return &c->stmts[i];
    return NULL;
}

/* Forgets `sql`'s prepared statement: its PREPARE failed or was not run. */
static void stmt_drop(struct conn *c, const char *sql)
{
    const struct stmt *st = stmt_find(c, sql);
    size_t i;

    if (!st)
        return;
    i = (size_t)(st - c->stmts);
    free(c->stmts[i].sql);
    c->stmts[i] = c->stmts[--c->nstmts];
}

/* How to send `sql`: 0 = unnamed, else as the prepared statement nx_<id>, which must first
 * be prepared when *ret_new (a fresh id). Prepared when cfg.prepared and STMT_MAX allow. */
static unsigned stmt_plan(struct conn *c, const char *sql, bool *ret_new)
{
    const struct stmt *st;

    *ret_new = false;
    if (!c->pool->cfg.prepared)
        return 0;
    st = stmt_find(c, sql);
    if (st)
        return st->id;
    if (c->nstmts == STMT_MAX)
        return 0;
    *ret_new = true;
    return ++c->next_id;
}

/* Remembers a prepared statement; without memory it is just prepared again next time. */
static void stmt_add(struct conn *c, const char *sql, unsigned id)
{
    char *copy;

    if (c->nstmts == STMT_MAX)
        return;
    copy = strdup(sql);
    if (!copy)
        return;
    c->stmts[c->nstmts++] = (struct stmt){.sql = copy, .hash = hash_text(sql), .id = id};
}

static void send_prepared(struct conn *c, unsigned id)
{
    const struct db_stmt *s = c->req->stmts;
    char name[16];

    (void)snprintf(name, sizeof(name), "nx_%u", id);
    c->step = STEP_EXEC;
    if (!PQsendQueryPrepared(c->pg, name, s->nparams, s->params, NULL, NULL, 0)) {
        conn_break(c, PQerrorMessage(c->pg));
        return;
    }
    conn_flush(c);
}

/* Queues statement `i` of the unit, after its PREPARE when it needs one. The statement counts
 * as prepared from now on, so that the unit prepares each text once; pipeline_done() forgets
 * it again when the PREPARE did not succeed. Returns 0 when libpq failed. */
static int pipeline_queue(struct conn *c, int i)
{
    const struct db_stmt *s = &c->req->stmts[i];
    bool fresh;
    unsigned id = stmt_plan(c, s->sql, &fresh);
    char name[16];

    if (!id)
        return PQsendQueryParams(c->pg, s->sql, s->nparams, NULL, s->params, NULL, NULL, 0);
    (void)snprintf(name, sizeof(name), "nx_%u", id);
    if (fresh) {
        if (!PQsendPrepare(c->pg, name, s->sql, s->nparams, NULL))
            return 0;
        c->unit_prep |= UINT64_C(1) << i;
        stmt_add(c, s->sql, id);
    }
    return PQsendQueryPrepared(c->pg, name, s->nparams, s->params, NULL, NULL, 0);
}

/* Sends an atomic unit in one go: its statements in pipeline mode, then one Sync, so that the
 * server runs them in one implicit transaction, committed at the Sync. */
static void pipeline_send(struct conn *c)
{
    const struct req *req = c->req;
    int ok = PQenterPipelineMode(c->pg);

    c->step = STEP_PIPELINE;
    c->unit_next = 0;
    c->unit_failed = -1;
    c->unit_prep = c->unit_prep_ok = 0;
    for (int i = 0; ok && i < req->nstmts; i++)
        ok = pipeline_queue(c, i);
    if (!ok || !PQpipelineSync(c->pg)) {
        conn_break(c, PQerrorMessage(c->pg)); /* without its Sync, nothing commits */
        return;
    }
    c->unit_in_prep = c->unit_prep & 1;
    conn_flush(c);
}

/* Sends c->req: BEGIN/COMMIT/ROLLBACK as simple queries, statements with text parameters,
 * prepared once per connection and SQL text when cfg.prepared (and STMT_MAX allows), atomic
 * units as a pipeline. */
static void conn_send(struct conn *c)
{
    static const char *const ctl[] = {
        [REQ_BEGIN] = "BEGIN", [REQ_COMMIT] = "COMMIT", [REQ_ROLLBACK] = "ROLLBACK"};
    const struct req *req = c->req;
    const struct db_stmt *s = req->stmts;
    char name[16];
    unsigned id;
    bool fresh;
    int ok;

    c->res = NULL;
    c->copy = c->copy_out = false;
    c->step = STEP_EXEC;
    if (req->kind == REQ_ATOMIC) {
        pipeline_send(c);
        return;
    }
    if (!s) {
        ok = PQsendQuery(c->pg, ctl[req->kind]);
    } else if (!(id = stmt_plan(c, s->sql, &fresh))) {
        ok = PQsendQueryParams(c->pg, s->sql, s->nparams, NULL, s->params, NULL, NULL, 0);
    } else if (!fresh) {
        send_prepared(c, id);
        return;
    } else {
        c->prep_id = id;
        (void)snprintf(name, sizeof(name), "nx_%u", c->prep_id);
        c->step = STEP_PREPARE;
        ok = PQsendPrepare(c->pg, name, s->sql, s->nparams, NULL);
    }
    if (!ok) {
        conn_break(c, PQerrorMessage(c->pg));
        return;
    }
    conn_flush(c);
}

static void conn_start(struct conn *c, struct req *req)
{
    c->req = req;
    conn_send(c);
}

/* Hands waiting requests, oldest first, to free connections. */
static void pool_dispatch(struct db_pool *pool)
{
    for (unsigned i = 0; i < pool->cfg.size && pool->head; i++) {
        struct conn *c = &pool->conns[i];
        struct req *req;

        if (c->state != CONN_UP || c->req || c->tx || c->broken[0])
            continue;
        req = queue_pop(pool);
        if (req->kind == REQ_BEGIN) {
            c->tx = req->tx;
            req->tx->conn = c;
        }
        conn_start(c, req);
    }
}

/* `c` ran its last request for now: give it the next one, unless a statement left a
 * transaction open on it (db_query("BEGIN")), which would leak into the next requests. */
static void conn_release(struct conn *c)
{
    if (PQtransactionStatus(c->pg) != PQTRANS_IDLE) {
        conn_break(c, "a statement left a transaction open (use db_tx_begin)");
        return;
    }
    pool_dispatch(c->pool);
}

/* Sends COMMIT or ROLLBACK on the tx's connection. */
static void tx_end(struct db_tx *tx, enum req_kind kind, db_done_fn *done, void *arg)
{
    tx->state = TX_ENDING;
    tx->ctl = (struct req){.kind = kind, .done = done, .arg = arg, .tx = tx};
    tx->req = &tx->ctl;
    conn_start(tx->conn, &tx->ctl);
}

/* A transaction's request has all its results (see req_finish()); `rows` holds `res`. */
static void tx_finish(struct conn *c, struct req *req, struct db_rows *rows, int err)
{
    struct db_pool *pool = c->pool;
    struct db_tx *tx = req->tx;
    db_done_fn *done = req->done;
    db_tx_ready_fn *ready = tx->ready;
    void *arg = req->arg;
    char why[WHY_MAX + 32];

    switch (req->kind) {
    case REQ_BEGIN:
        if (err == 0) {
            tx->req = NULL;
            tx->state = TX_OPEN;
            PQclear(rows->res);
            ready(tx, 0, NULL, arg);
            return;
        }
        tx_free(tx); /* releases c */
        conn_release(c);
        ready(NULL, err, rows->error, arg);
        PQclear(rows->res);
        return;
    case REQ_TX_QUERY:
        free(req);
        tx->req = NULL;
        if (tx->rollback_after) {
            tx_end(tx, REQ_ROLLBACK, NULL, NULL);
            PQclear(rows->res);
            *rows = rows_make(NULL, "the transaction was rolled back");
            err = -ECANCELED;
        }
        (void)deliver(pool, done, arg, rows, err);
        return;
    case REQ_COMMIT:
        if (err == 0 && strcmp(PQcmdStatus(rows->res), "COMMIT") != 0) {
            err = -EIO; /* COMMIT of a failed transaction answers ROLLBACK */
            rows->error = "an earlier statement failed, so COMMIT rolled the transaction back";
            rows->sqlstate = "25P02";
        }
        tx_free(tx);
        conn_release(c);
        (void)deliver(pool, done, arg, rows, err);
        return;
    case REQ_ROLLBACK:
        tx_free(tx);
        (void)snprintf(why, sizeof(why), "ROLLBACK failed: %s", rows->error);
        PQclear(rows->res);
        if (err < 0)
            conn_lost(c, why);
        else
            conn_release(c);
        return;
    case REQ_QUERY:
    case REQ_ATOMIC:
        break;
    }
}

/* c->req has all its results: hand the connection on, then report. */
static void req_finish(struct conn *c)
{
    struct req *req = c->req;
    PGresult *res = c->res;
    int err = res ? res_err(res) : -EIO;
    struct db_rows rows;
    db_done_fn *done = req->done;
    void *arg = req->arg;

    if (err == -ENOTCONN || PQstatus(c->pg) == CONNECTION_BAD) {
        conn_lost(c, PQerrorMessage(c->pg)); /* fails c->req with c->res */
        return;
    }
    c->req = NULL;
    c->res = NULL;
    if (c->copy) {
        PQclear(res);
        rows = rows_make(NULL, "COPY is not supported");
        err = -EIO;
    } else if (!res) {
        rows = rows_make(NULL, "PostgreSQL sent no result");
    } else {
        rows = rows_make(res, err == 0 ? "" : NULL);
    }
    if (req->kind != REQ_QUERY) {
        tx_finish(c, req, &rows, err);
        return;
    }
    free(req);
    conn_release(c);
    (void)deliver(c->pool, done, arg, &rows, err);
}

/* The listener is up and LISTENs: its owner looks for what it missed while it was down. */
static void listen_up(struct conn *c)
{
    struct db_pool *pool = c->pool;

    ev_timer_stop(pool->loop, &c->timer);
    c->state = CONN_UP;
    c->backoff_s = BACKOFF_MIN_S;
    pool->listen_told_down = false;
    log_info("event=db_listen_up addr=%s channel=%s", log_q(pool->addr), pool->channel);
    if (io_watch(c, EV_READ, false) < 0) {
        conn_break(c, "libpq has no socket");
        return;
    }
    pool->notify(pool->channel, NULL, pool->notify_arg);
}

/* The connection is up and set up: it takes waiting requests. */
static void conn_up(struct conn *c)
{
    struct db_pool *pool = c->pool;
    bool went_up;

    if (c == pool->listener) {
        listen_up(c);
        return;
    }
    went_up = pool->nup++ == 0;
    ev_timer_stop(pool->loop, &c->timer);
    c->state = CONN_UP;
    c->backoff_s = BACKOFF_MIN_S;
    log_debug("event=db_conn_up conn=%u addr=%s", c->id, log_q(pool->addr));
    pool->starting = false;
    if (went_up) {
        pool->told_down = false;
        log_info("event=db_up addr=%s conns=%u/%u", log_q(pool->addr), pool->nup, pool->cfg.size);
    }
    pool_dispatch(pool);
    if (!c->req && !c->broken[0] && io_watch(c, EV_READ, false) < 0)
        conn_break(c, "libpq has no socket");
    if (went_up && pool->on_state)
        pool->on_state(true, pool->arg);
}

static void setup_done(struct conn *c)
{
    PGresult *res = c->res;
    char why[WHY_MAX + 32];

    c->res = NULL;
    if (!res || res_is_error(res)) {
        (void)snprintf(why, sizeof(why), "setting up the session failed: %s",
                       res ? rows_make(res, NULL).error : "no result");
        PQclear(res);
        conn_lost(c, why);
        return;
    }
    PQclear(res);
    conn_up(c);
}

static void prepare_done(struct conn *c)
{
    if (!c->res || res_is_error(c->res)) {
        req_finish(c); /* reports the PREPARE's error */
        return;
    }
    PQclear(c->res);
    c->res = NULL;
    stmt_add(c, c->req->stmts->sql, c->prep_id);
    send_prepared(c, c->prep_id);
}

/* Reads and drops COPY TO STDOUT data: 1 when it ended, 0 when more must come, -1 on error. */
static int copy_drain(struct conn *c)
{
    char *buf;
    int n;

    while ((n = PQgetCopyData(c->pg, &buf, 1)) > 0)
        PQfreemem(buf);
    if (n == 0)
        return 0;
    if (n == -1) {
        c->copy_out = false;
        return 1;
    }
    return -1;
}

/* Keeps `res` in c->res unless an error is kept there: the first error, else the last result. */
static void res_hold(struct conn *c, PGresult *res)
{
    if (res_is_error(c->res)) {
        PQclear(res);
        return;
    }
    PQclear(c->res);
    c->res = res;
}

/* Keeps `res` for the request (its first error, else its last result); refuses COPY. */
static int res_keep(struct conn *c, PGresult *res)
{
    switch (PQresultStatus(res)) {
    case PGRES_COPY_IN:
        PQclear(res);
        c->copy = true;
        if (PQputCopyEnd(c->pg, "COPY FROM STDIN is not supported by nexusd") != 1)
            return -1;
        conn_flush(c);
        return 0;
    case PGRES_COPY_OUT:
        PQclear(res);
        c->copy = c->copy_out = true;
        return 0;
    case PGRES_COPY_BOTH:
        PQclear(res);
        return -1;
    default:
        break;
    }
    res_hold(c, res);
    return 0;
}

/* The Sync's result came: the unit committed, or was rolled back at its first error. Leaves
 * pipeline mode, hands the connection on, then reports. */
static void pipeline_done(struct conn *c)
{
    struct req *req = c->req;
    PGresult *res = c->res;
    int failed = c->unit_failed, err = res_err(res);
    struct db_rows rows;

    if (err == -ENOTCONN || PQstatus(c->pg) == CONNECTION_BAD) {
        conn_lost(c, PQerrorMessage(c->pg)); /* fails c->req with c->res */
        return;
    }
    c->req = NULL;
    c->res = NULL;
    rows = rows_make(res, err == 0 ? "" : NULL);
    for (int i = 0; i < req->nstmts; i++)
        if ((c->unit_prep & ~c->unit_prep_ok) >> i & 1)
            stmt_drop(c, req->stmts[i].sql);
    if (!PQexitPipelineMode(c->pg)) {
        conn_break(c, PQerrorMessage(c->pg));
    } else {
        if (err == 0 && PQtransactionStatus(c->pg) != PQTRANS_IDLE) {
            PQclear(res); /* conn_release() closes the connection: the server rolls back */
            rows = rows_make(NULL, "a statement of the atomic unit opened a transaction block "
                                   "(BEGIN), so nothing was committed");
            err = -EIO;
        }
        conn_release(c);
    }
    (void)atomic_deliver(c->pool, req, &rows, err, failed);
}

/* COPY FROM STDIN in a unit: the server waits for data and ignores the Sync, and ending the
 * COPY would send a Sync of its own, committing the statements before it. Closing the
 * connection rolls the unit back. */
static void pipeline_refuse_copy(struct conn *c)
{
    struct req *req = c->req;
    struct db_rows rows = rows_make(NULL, "COPY is not supported");
    int failed = c->unit_next;

    PQclear(c->res);
    c->req = NULL;
    c->res = NULL;
    conn_break(c, "COPY FROM STDIN in an atomic unit: the connection is closed to roll it back");
    (void)atomic_deliver(c->pool, req, &rows, -EIO, failed);
}

/* The results of one libpq command ended: a statement's PREPARE or the statement. Returns
 * false when more came than were sent. */
static bool pipeline_advance(struct conn *c)
{
    if (c->unit_in_prep) {
        c->unit_in_prep = false;
        return true;
    }
    c->unit_next++;
    c->unit_in_prep = c->unit_next < ATOMIC_MAX && (c->unit_prep >> c->unit_next & 1);
    return c->unit_next <= c->req->nstmts;
}

/* Reads an atomic unit's results as they come: each command's up to a NULL, then the Sync's.
 * Keeps the first error (the statements after it come back PIPELINE_ABORTED: not run), else
 * the last result. An empty statement does nothing: it does not abort the pipeline, so it is
 * no error here; COPY TO STDOUT's data is dropped. */
static void pipeline_read(struct conn *c)
{
    PGresult *res;
    int r;

    for (;;) {
        if (c->copy_out && (r = copy_drain(c)) <= 0) {
            if (r < 0)
                conn_lost(c, PQerrorMessage(c->pg));
            return;
        }
        if (PQisBusy(c->pg))
            return;
        res = PQgetResult(c->pg);
        if (!res) { /* the end of one command's results; after a loss, NULL comes forever */
            if (PQstatus(c->pg) == CONNECTION_BAD || !pipeline_advance(c)) {
                conn_lost(c, PQerrorMessage(c->pg));
                return;
            }
            continue;
        }
        switch (PQresultStatus(res)) {
        case PGRES_PIPELINE_SYNC:
            PQclear(res);
            pipeline_done(c);
            return;
        case PGRES_COPY_IN:
        case PGRES_COPY_BOTH:
            PQclear(res);
            pipeline_refuse_copy(c);
            return;
        case PGRES_COPY_OUT:
            c->copy_out = true;
            PQclear(res);
            break;
        case PGRES_PIPELINE_ABORTED:
        case PGRES_EMPTY_QUERY:
            PQclear(res);
            break;
        default:
            if (!res_is_error(c->res) && res_is_error(res))
                c->unit_failed = c->unit_next; /* also when its PREPARE failed */
            if (c->unit_in_prep && !res_is_error(res)) {
                c->unit_prep_ok |= UINT64_C(1) << c->unit_next;
                PQclear(res);
                break;
            }
            res_hold(c, res);
            break;
        }
    }
}

/* The socket is ready: send what is left, read what came, and finish the step when libpq
 * has every result (PQgetResult() returned NULL). */
static void conn_pump(struct conn *c)
{
    struct db_pool *pool = c->pool;
    PGnotify *n;
    PGresult *res;
    int r;

    if (!PQconsumeInput(c->pg)) {
        conn_lost(c, PQerrorMessage(c->pg));
        return;
    }
    if (c->flushing) {
        conn_flush(c);
        if (c->broken[0])
            return;
    }
    while ((n = PQnotifies(c->pg))) {
        if (c == pool->listener)
            pool->notify(n->relname, n->extra, pool->notify_arg);
        PQfreemem(n);
        if (pool->closing)
            return;
    }
    if (c->state == CONN_UP && !c->req)
        return; /* idle: only notices, or the server closing (seen by PQconsumeInput) */
    if (c->step == STEP_PIPELINE) {
        pipeline_read(c);
        return;
    }
    for (;;) {
        if (c->copy_out) {
            r = copy_drain(c);
            if (r < 0) {
                conn_lost(c, PQerrorMessage(c->pg));
                return;
            }
            if (r == 0)
                return;
        }
        if (PQisBusy(c->pg))
            return;
        res = PQgetResult(c->pg);
        if (!res)
            break;
        if (res_keep(c, res) < 0) {
            conn_lost(c, PQerrorMessage(c->pg));
            return;
        }
        if (c->broken[0])
            return;
    }
    if (c->step == STEP_SETUP)
        setup_done(c);
    else if (c->step == STEP_PREPARE)
        prepare_done(c);
    else
        req_finish(c);
}

static void conn_on_notice(void *arg, const PGresult *res)
{
    struct conn *c = arg;
    const char *severity = res_field(res, PG_DIAG_SEVERITY_NONLOCALIZED);
    const char *msg = res_field(res, PG_DIAG_MESSAGE_PRIMARY);

    if (strcmp(severity, "FATAL") == 0 || strcmp(severity, "PANIC") == 0)
        (void)line_of(c->notice, sizeof(c->notice), msg);
    log_debug("event=db_notice conn=%u severity=%s msg=%s", c->id, log_q(severity), log_q(msg));
}

static void conn_connect(struct conn *c)
{
    struct db_pool *pool = c->pool;

    c->notice[0] = '\0';
    c->pg = PQconnectStart(pool->conninfo);
    if (!c->pg) {
        conn_lost(c, "out of memory");
        return;
    }
    (void)PQsetNoticeReceiver(c->pg, conn_on_notice, c);
    if (PQstatus(c->pg) == CONNECTION_BAD) {
        conn_lost(c, PQerrorMessage(c->pg));
        return;
    }
    c->state = CONN_CONNECTING;
    ev_timer_set(&c->timer, pool->cfg.connect_timeout_s, 0);
    ev_timer_start(pool->loop, &c->timer);
    /* as libpq says: poll once the socket is writable */
    if (io_watch(c, EV_WRITE, true) < 0)
        conn_lost(c, "libpq has no socket");
}

static void setup_start(struct conn *c)
{
    struct db_pool *pool = c->pool;
    const char *sql = c == pool->listener ? pool->listen_sql : pool->setup_sql;

    if (PQsetnonblocking(c->pg, 1) != 0 || !PQsendQuery(c->pg, sql)) {
        conn_lost(c, PQerrorMessage(c->pg));
        return;
    }
    c->state = CONN_SETUP;
    c->step = STEP_SETUP;
    c->res = NULL;
    conn_flush(c);
}

static void connect_step(struct conn *c)
{
    switch (PQconnectPoll(c->pg)) {
    case PGRES_POLLING_OK:
        setup_start(c);
        return;
    case PGRES_POLLING_READING:
        if (io_watch(c, EV_READ, true) < 0)
            conn_lost(c, "libpq has no socket");
        return;
    case PGRES_POLLING_WRITING:
        if (io_watch(c, EV_WRITE, true) < 0)
            conn_lost(c, "libpq has no socket");
        return;
    default:
        conn_lost(c, PQerrorMessage(c->pg));
        return;
    }
}

/* Closes the connection and starts the backoff before the next attempt. */
static void conn_close(struct conn *c)
{
    struct db_pool *pool = c->pool;

    ev_io_stop(pool->loop, &c->io); /* before libpq closes the socket */
    ev_timer_stop(pool->loop, &c->timer);
    PQfinish(c->pg);
    c->pg = NULL;
    c->broken[0] = c->notice[0] = '\0';
    c->flushing = c->copy = c->copy_out = false;
    stmts_clear(c);
    c->state = CONN_WAIT;
    ev_timer_set(&c->timer, c->backoff_s, 0);
    ev_timer_start(pool->loop, &c->timer);
    c->backoff_s = fmin(c->backoff_s * 2, BACKOFF_MAX_S);
}

/* One line per change: the pool's state at error/info, a connection's own at warn/debug, the
 * listener's at warn. */
static void lost_log(struct conn *c, bool was_up, const char *why, double retry_s)
{
    struct db_pool *pool = c->pool;
    bool listener = c == pool->listener;

    if (listener && !pool->listen_told_down) {
        log_warn("event=db_listen_down addr=%s channel=%s err=%s retry_in=%.1fs", log_q(pool->addr),
                 pool->channel, log_q(why), retry_s);
        pool->listen_told_down = true;
    } else if (listener) {
        log_debug("event=db_connect_failed conn=%u addr=%s err=%s retry_in=%.1fs", c->id,
                  log_q(pool->addr), log_q(why), retry_s);
    } else if (pool->nup == 0 && !pool->told_down) {
        log_error("event=db_down addr=%s conns=0/%u err=%s retry_in=%.1fs", log_q(pool->addr),
                  pool->cfg.size, log_q(why), retry_s);
        pool->told_down = true;
    } else if (was_up) {
        log_warn("event=db_conn_lost conn=%u addr=%s conns=%u/%u err=%s retry_in=%.1fs", c->id,
                 log_q(pool->addr), pool->nup, pool->cfg.size, log_q(why), retry_s);
    } else {
        log_debug("event=db_connect_failed conn=%u addr=%s err=%s retry_in=%.1fs", c->id,
                  log_q(pool->addr), log_q(why), retry_s);
    }
}

/* The connection failed to come up, or was lost: fail what it ran (never retried: it may
 * have run), reconnect after the backoff, and when it was the last one, fail the waiting
 * requests and tell the owner. */
static void conn_lost(struct conn *c, const char *text)
{
    struct db_pool *pool = c->pool;
    bool was_up = c->state == CONN_UP, went_down = false;
    struct req *req = c->req;
    PGresult *res = c->res;
    struct db_tx *tx = c->tx;
    char why[WHY_MAX], msg[WHY_MAX + 40];
    double retry_s = c->backoff_s;

    if (res_err(res) == -ENOTCONN)
        text = rows_make(res, NULL).error;
    else if (c->notice[0])
        text = c->notice;
    /* libpq may quote a part of the conninfo it could not use (a port read from a password) */
    (void)url_mask_msg(text && *text ? text : "connection lost", pool->conninfo, why, sizeof(why));
    c->req = NULL;
    c->res = NULL;
    c->tx = NULL;
    conn_close(c);
    if (c == pool->listener) { /* none of the pool's: it runs no request, the pool's state stays */
        lost_log(c, was_up, why, retry_s);
        PQclear(res);
        return;
    }
    if (was_up)
        went_down = --pool->nup == 0;
    if (pool->starting && pool->nup == 0) {
        /* the first attempt failed: the pool is down (as it was: no state change), and the
         * requests that waited for this attempt fail as any would now */
        pool->starting = false;
        if (queue_fail_all(pool, -ENOTCONN, "no connection to PostgreSQL is up"))
            return; /* freed by a callback */
    }
    lost_log(c, was_up, why, retry_s);
    if (tx) {
        tx->conn = NULL;
        if (tx->state == TX_OPEN)
            tx->state = TX_DEAD;
    }
    (void)snprintf(msg, sizeof(msg), "connection to PostgreSQL lost: %s", why);
    if (req && req_fail(pool, req, res_if_error(res), -ENOTCONN, msg))
        return;
    if (!req)
        PQclear(res);
    if (!went_down)
        return;
    if (queue_fail_all(pool, -ENOTCONN, "no connection to PostgreSQL is up"))
        return;
    if (pool->on_state)
        pool->on_state(false, pool->arg);
}

/* ---- watchers ---------------------------------------------------------------------------- */

static void pool_leave(struct db_pool *pool);

static void conn_on_io(struct ev_loop *loop, ev_io *w, int revents)
{
    struct conn *c = w->data;
    struct db_pool *pool = c->pool;

    pool->depth++;
    if (c->state == CONN_CONNECTING)
        connect_step(c);
    else
        conn_pump(c);
    pool_leave(pool);
}

static void conn_on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct conn *c = w->data;
    struct db_pool *pool = c->pool;
    char why[64];

    pool->depth++;
    if (c->state == CONN_WAIT) {
        conn_connect(c);
    } else {
        (void)snprintf(why, sizeof(why), "connect timed out after %gs",
                       pool->cfg.connect_timeout_s);
        conn_lost(c, why);
    }
    pool_leave(pool);
}

static void broken_lost(struct conn *c)
{
    char why[WHY_MAX];

    if (!c->broken[0])
        return;
    memcpy(why, c->broken, sizeof(why));
    conn_lost(c, why);
}

/* Ends the commits of transactions whose connection died (their `done` waits) with `err`;
 * when `stop_on_close`, stops as soon as a callback began freeing the pool. */
static void commits_end(struct db_pool *pool, int err, const char *why, bool stop_on_close)
{
    struct db_rows rows;
    struct db_tx *tx;

    while (!(stop_on_close && pool->closing)) {
        for (tx = pool->txs; tx && !tx->commit_later; tx = tx->next)
            ;
        if (!tx)
            break;
        db_done_fn *done = tx->ctl.done;
        void *arg = tx->ctl.arg;
        tx_free(tx);
        rows = rows_make(NULL, why);
        (void)deliver(pool, done, arg, &rows, err);
    }
}

/* Runs just before the loop waits: broken connections, then commits of dead transactions. */
static void later_on_prepare(struct ev_loop *loop, ev_prepare *w, int revents)
{
    struct db_pool *pool = w->data;

    pool->depth++;
    ev_prepare_stop(loop, w);
    for (unsigned i = 0; i < pool->cfg.size && !pool->closing; i++)
        broken_lost(&pool->conns[i]);
    if (pool->listener && !pool->closing)
        broken_lost(pool->listener);
    commits_end(pool, -ENOTCONN, "the transaction's connection was lost: nothing was committed",
                true);
    pool_leave(pool);
}

/* ---- the pool ---------------------------------------------------------------------------- */

static void pool_release(struct db_pool *pool)
{
    for (unsigned i = 0; pool->conns && i < pool->cfg.size; i++) {
        stmts_clear(&pool->conns[i]);
        free(pool->conns[i].stmts);
    }
    free(pool->conns);
    free(pool->listener);
    free(pool->conninfo);
    free(pool);
}

static void pool_leave(struct db_pool *pool)
{
    if (--pool->depth == 0 && pool->closing)
        pool_release(pool);
}

static int cfg_check(const struct db_pool_cfg *cfg, struct err *err)
{
    if (!cfg->conninfo)
        return err_set(err, -EINVAL, "database conninfo is missing");
    if (cfg->size < 1 || cfg->size > POOL_SIZE_MAX)
        return err_set(err, -EINVAL, "database pool size must be 1..%d (got %u)", POOL_SIZE_MAX,
                       cfg->size);
    if (cfg->max_waiting < 1)
        return err_set(err, -EINVAL, "database max_waiting must be at least 1 (got 0)");
    if (!(cfg->connect_timeout_s > 0) || !isfinite(cfg->connect_timeout_s))
        return err_set(err, -EINVAL, "database connect_timeout must be > 0s (got %g)",
                       cfg->connect_timeout_s);
    if (!(cfg->statement_timeout_s >= 0) || cfg->statement_timeout_s > STATEMENT_TIMEOUT_MAX_S)
        return err_set(err, -EINVAL, "database statement_timeout must be 0..%.0fs (got %g)",
                       STATEMENT_TIMEOUT_MAX_S, cfg->statement_timeout_s);
    return 0;
}

/* libpq's reading of `conninfo` into *ret, or a sentence that shows no credential: libpq's
 * own message quotes the token it could not read, which may be part of a password. */
static int conninfo_parse(const char *conninfo, PQconninfoOption **ret, struct err *err)
{
    const char *part;
    char *msg = NULL;
    char line[WHY_MAX];
    size_t pos;
    int r;

    *ret = PQconninfoParse(conninfo, &msg);
    if (*ret)
        return 0;
    if (!msg)
        return err_set(err, -ENOMEM, "out of memory");
    if (url_escape_bad(conninfo, &part, &pos))
        r = err_set(err, -EINVAL,
                    "database conninfo is unusable: a bad %%-escape in %s at byte %zu of the URL "
                    "(a %% starts %%XX with two hex digits, not 00; write %% itself as %%25)",
                    part, pos);
    else
        r = err_set(err, -EINVAL, "database conninfo is unusable: %s",
                    url_mask_msg(msg, conninfo, line, sizeof(line)));
    PQfreemem(msg);
    return r;
}

int db_conninfo_check(const char *conninfo, struct err *err)
{
    PQconninfoOption *opts;
    int r = conninfo_parse(conninfo, &opts, err);

    if (r == 0)
        PQconninfoFree(opts);
    return r;
}

/* Checks the conninfo's syntax and writes host:port/dbname for logs. */
static int conninfo_check(const char *conninfo, char *addr, size_t size, struct err *err)
{
    const char *host = NULL, *hostaddr = NULL, *port = NULL, *db = NULL;
    PQconninfoOption *opts;
    int r = conninfo_parse(conninfo, &opts, err);

    if (r < 0)
        return r;
    for (const PQconninfoOption *o = opts; o->keyword; o++) {
        if (!o->val || !o->val[0])
            continue;
        if (strcmp(o->keyword, "host") == 0)
            host = o->val;
        else if (strcmp(o->keyword, "hostaddr") == 0)
            hostaddr = o->val;
        else if (strcmp(o->keyword, "port") == 0)
            port = o->val;
        else if (strcmp(o->keyword, "dbname") == 0)
            db = o->val;
    }
    (void)snprintf(addr, size, "%s%s%s%s%s",
                   host       ? host
                   : hostaddr ? hostaddr
                              : "local",
                   port ? ":" : "", port ? port : "", db ? "/" : "", db ? db : "");
    PQconninfoFree(opts);
    return 0;
}

static void conn_init(struct db_pool *pool, struct conn *c, unsigned id)
{
    c->pool = pool;
    c->id = id;
    c->backoff_s = BACKOFF_MIN_S;
    ev_io_init(&c->io, conn_on_io, -1, EV_READ);
    c->io.data = c;
    ev_timer_init(&c->timer, conn_on_timer, 0, 0);
    c->timer.data = c;
}

struct db_pool *db_pool_new(struct ev_loop *loop, const struct db_pool_cfg *cfg,
                            db_state_fn *on_state, void *arg, struct err *err)
{
    struct db_pool *pool;
    long long ms;

    if (cfg_check(cfg, err) < 0)
        return NULL;
    pool = calloc(1, sizeof(*pool));
    if (!pool) {
        (void)err_set(err, -ENOMEM, "out of memory");
        return NULL;
    }
    if (conninfo_check(cfg->conninfo, pool->addr, sizeof(pool->addr), err) < 0) {
        free(pool);
        return NULL;
    }
    pool->starting = true; /* requests wait for the first connection attempt to end */
    pool->loop = loop;
    pool->cfg = *cfg;
    pool->on_state = on_state;
    pool->arg = arg;
    pool->tail = &pool->head;
    pool->conninfo = strdup(cfg->conninfo);
    pool->conns = calloc(cfg->size, sizeof(*pool->conns));
    if (!pool->conninfo || !pool->conns)
        goto out_nomem;
    pool->cfg.conninfo = pool->conninfo;
    ms = llround(cfg->statement_timeout_s * 1000);
    if (cfg->statement_timeout_s > 0 && ms == 0)
        ms = 1;
    (void)snprintf(pool->setup_sql, sizeof(pool->setup_sql),
                   "SET statement_timeout = %lld; SET application_name = 'nexusd'", ms);
    ev_prepare_init(&pool->later, later_on_prepare);
    pool->later.data = pool;
    for (unsigned i = 0; i < cfg->size; i++) {
        struct conn *c = &pool->conns[i];
        conn_init(pool, c, i + 1);
        c->stmts = calloc(STMT_MAX, sizeof(*c->stmts));
        if (!c->stmts)
            goto out_nomem;
    }
    /* connect from the loop: no network I/O (nor DNS) inside this call */
    for (unsigned i = 0; i < cfg->size; i++)
        ev_timer_start(loop, &pool->conns[i].timer);
    return pool;

out_nomem:
    pool_release(pool);
    (void)err_set(err, -ENOMEM, "out of memory");
    return NULL;
}

void db_pool_free(struct db_pool *pool)
{
    struct req *req;
    const char *why = "the database pool was freed";

    if (!pool || pool->closing)
        return;
    pool->closing = true;
    pool->depth++;
    ev_prepare_stop(pool->loop, &pool->later);
    for (unsigned i = 0; i < pool->cfg.size; i++) {
        ev_io_stop(pool->loop, &pool->conns[i].io);
        ev_timer_stop(pool->loop, &pool->conns[i].timer);
    }
    if (pool->listener) {
        ev_io_stop(pool->loop, &pool->listener->io);
        ev_timer_stop(pool->loop, &pool->listener->timer);
        PQfinish(pool->listener->pg);
        pool->listener->pg = NULL;
    }
    /* running requests first, then the waiting ones in order; calls made from these
     * callbacks return -ECANCELED (or do nothing) */
    for (unsigned i = 0; i < pool->cfg.size; i++) {
        struct conn *c = &pool->conns[i];
        req = c->req;
        c->req = NULL;
        PQclear(c->res);
        c->res = NULL;
        if (req)
            (void)req_fail(pool, req, NULL, -ECANCELED, why);
    }
    while ((req = queue_pop(pool)))
        (void)req_fail(pool, req, NULL, -ECANCELED, why);
    commits_end(pool, -ECANCELED, why, false);
    for (unsigned i = 0; i < pool->cfg.size; i++) {
        PQfinish(pool->conns[i].pg); /* the server rolls back open transactions */
        pool->conns[i].pg = NULL;
        pool->conns[i].tx = NULL;
    }
    while (pool->txs) {
        pool->txs->conn = NULL;
        tx_free(pool->txs);
    }
    pool->nup = 0;
    pool_leave(pool);
}

bool db_pool_up(const struct db_pool *pool)
{
    return pool->nup > 0 && !pool->closing;
}

int db_pool_listen(struct db_pool *pool, const char *channel, db_notify_fn *fn, void *arg)
{
    size_t n = channel ? strspn(channel, "abcdefghijklmnopqrstuvwxyz0123456789_") : 0;

    if (pool->closing)
        return -ECANCELED;
    if (!fn || n == 0 || n > CHANNEL_MAX || channel[n] || (channel[0] >= '0' && channel[0] <= '9'))
        return -EINVAL;
    if (pool->listener)
        return -EBUSY;
    pool->listener = calloc(1, sizeof(*pool->listener));
    if (!pool->listener)
        return -ENOMEM;
    memcpy(pool->channel, channel, n + 1);
    (void)snprintf(pool->listen_sql, sizeof(pool->listen_sql), "%s; LISTEN \"%s\"", pool->setup_sql,
                   pool->channel);
    pool->notify = fn;
    pool->notify_arg = arg;
    conn_init(pool, pool->listener, pool->cfg.size + 1);
    ev_timer_start(pool->loop, &pool->listener->timer); /* connects from the loop */
    return 0;
}

/* Whether a new request may wait in the queue. */
static int pool_admit(const struct db_pool *pool)
{
    if (pool->closing)
        return -ECANCELED;
    if (pool->nup == 0 && !pool->starting)
        return -ENOTCONN;
    if (pool->nwaiting >= pool->cfg.max_waiting)
        return -EAGAIN;
    return 0;
}

static bool args_ok(const char *sql, const char *const *params, int nparams)
{
    return sql && nparams >= 0 && nparams <= DB_PARAMS_MAX && (params || nparams == 0);
}

int db_query(struct db_pool *pool, const char *sql, const char *const *params, int nparams,
             db_done_fn *done, void *arg)
{
    const struct db_stmt stmt = {.sql = sql, .params = params, .nparams = nparams};
    struct req *req;
    int r;

    if (!args_ok(sql, params, nparams))
        return -EINVAL;
    r = pool_admit(pool);
    if (r < 0)
        return r;
    req = req_new(REQ_QUERY, &stmt, 1, arg);
    if (!req)
        return -ENOMEM;
    req->done = done;
    queue_push(pool, req);
    pool_dispatch(pool);
    return 0;
}

int db_atomic(struct db_pool *pool, const struct db_stmt *stmts, int n, db_atomic_fn *done,
              void *arg)
{
    struct req *req;
    int r;

    if (!stmts || n < 1 || n > ATOMIC_MAX)
        return -EINVAL;
    for (int i = 0; i < n; i++)
        if (!args_ok(stmts[i].sql, stmts[i].params, stmts[i].nparams))
            return -EINVAL;
    r = pool_admit(pool);
    if (r < 0)
        return r;
    req = req_new(REQ_ATOMIC, stmts, n, arg);
    if (!req)
        return -ENOMEM;
    req->atomic = done;
    queue_push(pool, req);
    pool_dispatch(pool);
    return 0;
}

int db_tx_begin(struct db_pool *pool, db_tx_ready_fn *ready, void *arg)
{
    struct db_tx *tx;
    int r;

    r = pool_admit(pool);
    if (r < 0)
        return r;
    tx = calloc(1, sizeof(*tx));
    if (!tx)
        return -ENOMEM;
    tx->pool = pool;
    tx->ready = ready;
    tx->state = TX_BEGINNING;
    tx->ctl = (struct req){.kind = REQ_BEGIN, .arg = arg, .tx = tx};
    tx->req = &tx->ctl;
    tx_link(pool, tx);
    queue_push(pool, &tx->ctl);
    pool_dispatch(pool);
    return 0;
}

int db_tx_query(struct db_tx *tx, const char *sql, const char *const *params, int nparams,
                db_done_fn *done, void *arg)
{
    const struct db_stmt stmt = {.sql = sql, .params = params, .nparams = nparams};
    struct req *req;

    if (tx->pool->closing || tx->state == TX_ENDING)
        return -ECANCELED;
    if (tx->state == TX_DEAD)
        return -ENOTCONN;
    if (tx->req)
        return -EBUSY;
    if (!args_ok(sql, params, nparams))
        return -EINVAL;
    req = req_new(REQ_TX_QUERY, &stmt, 1, arg);
    if (!req)
        return -ENOMEM;
    req->done = done;
    req->tx = tx;
    tx->req = req;
    conn_start(tx->conn, req);
    return 0;
}

int db_tx_commit(struct db_tx *tx, db_done_fn *done, void *arg)
{
    if (tx->pool->closing || tx->state == TX_ENDING)
        return -ECANCELED;
    if (tx->req)
        return -EBUSY;
    if (tx->state == TX_DEAD) {
        tx->state = TX_ENDING;
        tx->commit_later = true;
        tx->ctl = (struct req){.kind = REQ_COMMIT, .done = done, .arg = arg, .tx = tx};
        ev_prepare_start(tx->pool->loop, &tx->pool->later);
        return 0;
    }
    tx_end(tx, REQ_COMMIT, done, arg);
    return 0;
}

void db_tx_rollback(struct db_tx *tx)
{
    if (tx->pool->closing || tx->state == TX_ENDING)
        return;
    if (tx->state == TX_DEAD) {
        tx_free(tx);
        return;
    }
    if (tx->req) {
        tx->state = TX_ENDING;
        tx->rollback_after = true;
        return;
    }
    tx_end(tx, REQ_ROLLBACK, NULL, NULL);
}

/* ---- results ----------------------------------------------------------------------------- */

int db_rows_count(const struct db_rows *rows)
{
    return rows->res ? PQntuples(rows->res) : 0;
}

int db_rows_columns(const struct db_rows *rows)
{
    return rows->res ? PQnfields(rows->res) : 0;
}

const char *db_rows_get(const struct db_rows *rows, int row, int col)
{
    if (!rows->res || row < 0 || col < 0 || row >= PQntuples(rows->res) ||
        col >= PQnfields(rows->res) || PQgetisnull(rows->res, row, col))
        return NULL;
    return PQgetvalue(rows->res, row, col);
}

long long db_rows_affected(const struct db_rows *rows)
{
    int64_t n;

    if (!rows->res || parse_i64(PQcmdTuples(rows->res), 0, INT64_MAX, &n) < 0)
        return 0;
    return n;
}

const char *db_rows_error(const struct db_rows *rows)
{
    return rows->error ? rows->error : "";
}

const char *db_rows_sqlstate(const struct db_rows *rows)
{
    return rows->sqlstate ? rows->sqlstate : "";
}
