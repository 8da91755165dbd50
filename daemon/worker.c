/* worker.c - fetch -> run handler -> record -> done/retry/dead, on one libev loop. */
#include "daemon/worker.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ev.h>
#include <hiredis/hiredis.h>
#include <jansson.h>

#include "conf/cfg.h"
#include "daemon/metrics.h"
#include "jobs/backoff.h"
#include "jobs/registry.h"
#include "jobs/task.h"
#include "lib/err.h"
#include "lib/job.h"
#include "lib/log.h"
#include "lib/parse.h"
#include "lib/raddr.h"
#include "lib/util.h"
#include "lib/xfer.h"
#include "queue/keys.h"
#include "queue/move.h"
#include "queue/poller.h"
#include "queue/presence.h"
#include "queue/queue.h"
#include "queue/rconn.h"
#include "queue/reaper.h"
#include "queue/sched.h"
#include "sql/db.h"
#include "sql/history.h"
#include "sql/outbox.h"

#define BLOCK_TIMEOUT_S 2.0 /* an idle BLMOVE returns this often to re-check the queues */
#define FETCHES_IN_FLIGHT 2 /* fetch round trips overlapped when busy */
#define FETCH_RETRY_S 1.0   /* after a fetch error other than a lost connection */
#define STOP_GRACE_S 10.0   /* after the drain, time to write outcomes before giving up */
#define STOP_POLL_S 0.01

/* One job held by this process: running, or waiting for its class's concurrency limit. */
struct run {
    struct run *prev, *next; /* in wk->runs or wk->held */
    struct worker *wk;       /* borrowed: outlives every run */
    struct job *job;         /* owned */
    unsigned ref;            /* the queue it came from */
    const struct handler *h; /* static */
    struct task *task;       /* owned; NULL while held */
    ev_timer deadline;       /* deadline.data = run */
    double timeout_s;
    int max_retries; /* for "retry": true */
    double started_at;
    unsigned long long id;
    int attempt;   /* 1 for the first */
    bool starting; /* h->start() is on the stack */
    bool ended;    /* the handler reported */
    bool timed_out;
    bool leased;         /* holds a global concurrency lease of its class */
    unsigned rate_limit; /* its class's shared limits, copied at fetch */
    double rate_period_s;
    unsigned global_limit;
};

/* Jobs of one class in flight, for classes with a concurrency limit. */
struct limit {
    char *name;
    unsigned max; /* > 0 */
    unsigned running;
};

enum stop_phase { STOP_NONE, STOP_DRAIN, STOP_WRITE, STOP_REQUEUE, STOP_LEAVE, STOP_DONE };

struct worker {
    struct ev_loop *loop;
    const struct cfg *cfg;
    const char *version;
    struct raddr addr;
    struct rconn *conn;      /* fetch, outcomes, heartbeat, poller, reaper */
    struct rconn **blockers; /* per queue ref, made on first use: idle BLMOVE */
    bool *blocking;          /* per queue ref: a BLMOVE is out */
    size_t nblocker_slots;
    unsigned nblocking;
    struct queue *queue;
    struct presence *presence;
    struct poller *poller;
    struct reaper *reaper;
    struct sched *sched;     /* cron schedules */
    struct db_pool *db;      /* NULL without database.url */
    struct xfer *xfer;       /* handlers' HTTP and SMTP transfers */
    struct history *history; /* NULL without database.url or with database.history off */
    struct outbox *outbox;   /* NULL without database.url or with database.outbox off */
    struct task_env env;
    unsigned *order; /* refs of the configured queues, in configured order */
    unsigned *weights;
    unsigned *scratch; /* norder weights, for fetch_order() */
    size_t norder;
    struct limit *limits;
    size_t nlimits;
    struct run runs; /* list head: running */
    struct run held; /* list head: waiting for a class slot */
    unsigned nrunning, nheld;
    unsigned nchecking; /* jobs whose shared limits are being asked in Redis */
    unsigned nfetching; /* fetch calls out */
    unsigned requested; /* jobs those calls may bring */
    bool quiet;
    bool reconcile_needed; /* a reply may have been lost: check the in-flight lists */
    bool reconciling;      /* checking them: no fetch until done */
    unsigned nreconciling; /* lists being checked */
    enum stop_phase phase;
    double stop_deadline;
    unsigned long long next_id;
    ev_prepare flush; /* writes outcomes once per loop iteration */
    ev_timer beat;
    ev_timer refetch;
    ev_timer stop_timer;
    worker_stopped_fn *stopped;
    void *stopped_arg;
    struct metrics *metrics; /* job counters for /metrics */
    double started_at;
    worker_change_fn *on_change;
    void *on_change_arg;
};

static void fetch_more(struct worker *wk);
static void stop_continue(struct worker *wk);
static void reconcile_try(struct worker *wk);
static void blocker_on_state(struct rconn *rc, bool up, void *arg);

extern const char lua_limit[];
extern const char lua_lease[];

static void lease_on_reply(struct redisReply *reply, void *arg)
{
    const char *error = rconn_reply_error(reply);

    if (error && reply)
        log_warn("event=lease_update_failed err=%s", log_q(error));
}

/* ---- lists and limits ---- */

static void list_init(struct run *head)
{
    head->prev = head->next = head;
}

static void list_add(struct run *head, struct run *run)
{
    run->prev = head->prev;
    run->next = head;
    head->prev->next = run;
    head->prev = run;
}

static void list_del(struct run *run)
{
    run->prev->next = run->next;
    run->next->prev = run->prev;
    run->prev = run->next = run;
}

static struct limit *limit_find(struct worker *wk, const char *class_name)
{
    for (size_t i = 0; i < wk->nlimits; i++)
        if (strcmp(wk->limits[i].name, class_name) == 0)
            return &wk->limits[i];
    return NULL;
}

/* Rebuilds the limit table from cfg, keeping the counts of classes still limited. */
static int limits_build(struct worker *wk)
{
    struct limit *limits = calloc(wk->cfg->nclasses + 1, sizeof(*limits));
    size_t n = 0;

    if (!limits)
        return -ENOMEM;
    for (size_t i = 0; i < wk->cfg->nclasses; i++) {
        const struct cfg_class *c = &wk->cfg->classes[i];
        struct limit *old;
        if (c->concurrency == 0)
            continue;
        limits[n].name = strdup(c->name);
        if (!limits[n].name)
            goto fail;
        limits[n].max = c->concurrency;
        old = limit_find(wk, c->name);
        limits[n].running = old ? old->running : 0;
        n++;
    }
    for (size_t i = 0; i < wk->nlimits; i++)
        free(wk->limits[i].name);
    free(wk->limits);
    wk->limits = limits;
    wk->nlimits = n;
    return 0;
fail:
    for (size_t i = 0; i < n; i++)
        free(limits[i].name);
    free(limits);
    return -ENOMEM;
}

/* ---- outcomes ---- */

static double ms_since(double t)
{
    return (util_now() - t) * 1000.0;
}

/* One finished attempt into nexus.job_history (batched). */
static void history_note(struct worker *wk, const struct job *job, unsigned ref, int attempt,
                         const char *outcome, double started_at, const char *error_class,
                         const char *error)
{
    struct history_entry e = {
        .jid = job_jid(job),
        .class_name = job_class(job),
        .queue = queue_ref_name(wk->queue, ref),
        .attempt = attempt > 0 ? attempt : 1,
        .outcome = outcome,
        .started_at = started_at,
        .finished_at = util_now(),
        .error_class = error_class,
        .error = error,
    };

    if (wk->history)
        history_add(wk->history, &e);
}

/* A job that cannot run (does not decode, unknown class): straight to dead. */
static void bury(struct worker *wk, struct job *job, unsigned ref, const char *error_class,
                 const char *why)
{
    size_t raw_len;
    const char *raw = job_raw(job, &raw_len);
    double now = util_now();
    char *out = NULL;

    if (job_record_failure(job, error_class, why, now) == 0)
        out = job_encode(job, NULL);
    log_error("event=job jid=%s class=%s queue=%s outcome=dead err=%s", log_q(job_jid(job)),
              log_q(job_class(job)), log_q(queue_ref_name(wk->queue, ref)), log_q(why));
    if (!out) {
        log_error("event=job jid=%s err=\"out of memory; job left in flight for recovery\"",
                  log_q(job_jid(job)));
        return;
    }
    history_note(wk, job, ref, job_retry_count(job) + 1, "dead", now, error_class, why);
    metrics_job_end(wk->metrics, job_class(job), true, -1);
    (void)queue_finish(wk->queue, QUEUE_DEAD, ref, raw, raw_len, out, now);
}

static void record_success(struct worker *wk, struct run *run, double now)
{
    size_t raw_len;
    const char *raw = job_raw(run->job, &raw_len);

    if (log_enabled(LOG_LEVEL_INFO))
        log_info("event=job jid=%s class=%s queue=%s attempt=%d outcome=ok duration_ms=%.3f "
                 "latency_ms=%.3f",
                 log_q(job_jid(run->job)), log_q(job_class(run->job)),
                 log_q(queue_ref_name(wk->queue, run->ref)), run->attempt,
                 (now - run->started_at) * 1000.0,
                 job_enqueued_at(run->job) > 0
                     ? (run->started_at - job_enqueued_at(run->job)) * 1000.0
                     : 0.0);
    history_note(wk, run->job, run->ref, run->attempt, "ok", run->started_at, NULL, NULL);
    (void)queue_finish(wk->queue, QUEUE_DONE, run->ref, raw, raw_len, NULL, 0);
}

static void record_defer(struct worker *wk, struct run *run, double now, double delay_s,
                         const char *why)
{
    size_t raw_len;
    const char *raw = job_raw(run->job, &raw_len);
    char *out = job_encode(run->job, NULL);

    log_info("event=job jid=%s class=%s queue=%s attempt=%d outcome=deferred in=%.3fs why=%s",
             log_q(job_jid(run->job)), log_q(job_class(run->job)),
             log_q(queue_ref_name(wk->queue, run->ref)), run->attempt, delay_s, log_q(why));
    history_note(wk, run->job, run->ref, run->attempt, "deferred", run->started_at, NULL, NULL);
    if (out)
        (void)queue_finish(wk->queue, QUEUE_DEFER, run->ref, raw, raw_len, out, now + delay_s);
}

static void record_failure(struct worker *wk, struct run *run, double now, const char *error_class,
                           const char *why)
{
    size_t raw_len;
    const char *raw = job_raw(run->job, &raw_len);
    enum queue_outcome op;
    double score = now;
    const char *outcome;
    char *out = NULL;
    int count, max;

    if (job_record_failure(run->job, error_class, why, now) == 0)
        out = job_encode(run->job, NULL);
    if (!out) {
        log_error("event=job jid=%s err=\"out of memory; job left in flight for recovery\"",
                  log_q(job_jid(run->job)));
        return;
    }
    count = job_retry_count(run->job);
    max = job_max_retries(run->job, run->max_retries);
    if (!run->timed_out && task_result(run->task) == TASK_REFUSED) /* no retry can help */
        max = count;
    if (count < max) {
        op = QUEUE_RETRY;
        score = now + backoff_delay_s(count, util_random());
        outcome = "retry";
    } else if (job_dead_allowed(run->job)) {
        op = QUEUE_DEAD;
        outcome = "dead";
    } else {
        op = QUEUE_DISCARD;
        outcome = "discarded";
        free(out);
        out = NULL;
    }
    log_write(op == QUEUE_RETRY ? LOG_LEVEL_WARN : LOG_LEVEL_ERROR,
              "event=job jid=%s class=%s queue=%s attempt=%d outcome=%s duration_ms=%.3f "
              "retries=%d/%d in=%.0fs error_class=%s err=%s",
              log_q(job_jid(run->job)), log_q(job_class(run->job)),
              log_q(queue_ref_name(wk->queue, run->ref)), run->attempt, outcome,
              ms_since(run->started_at), count, max, score - now, log_q(error_class), log_q(why));
    history_note(wk, run->job, run->ref, run->attempt, outcome, run->started_at, error_class, why);
    (void)queue_finish(wk->queue, op, run->ref, raw, raw_len, out, score);
}

/* ---- runs ---- */

static void run_free(struct run *run)
{
    if (run->task)
        task_free(run->task);
    job_free(run->job);
    free(run);
}

static void run_start(struct run *run);
static void lease_release(struct worker *wk, struct run *run);

/* Starts the first held job of `class_name`, now that a slot is free. */
static void held_release(struct worker *wk, const char *class_name)
{
    for (struct run *run = wk->held.next; run != &wk->held; run = run->next) {
        if (strcmp(job_class(run->job), class_name) == 0) {
            list_del(run);
            wk->nheld--;
            run_start(run);
            return;
        }
    }
}

/* The attempt is over (reported, or timed out): write its outcome and free it. */
static void run_end(struct run *run)
{
    struct worker *wk = run->wk;
    struct limit *limit = limit_find(wk, job_class(run->job));
    char class_name[JOB_MAX_CLASS + 1];
    double now = util_now();

    ev_timer_stop(wk->loop, &run->deadline);
    list_del(run);
    wk->nrunning--;
    lease_release(wk, run);
    if (limit && limit->running > 0)
        limit->running--;
    if (run->timed_out) {
        char why[128];
        (void)snprintf(why, sizeof(why), "job exceeded its timeout of %gs and was cancelled",
                       run->timeout_s);
        record_failure(wk, run, now, "NexusTimeout", why);
    } else if (task_result(run->task) == TASK_OK) {
        record_success(wk, run, now);
    } else if (task_result(run->task) == TASK_DEFER) {
        record_defer(wk, run, now, task_defer_s(run->task), task_error(run->task));
    } else {
        record_failure(wk, run, now, task_error_class(run->task), task_error(run->task));
    }
    if (run->timed_out || task_result(run->task) != TASK_DEFER)
        metrics_job_end(wk->metrics, job_class(run->job),
                        run->timed_out || task_result(run->task) != TASK_OK, now - run->started_at);
    (void)snprintf(class_name, sizeof(class_name), "%s", job_class(run->job));
    run_free(run);
    if (limit && wk->phase == STOP_NONE)
        held_release(wk, class_name);
    if (wk->phase == STOP_DRAIN && wk->nrunning == 0)
        stop_continue(wk);
    else
        fetch_more(wk);
}

static void run_on_finish(struct task *task, void *arg)
{
    struct run *run = arg;

    run->ended = true;
    if (!run->starting)
        run_end(run);
}

static void run_cancel(struct run *run, enum task_stop why)
{
    task_cancel(run->task, why);
    if (run->h->cancel)
        run->h->cancel(run->task);
}

static void run_on_deadline(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct run *run = w->data;

    run->timed_out = true;
    run_cancel(run, TASK_STOP_TIMEOUT);
    run_end(run);
}

static void run_start(struct run *run)
{
    struct worker *wk = run->wk;
    struct limit *limit = limit_find(wk, job_class(run->job));

    run->task = task_new(run->job, &wk->env, run_on_finish, run);
    if (!run->task) {
        log_error("event=job jid=%s err=\"out of memory; job left in flight for recovery\"",
                  log_q(job_jid(run->job)));
        run_free(run);
        return;
    }
    if (limit)
        limit->running++;
    run->started_at = util_now();
    ev_timer_init(&run->deadline, run_on_deadline, run->timeout_s, 0);
    run->deadline.data = run;
    ev_timer_start(wk->loop, &run->deadline);
    list_add(&wk->runs, run);
    wk->nrunning++;
    log_debug("event=job_start jid=%s class=%s queue=%s attempt=%d", log_q(job_jid(run->job)),
              log_q(job_class(run->job)), log_q(queue_ref_name(wk->queue, run->ref)), run->attempt);
    run->starting = true;
    run->h->start(run->task);
    run->starting = false;
    if (run->ended)
        run_end(run);
}

/* Settings of the job's class: its entry in cfg, else the handler's, else the worker's. */
static void run_configure(struct worker *wk, struct run *run)
{
    const struct cfg_class *cls = cfg_class_find(wk->cfg, job_class(run->job));

    run->timeout_s = wk->cfg->job_timeout_s;
    if (run->h->timeout_s > 0)
        run->timeout_s = run->h->timeout_s;
    if (cls && cls->timeout_set)
        run->timeout_s = cls->timeout_s;
    run->max_retries = cls && cls->max_retries >= 0 ? cls->max_retries : wk->cfg->max_retries;
    run->rate_limit = cls ? cls->rate_limit : 0;
    run->rate_period_s = cls ? cls->rate_period_s : 1;
    run->global_limit = cls ? cls->global_concurrency : 0;
}

/* Starts the run, or holds it while its class is at its limit in this process. */
static void run_admit(struct worker *wk, struct run *run)
{
    struct limit *limit = limit_find(wk, job_class(run->job));

    if (limit && limit->running >= limit->max) {
        list_add(&wk->held, run);
        wk->nheld++;
        return;
    }
    run_start(run);
}

/* ---- limits shared by every process (rate, global concurrency: limit.lua) ---- */

static char *lease_holder(const struct worker *wk, const struct run *run)
{
    char *holder = NULL;

    if (asprintf(&holder, "%s:%llx", presence_identity(wk->presence), run->id) < 0)
        return NULL;
    return holder;
}

/* Renews the lease of `run` for `ttl_s` more seconds, or releases it (ttl_s 0). */
static void lease_send(struct worker *wk, const struct run *run, double ttl_s)
{
    char *key = keys_make(wk->cfg->redis_namespace, "nexus:conc:%s", job_class(run->job));
    char *holder = lease_holder(wk, run), ttl[32] = "";

    if (key && holder) {
        if (ttl_s > 0)
            (void)snprintf(ttl, sizeof(ttl), "%.3f", ttl_s);
        (void)rconn_eval(wk->conn, lease_on_reply, NULL, lua_lease, 1, (const char *[]){key}, 2,
                         (const char *[]){ttl, holder}, NULL);
    }
    free(key);
    free(holder);
}

static void lease_release(struct worker *wk, struct run *run)
{
    if (!run->leased)
        return;
    run->leased = false;
    lease_send(wk, run, 0); /* lost with Redis: the lease then expires by itself */
}

/* The answer of limit.lua for `run`: start it, defer it, or (stopping) drop it. */
static void limits_apply(struct worker *wk, struct run *run, const char *error, double wait)
{
    if (wk->phase != STOP_NONE) { /* its job stays in flight: the stop puts it back */
        if (!error && wait == 0) {
            run->leased = run->global_limit > 0;
            lease_release(wk, run);
        }
        run_free(run);
        return;
    }
    if (error || wait > 0) {
        /* over a limit (or Redis away): back to the schedule for later, no attempt spent */
        record_defer(wk, run, util_now(), error ? 1.0 : wait,
                     error ? "limits unknown: Redis unreachable"
                           : "over a rate or concurrency limit");
        run_free(run);
        fetch_more(wk);
        return;
    }
    run->leased = run->global_limit > 0;
    run_admit(wk, run);
}

static void limits_on_reply(struct redisReply *reply, void *arg)
{
    struct run *run = arg;
    struct worker *wk = run->wk;
    const char *error = rconn_reply_error(reply);
    double wait = 1.0;

    wk->nchecking--;
    if (!error && reply->type == REDIS_REPLY_STRING)
        (void)parse_double(reply->str, 0, 1e9, &wait);
    limits_apply(wk, run, error, wait);
    if (wk->reconciling) /* it waited for this answer: the job is now in a list or deferred */
        reconcile_try(wk);
}

static void shared_limits_ask(struct worker *wk, struct run *run)
{
    char *k_rate = keys_make(wk->cfg->redis_namespace, "nexus:rate:%s", job_class(run->job));
    char *k_conc = keys_make(wk->cfg->redis_namespace, "nexus:conc:%s", job_class(run->job));
    char *holder = lease_holder(wk, run), rate[16], period[32], limit[16], ttl[32];
    int r = -ENOMEM;

    if (k_rate && k_conc && holder) {
        (void)snprintf(rate, sizeof(rate), "%u", run->rate_limit);
        (void)snprintf(period, sizeof(period), "%.6f", run->rate_period_s);
        (void)snprintf(limit, sizeof(limit), "%u", run->global_limit);
        (void)snprintf(ttl, sizeof(ttl), "%.3f", wk->cfg->process_ttl_s);
        r = rconn_eval(wk->conn, limits_on_reply, run, lua_limit, 2,
                       (const char *[]){k_rate, k_conc}, 5,
                       (const char *[]){rate, period, limit, holder, ttl}, NULL);
    }
    free(k_rate);
    free(k_conc);
    free(holder);
    if (r == 0) {
        wk->nchecking++;
        return;
    }
    record_defer(wk, run, util_now(), 1.0, "limits unknown: Redis unreachable");
    run_free(run);
}

/* A job over worker.max_job_size: to dead undecoded, as its excerpt, size and SHA-256 (see
 * job_cut()); the stored text leaves the in-flight list by its digest. Takes item->job. */
static void bury_cut(struct worker *wk, struct queue_item *item)
{
    const char *queue = queue_ref_name(wk->queue, item->ref);
    struct job *job = job_cut(item->job, item->len, item->size, item->sha256, queue, util_random());
    double now = util_now();
    char why[160], *out = NULL;

    free(item->job);
    if (wk->phase != STOP_NONE) { /* stays in flight, put back by the requeue */
        job_free(job);
        return;
    }
    (void)snprintf(why, sizeof(why),
                   "job of %zu bytes exceeds worker.max_job_size (%u); not decoded", item->size,
                   wk->cfg->max_job_size);
    if (job && job_record_failure(job, "NexusJobTooLarge", why, now) == 0)
        out = job_encode(job, NULL);
    if (!out) {
        log_error("event=job err=\"out of memory burying a job of %zu bytes; left in flight for "
                  "recovery\"",
                  item->size);
        job_free(job);
        return;
    }
    log_error("event=job jid=%s class=%s queue=%s outcome=dead size=%zu sha256=%s err=%s",
              log_q(job_jid(job)), log_q(job_class(job)), log_q(queue), item->size, item->sha256,
              log_q(why));
    history_note(wk, job, item->ref, 1, "dead", now, "NexusJobTooLarge", why);
    metrics_job_end(wk->metrics, job_class(job), true, -1);
    (void)queue_finish_cut(wk->queue, item, out, now);
    job_free(job);
}

/* A fetched job: decode, check, then run it, hold it, or bury it. Takes item->job. */
static void accept_item(struct worker *wk, struct queue_item *item)
{
    struct err err = {0};
    struct job *job = NULL;
    struct run *run;
    char why[256];
    int r;

    if (item->cut) {
        bury_cut(wk, item);
        return;
    }
    r = job_decode(item->job, item->len, queue_ref_name(wk->queue, item->ref), util_random(), &job,
                   &err);
    free(item->job);
    if (job && wk->phase != STOP_NONE) {
        job_free(job); /* fetched while stopping: stays in flight, put back by the requeue */
        return;
    }
    if (!job) {
        log_error("event=job err=\"out of memory decoding a job; left in flight for recovery\"");
        return;
    }
    if (r < 0) {
        (void)job_cut_raw(job, wk->cfg->dead_keep_max); /* on failure, kept whole */
        bury(wk, job, item->ref, "NexusInvalidJob", err.msg);
        job_free(job);
        return;
    }
    run = calloc(1, sizeof(*run));
    if (!run) {
        job_free(job);
        return;
    }
    run->wk = wk;
    run->job = job;
    run->ref = item->ref;
    run->id = ++wk->next_id;
    run->attempt = job_retry_count(job) + 2;
    list_init(run);
    run->h = handler_find(wk->cfg, job_class(job));
    if (!run->h) {
        (void)snprintf(why, sizeof(why), "unknown job class '%.128s'", job_class(job));
        bury(wk, job, item->ref, "NexusUnknownClass", why);
        run_free(run);
        return;
    }
    run_configure(wk, run);
    if (run->rate_limit || run->global_limit)
        shared_limits_ask(wk, run);
    else
        run_admit(wk, run);
}

/* ---- fetching ---- */

static unsigned capacity(const struct worker *wk)
{
    unsigned used = wk->nrunning + wk->nheld + wk->nchecking + wk->requested + wk->nblocking;

    return used >= wk->cfg->concurrency ? 0 : wk->cfg->concurrency - used;
}

static bool may_fetch(const struct worker *wk)
{
    return wk->phase == STOP_NONE && !wk->quiet && !wk->reconciling && rconn_is_up(wk->conn);
}

/* The queues in the order to take from: as configured (strict), or a weighted shuffle
 * (each place drawn among the queues left, with chances proportional to their weights). */
static void fetch_order(struct worker *wk, unsigned *out)
{
    unsigned total = 0, *w = wk->scratch;
    size_t n = wk->norder;

    memcpy(out, wk->order, n * sizeof(*out));
    if (!wk->cfg->queues_weighted)
        return;
    memcpy(w, wk->weights, n * sizeof(*w));
    for (size_t i = 0; i < n; i++)
        total += w[i];
    for (size_t i = 0; i + 1 < n; i++) {
        unsigned pick = (unsigned)(util_random() % total), acc = 0, t;
        size_t j;
        for (j = i; j + 1 < n; j++) {
            acc += w[j];
            if (pick < acc)
                break;
        }
        total -= w[j];
        t = out[i], out[i] = out[j], out[j] = t;
        t = w[i], w[i] = w[j], w[j] = t;
    }
}

/* A fetch or BLMOVE under way. */
struct fetch_call {
    struct worker *wk;
    unsigned want; /* jobs asked for */
    unsigned ref;  /* BLMOVE: its queue */
};

static void block_on_job(struct queue_item *items, size_t n, int err, void *arg);

/* Idle: one BLMOVE per queue, so that a push wakes this process within a round trip. A
 * paused queue gets none: a fetch every BLOCK_TIMEOUT_S notices its resume. */
static void block_missing(struct worker *wk)
{
    unsigned order[wk->norder ? wk->norder : 1];
    struct fetch_call *call;

    fetch_order(wk, order);
    for (size_t i = 0; i < wk->norder && capacity(wk) > 0 && may_fetch(wk); i++) {
        unsigned ref = order[i];
        struct rconn *b = wk->blockers[ref];
        if (queue_ref_paused(wk->queue, ref)) {
            if (!ev_is_active(&wk->refetch)) {
                ev_timer_set(&wk->refetch, BLOCK_TIMEOUT_S, 0);
                ev_timer_start(wk->loop, &wk->refetch);
            }
            continue;
        }
        if (!b) /* made on first need; it calls back when connected */
            wk->blockers[ref] = rconn_new(wk->loop, &wk->addr, "blocking-fetch",
                                          wk->cfg->redis_connect_timeout_s, blocker_on_state, wk);
        if (wk->blocking[ref] || !b || !rconn_is_up(b))
            continue;
        call = malloc(sizeof(*call));
        if (!call)
            return;
        call->wk = wk;
        call->want = 1;
        call->ref = ref;
        if (queue_block(wk->queue, b, ref, BLOCK_TIMEOUT_S, block_on_job, call) < 0) {
            free(call);
            continue;
        }
        wk->blocking[ref] = true;
        wk->nblocking++;
    }
}

static void block_on_job(struct queue_item *items, size_t n, int err, void *arg)
{
    struct fetch_call *call = arg;
    struct worker *wk = call->wk;

    wk->blocking[call->ref] = false;
    wk->nblocking--;
    free(call);
    for (size_t i = 0; i < n; i++)
        accept_item(wk, &items[i]);
    if (err < 0)
        wk->reconcile_needed = true; /* its job may be in flight with the reply lost */
    if (wk->phase == STOP_NONE)
        fetch_more(wk); /* a job came (others may follow) or the wait timed out */
}

static void fetch_on_jobs(struct queue_item *items, size_t n, int err, void *arg);

static void fetch_more(struct worker *wk)
{
    unsigned order[wk->norder ? wk->norder : 1], want;
    struct fetch_call *call;

    if (wk->reconcile_needed || wk->reconciling) {
        reconcile_try(wk);
        return;
    }
    while (may_fetch(wk) && wk->nfetching < FETCHES_IN_FLIGHT && (want = capacity(wk)) > 0) {
        if (wk->nfetching > 0 && want < wk->cfg->fetch_batch / 2 + 1)
            return; /* a second call only for a worthwhile batch */
        if (want > wk->cfg->fetch_batch)
            want = wk->cfg->fetch_batch;
        call = malloc(sizeof(*call));
        if (!call)
            return;
        call->wk = wk;
        call->want = want;
        fetch_order(wk, order);
        if (queue_fetch(wk->queue, order, wk->norder, want, fetch_on_jobs, call) < 0) {
            free(call);
            return;
        }
        wk->nfetching++;
        wk->requested += want;
    }
}

static void fetch_on_jobs(struct queue_item *items, size_t n, int err, void *arg)
{
    struct fetch_call *call = arg;
    struct worker *wk = call->wk;
    bool drained = n < call->want;

    wk->nfetching--;
    wk->requested -= call->want;
    free(call);
    for (size_t i = 0; i < n; i++)
        accept_item(wk, &items[i]);
    if (err < 0) {
        wk->reconcile_needed = true; /* its jobs may be in flight with the reply lost */
        if (rconn_is_up(wk->conn) && !ev_is_active(&wk->refetch)) {
            ev_timer_set(&wk->refetch, FETCH_RETRY_S, 0);
            ev_timer_start(wk->loop, &wk->refetch);
        }
        return;
    }
    if (wk->reconciling)
        reconcile_try(wk);
    else if (drained && wk->nfetching == 0)
        block_missing(wk);
    else
        fetch_more(wk);
}

static void refetch_on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    fetch_more(w->data);
}

/* ---- reconciling in-flight lists after a lost reply ---- */

/* Closes the idle BLMOVE connections (all, or those of queues no longer configured). A job
 * a closing BLMOVE moved stays in flight with its reply lost: reconciling puts it back. */
static void blockers_close(struct worker *wk, bool all)
{
    for (size_t ref = 0; ref < wk->nblocker_slots; ref++) {
        struct rconn *b = wk->blockers[ref];
        bool configured = false;
        for (size_t i = 0; i < wk->norder && !all; i++)
            configured |= wk->order[i] == ref;
        if (!b || configured)
            continue;
        wk->blockers[ref] = NULL;
        if (wk->blocking[ref])
            wk->reconcile_needed = true;
        rconn_free(b);
    }
}

/* Whether this process holds the job stored as `text` in queue `ref`'s in-flight list. */
static bool job_is_ours(struct worker *wk, unsigned ref, const char *text, size_t len)
{
    struct run *heads[] = {&wk->runs, &wk->held};
    size_t raw_len;

    for (size_t h = 0; h < 2; h++) {
        for (struct run *run = heads[h]->next; run != heads[h]; run = run->next) {
            const char *raw = job_raw(run->job, &raw_len);
            if (run->ref == ref && raw_len == len && memcmp(raw, text, len) == 0)
                return true;
        }
    }
    return queue_finishing(wk->queue, ref, text, len);
}

struct reconcile_call {
    struct worker *wk;
    unsigned ref;
};

static void reconcile_list_done(struct worker *wk)
{
    if (--wk->nreconciling > 0)
        return;
    wk->reconciling = false;
    if (wk->reconcile_needed) {
        /* a list could not be read (the connection is going): try again in a while, or when
         * the connection is back; never at once, which would spin */
        if (!ev_is_active(&wk->refetch)) {
            ev_timer_set(&wk->refetch, FETCH_RETRY_S, 0);
            ev_timer_start(wk->loop, &wk->refetch);
        }
        return;
    }
    fetch_more(wk);
}

static void reconcile_on_moved(long long moved, int err, void *arg)
{
    struct reconcile_call *call = arg;
    struct worker *wk = call->wk;

    if (err < 0)
        wk->reconcile_needed = true;
    else if (moved > 0)
        log_warn("event=orphans_requeued queue=%s jobs=%lld why=\"fetch reply lost\"",
                 log_q(queue_ref_name(wk->queue, call->ref)), moved);
    free(call);
    reconcile_list_done(wk);
}

/* Jobs in our in-flight list that no run, held job or outcome accounts for were fetched
 * with the reply lost: back to the front of their queue, unchanged. */
static void reconcile_on_list(struct redisReply *reply, void *arg)
{
    struct reconcile_call *call = arg;
    struct worker *wk = call->wk;
    struct move_batch *b = NULL;

    if (rconn_reply_error(reply)) {
        wk->reconcile_needed = true;
    } else if (reply->type == REDIS_REPLY_ARRAY && wk->phase == STOP_NONE) {
        for (size_t i = 0; i < reply->elements; i++) {
            struct redisReply *e = reply->element[i];
            char *copy;
            if (job_is_ours(wk, call->ref, e->str, e->len))
                continue;
            if (!b)
                b = move_batch_new(wk->cfg->redis_namespace,
                                   queue_ref_inflight_key(wk->queue, call->ref), false);
            copy = b ? strndup(e->str, e->len) : NULL;
            if (copy)
                (void)move_batch_add(b, e->str, e->len, copy, queue_ref_name(wk->queue, call->ref));
        }
    }
    if (b && move_batch_send(b, wk->conn, util_now(), reconcile_on_moved, call) == 0)
        return;
    free(call);
    reconcile_list_done(wk);
}

/* Reconciles once no fetch is under way (a reply still coming is not lost). */
static void reconcile_try(struct worker *wk)
{
    struct reconcile_call *call;

    if (wk->phase != STOP_NONE || !rconn_is_up(wk->conn))
        return;
    if (!wk->reconciling) {
        if (!wk->reconcile_needed)
            return;
        wk->reconciling = true;
        blockers_close(wk, true);
    }
    /* a fetch or limit check still to answer holds jobs that are ours but not yet in a list */
    if (wk->nfetching > 0 || wk->nblocking > 0 || wk->nchecking > 0 || wk->nreconciling > 0 ||
        !wk->reconcile_needed)
        return;
    wk->reconcile_needed = false;
    wk->nreconciling = 1; /* held while the calls go out */
    for (size_t ref = 0; ref < queue_nrefs(wk->queue); ref++) {
        call = malloc(sizeof(*call));
        if (!call)
            break;
        call->wk = wk;
        call->ref = (unsigned)ref;
        if (rconn_commandf(wk->conn, reconcile_on_list, call, "LRANGE %s 0 -1",
                           queue_ref_inflight_key(wk->queue, (unsigned)ref)) < 0) {
            free(call);
            wk->reconcile_needed = true;
            continue;
        }
        wk->nreconciling++;
    }
    reconcile_list_done(wk);
}

/* ---- queues of the configuration ---- */

/* A blocking connection is back: if the process is idle, this lets it wait on it again. */
static void blocker_on_state(struct rconn *rc, bool up, void *arg)
{
    if (up)
        fetch_more(arg);
}

/* Resolves cfg's queues to refs and makes a blocking connection for each new one. */
static int queues_apply(struct worker *wk, const struct cfg *cfg)
{
    unsigned *order = calloc(cfg->nqueues, sizeof(*order));
    unsigned *weights = calloc(cfg->nqueues, sizeof(*weights));
    unsigned *scratch = calloc(cfg->nqueues, sizeof(*scratch));
    size_t need;
    int ref;

    if (!order || !weights || !scratch)
        goto fail;
    for (size_t i = 0; i < cfg->nqueues; i++) {
        ref = queue_ref(wk->queue, cfg->queues[i].name);
        if (ref < 0)
            goto fail;
        order[i] = (unsigned)ref;
        weights[i] = cfg->queues[i].weight;
    }
    need = queue_nrefs(wk->queue);
    if (need > wk->nblocker_slots) {
        struct rconn **b = realloc(wk->blockers, need * sizeof(*b));
        if (!b)
            goto fail;
        wk->blockers = b;
        bool *blocking = realloc(wk->blocking, need * sizeof(*blocking));
        if (!blocking)
            goto fail;
        wk->blocking = blocking;
        for (size_t i = wk->nblocker_slots; i < need; i++) {
            wk->blockers[i] = NULL;
            wk->blocking[i] = false;
        }
        wk->nblocker_slots = need;
    }
    for (size_t i = 0; i < cfg->nqueues; i++) {
        if (!wk->blockers[order[i]])
            wk->blockers[order[i]] = rconn_new(wk->loop, &wk->addr, "blocking-fetch",
                                               cfg->redis_connect_timeout_s, blocker_on_state, wk);
    }
    free(wk->order);
    free(wk->weights);
    free(wk->scratch);
    wk->order = order;
    wk->weights = weights;
    wk->scratch = scratch;
    wk->norder = cfg->nqueues;
    return 0;
fail:
    free(order);
    free(weights);
    free(scratch);
    return -ENOMEM;
}

/* ---- heartbeat, outcomes, Redis state ---- */

static json_t *work_snapshot(struct worker *wk)
{
    json_t *work = json_object();
    char slot[32];
    size_t len;

    for (struct run *run = wk->runs.next; work && run != &wk->runs; run = run->next) {
        const char *raw = job_raw(run->job, &len);
        (void)snprintf(slot, sizeof(slot), "%llx", run->id);
        (void)json_object_set_new(work, slot,
                                  json_pack("{s:s, s:s%, s:f}", "queue",
                                            queue_ref_name(wk->queue, run->ref), "payload", raw,
                                            len, "run_at", run->started_at));
    }
    return work;
}

static void beat(struct worker *wk)
{
    json_t *work = work_snapshot(wk), *queues = json_array(), *inflight = json_array();

    for (size_t i = 0; queues && i < wk->norder; i++)
        (void)json_array_append_new(queues, json_string(queue_ref_name(wk->queue, wk->order[i])));
    for (size_t i = 0; inflight && i < queue_nrefs(wk->queue); i++)
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

    beat(wk);
    for (struct run *run = wk->runs.next; run != &wk->runs; run = run->next)
        if (run->leased)
            lease_send(wk, run, wk->cfg->process_ttl_s);
    for (struct run *run = wk->held.next; run != &wk->held; run = run->next)
        if (run->leased)
            lease_send(wk, run, wk->cfg->process_ttl_s);
}

static void flush_on_prepare(struct ev_loop *loop, ev_prepare *w, int revents)
{
    struct worker *wk = w->data;

    if (queue_unconfirmed(wk->queue) > 0)
        (void)queue_flush(wk->queue);
    log_flush();
}

/* The main connection's longest reconnect wait: a process cut off by a short outage must be
 * back, and beat, well within its process_ttl. */
static double backoff_max(const struct cfg *cfg)
{
    return cfg->process_ttl_s / 4 < 1.0 ? cfg->process_ttl_s / 4 : 1.0;
}

static void conn_on_state(struct rconn *rc, bool up, void *arg)
{
    struct worker *wk = arg;

    if (wk->on_change)
        wk->on_change(wk, wk->on_change_arg);
    if (!up) {
        /* replies under way fail, and a fetch's may be lost with its jobs already in flight */
        wk->reconcile_needed = true;
        return;
    }
    beat(wk);
    reaper_kick(wk->reaper);
    poller_kick(wk->poller);
    sched_kick(wk->sched);
    (void)queue_flush(wk->queue);
    fetch_more(wk);
}

/* ---- life cycle ---- */

/* The PostgreSQL pool handlers write through, and the history writer on top of it. */
static int db_setup(struct worker *wk, struct err *err)
{
    const struct cfg *cfg = wk->cfg;
    struct db_pool_cfg pc = {
        .conninfo = cfg->database_url,
        .size = cfg->database_pool_size,
        .max_waiting = cfg->database_max_waiting,
        .connect_timeout_s = cfg->database_connect_timeout_s,
        .statement_timeout_s = cfg->database_statement_timeout_s,
        .prepared = cfg->database_prepared,
    };

    wk->db = db_pool_new(wk->loop, &pc, NULL, NULL, err); /* the pool logs its own changes */
    if (!wk->db)
        return err->code ? err->code : -ENOMEM;
    wk->env.db = wk->db;
    if (cfg->database_outbox) {
        wk->outbox = outbox_new(wk->loop, wk->db, wk->conn, cfg->redis_namespace,
                                cfg->database_outbox_interval_s);
        if (!wk->outbox)
            return err_set(err, -ENOMEM, "out of memory");
    }
    if (!cfg->database_history)
        return 0;
    wk->history = history_new(wk->loop, wk->db, presence_identity(wk->presence), 0.2,
                              cfg->database_history_retention_s, 100000);
    return wk->history ? 0 : err_set(err, -ENOMEM, "out of memory");
}

struct worker *worker_new(struct ev_loop *loop, const struct cfg *cfg, const char *version,
                          struct err *err)
{
    struct worker *wk = calloc(1, sizeof(*wk));
    struct presence_info info = {0};
    char hostname[256], host_id[256];
    const char *ns = cfg->redis_namespace;

    if (!wk) {
        err_set(err, -ENOMEM, "out of memory");
        return NULL;
    }
    wk->loop = loop;
    wk->cfg = cfg;
    wk->version = version;
    wk->env.loop = loop;
    wk->env.cfg = cfg;
    list_init(&wk->runs);
    list_init(&wk->held);
    if (raddr_parse(cfg->redis_url, &wk->addr, err) < 0)
        goto fail;
    if (gethostname(hostname, sizeof(hostname)) < 0)
        (void)snprintf(hostname, sizeof(hostname), "localhost");
    hostname[sizeof(hostname) - 1] = '\0';
    if (util_host_id(host_id, sizeof(host_id)) < 0)
        (void)snprintf(host_id, sizeof(host_id), "%s", hostname);
    info.hostname = hostname;
    info.host_id = host_id;
    info.pid = getpid();
    info.pid_start = util_pid_start(info.pid);
    info.tag = cfg->tag;
    info.version = version;
    info.started_at = util_now();
    wk->started_at = info.started_at;
    wk->metrics = metrics_new();
    if (!wk->metrics)
        goto nomem;
    wk->conn = rconn_new(loop, &wk->addr, "main", cfg->redis_connect_timeout_s, conn_on_state, wk);
    wk->env.redis = wk->conn;
    if (!wk->conn)
        goto nomem;
    rconn_set_backoff_max(wk->conn, backoff_max(cfg));
    wk->xfer = wk->env.xfer = xfer_new(loop);
    if (!wk->xfer)
        goto nomem;
    /* the identity first: in-flight lists are named after it */
    wk->presence = presence_new(wk->conn, ns, &info, util_random());
    if (!wk->presence)
        goto nomem;
    wk->queue = queue_new(wk->conn, ns, presence_identity(wk->presence));
    if (!wk->queue)
        goto nomem;
    queue_set_dead_limits(wk->queue, cfg->dead_max_jobs, cfg->dead_max_age_s);
    queue_set_max_job(wk->queue, cfg->max_job_size);
    if (queues_apply(wk, cfg) < 0 || limits_build(wk) < 0)
        goto nomem;
    if (cfg->database_url && db_setup(wk, err) < 0)
        goto fail;
    wk->poller = poller_new(loop, wk->conn, ns, cfg->poll_interval_s);
    wk->reaper = reaper_new(loop, wk->conn, ns, presence_identity(wk->presence), host_id,
                            cfg->heartbeat_s < 1.0 ? cfg->heartbeat_s : 1.0, cfg->max_recoveries,
                            cfg->orphan_sweep_s);
    wk->sched = sched_new(loop, wk->conn, cfg);
    if (!wk->poller || !wk->reaper || !wk->sched)
        goto nomem;
    poller_set_max_job(wk->poller, cfg->max_job_size);
    reaper_set_max_job(wk->reaper, cfg->max_job_size);
    ev_prepare_init(&wk->flush, flush_on_prepare);
    wk->flush.data = wk;
    ev_prepare_start(loop, &wk->flush);
    ev_timer_init(&wk->beat, beat_on_timer, cfg->heartbeat_s, cfg->heartbeat_s);
    wk->beat.data = wk;
    ev_timer_start(loop, &wk->beat);
    ev_timer_init(&wk->refetch, refetch_on_timer, FETCH_RETRY_S, 0);
    wk->refetch.data = wk;
    log_info("event=worker_start identity=%s concurrency=%u queues=%zu",
             log_q(presence_identity(wk->presence)), cfg->concurrency, cfg->nqueues);
    return wk;
nomem:
    err_set(err, -ENOMEM, "out of memory");
fail:
    worker_free(wk);
    return NULL;
}

void worker_free(struct worker *wk)
{
    struct run *run;

    if (!wk)
        return;
    wk->phase = STOP_DONE;
    ev_prepare_stop(wk->loop, &wk->flush);
    ev_timer_stop(wk->loop, &wk->beat);
    ev_timer_stop(wk->loop, &wk->refetch);
    ev_timer_stop(wk->loop, &wk->stop_timer);
    /* connections first: their pending callbacks still find every module alive */
    for (size_t i = 0; i < wk->nblocker_slots; i++)
        rconn_free(wk->blockers[i]);
    rconn_free(wk->conn);
    while ((run = wk->runs.next) != &wk->runs) {
        ev_timer_stop(wk->loop, &run->deadline);
        run_cancel(run, TASK_STOP_SHUTDOWN);
        list_del(run);
        run_free(run);
    }
    while ((run = wk->held.next) != &wk->held) {
        list_del(run);
        run_free(run);
    }
    xfer_free(wk->xfer); /* after the runs: a cancelled handler aborts its transfers */
    db_pool_free(wk->db); /* answers what is under way with -ECANCELED: users still alive */
    history_free(wk->history);
    outbox_free(wk->outbox);
    poller_free(wk->poller);
    reaper_free(wk->reaper);
    sched_free(wk->sched);
    queue_free(wk->queue);
    presence_free(wk->presence);
    for (size_t i = 0; i < wk->nlimits; i++)
        free(wk->limits[i].name);
    free(wk->limits);
    free(wk->blockers);
    free(wk->blocking);
    free(wk->order);
    free(wk->weights);
    free(wk->scratch);
    raddr_clear(&wk->addr);
    metrics_free(wk->metrics);
    free(wk);
}

int worker_reload(struct worker *wk, const struct cfg *cfg, struct err *err)
{
    const struct cfg *old = wk->cfg;

    if (strcmp(cfg->redis_url, old->redis_url) != 0)
        return err_set(err, -EINVAL, "redis.url changed: restart nexusd to use another Redis");
    if (strcmp(cfg->redis_namespace, old->redis_namespace) != 0)
        return err_set(err, -EINVAL, "redis.namespace changed: restart nexusd to change it");
    if ((cfg->database_url == NULL) != (old->database_url == NULL) ||
        (cfg->database_url && strcmp(cfg->database_url, old->database_url) != 0) ||
        cfg->database_pool_size != old->database_pool_size ||
        cfg->database_prepared != old->database_prepared ||
        cfg->database_history != old->database_history ||
        cfg->database_outbox != old->database_outbox)
        return err_set(err, -EINVAL,
                       "database settings changed: restart nexusd to reconnect PostgreSQL");
    if (queues_apply(wk, cfg) < 0 || sched_reload(wk->sched, cfg) < 0)
        return err_set(err, -ENOMEM, "out of memory");
    wk->cfg = cfg;
    wk->env.cfg = cfg;
    if (limits_build(wk) < 0) {
        wk->cfg = old;
        wk->env.cfg = old;
        return err_set(err, -ENOMEM, "out of memory");
    }
    queue_set_dead_limits(wk->queue, cfg->dead_max_jobs, cfg->dead_max_age_s);
    queue_set_max_job(wk->queue, cfg->max_job_size);
    if (wk->history)
        history_set_retention(wk->history, cfg->database_history_retention_s);
    if (wk->outbox)
        outbox_set_interval(wk->outbox, cfg->database_outbox_interval_s);
    blockers_close(wk, false); /* those of dropped queues */
    poller_set_interval(wk->poller, cfg->poll_interval_s);
    poller_set_max_job(wk->poller, cfg->max_job_size);
    reaper_set_max_job(wk->reaper, cfg->max_job_size);
    reaper_set_limits(wk->reaper, cfg->heartbeat_s < 1.0 ? cfg->heartbeat_s : 1.0,
                      cfg->max_recoveries, cfg->orphan_sweep_s);
    rconn_set_backoff_max(wk->conn, backoff_max(cfg));
    ev_timer_stop(wk->loop, &wk->beat);
    ev_timer_set(&wk->beat, cfg->heartbeat_s, cfg->heartbeat_s);
    ev_timer_start(wk->loop, &wk->beat);
    for (struct run *run = wk->held.next; run != &wk->held; run = run->next)
        run_configure(wk, run);
    log_info("event=reloaded concurrency=%u queues=%zu schedules=%zu", cfg->concurrency,
             cfg->nqueues, cfg->nschedules);
    /* held jobs whose class limit was raised or lifted may start now */
    for (struct run *run = wk->held.next, *next; run != &wk->held; run = next) {
        struct limit *limit = limit_find(wk, job_class(run->job));
        next = run->next;
        if (!limit || limit->running < limit->max) {
            list_del(run);
            wk->nheld--;
            run_start(run);
        }
    }
    beat(wk);
    fetch_more(wk);
    return 0;
}

void worker_quiet(struct worker *wk)
{
    if (wk->quiet)
        return;
    wk->quiet = true;
    log_info("event=quiet running=%u", wk->nrunning);
    blockers_close(wk, true);
    reconcile_try(wk);
    beat(wk);
}

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

/* Waits for every outcome to be confirmed and every fetch answered, then requeues. */
static void stop_on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct worker *wk = w->data;

    if (wk->phase == STOP_DRAIN) {
        /* the drain time is up: interrupt what still runs; its jobs go back to their queue */
        struct run *run;
        while ((run = wk->runs.next) != &wk->runs) {
            log_warn("event=job_interrupted jid=%s class=%s ran_ms=%.0f outcome=requeued",
                     log_q(job_jid(run->job)), log_q(job_class(run->job)),
                     ms_since(run->started_at));
            ev_timer_stop(loop, &run->deadline);
            run_cancel(run, TASK_STOP_SHUTDOWN);
            list_del(run);
            wk->nrunning--;
            lease_release(wk, run);
            run_free(run);
        }
        stop_continue(wk);
        return;
    }
    if (wk->phase != STOP_WRITE)
        return;
    if (wk->history)
        history_flush(wk->history);
    if (queue_unconfirmed(wk->queue) == 0 && wk->nfetching == 0 && wk->nblocking == 0 &&
        wk->nchecking == 0 && rconn_is_up(wk->conn) &&
        (!wk->history || history_unwritten(wk->history) == 0 || !db_pool_up(wk->db))) {
        wk->phase = STOP_REQUEUE;
        ev_timer_stop(loop, &wk->stop_timer);
        if (queue_requeue_all(wk->queue, stop_on_requeued, wk) < 0)
            stop_on_requeued(0, -ENOTCONN, wk);
        return;
    }
    if (util_now() > wk->stop_deadline) {
        log_error("event=stop_incomplete unwritten_outcomes=%zu err=\"Redis unreachable; "
                  "in-flight jobs stay for recovery by the next nexusd\"",
                  queue_unconfirmed(wk->queue));
        stop_finish(wk);
    }
}

static void stop_continue(struct worker *wk)
{
    if (wk->phase != STOP_DRAIN)
        return;
    wk->phase = STOP_WRITE;
    wk->stop_deadline = util_now() + STOP_GRACE_S;
    ev_timer_stop(wk->loop, &wk->stop_timer);
    ev_timer_set(&wk->stop_timer, 0, STOP_POLL_S);
    ev_timer_start(wk->loop, &wk->stop_timer);
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
    poller_stop(wk->poller);
    reaper_stop(wk->reaper);
    sched_stop(wk->sched);
    if (wk->outbox)
        outbox_stop(wk->outbox);
    ev_timer_stop(wk->loop, &wk->refetch);
    /* a job a closing BLMOVE moved stays in flight and is requeued below */
    for (size_t i = 0; i < wk->nblocker_slots; i++) {
        rconn_free(wk->blockers[i]);
        wk->blockers[i] = NULL;
    }
    while ((run = wk->held.next) != &wk->held) {
        list_del(run);
        lease_release(wk, run);
        run_free(run);
    }
    wk->nheld = 0;
    beat(wk);
    ev_timer_init(&wk->stop_timer, stop_on_timer, wk->cfg->shutdown_timeout_s, 0);
    wk->stop_timer.data = wk;
    ev_timer_start(wk->loop, &wk->stop_timer);
    if (wk->nrunning == 0)
        stop_continue(wk);
}

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
