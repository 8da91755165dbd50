/* db_pool.c - the pool (db.h): checks its configuration, owns its connections, queues
 * requests (FIFO, at most max_waiting) and hands them to free connections; db_query(). */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>
#include <libpq-fe.h>

#include "lib/err.h"
#include "lib/xalloc.h"
#include "lib/urlmask.h"
#include "sql/db_int.h"
#include "sql/lazy_pq.h"

#define POOL_SIZE_MAX 100
#define STATEMENT_TIMEOUT_MAX_S (INT_MAX / 1000.0)

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
struct req *req_new(enum req_kind kind, const struct db_stmt *stmts, int n, void *arg)
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
    req = xmalloc(size);
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

void pool_enqueue(struct db_pool *pool, struct req *req)
{
    req->next = NULL;
    *pool->tail = req;
    pool->tail = &req->next;
    pool->nwaiting++;
}

void pool_push_front(struct db_pool *pool, struct req *req)
{
    req->next = pool->head;
    pool->head = req;
    if (!req->next)
        pool->tail = &req->next;
    pool->nwaiting++;
}

struct req *pool_dequeue(struct db_pool *pool)
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

bool req_fail(struct db_pool *pool, struct req *req, PGresult *res, int err, const char *why)
{
    struct db_rows rows = rows_make(res, why);
    db_done_fn *done = req->done;
    void *arg = req->arg;

    switch (req->kind) {
    case REQ_QUERY:
        free(req);
        return rows_deliver(pool, done, arg, &rows, err);
    case REQ_ATOMIC:
        return atomic_deliver(pool, req, &rows, err, -1); /* not a statement's failure */
    case REQ_GROUP:
        return group_fail(pool, req, res, err, why);
    case REQ_TX_QUERY:
    case REQ_BEGIN:
    case REQ_COMMIT:
    case REQ_ROLLBACK:
        break;
    }
    return tx_fail(pool, req, &rows, err);
}

bool pool_fail_waiting(struct db_pool *pool, int err, const char *why)
{
    struct req *req;

    while ((req = pool_dequeue(pool)))
        if (req_fail(pool, req, NULL, err, why))
            return true;
    return false;
}

void pool_dispatch(struct db_pool *pool)
{
    for (unsigned i = 0; i < pool->cfg.size && pool->head; i++) {
        struct conn *c = &pool->conns[i];
        struct req *req;

        if (c->state != CONN_UP || c->req || c->tx || c->broken[0])
            continue;
        req = pool_dequeue(pool);
        if (req->kind == REQ_ATOMIC)
            req = group_gather(pool, req);
        if (req->kind == REQ_BEGIN) {
            c->tx = req->tx;
            req->tx->conn = c;
        }
        conn_start(c, req);
    }
}

/* Runs just before the loop waits: broken connections, then commits of dead transactions. */
static void later_on_prepare(struct ev_loop *loop, ev_prepare *w, int revents)
{
    struct db_pool *pool = w->data;

    pool->depth++;
    ev_prepare_stop(loop, w);
    for (unsigned i = 0; i < pool->cfg.size && !pool->closing; i++)
        conn_lost_broken(&pool->conns[i]);
    if (pool->listener && !pool->closing)
        conn_lost_broken(pool->listener);
    tx_commits_end(pool, -ENOTCONN, "the transaction's connection was lost: nothing was committed",
                   true);
    pool_leave(pool);
}

static void pool_release(struct db_pool *pool)
{
    for (unsigned i = 0; pool->conns && i < pool->cfg.size; i++) {
        stmts_clear(&pool->conns[i]);
        free(pool->conns[i].stmts);
    }
    free(pool->conns);
    free(pool->listener);
    hosts_free(pool->hosts);
    free(pool->conninfo);
    free(pool);
}

void pool_leave(struct db_pool *pool)
{
    if (--pool->depth == 0 && pool->closing)
        pool_release(pool);
}

static int cfg_check(const struct db_pool_cfg *cfg, struct err *err)
{
    if (!cfg->conninfo)
        return err_set(err, -EINVAL, "database conninfo is missing");
    if (cfg->size > POOL_SIZE_MAX)
        return err_set(err, -EINVAL, "database pool size must be 0..%d (got %u)", POOL_SIZE_MAX,
                       cfg->size);
    if (cfg->pooled && cfg->prepared)
        return err_set(err, -EINVAL,
                       "database prepared statements cannot go through a transaction-mode "
                       "pooler");
    if (cfg->max_waiting < 1)
        return err_set(err, -EINVAL, "database max_waiting must be at least 1 (got 0)");
    if (cfg->group_max > ATOMIC_MAX)
        return err_set(err, -EINVAL, "database group_max must be 0..%d (got %u)", ATOMIC_MAX,
                       cfg->group_max);
    if (!(cfg->connect_timeout_s > 0) || !isfinite(cfg->connect_timeout_s))
        return err_set(err, -EINVAL, "database connect_timeout must be > 0s (got %g)",
                       cfg->connect_timeout_s);
    if (!(cfg->statement_timeout_s >= 0) || cfg->statement_timeout_s > STATEMENT_TIMEOUT_MAX_S)
        return err_set(err, -EINVAL, "database statement_timeout must be 0..%.0fs (got %g)",
                       STATEMENT_TIMEOUT_MAX_S, cfg->statement_timeout_s);
    return 0;
}

/* libpq's reading of `conninfo` into *ret, or a sentence that shows no credential: libpq's
 * own message quotes the token it could not read, which may be part of a password. The first
 * libpq call of every path (pool, nexusctl, migrations): libpq is loaded here
 * (sql/lazy_pq.h), so that a process without a database never maps it. */
static int conninfo_parse(const char *conninfo, PQconninfoOption **ret, struct err *err)
{
    const char *part, *why;
    char *msg = NULL;
    char line[WHY_MAX];
    size_t pos;
    int r;

    *ret = NULL;
    if (lazy_pq_load(&why) < 0)
        return err_set(err, -ENOENT, "PostgreSQL's client library is missing: %s", why);
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

/* Checks the conninfo's syntax, takes it apart into *ret (caller owns it, release with
 * hosts_free()) and writes host:port/dbname for logs. */
static int conninfo_check(const char *conninfo, struct hosts **ret, char *addr, size_t size,
                          struct err *err)
{
    const char *host, *hostaddr, *port, *db;
    PQconninfoOption *opts;
    struct hosts *h;
    int r = conninfo_parse(conninfo, &opts, err);

    if (r < 0)
        return r;
    h = hosts_new(opts);
    PQconninfoFree(opts);
    host = hosts_get(h, "host");
    hostaddr = hosts_get(h, "hostaddr");
    port = hosts_get(h, "port");
    db = hosts_get(h, "dbname");
    (void)snprintf(addr, size, "%s%s%s%s%s",
                   host       ? host
                   : hostaddr ? hostaddr
                              : "local",
                   port ? ":" : "", port ? port : "", db ? "/" : "", db ? db : "");
    *ret = h;
    return 0;
}

struct db_pool *db_pool_new(struct ev_loop *loop, const struct db_pool_cfg *cfg,
                            db_state_fn *on_state, void *arg, struct err *err)
{
    struct db_pool *pool;
    long long ms;

    if (cfg_check(cfg, err) < 0)
        return NULL;
    pool = xcalloc(1, sizeof(*pool));
    if (conninfo_check(cfg->conninfo, &pool->hosts, pool->addr, sizeof(pool->addr), err) < 0) {
        free(pool);
        return NULL;
    }
    pool->starting = true; /* requests wait for the first connection attempt to end */
    pool->loop = loop;
    pool->cfg = *cfg;
    pool->on_state = on_state;
    pool->arg = arg;
    pool->tail = &pool->head;
    pool->conninfo = xstrdup(cfg->conninfo);
    pool->conns = xcalloc(cfg->size, sizeof(*pool->conns));
    pool->cfg.conninfo = pool->conninfo;
    pool->group_max = cfg->group_max ? cfg->group_max : 1;
    ms = llround(cfg->statement_timeout_s * 1000);
    if (cfg->statement_timeout_s > 0 && ms == 0)
        ms = 1;
    (void)snprintf(pool->timeout_ms, sizeof(pool->timeout_ms), "%lld", ms);
    /* pooled: a session SET would land on whichever server connection the pooler lends,
     * and stay there for its other clients; SELECT 1 checks that the server is reached */
    if (cfg->pooled)
        (void)snprintf(pool->setup_sql, sizeof(pool->setup_sql), "SELECT 1");
    else
        (void)snprintf(pool->setup_sql, sizeof(pool->setup_sql),
                       "SET statement_timeout = %lld; SET application_name = 'nexusd'", ms);
    (void)snprintf(pool->begin_sql, sizeof(pool->begin_sql), "BEGIN%s%s",
                   cfg->pooled ? "; SET LOCAL statement_timeout = " : "",
                   cfg->pooled ? pool->timeout_ms : "");
    ev_prepare_init(&pool->later, later_on_prepare);
    pool->later.data = pool;
    for (unsigned i = 0; i < cfg->size; i++) {
        struct conn *c = &pool->conns[i];
        conn_init(pool, c, i + 1);
        c->stmts = xcalloc(STMT_MAX, sizeof(*c->stmts));
        ev_timer_start(loop, &c->timer); /* connects from the loop: no I/O (nor DNS) here */
    }
    return pool;
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
        addr_cancel(&pool->conns[i]);
    }
    listen_close(pool);
    /* the members of a committed group not told yet (this is called from one of their
     * callbacks), running requests, then the waiting ones in order; calls made from these
     * callbacks return -ECANCELED (or do nothing) */
    if ((req = pool->delivering)) {
        pool->delivering = NULL;
        (void)req_fail(pool, req, NULL, -ECANCELED, why);
    }
    for (unsigned i = 0; i < pool->cfg.size; i++) {
        struct conn *c = &pool->conns[i];
        req = c->req;
        c->req = NULL;
        PQclear(c->res);
        c->res = NULL;
        if (req)
            (void)req_fail(pool, req, NULL, -ECANCELED, why);
    }
    while ((req = pool_dequeue(pool)))
        (void)req_fail(pool, req, NULL, -ECANCELED, why);
    tx_commits_end(pool, -ECANCELED, why, false);
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

int pool_admit(const struct db_pool *pool)
{
    if (pool->closing)
        return -ECANCELED;
    if (pool->nup == 0 && !pool->starting)
        return -ENOTCONN;
    if (pool->nwaiting >= pool->cfg.max_waiting)
        return -EAGAIN;
    return 0;
}

bool req_args_ok(const char *sql, const char *const *params, int nparams)
{
    return sql && nparams >= 0 && nparams <= DB_PARAMS_MAX && (params || nparams == 0);
}

int db_query(struct db_pool *pool, const char *sql, const char *const *params, int nparams,
             db_done_fn *done, void *arg)
{
    const struct db_stmt stmt = {.sql = sql, .params = params, .nparams = nparams};
    struct req *req;
    int r;

    if (!req_args_ok(sql, params, nparams))
        return -EINVAL;
    r = pool_admit(pool);
    if (r < 0)
        return r;
    req = req_new(REQ_QUERY, &stmt, 1, arg);
    req->done = done;
    pool_enqueue(pool, req);
    pool_dispatch(pool);
    return 0;
}
