/* db_tx.c - transactions a caller holds (db.h): BEGIN waits in the pool's queue, then the
 * caller's statements one at a time on the connection BEGIN took, until COMMIT or ROLLBACK. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>
#include <libpq-fe.h>

#include "lib/xalloc.h"
#include "sql/db_int.h"

static void tx_link(struct db_pool *pool, struct db_tx *tx)
{
    tx->prev = NULL;
    tx->next = pool->txs;
    if (pool->txs)
        pool->txs->prev = tx;
    pool->txs = tx;
}

void tx_free(struct db_tx *tx)
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

/* Sends COMMIT or ROLLBACK on the tx's connection. */
static void tx_end(struct db_tx *tx, enum req_kind kind, db_done_fn *done, void *arg)
{
    tx->state = TX_ENDING;
    tx->ctl = (struct req){.kind = kind, .done = done, .arg = arg, .tx = tx};
    tx->req = &tx->ctl;
    conn_start(tx->conn, &tx->ctl);
}

bool tx_fail(struct db_pool *pool, struct req *req, struct db_rows *rows, int err)
{
    struct db_tx *tx = req->tx;
    db_done_fn *done = req->done;
    db_tx_ready_fn *ready;
    void *arg = req->arg;

    switch (req->kind) {
    case REQ_TX_QUERY:
        free(req);
        tx->req = NULL;
        if (tx->rollback_after) {
            tx_free(tx); /* the caller gave it up: its connection is gone or going */
            PQclear(rows->res);
            *rows = rows_make(NULL, "the transaction was rolled back");
            err = -ECANCELED;
        }
        return rows_deliver(pool, done, arg, rows, err);
    case REQ_BEGIN:
        ready = tx->ready;
        tx_free(tx);
        ready(NULL, err, rows->error, arg);
        PQclear(rows->res);
        return pool->closing;
    case REQ_COMMIT:
        tx_free(tx);
        return rows_deliver(pool, done, arg, rows, err);
    case REQ_ROLLBACK:
        tx_free(tx);
        PQclear(rows->res);
        return pool->closing;
    case REQ_QUERY:
    case REQ_ATOMIC:
    case REQ_GROUP:
        break;
    }
    return pool->closing;
}

/* (see req_finish() in db_conn.c) */
void tx_finish(struct conn *c, struct req *req, struct db_rows *rows, int err)
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
        (void)rows_deliver(pool, done, arg, rows, err);
        return;
    case REQ_COMMIT:
        if (err == 0 && strcmp(PQcmdStatus(rows->res), "COMMIT") != 0) {
            err = -EIO; /* COMMIT of a failed transaction answers ROLLBACK */
            rows->error = "an earlier statement failed, so COMMIT rolled the transaction back";
            rows->sqlstate = "25P02";
        }
        tx_free(tx);
        conn_release(c);
        (void)rows_deliver(pool, done, arg, rows, err);
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
    case REQ_GROUP:
        break;
    }
}

void tx_commits_end(struct db_pool *pool, int err, const char *why, bool stop_on_close)
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
        (void)rows_deliver(pool, done, arg, &rows, err);
    }
}

int db_tx_begin(struct db_pool *pool, db_tx_ready_fn *ready, void *arg)
{
    struct db_tx *tx;
    int r;

    r = pool_admit(pool);
    if (r < 0)
        return r;
    tx = xcalloc(1, sizeof(*tx));
    tx->pool = pool;
    tx->ready = ready;
    tx->state = TX_BEGINNING;
    tx->ctl = (struct req){.kind = REQ_BEGIN, .arg = arg, .tx = tx};
    tx->req = &tx->ctl;
    tx_link(pool, tx);
    pool_enqueue(pool, &tx->ctl);
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
    if (!req_args_ok(sql, params, nparams))
        return -EINVAL;
    req = req_new(REQ_TX_QUERY, &stmt, 1, arg);
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
