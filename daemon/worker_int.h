/* worker_int.h - the worker's state, shared by its files and nothing else:
 *   worker.c  life cycle, heartbeat, reload, quiet, the stop in phases
 *   fetch.c   taking jobs from Redis (batched fetch, idle BLMOVE), reconciling lost replies
 *   run.c     the attempts in this process: start, deadline, held for a class slot, end
 *   limits.c  class limits: per process, and shared by every process (rate, leases)
 *   unique.c  unique jobs at their start: take or let go of the lock, or not run a duplicate
 *   record.c  writing what outcome_decide() chose: queue, history, metrics, log */
#ifndef WORKER_INT_H
#define WORKER_INT_H

#include <stdbool.h>
#include <stddef.h>

#include <ev.h>

#include "daemon/worker.h"
#include "jobs/task.h"
#include "queue/unique.h"

struct cfg;
struct job;
struct handler;
struct queue_item;

/* One job held by this process: running, or waiting for its class's concurrency limit. */
struct run {
    struct run *prev, *next; /* in wk->runs or wk->held */
    struct worker *wk;       /* borrowed: outlives every run */
    struct job *job;         /* owned */
    unsigned ref;            /* the queue it came from */
    unsigned long long seq;  /* its place in the in-flight list (struct queue_item) */
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
    struct unique_lock lock; /* a unique job's, held until its outcome (finish.lua lets it
                                go); empty for other jobs and after unique_until = "start" */
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
    const struct cfg *cfg; /* a reference (cfg_ref()); replaced by worker_reload() */
    const struct raddr *addr; /* the parts (worker.h), all borrowed */
    struct rconn *conn;
    struct presence *presence;
    struct queue *queue;
    struct metrics *metrics;
    struct db_pool *db;
    struct history *history;
    struct rconn **blockers; /* per queue ref, made on first use: idle BLMOVE */
    bool *blocking;          /* per queue ref: a BLMOVE is out */
    size_t nblocker_slots;
    unsigned nblocking;
    bool paused_reading;   /* an idle BLMOVE timed out: nexus:paused is being read */
    double paused_read_at; /* ev_now() of the last such read, so that queues timing out
                              together read it once */
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
    struct queue_item *ahead; /* ring of jobs fetched ahead of a free slot, oldest first;
                                 in the in-flight lists like any fetched job */
    size_t nahead, ahead_first, ahead_cap;
    bool starting_ahead; /* fetch_start_ahead() is on the stack */
    unsigned long long runs_ended;
    double run_mean_s; /* runs' recent mean length: the prefetch's pace */
    bool quiet;
    bool reconcile_needed; /* a reply may have been lost: check the in-flight lists */
    bool reconciling;      /* checking them: no fetch until done */
    unsigned nreconciling; /* lists being checked */
    enum stop_phase phase;
    unsigned long long next_id;
    ev_prepare flush; /* writes outcomes once per loop iteration; checks a stop's progress */
    ev_timer beat;
    ev_timer refetch;
    ev_timer metrics_wake; /* held-back metrics due: flush_on_prepare() writes them */
    ev_timer stop_timer; /* the drain's end, then the write phase's */
    worker_stopped_fn *stopped;
    void *stopped_arg;
    double started_at;
    worker_change_fn *on_change;
    void *on_change_arg;
};

/* worker.c */
void worker_beat(struct worker *wk);
/* Every job has ended or been interrupted: on to writing outcomes (during a stop). */
void worker_stop_continue(struct worker *wk);

/* fetch.c */
/* Starts jobs fetched ahead while there are free slots, then asks Redis for as many jobs as
 * there is room for (or reconciles first, when needed). */
void fetch_more(struct worker *wk);
/* A run ended after `ran_s`: the pace that bounds the prefetch (fetch.c). */
void fetch_note_end(struct worker *wk, double ran_s);
/* Drops the jobs fetched ahead (a stop: they stay in flight, requeued with the rest). */
void fetch_drop_ahead(struct worker *wk);
/* Checks the in-flight lists against what this process holds, once no reply is owed. */
void fetch_reconcile(struct worker *wk);
/* Closes the idle BLMOVE connections: all, or those of queues no longer configured. */
void fetch_blockers_close(struct worker *wk, bool all);
/* Resolves cfg's queues to refs, with a blocking connection for each new one. */
void fetch_queues_apply(struct worker *wk, const struct cfg *cfg);
/* wk->refetch's callback: tries again after an error or a paused queue's wait. */
void fetch_on_timer(struct ev_loop *loop, ev_timer *w, int revents);

/* run.c */
void run_list_init(struct run *head);
void run_list_add(struct run *head, struct run *run);
void run_list_del(struct run *run);
/* A run for a decoded job (takes ownership of `job`); NULL for an unknown class. */
struct run *run_new(struct worker *wk, struct job *job, unsigned ref);
void run_free(struct run *run);
/* Settings of the job's class: its entry in cfg, else the handler's, else the worker's. */
void run_configure(struct worker *wk, struct run *run);
/* Starts the run, or holds it while its class is at its limit in this process. */
void run_admit(struct worker *wk, struct run *run);
void run_start(struct run *run);
void run_cancel(struct run *run, enum task_stop why);

/* limits.c */
struct limit *limits_find(struct worker *wk, const char *class_name);
/* Rebuilds the table from wk->cfg, keeping the counts of classes still limited. */
void limits_build(struct worker *wk);
void limits_free(struct worker *wk);
/* Asks limit.lua whether `run` may start now (rate, global concurrency); takes `run`. */
void limits_ask(struct worker *wk, struct run *run);
/* limits_ask() for a class with shared limits, else run_admit(); takes `run`. */
void limits_admit(struct worker *wk, struct run *run);
/* Renews (ttl_s > 0) the global concurrency lease of every run holding one. */
void limits_renew(struct worker *wk, double ttl_s);
void lease_release(struct worker *wk, struct run *run);

/* unique.c */
/* A job with "unique_for" before it starts (unique.lua): it goes on to limits_admit(), or is
 * recorded as a duplicate; takes `run`. */
void unique_ask(struct worker *wk, struct run *run);

/* record.c: each takes what it needs from the run or job and writes the outcome */
void record_end(struct worker *wk, struct run *run, double now);
void record_defer(struct worker *wk, struct run *run, double now, double delay_s,
                  const char *why);
/* A job that cannot run (does not decode, unknown class): straight to dead. */
void record_bury(struct worker *wk, struct job *job, unsigned ref, unsigned long long seq,
                 const char *error_class, const char *why);
/* A unique job not run: `holder` (borrowed) holds its lock. */
void record_duplicate(struct worker *wk, struct run *run, const char *holder);
/* A job over worker.max_job_size: to dead undecoded. Takes item->job. */
void record_bury_cut(struct worker *wk, struct queue_item *item);
/* What a job's log lines end with: " trace_id=… span_id=…" for an attempt (`task`) of a job
 * with a valid traceparent (span_id: the parent-id the attempt passes on, task_trace()),
 * " trace_id=…" for such a job without `task`, else "". Returns `buf`. */
#define RECORD_TRACE_FIELDS 80
const char *record_trace_fields(const struct job *job, const struct task *task,
                                char buf[RECORD_TRACE_FIELDS]);

#endif
