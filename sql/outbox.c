/* outbox.c - the transactional outbox relay: PostgreSQL rows to Redis, exactly once. */
#include "sql/outbox.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "lib/err.h"
#include "lib/job.h"
#include "lib/log.h"
#include "lib/parse.h"
#include "lib/periodic.h"
#include "lib/util.h"
#include "lib/xalloc.h"
#include "queue/durable.h"
#include "queue/keys.h"
#include "queue/lua.h"
#include "queue/rconn.h"
#include "queue/unique.h"
#include "sql/db.h"

#define ROUND_ROWS 500
#define ROUND_ROWS_TEXT "500"
#define OUTBOX_PAUSE_S 5.0
#define OUTBOX_CHANNEL "nexus_outbox" /* NOTIFYed by migration 003 at each insert */

/* pg_try_advisory_xact_lock key: "nexusobx" as a number, shared by every nexusd. */
static const char lock_sql[] = "SELECT pg_try_advisory_xact_lock(7957695318937611384)";
/* commit order (migration 004); rows numbered by no trigger (triggers disabled for the
 * session that wrote them) first, by id */
static const char rows_sql[] = "SELECT id, queue, job, run_at FROM nexus.outbox "
                               "ORDER BY commit_seq NULLS FIRST, id LIMIT " ROUND_ROWS_TEXT;
static const char delete_sql[] = "DELETE FROM nexus.outbox WHERE id = ANY($1::bigint[])";

struct outbox {
    struct db_pool *pool;
    struct rconn *redis;
    struct durable *durable; /* borrowed, or NULL: rows deleted only once replicas have them */
    char *ns;
    char *k_relayed, *k_queues, *k_schedule;
    bool again; /* notified since the last round began: it may have read before that commit */
    double pause_until;    /* after a failed round: no new round before (epoch s) */
    struct periodic *tick; /* its rounds: one at a time */
};

/* One round: the transaction and the ids it moves. */
struct round {
    struct outbox *ob;
    struct db_tx *tx;
    char *ids; /* "{1,2,3}" */
    int nrows;
};

static void round_end(struct round *rd, bool more)
{
    struct outbox *ob = rd->ob;

    free(rd->ids);
    free(rd);
    periodic_done(ob->tick, more || ob->again);
}

static void round_abort(struct round *rd, const char *what, const char *why)
{
    if (why) { /* a failure, unlike a lost lock or an empty outbox: pause, log once */
        log_warn("event=outbox_round_failed step=%s err=%s retry_in=%.0fs", what, log_q(why),
                 OUTBOX_PAUSE_S);
        rd->ob->pause_until = util_now() + OUTBOX_PAUSE_S;
    }
    db_tx_rollback(rd->tx);
    round_end(rd, false);
}

static void round_on_commit(const struct db_rows *rows, int err, void *arg)
{
    struct round *rd = arg;

    if (err < 0) {
        /* the rows stay, their ids are marked: the next round deletes them, pushing nothing */
        log_warn("event=outbox_round_failed step=commit err=%s", log_q(db_rows_error(rows)));
        round_end(rd, false);
        return;
    }
    log_debug("event=outbox_committed rows=%d", rd->nrows);
    round_end(rd, rd->nrows == ROUND_ROWS);
}

static void round_on_deleted(const struct db_rows *rows, int err, void *arg)
{
    struct round *rd = arg;

    if (err < 0) {
        round_abort(rd, "delete", db_rows_error(rows));
        return;
    }
    if (db_tx_commit(rd->tx, round_on_commit, rd) < 0) {
        log_warn("event=outbox_round_failed step=commit err=\"could not send COMMIT\"");
        round_end(rd, false);
    }
}

static void round_delete(struct round *rd)
{
    const char *params[] = {rd->ids};

    if (db_tx_query(rd->tx, delete_sql, params, 1, round_on_deleted, rd) < 0)
        round_abort(rd, "delete", "could not send the DELETE");
}

/* WAIT answered: the rows go only when enough replicas have the push. Otherwise they stay
 * (durable logged the shortfall): the next round pushes them again, which outbox.lua skips
 * (already relayed) while refreshing their marker, a write the next WAIT covers. */
static void round_on_durable(int acked, unsigned want, void *arg)
{
    struct round *rd = arg;

    if (durable_short(acked, want) || acked == -ECANCELED) {
        db_tx_rollback(rd->tx);
        round_end(rd, false);
        return;
    }
    round_delete(rd);
}

static void round_on_pushed(struct redisReply *reply, void *arg)
{
    struct round *rd = arg;
    const char *error = rconn_reply_error(reply);

    if (error) {
        round_abort(rd, "push", error);
        return;
    }
    if (reply->integer > 0)
        log_info("event=outbox_relayed jobs=%lld", reply->integer);
    if (rd->ob->durable)
        durable_after(rd->ob->durable, "outbox", round_on_durable, rd);
    else
        round_delete(rd);
}

/* One row's job as it is pushed. */
struct stamped {
    char *text;               /* owned */
    struct unique_lock lock;  /* a unique job's; its jid points at `jid` */
    char jid[JOB_MAX_JID + 1];
};

/* The job with enqueued_at set now, as a client's push would have it (or as it is, when it
 * does not decode: the worker then buries it with the reason), and the lock under `ns` of a
 * unique job due at `at` (epoch s, NULL for now). Empty `out` with stamped_clear(). */
static void job_stamped(const char *text, const char *ns, const char *at, double now,
                        struct stamped *out)
{
    struct job *job = NULL;
    double due = now;

    memset(out, 0, sizeof(*out));
    if (job_decode(text, strlen(text), "default", util_random(), &job, NULL) == 0) {
        job_set_enqueued_at(job, now);
        out->text = job_encode(job, NULL);
        if (at)
            (void)parse_double(at, 0, 1e11, &due);
        if (unique_lock_make(&out->lock, ns, job, due - now) == 0 && out->lock.key) {
            (void)snprintf(out->jid, sizeof(out->jid), "%s", job_jid(job));
            out->lock.jid = out->jid;
        }
    }
    job_free(job);
    if (!out->text)
        out->text = xstrdup(text);
}

static void stamped_clear(struct stamped *st)
{
    free(st->text);
    unique_lock_clear(&st->lock);
}

/* Pushes the rows with outbox.lua; the ids go into rd->ids for the DELETE. */
static int push_rows(struct round *rd, const struct db_rows *rows)
{
    struct outbox *ob = rd->ob;
    int n = db_rows_count(rows), r;
    size_t nkeys = 3 + 2 * (size_t)n, nargs = 1 + 7 * (size_t)n, idlen = 2, k;
    const char **keys = xcalloc(nkeys + nargs, sizeof(*keys)), **args = keys + nkeys;
    char **queue_keys = xcalloc((size_t)n + 1, sizeof(*queue_keys));
    struct stamped *jobs = xcalloc((size_t)n + 1, sizeof(*jobs));
    char (*lock_at)[16] = xcalloc((size_t)n + 1, sizeof(*lock_at));
    char now_s[32], *p;
    double now = util_now();

    for (int i = 0; i < n; i++)
        idlen += strlen(db_rows_get(rows, i, 0)) + 1;
    rd->ids = xmalloc(idlen + 1);
    p = rd->ids;
    *p++ = '{';
    for (int i = 0; i < n; i++)
        p += sprintf(p, "%s%s", i ? "," : "", db_rows_get(rows, i, 0));
    *p++ = '}';
    *p = '\0';
    (void)snprintf(now_s, sizeof(now_s), "%.6f", now);
    keys[0] = ob->k_relayed;
    keys[1] = ob->k_queues;
    keys[2] = ob->k_schedule;
    args[0] = now_s;
    k = 3 + (size_t)n; /* the unique jobs' locks follow the queues */
    for (int i = 0; i < n; i++) {
        const char *at = db_rows_get(rows, i, 3);
        struct stamped *st = &jobs[i];
        queue_keys[i] = keys_queue(ob->ns, db_rows_get(rows, i, 1));
        job_stamped(db_rows_get(rows, i, 2), ob->ns, at, now, st);
        keys[3 + i] = queue_keys[i];
        (void)snprintf(lock_at[i], sizeof(lock_at[i]), "%zu", st->lock.key ? k + 1 : 0);
        if (st->lock.key)
            keys[k++] = st->lock.key;
        args[1 + 7 * i] = db_rows_get(rows, i, 0);
        args[2 + 7 * i] = db_rows_get(rows, i, 1);
        args[3 + 7 * i] = st->text;
        args[4 + 7 * i] = at ? at : "";
        args[5 + 7 * i] = lock_at[i];
        args[6 + 7 * i] = st->lock.key ? st->lock.jid : "";
        args[7 + 7 * i] = st->lock.ttl_ms;
    }
    rd->nrows = n;
    r = rconn_eval(ob->redis, round_on_pushed, rd, lua_outbox, k, keys, nargs, args, NULL);
    for (int i = 0; i < n; i++) {
        free(queue_keys[i]);
        stamped_clear(&jobs[i]);
    }
    free(queue_keys);
    free(jobs);
    free(lock_at);
    free(keys);
    return r;
}

static void round_on_rows(const struct db_rows *rows, int err, void *arg)
{
    struct round *rd = arg;

    if (err < 0) {
        round_abort(rd, "select", db_rows_error(rows));
        return;
    }
    if (db_rows_count(rows) == 0) {
        round_abort(rd, "select", NULL); /* nothing to relay: end the transaction */
        return;
    }
    if (push_rows(rd, rows) < 0)
        round_abort(rd, "push", "Redis unreachable");
}

static void round_on_lock(const struct db_rows *rows, int err, void *arg)
{
    struct round *rd = arg;
    const char *got = err ? NULL : db_rows_get(rows, 0, 0);

    if (err < 0 || !got || strcmp(got, "t") != 0) {
        /* another process is relaying: it keeps the order, this one waits its turn */
        round_abort(rd, "lock", err < 0 ? db_rows_error(rows) : NULL);
        return;
    }
    if (db_tx_query(rd->tx, rows_sql, NULL, 0, round_on_rows, rd) < 0)
        round_abort(rd, "select", "could not send the SELECT");
}

static void round_on_begin(struct db_tx *tx, int err, const char *why, void *arg)
{
    struct round *rd = arg;

    if (err < 0) {
        round_end(rd, false);
        return;
    }
    rd->tx = tx;
    if (db_tx_query(tx, lock_sql, NULL, 0, round_on_lock, rd) < 0)
        round_abort(rd, "lock", "could not send the lock");
}

/* One round (periodic_tick_fn), unless PostgreSQL or Redis is down or a failure pauses it. */
static bool round_on_tick(void *arg)
{
    struct outbox *ob = arg;
    struct round *rd;

    if (!db_pool_up(ob->pool) || !rconn_is_up(ob->redis) || util_now() < ob->pause_until)
        return false;
    rd = xcalloc(1, sizeof(*rd));
    rd->ob = ob;
    ob->again = false;
    if (db_tx_begin(ob->pool, round_on_begin, rd) < 0) {
        free(rd);
        return false;
    }
    return true;
}

/* A commit inserted jobs, or the listener (re)connected and may have missed some. */
static void listen_on_notify(const char *channel, const char *payload, void *arg)
{
    struct outbox *ob = arg;

    ob->again = true; /* if a round is under way, one more follows it */
    periodic_kick(ob->tick);
}

struct outbox *outbox_new(struct ev_loop *loop, struct db_pool *pool, struct db_pool *listen,
                          struct rconn *redis, const char *ns, double interval_s)
{
    struct outbox *ob = xcalloc(1, sizeof(*ob));

    ob->pool = pool;
    ob->redis = redis;
    ob->ns = xstrdup(ns);
    ob->k_relayed = keys_outbox_relayed(ns);
    ob->k_queues = keys_queues(ns);
    ob->k_schedule = keys_schedule(ns);
    ob->tick = periodic_new(loop, interval_s, 0, round_on_tick, ob);
    if (listen && db_pool_listen(listen, OUTBOX_CHANNEL, listen_on_notify, ob) < 0) {
        outbox_free(ob);
        return NULL;
    }
    return ob;
}

void outbox_free(struct outbox *ob)
{
    if (!ob)
        return;
    periodic_free(ob->tick);
    free(ob->ns);
    free(ob->k_relayed);
    free(ob->k_queues);
    free(ob->k_schedule);
    free(ob);
}

void outbox_set_durable(struct outbox *ob, struct durable *d)
{
    ob->durable = d;
}

void outbox_set_interval(struct outbox *ob, double interval_s)
{
    periodic_set_interval(ob->tick, interval_s);
}

void outbox_stop(struct outbox *ob)
{
    periodic_stop(ob->tick);
}
