/* db_atomic.c - atomic units (db_atomic()): statements sent in libpq pipeline mode with one
 * Sync, so that the server runs them as one implicit transaction, all or none. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <libpq-fe.h>

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
            conn_hold(c, res);
            break;
        }
    }
}

int db_atomic(struct db_pool *pool, const struct db_stmt *stmts, int n, db_atomic_fn *done,
              void *arg)
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
    pool_enqueue(pool, req);
    pool_dispatch(pool);
    return 0;
}
