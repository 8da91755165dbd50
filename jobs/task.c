/* task.c - one attempt of one job: the handler reports, the worker reads the result. */
#include "jobs/task.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/cfg.h"
#include "lib/job.h"
#include "lib/traceparent.h"
#include "lib/util.h"
#include "lib/xalloc.h"

struct task {
    const struct job *job;
    struct task_env env; /* a copy; env.cfg is a reference of the task's own */
    task_finish_fn *finish;
    void *arg;
    void *state;
    bool finished;
    bool cancelled;
    enum task_stop stop; /* why, once cancelled */
    enum task_result result;
    double defer_s;
    char error_class[64];
    /* owned, at most JOB_MAX_ERROR bytes; NULL until an error or a deferral: a running job
     * carries no message buffer (10,000 in flight: 10 MB less) */
    char *error;
    bool traced;              /* the job carries a valid traceparent */
    struct traceparent trace; /* then: its trace-id and flags, this attempt's own parent-id */
};

struct task *task_new(const struct job *job, const struct task_env *env, task_finish_fn *finish,
                      void *arg)
{
    struct task *task = xcalloc(1, sizeof(*task));
    struct traceparent tp;

    task->job = job;
    if (job_traceparent(job, &tp, NULL) == 0) {
        traceparent_child(&tp, util_random(), &task->trace);
        task->traced = true;
    }
    task->env = *env;
    task->env.cfg = cfg_ref(env->cfg); /* a reload does not change it under the handler */
    task->finish = finish;
    task->arg = arg;
    return task;
}

void task_free(struct task *task)
{
    if (!task)
        return;
    cfg_free(task->env.cfg);
    free(task->error);
    free(task);
}

void task_cancel(struct task *task, enum task_stop why)
{
    task->cancelled = true;
    task->stop = why;
}

enum task_stop task_stop_reason(const struct task *task)
{
    return task->stop;
}

enum task_result task_result(const struct task *task)
{
    return task->result;
}

const char *task_error_class(const struct task *task)
{
    return task->error_class;
}

const char *task_error(const struct task *task)
{
    return task->error ? task->error : "";
}

double task_defer_s(const struct task *task)
{
    return task->defer_s;
}

const struct traceparent *task_trace(const struct task *task)
{
    return task->traced ? &task->trace : NULL;
}

const struct job *task_job(const struct task *task)
{
    return task->job;
}

json_t *task_args(const struct task *task)
{
    return job_args(task->job);
}

const struct task_env *task_env(const struct task *task)
{
    return &task->env;
}

struct ev_loop *task_loop(const struct task *task)
{
    return task->env.loop;
}

void *task_state(const struct task *task)
{
    return task->state;
}

void task_set_state(struct task *task, void *state)
{
    task->state = state;
}

static void task_end(struct task *task, enum task_result result)
{
    if (task->finished || task->cancelled)
        return; /* a handler's second report, or one after cancel: ignored */
    task->finished = true;
    task->result = result;
    task->finish(task, task->arg);
}

void task_succeed(struct task *task)
{
    task_end(task, TASK_OK);
}

/* The message of a failure or a deferral, cut to the JOB_MAX_ERROR bytes a job keeps. */
static void error_set(struct task *task, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
static void error_set(struct task *task, const char *fmt, va_list ap)
{
    free(task->error);
    task->error = xvasprintf(fmt, ap);
    if (strlen(task->error) > JOB_MAX_ERROR)
        task->error[JOB_MAX_ERROR] = '\0';
}

/* Ends the task with `result` and an error class and message (task_fail, task_refuse). */
static void task_end_error(struct task *task, enum task_result result, const char *error_class,
                           const char *fmt, va_list ap) __attribute__((format(printf, 4, 0)));
static void task_end_error(struct task *task, enum task_result result, const char *error_class,
                           const char *fmt, va_list ap)
{
    if (task->finished || task->cancelled)
        return;
    (void)snprintf(task->error_class, sizeof(task->error_class), "%s", error_class);
    error_set(task, fmt, ap);
    task_end(task, result);
}

void task_fail(struct task *task, const char *error_class, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    task_end_error(task, TASK_FAILED, error_class, fmt, ap);
    va_end(ap);
}

void task_refuse(struct task *task, const char *error_class, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    task_end_error(task, TASK_REFUSED, error_class, fmt, ap);
    va_end(ap);
}

void task_defer(struct task *task, double delay_s, const char *fmt, ...)
{
    va_list ap;

    if (task->finished || task->cancelled)
        return;
    task->defer_s = delay_s;
    va_start(ap, fmt);
    error_set(task, fmt, ap);
    va_end(ap);
    task_end(task, TASK_DEFER);
}
