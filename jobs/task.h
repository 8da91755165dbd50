/* task.h - one attempt of one job, as a handler sees it. */
#ifndef TASK_H
#define TASK_H

#include <stdbool.h>

struct ev_loop;
struct job;
struct cfg;
struct db_pool;
struct rconn;
struct xfer;
struct traceparent;
struct task; /* opaque; created and owned by the worker */
typedef struct json_t json_t;

/* What the daemon lends every handler: borrowed, valid while the task runs. */
struct task_env {
    struct ev_loop *loop;
    const struct cfg *cfg; /* the configuration the attempt started with: the task holds a
                              reference (cfg_ref()), so a reload does not change or free it */
    struct db_pool *db; /* NULL without database.url */
    struct rconn *redis; /* the process's main Redis connection (may be down: see rconn.h) */
    struct xfer *xfer;   /* HTTP and SMTP transfers on the loop (lib/xfer.h) */
};

/* How an attempt ended; the worker turns it into done, retry or dead. */
enum task_result {
    TASK_OK,
    TASK_FAILED,  /* counts as an attempt: retried with backoff, dead after the last */
    TASK_REFUSED, /* the job itself is wrong (its args): no retry can help; dead at once */
    TASK_DEFER,   /* not run (rate limited, the peer asked to wait): back to `schedule`
                     after defer_s, the attempt not counted */
};

typedef void task_finish_fn(struct task *task, void *arg);

/* Why the worker stopped an attempt early. */
enum task_stop {
    TASK_STOP_TIMEOUT,  /* it ran past its class's time limit */
    TASK_STOP_SHUTDOWN, /* the process is stopping (SIGTERM drain over, or freed) */
};

/* The worker's side. Caller owns the task, release with task_free() (accepts NULL) once
 * `finish` ran or after task_cancel(). `job` is borrowed and must outlive the task; `env` is
 * copied, with a reference to env->cfg held until task_free(). Never NULL. */
struct task *task_new(const struct job *job, const struct task_env *env, task_finish_fn *finish,
                      void *arg);
void task_free(struct task *task);
/* Asks the running handler to stop, for `why`. `finish` is not called after. */
void task_cancel(struct task *task, enum task_stop why);
enum task_result task_result(const struct task *task);
const char *task_error_class(const struct task *task); /* borrowed; "" when OK */
const char *task_error(const struct task *task);       /* borrowed; "" when OK */
double task_defer_s(const struct task *task);
/* The attempt's trace context (W3C, lib/traceparent.h): the job's trace-id and flags with a
 * parent-id (span id) drawn for this attempt, which the handler passes on (an http class's
 * traceparent header, a command's TRACEPARENT) and the job's log lines show; NULL when the
 * job carries no valid traceparent. Borrowed, valid until task_free(). */
const struct traceparent *task_trace(const struct task *task);

/* The handler's side. */
const struct job *task_job(const struct task *task);
json_t *task_args(const struct task *task); /* borrowed: the job's args array */
const struct task_env *task_env(const struct task *task);
/* Why the attempt was cancelled: valid inside the handler's cancel(). */
enum task_stop task_stop_reason(const struct task *task);
struct ev_loop *task_loop(const struct task *task);
/* The handler's own state for this attempt (freed by the handler: in finish or cancel). */
void *task_state(const struct task *task);
void task_set_state(struct task *task, void *state);

/* Ends the attempt; exactly one of these, exactly once, also from inside start(). */
void task_succeed(struct task *task);
void task_fail(struct task *task, const char *error_class, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* As task_fail(), for a job that can never succeed as it is: not retried, whatever its
 * retry count (dead, or discarded when the job says "retry": false). */
void task_refuse(struct task *task, const char *error_class, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void task_defer(struct task *task, double delay_s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
