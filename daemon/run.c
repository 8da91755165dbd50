/* run.c - the attempts held by this process: a run starts its class's handler under a
 * deadline, or waits (held) for a slot of its class; when the handler reports or the
 * deadline passes, the run ends: its outcome is recorded and the next job can come. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/cfg.h"
#include "daemon/metrics.h"
#include "daemon/worker_int.h"
#include "jobs/registry.h"
#include "jobs/task.h"
#include "lib/err.h"
#include "lib/job.h"
#include "lib/log.h"
#include "lib/traceparent.h"
#include "lib/util.h"
#include "lib/xalloc.h"
#include "queue/queue.h"

void run_list_init(struct run *head)
{
    head->prev = head->next = head;
}

void run_list_add(struct run *head, struct run *run)
{
    run->prev = head->prev;
    run->next = head;
    head->prev->next = run;
    head->prev = run;
}

void run_list_del(struct run *run)
{
    run->prev->next = run->next;
    run->next->prev = run->prev;
    run->prev = run->next = run;
}

struct run *run_new(struct worker *wk, struct job *job, unsigned ref)
{
    struct run *run = xcalloc(1, sizeof(*run));

    run->wk = wk;
    run->job = job;
    run->ref = ref;
    run->id = ++wk->next_id;
    run->attempt = job_retry_count(job) + 2;
    run_list_init(run);
    run->h = handler_find(wk->cfg, job_class(job));
    return run;
}

void run_free(struct run *run)
{
    if (run->task)
        task_free(run->task);
    unique_lock_clear(&run->lock);
    job_free(run->job);
    free(run);
}

/* Starts the first held job of `class_name`, now that a slot is free. */
static void held_release(struct worker *wk, const char *class_name)
{
    for (struct run *run = wk->held.next; run != &wk->held; run = run->next) {
        if (strcmp(job_class(run->job), class_name) == 0) {
            run_list_del(run);
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
    struct limit *limit = limits_find(wk, job_class(run->job));
    char class_name[JOB_MAX_CLASS + 1];

    ev_timer_stop(wk->loop, &run->deadline);
    run_list_del(run);
    wk->nrunning--;
    fetch_note_end(wk, util_now() - run->started_at);
    lease_release(wk, run);
    if (limit && limit->running > 0)
        limit->running--;
    record_end(wk, run, util_now());
    (void)snprintf(class_name, sizeof(class_name), "%s", job_class(run->job));
    run_free(run);
    if (limit && wk->phase == STOP_NONE)
        held_release(wk, class_name);
    if (wk->phase == STOP_DRAIN && wk->nrunning == 0)
        worker_stop_continue(wk);
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

void run_cancel(struct run *run, enum task_stop why)
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

/* A traceparent that is not W3C trace context is ignored: the job runs untraced, the warning
 * counted (nexus_jobs_traceparent_invalid_total). */
static void trace_check(struct worker *wk, const struct run *run)
{
    struct traceparent tp;
    struct err err = {0};

    if (job_traceparent(run->job, &tp, &err) != -EINVAL)
        return;
    log_warn("event=traceparent_invalid jid=%s class=%s queue=%s attempt=%d err=%s",
             log_q(job_jid(run->job)), log_q(job_class(run->job)),
             log_q(queue_ref_name(wk->queue, run->ref)), run->attempt, log_q(err.msg));
    metrics_traceparent_invalid(wk->metrics, job_class(run->job));
}

void run_start(struct run *run)
{
    struct worker *wk = run->wk;
    struct limit *limit = limits_find(wk, job_class(run->job));
    char trace[RECORD_TRACE_FIELDS];

    run->task = task_new(run->job, &wk->env, run_on_finish, run);
    trace_check(wk, run);
    if (limit)
        limit->running++;
    /* the loop's time is its iteration's start, before the jobs this iteration started ahead
       of this one: timers counted from it (the deadline, a handler's) would end early */
    ev_now_update(wk->loop);
    run->started_at = util_now();
    ev_timer_init(&run->deadline, run_on_deadline, run->timeout_s, 0);
    run->deadline.data = run;
    ev_timer_start(wk->loop, &run->deadline);
    run_list_add(&wk->runs, run);
    wk->nrunning++;
    log_debug("event=job_start jid=%s class=%s queue=%s attempt=%d%s", log_q(job_jid(run->job)),
              log_q(job_class(run->job)), log_q(queue_ref_name(wk->queue, run->ref)), run->attempt,
              record_trace_fields(run->job, run->task, trace));
    run->starting = true;
    run->h->start(run->task);
    run->starting = false;
    if (run->ended)
        run_end(run);
}

void run_configure(struct worker *wk, struct run *run)
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

void run_admit(struct worker *wk, struct run *run)
{
    struct limit *limit = limits_find(wk, job_class(run->job));

    if (limit && limit->running >= limit->max) {
        run_list_add(&wk->held, run);
        wk->nheld++;
        return;
    }
    run_start(run);
}
