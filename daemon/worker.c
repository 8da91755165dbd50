/* worker.c - the worker's life cycle: made with the process's parts, heartbeats, reload,
 * quiet, and the stop in phases (drain, write outcomes, requeue, leave). The path of a job
 * runs through fetch.c -> run.c -> record.c (see worker_int.h and docs/ARCHITECTURE.md). */
#include "daemon/worker.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>
#include <jansson.h>

#include "conf/cfg.h"
#include "daemon/worker_int.h"
#include "lib/job.h"
#include "lib/log.h"
#include "lib/util.h"
#include "lib/xalloc.h"
#include "queue/presence.h"
#include "queue/queue.h"
#include "queue/rconn.h"
#include "sql/db.h"
#include "sql/history.h"

#define STOP_GRACE_S 10.0 /* after the drain, time to write outcomes before giving up */

/* ---- heartbeat ---- */

static json_t *work_snapshot(struct worker *wk)
{
    json_t *work = json_object();
    char slot[32];
    size_t len;

    for (struct run *run = wk->runs.next; run != &wk->runs; run = run->next) {
        const char *raw = job_raw(run->job, &len);
        (void)snprintf(slot, sizeof(slot), "%llx", run->id);
        (void)json_object_set_new(work, slot,
                                  json_pack("{s:s, s:s%, s:f}", "queue",
                                            queue_ref_name(wk->queue, run->ref), "payload", raw,
                                            len, "run_at", run->started_at));
    }
    return work;
}

void worker_beat(struct worker *wk)
{
    json_t *work = work_snapshot(wk), *queues = json_array(), *inflight = json_array();

    for (size_t i = 0; i < wk->norder; i++)
        (void)json_array_append_new(queues, json_string(queue_ref_name(wk->queue, wk->order[i])));
    for (size_t i = 0; i < queue_nrefs(wk->queue); i++)
        (void)json_array_append_new(inflight, json_string(queue_ref_name(wk->queue, (unsigned)i)));
    (void)presence_beat(wk->presence, wk->cfg->concurrency, queues, inflight, wk->nrunning,
                        wk->quiet || wk->phase != STOP_NONE, work, wk->cfg->process_ttl_s);
    json_decref(work);
    json_decref(queues);
    json_decref(inflight);
}

static void beat_on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct worker *wk = w->data;

    worker_beat(wk);
    limits_renew(wk, wk->cfg->process_ttl_s);
}

static void stop_check(struct worker *wk);
static void stop_on_timer(struct ev_loop *loop, ev_timer *w, int revents);

/* Runs once per loop iteration, after the events of that iteration: writes the outcomes
 * they recorded in one batch, and moves a stop on when what it waits for has happened. */
/* Only wakes the loop: flush_on_prepare() then writes the metrics held back. */
static void metrics_on_wake(struct ev_loop *loop, ev_timer *w, int revents)
{
}

static void flush_on_prepare(struct ev_loop *loop, ev_prepare *w, int revents)
{
    struct worker *wk = w->data;
    double due;

    if (queue_unconfirmed(wk->queue) > 0)
        (void)queue_flush(wk->queue);
    else /* the metrics a busy spell held back, once due (at a stop, at once) */
        (void)queue_flush_metrics(wk->queue, wk->phase == STOP_WRITE);
    due = queue_metrics_due(wk->queue);
    /* wakes the loop then; with Redis down, its return does (no retry every millisecond) */
    if (due > 0 && rconn_is_up(wk->conn) && !ev_is_active(&wk->metrics_wake)) {
        ev_timer_set(&wk->metrics_wake, due - ev_now(loop) > 0.001 ? due - ev_now(loop) : 0.001, 0);
        ev_timer_start(loop, &wk->metrics_wake);
    }
    log_flush();
    if (wk->phase == STOP_WRITE)
        stop_check(wk);
}

void worker_redis_changed(struct worker *wk, bool up)
{
    if (wk->on_change)
        wk->on_change(wk, wk->on_change_arg);
    if (!up) {
        /* replies under way fail, and a fetch's may be lost with its jobs already in flight */
        wk->reconcile_needed = true;
        return;
    }
    worker_beat(wk);
    (void)queue_flush(wk->queue);
    fetch_more(wk);
}

/* ---- life cycle ---- */

struct worker *worker_new(struct ev_loop *loop, const struct cfg *cfg,
                          const struct worker_parts *parts)
{
    struct worker *wk = xcalloc(1, sizeof(*wk));

    wk->loop = loop;
    wk->cfg = cfg_ref(cfg);
    wk->addr = parts->addr;
    wk->conn = parts->conn;
    wk->presence = parts->presence;
    wk->queue = parts->queue;
    wk->metrics = parts->metrics;
    wk->db = parts->db;
    wk->history = parts->history;
    wk->env = (struct task_env){
        .loop = loop, .cfg = cfg, .db = parts->db, .redis = parts->conn, .xfer = parts->xfer};
    wk->started_at = util_now();
    run_list_init(&wk->runs);
    run_list_init(&wk->held);
    fetch_queues_apply(wk, cfg);
    limits_build(wk);
    ev_prepare_init(&wk->flush, flush_on_prepare);
    wk->flush.data = wk;
    ev_prepare_start(loop, &wk->flush);
    ev_timer_init(&wk->beat, beat_on_timer, cfg->heartbeat_s, cfg->heartbeat_s);
    wk->beat.data = wk;
    ev_timer_start(loop, &wk->beat);
    ev_timer_init(&wk->refetch, fetch_on_timer, 0, 0);
    wk->refetch.data = wk;
    ev_timer_init(&wk->metrics_wake, metrics_on_wake, 0, 0);
    ev_timer_init(&wk->stop_timer, stop_on_timer, 0, 0);
    wk->stop_timer.data = wk;
    log_info("event=worker_start identity=%s concurrency=%u queues=%zu",
             log_q(presence_identity(wk->presence)), cfg->concurrency, cfg->nqueues);
    return wk;
}

void worker_close(struct worker *wk)
{
    if (!wk)
        return;
    wk->phase = STOP_DONE;
    ev_prepare_stop(wk->loop, &wk->flush);
    ev_timer_stop(wk->loop, &wk->beat);
    ev_timer_stop(wk->loop, &wk->refetch);
    ev_timer_stop(wk->loop, &wk->metrics_wake);
    ev_timer_stop(wk->loop, &wk->stop_timer);
    /* a job a closing BLMOVE moved stays in flight: the next process's reaper recovers it */
    for (size_t i = 0; i < wk->nblocker_slots; i++) {
        rconn_free(wk->blockers[i]);
        wk->blockers[i] = NULL;
    }
}

void worker_free(struct worker *wk)
{
    struct run *run;

    if (!wk)
        return;
    worker_close(wk); /* again: callbacks of the main connection's end may have restarted */
    while ((run = wk->runs.next) != &wk->runs) {
        ev_timer_stop(wk->loop, &run->deadline);
        run_cancel(run, TASK_STOP_SHUTDOWN);
        run_list_del(run);
        run_free(run);
    }
    while ((run = wk->held.next) != &wk->held) {
        run_list_del(run);
        run_free(run);
    }
    limits_free(wk);
    cfg_free(wk->cfg);
    free(wk->blockers);
    free(wk->blocking);
    fetch_drop_ahead(wk);
    free(wk->order);
    free(wk->weights);
    free(wk->scratch);
    free(wk);
}

void worker_reload(struct worker *wk, const struct cfg *cfg)
{
    fetch_queues_apply(wk, cfg);
    cfg_ref(cfg); /* before the old one goes: they may be the same */
    cfg_free(wk->cfg);
    wk->cfg = cfg;
    wk->env.cfg = cfg;
    limits_build(wk);
    fetch_blockers_close(wk, false); /* those of dropped queues */
    ev_timer_stop(wk->loop, &wk->beat);
    ev_timer_set(&wk->beat, cfg->heartbeat_s, cfg->heartbeat_s);
    ev_timer_start(wk->loop, &wk->beat);
    for (struct run *run = wk->held.next; run != &wk->held; run = run->next)
        run_configure(wk, run);
    log_info("event=reloaded concurrency=%u queues=%zu schedules=%zu", cfg->concurrency,
             cfg->nqueues, cfg->nschedules);
    /* held jobs whose class limit was raised or lifted may start now */
    for (struct run *run = wk->held.next, *next; run != &wk->held; run = next) {
        struct limit *limit = limits_find(wk, job_class(run->job));
        next = run->next;
        if (!limit || limit->running < limit->max) {
            run_list_del(run);
            wk->nheld--;
            run_start(run);
        }
    }
    worker_beat(wk);
    fetch_more(wk);
}

void worker_quiet(struct worker *wk)
{
    if (wk->quiet)
        return;
    wk->quiet = true;
    log_info("event=quiet running=%u", wk->nrunning);
    fetch_blockers_close(wk, true);
    fetch_reconcile(wk);
    worker_beat(wk);
}

/* ---- the stop: drain, write, requeue, leave ---- */

static void stop_finish(struct worker *wk)
{
    wk->phase = STOP_DONE;
    ev_timer_stop(wk->loop, &wk->stop_timer);
    log_flush();
    wk->stopped(wk, wk->stopped_arg);
}

static void stop_on_removed(int err, void *arg)
{
    struct worker *wk = arg;

    log_info("event=stopped identity=%s", log_q(presence_identity(wk->presence)));
    stop_finish(wk);
}

static void stop_on_requeued(long long count, int err, void *arg)
{
    struct worker *wk = arg;

    if (err < 0) {
        log_error("event=stop_requeue_failed err=\"Redis unreachable; in-flight jobs stay for "
                  "recovery by the next nexusd\"");
        stop_finish(wk);
        return;
    }
    if (count > 0)
        log_info("event=requeued jobs=%lld", count);
    wk->phase = STOP_LEAVE;
    if (presence_remove(wk->presence, stop_on_removed, wk) < 0)
        stop_finish(wk);
}

/* The write phase: once every outcome is confirmed, every fetch and limit check answered and
 * the job history written (or PostgreSQL away), the unfinished jobs go back to their queues.
 * Checked after each loop iteration's events (flush_on_prepare): nothing polls. */
static void stop_check(struct worker *wk)
{
    if (wk->history)
        history_flush(wk->history);
    if (queue_unconfirmed(wk->queue) > 0 || wk->nfetching > 0 || wk->nblocking > 0 ||
        wk->paused_reading || wk->nchecking > 0 || !rconn_is_up(wk->conn) ||
        (wk->history && history_unwritten(wk->history) > 0 && db_pool_up(wk->db)))
        return;
    wk->phase = STOP_REQUEUE;
    ev_timer_stop(wk->loop, &wk->stop_timer);
    if (queue_requeue_all(wk->queue, stop_on_requeued, wk) < 0)
        stop_on_requeued(0, -ENOTCONN, wk);
}

/* The drain's time is up, or the write phase's. */
static void stop_on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct worker *wk = w->data;
    struct run *run;

    if (wk->phase == STOP_WRITE) {
        log_error("event=stop_incomplete unwritten_outcomes=%zu err=\"Redis unreachable; "
                  "in-flight jobs stay for recovery by the next nexusd\"",
                  queue_unconfirmed(wk->queue));
        stop_finish(wk);
        return;
    }
    if (wk->phase != STOP_DRAIN)
        return;
    /* interrupt what still runs; its jobs go back to their queue */
    while ((run = wk->runs.next) != &wk->runs) {
        log_warn("event=job_interrupted jid=%s class=%s ran_ms=%.0f outcome=requeued",
                 log_q(job_jid(run->job)), log_q(job_class(run->job)),
                 (util_now() - run->started_at) * 1000.0);
        ev_timer_stop(loop, &run->deadline);
        run_cancel(run, TASK_STOP_SHUTDOWN);
        run_list_del(run);
        wk->nrunning--;
        lease_release(wk, run);
        run_free(run);
    }
    worker_stop_continue(wk);
}

void worker_stop_continue(struct worker *wk)
{
    if (wk->phase != STOP_DRAIN)
        return;
    wk->phase = STOP_WRITE;
    ev_timer_stop(wk->loop, &wk->stop_timer);
    ev_timer_set(&wk->stop_timer, STOP_GRACE_S, 0);
    ev_timer_start(wk->loop, &wk->stop_timer);
    /* flush_on_prepare checks before the loop next waits */
}

void worker_stop(struct worker *wk, worker_stopped_fn *done, void *arg)
{
    struct run *run;

    if (wk->phase != STOP_NONE)
        return;
    wk->phase = STOP_DRAIN;
    wk->stopped = done;
    wk->stopped_arg = arg;
    log_info("event=stopping running=%u held=%u timeout=%gs", wk->nrunning, wk->nheld,
             wk->cfg->shutdown_timeout_s);
    ev_timer_stop(wk->loop, &wk->refetch);
    /* a job a closing BLMOVE moved stays in flight and is requeued below */
    for (size_t i = 0; i < wk->nblocker_slots; i++) {
        rconn_free(wk->blockers[i]);
        wk->blockers[i] = NULL;
    }
    while ((run = wk->held.next) != &wk->held) {
        run_list_del(run);
        lease_release(wk, run);
        run_free(run);
    }
    wk->nheld = 0;
    fetch_drop_ahead(wk); /* in flight: requeued with the rest */
    worker_beat(wk);
    ev_timer_set(&wk->stop_timer, wk->cfg->shutdown_timeout_s, 0);
    ev_timer_start(wk->loop, &wk->stop_timer);
    if (wk->nrunning == 0)
        worker_stop_continue(wk);
}

/* ---- what the process is doing ---- */

void worker_stats(const struct worker *wk, struct worker_stats *ret)
{
    *ret = (struct worker_stats){
        .identity = presence_identity(wk->presence),
        .started_at = wk->started_at,
        .concurrency = wk->cfg->concurrency,
        .running = wk->nrunning,
        .held = wk->nheld,
        .redis_up = rconn_is_up(wk->conn),
        .db_configured = wk->db != NULL,
        .db_up = wk->db && db_pool_up(wk->db),
        .quiet = wk->quiet,
        .stopping = wk->phase != STOP_NONE,
    };
}

struct rconn *worker_redis(const struct worker *wk)
{
    return wk->conn;
}

struct metrics *worker_metrics(const struct worker *wk)
{
    return wk->metrics;
}

void worker_on_change(struct worker *wk, worker_change_fn *fn, void *arg)
{
    wk->on_change = fn;
    wk->on_change_arg = arg;
}
