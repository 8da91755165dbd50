/* worker.h - fetch -> run handler -> record -> done/retry/dead, on one libev loop. */
#ifndef WORKER_H
#define WORKER_H

struct ev_loop;
struct cfg;
struct err;
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

#endif
