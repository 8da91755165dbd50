/* db_atomic.c - atomic units (db_atomic()): statements sent in libpq pipeline mode with one
 * Sync, so that the server runs them as one implicit transaction, all or none; and groups of
 * units (db_atomic_group()) sent the same way, one transaction for several units. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <libpq-fe.h>

#include "lib/xalloc.h"
#include "sql/db_int.h"

bool atomic_deliver(struct db_pool *pool, struct req *req, struct db_rows *rows, int err,
                    int failed)
{
    db_atomic_fn *done = req->atomic;
    void *arg = req->arg;

    if (req->kind == REQ_QUERY) { /* a pooled db_query(), sent as a unit of one */
        db_done_fn *query_done = req->done;
        free(req);
        return rows_deliver(pool, query_done, arg, rows, err);
    }
    free(req);
    done(rows, err, err < 0 ? failed : -1, arg);
    PQclear(rows->res);
    return pool->closing;
}

struct req *group_gather(struct db_pool *pool, struct req *req)
{
    struct req *g, *next;
    struct group *grp;
    int n = 1, nstmts = req->nstmts;

    if (!req->groupable || req->solo || pool->group_max < 2)
        return req;
    for (next = pool->head; next && n < (int)pool->group_max; next = next->next, n++) {
        if (next->kind != REQ_ATOMIC || !next->groupable || next->solo ||
            nstmts + next->nstmts > ATOMIC_MAX)
            break;
        nstmts += next->nstmts;
    }
    if (n == 1)
        return req;
    g = xmalloc(sizeof(*g) + sizeof(*grp) + (size_t)nstmts * sizeof(struct db_stmt));
    grp = (struct group *)(g + 1);
    *g = (struct req){.kind = REQ_GROUP, .stmts = (struct db_stmt *)(grp + 1), .group = grp};
    grp->n = n;
    grp->delivered = 0;
    for (int i = 0; i < n; i++) {
        struct req *m = i == 0 ? req : pool_dequeue(pool);
        for (int k = 0; k < m->nstmts; k++)
            g->stmts[g->nstmts++] = m->stmts[k];
        grp->member[i] = m;
        grp->end[i] = g->nstmts;
    }
    return g;
}

/* Tells the members of `g` not told yet their results, one by one: err 0 with each one's last
 * statement's result, or err < 0 with `why`; then frees the group. While it tells them, the
 * group is pool->delivering, so that a db_pool_free() from a callback tells the rest
 * -ECANCELED (and frees the group). Returns true when the pool was freed meanwhile. */
static bool group_deliver(struct db_pool *pool, struct req *g, int err, const char *why)
{
    struct group *grp = g->group;
    bool inside_free = pool->closing; /* told from db_pool_free(): tell them all */

    pool->delivering = g;
    while (grp->delivered < grp->n) {
        struct req *m = grp->member[grp->delivered++];
        struct db_rows rows = rows_make(err == 0 ? m->last : NULL, err == 0 ? "" : why);

        m->last = NULL;
        if (err < 0)
            PQclear(rows.res);
        if (atomic_deliver(pool, m, &rows, err, -1) && !inside_free)
            return true; /* db_pool_free() told the rest and freed `g` */
    }
    pool->delivering = NULL; /* (db_pool_free() clears it before it tells any group) */
    free(g);
    return pool->closing;
}

bool group_fail(struct db_pool *pool, struct req *req, PGresult *res, int err, const char *why)
{
    struct group *grp = req->group;

    PQclear(res);
    for (int i = grp->delivered; i < grp->n; i++) {
        PQclear(grp->member[i]->last);
        grp->member[i]->last = NULL;
    }
    return group_deliver(pool, req, err, why);
}

/* The group `g` was rolled back: its members go back to the head of the queue, in their order,
 * each to run alone. Frees `g`. */
static void group_requeue(struct db_pool *pool, struct req *g)
{
    struct group *grp = g->group;

    for (int i = grp->n - 1; i >= 0; i--) {
        struct req *m = grp->member[i];
        PQclear(m->last);
        m->last = NULL;
        m->solo = true;
        pool_push_front(pool, m);
    }
    free(g);
}

/* A statement's result in a group: kept as its member's last result when it is the last
 * statement of a member. Returns false (the caller keeps it as for a unit) otherwise. */
static bool group_keep(const struct req *g, int stmt, PGresult *res)
{
    const struct group *grp = g->group;

    for (int i = 0; i < grp->n; i++)
        if (grp->end[i] - 1 == stmt) {
            PQclear(grp->member[i]->last);
            grp->member[i]->last = res;
            return true;
        }
    return false;
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
 * server runs them in one implicit transaction, committed at the Sync. Pooled, the unit's
 * statement_timeout goes first, for this transaction only (set_config's is_local): its
 * result counts as statement -1's. */
void atomic_send(struct conn *c)
{
    static const char timeout_sql[] = "SELECT set_config('statement_timeout', $1, true)";
    const char *const timeout[] = {c->pool->timeout_ms};
    const struct req *req = c->req;
    int ok = PQenterPipelineMode(c->pg);
    bool pooled = c->pool->cfg.pooled;

    c->step = STEP_PIPELINE;
    c->unit_next = pooled ? -1 : 0;
    c->unit_failed = -1;
    c->unit_prep = c->unit_prep_ok = 0;
    if (ok && pooled)
        ok = PQsendQueryParams(c->pg, timeout_sql, 1, NULL, timeout, NULL, NULL, 0);
    for (int i = 0; ok && i < req->nstmts; i++)
        ok = pipeline_queue(c, i);
    if (!ok || !PQpipelineSync(c->pg)) {
        conn_break(c, PQerrorMessage(c->pg)); /* without its Sync, nothing commits */
        return;
    }
    c->unit_in_prep = !pooled && (c->unit_prep & 1);
    conn_flush(c);
}

/* The Sync's result came: the unit committed, or was rolled back at its first error. Leaves
 * pipeline mode, hands the connection on, then reports. */
static void pipeline_done(struct conn *c)
{
    struct req *req = c->req;
    PGresult *res = c->res;
    int failed = c->unit_failed, err = res_err(res);
    bool group = req->kind == REQ_GROUP, left;
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
    left = PQexitPipelineMode(c->pg);
    if (!left) {
        conn_break(c, PQerrorMessage(c->pg));
    } else if (err == 0 && PQtransactionStatus(c->pg) != PQTRANS_IDLE) {
        PQclear(res); /* conn_release() closes the connection: the server rolls back */
        rows = rows_make(NULL, "a statement of the atomic unit opened a transaction block "
                               "(BEGIN), so nothing was committed");
        err = -EIO;
    }
    if (group && err < 0) /* rolled back: each unit alone, first in the queue */
        group_requeue(c->pool, req);
    if (left)
        conn_release(c);
    if (group) { /* committed when err is 0 (its Sync came: also if leaving the mode failed) */
        PQclear(rows.res);
        if (err == 0)
            (void)group_deliver(c->pool, req, 0, "");
        return;
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
    if (req->kind == REQ_GROUP) { /* rolled back with the connection: each unit alone */
        group_requeue(c->pool, req);
        return;
    }
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
void atomic_read(struct conn *c)
{
    PGresult *res;
    int r;

    for (;;) {
        if (c->copy_out && (r = conn_copy_drain(c)) <= 0) {
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
            if (c->req->kind == REQ_GROUP && !res_is_error(res) &&
                group_keep(c->req, c->unit_next, res))
                break;
            conn_hold(c, res);
            break;
        }
    }
}

static int atomic_queue(struct db_pool *pool, const struct db_stmt *stmts, int n,
                        db_atomic_fn *done, void *arg, bool groupable)
{
    struct req *req;
    int r;

    if (!stmts || n < 1 || n > ATOMIC_MAX)
        return -EINVAL;
    for (int i = 0; i < n; i++)
        if (!req_args_ok(stmts[i].sql, stmts[i].params, stmts[i].nparams))
            return -EINVAL;
    r = pool_admit(pool);
    if (r < 0)
        return r;
    req = req_new(REQ_ATOMIC, stmts, n, arg);
    req->atomic = done;
    req->groupable = groupable;
    pool_enqueue(pool, req);
    pool_dispatch(pool);
    return 0;
}

int db_atomic(struct db_pool *pool, const struct db_stmt *stmts, int n, db_atomic_fn *done,
              void *arg)
{
    return atomic_queue(pool, stmts, n, done, arg, false);
}

int db_atomic_group(struct db_pool *pool, const struct db_stmt *stmts, int n, db_atomic_fn *done,
                    void *arg)
{
    return atomic_queue(pool, stmts, n, done, arg, true);
}
