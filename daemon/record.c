/* record.c - writes the outcome of an attempt: what outcome_decide() chose goes to Redis (the
 * queue's batched finish), the job history, the metrics and one log line. */
#include <stdio.h>
#include <stdlib.h>

#include "conf/cfg.h"
#include "daemon/metrics.h"
#include "daemon/worker_int.h"
#include "jobs/task.h"
#include "lib/job.h"
#include "lib/log.h"
#include "lib/traceparent.h"
#include "lib/util.h"
#include "queue/outcome.h"
#include "queue/queue.h"
#include "queue/tally.h"
#include "sql/history.h"

static double ms_since(double t)
{
    return (util_now() - t) * 1000.0;
}

const char *record_trace_fields(const struct job *job, const struct task *task,
                                char buf[RECORD_TRACE_FIELDS])
{
    const struct traceparent *t = task ? task_trace(task) : NULL;
    struct traceparent tp;

    if (t)
        (void)snprintf(buf, RECORD_TRACE_FIELDS, " trace_id=%s span_id=%s", t->trace_id,
                       t->parent_id);
    else if (!task && job_traceparent(job, &tp, NULL) == 0)
        (void)snprintf(buf, RECORD_TRACE_FIELDS, " trace_id=%s", tp.trace_id);
    else
        buf[0] = '\0';
    return buf;
}

/* One finished attempt into nexus.job_history (batched). */
static void history_note(struct worker *wk, const struct job *job, unsigned ref, int attempt,
                         enum outcome_kind kind, double started_at, const char *error_class,
                         const char *error)
{
    struct history_entry e = {
        .jid = job_jid(job),
        .class_name = job_class(job),
        .queue = queue_ref_name(wk->queue, ref),
        .attempt = attempt > 0 ? attempt : 1,
        .outcome = outcome_name(kind),
        .started_at = started_at,
        .finished_at = util_now(),
        .error_class = error_class,
        .error = error,
    };

    if (wk->history)
        history_add(wk->history, &e);
}

/* The job as it goes to `retry` or `dead`, its failure recorded; NULL (logged) when that
 * failed: the job then stays in flight, for recovery. */
static char *failed_text(struct job *job, const char *error_class, const char *why, double now)
{
    char *out;

    job_record_failure(job, error_class, why, now);
    out = job_encode(job, NULL);
    if (!out)
        log_error("event=job jid=%s err=\"the job could not be encoded; left in flight for "
                  "recovery\"",
                  log_q(job_jid(job)));
    return out;
}

void record_bury(struct worker *wk, struct job *job, unsigned ref, unsigned long long seq,
                 const char *error_class, const char *why)
{
    size_t raw_len;
    const char *raw = job_raw(job, &raw_len);
    double now = util_now();
    char *out = failed_text(job, error_class, why, now);
    struct unique_lock lock;
    char trace[RECORD_TRACE_FIELDS];

    log_error("event=job jid=%s class=%s queue=%s outcome=dead err=%s%s", log_q(job_jid(job)),
              log_q(job_class(job)), log_q(queue_ref_name(wk->queue, ref)), log_q(why),
              record_trace_fields(job, NULL, trace));
    if (!out)
        return;
    history_note(wk, job, ref, job_retry_count(job) + 1, OUTCOME_DEAD, now, error_class, why);
    metrics_job_end(wk->metrics, job_class(job), true, -1);
    (void)unique_lock_make(&lock, wk->cfg->redis_namespace, job, 0); /* dead lets it go */
    queue_finish(wk->queue, OUTCOME_DEAD, ref, seq, raw, raw_len, out, now, &lock);
    unique_lock_clear(&lock);
}

/* enqueued: the job's enqueued_at (record_end() reads it once for the log and the tally). */
static void record_success(struct worker *wk, struct run *run, double now, double enqueued)
{
    size_t raw_len;
    const char *raw = job_raw(run->job, &raw_len);
    char trace[RECORD_TRACE_FIELDS];

    if (log_enabled(LOG_LEVEL_INFO))
        log_info("event=job jid=%s class=%s queue=%s attempt=%d outcome=ok duration_ms=%.3f "
                 "latency_ms=%.3f%s",
                 log_q(job_jid(run->job)), log_q(job_class(run->job)),
                 log_q(queue_ref_name(wk->queue, run->ref)), run->attempt,
                 (now - run->started_at) * 1000.0,
                 enqueued > 0 ? (run->started_at - enqueued) * 1000.0 : 0.0,
                 record_trace_fields(run->job, run->task, trace));
    history_note(wk, run->job, run->ref, run->attempt, OUTCOME_DONE, run->started_at, NULL, NULL);
    queue_finish(wk->queue, OUTCOME_DONE, run->ref, run->seq, raw, raw_len, NULL, 0, &run->lock);
}

void record_defer(struct worker *wk, struct run *run, double now, double delay_s,
                  const char *why)
{
    size_t raw_len;
    const char *raw = job_raw(run->job, &raw_len);
    struct outcome o;
    char *out = job_encode(run->job, NULL);
    char trace[RECORD_TRACE_FIELDS];

    outcome_decide(&(struct outcome_input){.cause = OUTCOME_CAUSE_DEFERRED,
                                           .defer_s = delay_s,
                                           .now = now},
                   &o);
    log_info("event=job jid=%s class=%s queue=%s attempt=%d outcome=deferred in=%.3fs why=%s%s",
             log_q(job_jid(run->job)), log_q(job_class(run->job)),
             log_q(queue_ref_name(wk->queue, run->ref)), run->attempt, delay_s, log_q(why),
             record_trace_fields(run->job, run->task, trace));
    history_note(wk, run->job, run->ref, run->attempt, o.kind, run->started_at, NULL, NULL);
    if (out)
        queue_finish(wk->queue, o.kind, run->ref, run->seq, raw, raw_len, out, o.at, &run->lock);
}

void record_duplicate(struct worker *wk, struct run *run, const char *holder)
{
    size_t raw_len;
    const char *raw = job_raw(run->job, &raw_len);
    char trace[RECORD_TRACE_FIELDS];

    log_info("event=job jid=%s class=%s queue=%s outcome=duplicate holder=%s%s",
             log_q(job_jid(run->job)), log_q(job_class(run->job)),
             log_q(queue_ref_name(wk->queue, run->ref)), log_q(holder),
             record_trace_fields(run->job, run->task, trace));
    history_note(wk, run->job, run->ref, run->attempt, OUTCOME_DUPLICATE, util_now(), NULL, NULL);
    metrics_job_duplicate(wk->metrics, job_class(run->job));
    queue_finish(wk->queue, OUTCOME_DUPLICATE, run->ref, run->seq, raw, raw_len, NULL, 0, NULL);
}

static void record_failure(struct worker *wk, struct run *run, double now, bool refused,
                           const char *error_class, const char *why)
{
    size_t raw_len;
    const char *raw = job_raw(run->job, &raw_len);
    struct outcome o;
    char *out = failed_text(run->job, error_class, why, now);
    char trace[RECORD_TRACE_FIELDS];

    if (!out)
        return;
    outcome_decide(&(struct outcome_input){
                       .cause = refused ? OUTCOME_CAUSE_REFUSED : OUTCOME_CAUSE_FAILED,
                       .retry_count = job_retry_count(run->job),
                       .max_retries = job_max_retries(run->job, run->max_retries),
                       .dead_allowed = job_dead_allowed(run->job),
                       .now = now,
                       .rnd = util_random(),
                   },
                   &o);
    if (o.kind == OUTCOME_DISCARD) {
        free(out);
        out = NULL;
    }
    log_write(o.kind == OUTCOME_RETRY ? LOG_LEVEL_WARN : LOG_LEVEL_ERROR,
              "event=job jid=%s class=%s queue=%s attempt=%d outcome=%s duration_ms=%.3f "
              "retries=%d/%d in=%.0fs error_class=%s err=%s%s",
              log_q(job_jid(run->job)), log_q(job_class(run->job)),
              log_q(queue_ref_name(wk->queue, run->ref)), run->attempt, outcome_name(o.kind),
              ms_since(run->started_at), job_retry_count(run->job), o.retries, o.at - now,
              log_q(error_class), log_q(why), record_trace_fields(run->job, run->task, trace));
    history_note(wk, run->job, run->ref, run->attempt, o.kind, run->started_at, error_class, why);
    queue_finish(wk->queue, o.kind, run->ref, run->seq, raw, raw_len, out, o.at, &run->lock);
}

void record_end(struct worker *wk, struct run *run, double now)
{
    enum task_result result = run->timed_out ? TASK_FAILED : task_result(run->task);
    double enqueued = job_enqueued_at(run->job); /* a number read from the text: once */

    if (run->timed_out) {
        char why[128];
        (void)snprintf(why, sizeof(why), "job exceeded its timeout of %gs and was cancelled",
                       run->timeout_s);
        record_failure(wk, run, now, false, "NexusTimeout", why);
    } else if (result == TASK_OK) {
        record_success(wk, run, now, enqueued);
    } else if (result == TASK_DEFER) {
        record_defer(wk, run, now, task_defer_s(run->task), task_error(run->task));
    } else {
        record_failure(wk, run, now, result == TASK_REFUSED, task_error_class(run->task),
                       task_error(run->task));
    }
    if (result != TASK_DEFER) {
        metrics_job_end(wk->metrics, job_class(run->job), result != TASK_OK,
                        now - run->started_at);
        if (wk->cfg->redis_metrics) /* the dashboard's history, with the next outcome call */
            tally_note(queue_tally(wk->queue), job_class(run->job),
                       queue_ref_name(wk->queue, run->ref), result != TASK_OK,
                       now - run->started_at,
                       enqueued > 0 && run->started_at >= enqueued ? run->started_at - enqueued
                                                                   : -1);
    }
}

void record_bury_cut(struct worker *wk, struct queue_item *item)
{
    const char *queue = queue_ref_name(wk->queue, item->ref);
    struct job *job = job_cut(item->job, item->len, item->size, item->sha256, queue, util_random());
    double now = util_now();
    char why[160], *out;

    free(item->job);
    if (wk->phase != STOP_NONE) { /* stays in flight, put back by the requeue */
        job_free(job);
        return;
    }
    (void)snprintf(why, sizeof(why),
                   "job of %zu bytes exceeds worker.max_job_size (%u); not decoded", item->size,
                   wk->cfg->max_job_size);
    out = failed_text(job, "NexusJobTooLarge", why, now);
    if (!out) {
        job_free(job);
        return;
    }
    log_error("event=job jid=%s class=%s queue=%s outcome=dead size=%zu sha256=%s err=%s",
              log_q(job_jid(job)), log_q(job_class(job)), log_q(queue), item->size, item->sha256,
              log_q(why));
    history_note(wk, job, item->ref, 1, OUTCOME_DEAD, now, "NexusJobTooLarge", why);
    metrics_job_end(wk->metrics, job_class(job), true, -1);
    queue_finish_cut(wk->queue, item, out, now);
    job_free(job);
}
