/* db_conn.c - one connection of the pool: connect (non-blocking libpq), set the session up,
 * send a request (prepared once per connection), read its results, and on a loss close and
 * reconnect with backoff. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>
#include <libpq-fe.h>

#include "lib/log.h"
#include "lib/xalloc.h"
#include "sql/db_int.h"

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

static uint64_t hash_text(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */

    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* Watches the connection's socket for `events`. While connecting, `renew` re-registers it
 * even when nothing seems to change: libpq may have replaced the socket under the same
 * number. */
int conn_watch(struct conn *c, int events, bool renew)
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
void conn_break(struct conn *c, const char *why)
{
    (void)line_of(c->broken, sizeof(c->broken), why && *why ? why : "connection lost");
    ev_io_stop(c->pool->loop, &c->io);
    ev_prepare_start(c->pool->loop, &c->pool->later);
}

void conn_flush(struct conn *c)
{
    int r = PQflush(c->pg);

    if (r < 0) {
        conn_break(c, PQerrorMessage(c->pg));
        return;
    }
    c->flushing = r == 1;
    if (conn_watch(c, c->flushing ? EV_READ | EV_WRITE : EV_READ, false) < 0)
        conn_break(c, "libpq has no socket");
}

void stmts_clear(struct conn *c)
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
void stmt_drop(struct conn *c, const char *sql)
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
unsigned stmt_plan(struct conn *c, const char *sql, bool *ret_new)
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

/* Remembers a prepared statement; past STMT_MAX it is just prepared again next time. */
void stmt_add(struct conn *c, const char *sql, unsigned id)
{
    if (c->nstmts == STMT_MAX)
        return;
    c->stmts[c->nstmts++] = (struct stmt){.sql = xstrdup(sql), .hash = hash_text(sql), .id = id};
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

/* Sends c->req: BEGIN/COMMIT/ROLLBACK as simple queries, statements with text parameters,
 * prepared once per connection and SQL text when cfg.prepared (and STMT_MAX allows), atomic
 * units as a pipeline. */
static void conn_send(struct conn *c)
{
    static const char *const ctl[] = {
        [REQ_COMMIT] = "COMMIT", [REQ_ROLLBACK] = "ROLLBACK"}; /* BEGIN: pool->begin_sql */
    const struct req *req = c->req;
    const struct db_stmt *s = req->stmts;
    char name[16];
    unsigned id;
    bool fresh;
    int ok;

    c->res = NULL;
    c->copy = c->copy_out = false;
    c->step = STEP_EXEC;
    if (req->kind == REQ_ATOMIC || req->kind == REQ_GROUP ||
        (req->kind == REQ_QUERY && c->pool->cfg.pooled)) {
        atomic_send(c); /* pooled: after set_config('statement_timeout'), in one transaction */
        return;
    }
    if (!s) {
        ok = PQsendQuery(c->pg, req->kind == REQ_BEGIN ? c->pool->begin_sql : ctl[req->kind]);
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

void conn_start(struct conn *c, struct req *req)
{
    c->req = req;
    conn_send(c);
}

/* `c` ran its last request for now: give it the next one, unless a statement left a
 * transaction open on it (db_query("BEGIN")), which would leak into the next requests. */
void conn_release(struct conn *c)
{
    if (PQtransactionStatus(c->pg) != PQTRANS_IDLE) {
        conn_break(c, "a statement left a transaction open (use db_tx_begin)");
        return;
    }
    pool_dispatch(c->pool);
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
    (void)rows_deliver(c->pool, done, arg, &rows, err);
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
    if (!c->req && !c->broken[0] && conn_watch(c, EV_READ, false) < 0)
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

int conn_copy_drain(struct conn *c)
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
void conn_hold(struct conn *c, PGresult *res)
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
    conn_hold(c, res);
    return 0;
}

/* The socket is ready: send what is left, read what came, and finish the step when libpq
 * has every result (PQgetResult() returned NULL). */
static void conn_pump(struct conn *c)
{
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
    if (listen_notify(c))
        return;
    if (c->state == CONN_UP && !c->req)
        return; /* idle: only notices, or the server closing (seen by PQconsumeInput) */
    if (c->step == STEP_PIPELINE) {
        atomic_read(c);
        return;
    }
    for (;;) {
        if (c->copy_out) {
            r = conn_copy_drain(c);
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

/* One attempt: the deadline covers looking up the hosts' names (db_addr.c) and connecting. */
static void conn_connect(struct conn *c)
{
    struct db_pool *pool = c->pool;

    c->notice[0] = '\0';
    ev_timer_set(&c->timer, pool->cfg.connect_timeout_s, 0);
    ev_timer_start(pool->loop, &c->timer);
    addr_connect(c);
}

void conn_connect_params(struct conn *c, const char *const *keys, const char *const *vals)
{
    c->pg = PQconnectStartParams(keys, vals, 0);
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
    /* as libpq says: poll once the socket is writable */
    if (conn_watch(c, EV_WRITE, true) < 0)
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
        if (conn_watch(c, EV_READ, true) < 0)
            conn_lost(c, "libpq has no socket");
        return;
    case PGRES_POLLING_WRITING:
        if (conn_watch(c, EV_WRITE, true) < 0)
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
    addr_cancel(c);
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

/* One line per change: the pool's state at error/info, a connection's own at warn/debug (the
 * listener's: listen_lost()). */
static void lost_log(struct conn *c, bool was_up, const char *why, double retry_s)
{
    struct db_pool *pool = c->pool;

    if (pool->nup == 0 && !pool->told_down) {
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
void conn_lost(struct conn *c, const char *text)
{
    struct db_pool *pool = c->pool;
    bool was_up = c->state == CONN_UP, went_down = false;
    struct req *req = c->req;
    PGresult *res = c->res;
    struct db_tx *tx = c->tx;
    char why[DB_ERROR_MAX], msg[DB_ERROR_MAX + 40];
    double retry_s = c->backoff_s;

    if (res_err(res) == -ENOTCONN)
        text = rows_make(res, NULL).error;
    else if (c->notice[0])
        text = c->notice;
    /* libpq may quote a part of the conninfo it could not use (a port read from a password),
     * and tells of each address it tried on a line of its own */
    (void)db_connect_error(text && *text ? text : "connection lost", pool->conninfo, why,
                           sizeof(why));
    c->req = NULL;
    c->res = NULL;
    c->tx = NULL;
    conn_close(c);
    if (c == pool->listener) { /* none of the pool's: it runs no request, the pool's state stays */
        listen_lost(c, why, retry_s);
        PQclear(res);
        return;
    }
    if (was_up)
        went_down = --pool->nup == 0;
    if (pool->starting && pool->nup == 0) {
        /* the first attempt failed: the pool is down (as it was: no state change), and the
         * requests that waited for this attempt fail as any would now */
        pool->starting = false;
        if (pool_fail_waiting(pool, -ENOTCONN, "no connection to PostgreSQL is up"))
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
    if (pool_fail_waiting(pool, -ENOTCONN, "no connection to PostgreSQL is up"))
        return;
    if (pool->on_state)
        pool->on_state(false, pool->arg);
}

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
    char why[96];

    pool->depth++;
    if (c->state == CONN_WAIT) {
        conn_connect(c);
    } else {
        (void)snprintf(why, sizeof(why), "connect timed out after %gs%s",
                       pool->cfg.connect_timeout_s,
                       c->state == CONN_RESOLVING ? " looking up the host's name" : "");
        conn_lost(c, why);
    }
    pool_leave(pool);
}

void conn_lost_broken(struct conn *c)
{
    char why[WHY_MAX];

    if (!c->broken[0])
        return;
    memcpy(why, c->broken, sizeof(why));
    conn_lost(c, why);
}

void conn_init(struct db_pool *pool, struct conn *c, unsigned id)
{
    c->pool = pool;
    c->id = id;
    c->backoff_s = BACKOFF_MIN_S;
    ev_io_init(&c->io, conn_on_io, -1, EV_READ);
    c->io.data = c;
    ev_timer_init(&c->timer, conn_on_timer, 0, 0);
    c->timer.data = c;
}
