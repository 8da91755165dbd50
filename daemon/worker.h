/* worker.h - fetch -> run handler -> record -> done/retry/dead, on one libev loop. */
#ifndef WORKER_H
#define WORKER_H

#include <stdbool.h>

struct ev_loop;
struct cfg;
struct err;
struct rconn;
struct metrics;
struct worker; /* opaque */

/* Connects to Redis in the background and starts fetching as soon as it is up. `cfg` is
 * borrowed and must stay valid until worker_reload() replaces it or worker_free(). Caller
 * owns the worker, release with worker_free(). Returns NULL and fills `err` on failure. */
struct worker *worker_new(struct ev_loop *loop, const struct cfg *cfg, const char *version,
                          struct err *err);
void worker_free(struct worker *wk);

/* Applies a new configuration (concurrency, queues, timeouts, limits, classes). Settings
 * that need a restart (redis.url, redis.namespace) are refused with -EINVAL and a sentence;
 * the old configuration then stays in force. `cfg` is borrowed as in worker_new(). */
int worker_reload(struct worker *wk, const struct cfg *cfg, struct err *err);

/* Quiet mode: no new fetches; running jobs finish. */
void worker_quiet(struct worker *wk);

typedef void worker_stopped_fn(struct worker *wk, void *arg);
/* Stops fetching, lets running jobs finish for up to cfg->shutdown_timeout_s, cancels the
 * rest, writes every outcome, puts unfinished jobs back on their queues and leaves Redis.
 * `done` runs once, from the loop. Calling it again is harmless. */
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
