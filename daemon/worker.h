/* worker.h - fetch -> run handler -> record -> done/retry/dead, on one libev loop. */
#ifndef WORKER_H
#define WORKER_H

#include <stdbool.h>

struct ev_loop;
struct cfg;
struct raddr;
struct rconn;
struct presence;
struct queue;
struct metrics;
struct xfer;
struct db_pool;
struct history;
struct worker; /* opaque */

/* What a worker runs on. The process is assembled in daemon/process.c, which makes these
 * parts and lends them: each is borrowed and must outlive the worker. */
struct worker_parts {
    const struct raddr *addr;  /* Redis: the worker's own blocking connections go there */
    struct rconn *conn;        /* the main connection: fetches, outcomes, heartbeats, limits;
                                  its state changes are passed on with worker_redis_changed() */
    struct presence *presence; /* this process in Redis; its identity names in-flight lists */
    struct queue *queue;       /* fetch, finish, requeue */
    struct metrics *metrics;   /* in-process job counters */
    struct xfer *xfer;         /* lent to handlers */
    struct db_pool *db;        /* lent to handlers; NULL without database.url */
    struct history *history;   /* NULL without database.url or with database.history off */
};

/* Starts fetching as soon as the main connection is up. The worker holds a reference to
 * `cfg` (cfg_ref()) until worker_reload() replaces it or worker_free(). Caller owns the worker, release
 * with worker_close() (before the main connection is freed: it closes the worker's own
 * connections) and then worker_free(). */
struct worker *worker_new(struct ev_loop *loop, const struct cfg *cfg,
                          const struct worker_parts *parts);
/* Stops the worker's timers and closes its blocking connections; jobs still running keep
 * running until worker_free() cancels them. Idempotent. */
void worker_close(struct worker *wk);
void worker_free(struct worker *wk);

/* The main connection came up or went down (its owner's state callback calls this). */
void worker_redis_changed(struct worker *wk, bool up);

/* Applies a new configuration (concurrency, queues, timeouts, limits, classes) that the
 * caller has checked needs no restart; the worker takes a reference to it. */
void worker_reload(struct worker *wk, const struct cfg *cfg);

/* Quiet mode: no new fetches; running jobs finish. */
void worker_quiet(struct worker *wk);

typedef void worker_stopped_fn(struct worker *wk, void *arg);
/* Stops fetching, lets running jobs finish for up to cfg->shutdown_timeout_s, cancels the
 * rest, writes every outcome (waiting on Redis's and PostgreSQL's answers, at most
 * STOP_GRACE_S), puts unfinished jobs back on their queues and leaves Redis. `done` runs
 * once, from the loop. Calling it again is harmless. */
void worker_stop(struct worker *wk, worker_stopped_fn *done, void *arg);

/* What the process is doing, for the operators' endpoint and systemd. */
struct worker_stats {
    const char *identity; /* borrowed, valid until worker_free() */
    double started_at;    /* epoch s */
    unsigned concurrency;
    unsigned running;     /* jobs whose handler runs */
    unsigned held;        /* fetched, waiting for a slot of their class */
    bool redis_up;        /* the main connection is up */
    bool db_configured;   /* database.url is set */
    bool db_up;           /* ... and the pool has a live connection */
    bool quiet;
    bool stopping;        /* worker_stop() was called */
};
void worker_stats(const struct worker *wk, struct worker_stats *ret);
/* The main Redis connection (may be down) and the in-process job counters: borrowed, valid
 * until worker_free(). */
struct rconn *worker_redis(const struct worker *wk);
struct metrics *worker_metrics(const struct worker *wk);

typedef void worker_change_fn(struct worker *wk, void *arg);
/* `fn` runs from the loop each time the main Redis connection comes up or goes down. */
void worker_on_change(struct worker *wk, worker_change_fn *fn, void *arg);

#endif
