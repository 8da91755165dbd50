/* process.h - one nexusd process assembled: the Redis connection, this process's presence,
 * the queues, PostgreSQL (pool, history, outbox), the periodic tasks (poller, reaper,
 * scheduler) and the worker that runs jobs on them. The one place they are made, wired,
 * reloaded, stopped and freed, in that order. */
#ifndef PROCESS_H
#define PROCESS_H

struct ev_loop;
struct cfg;
struct err;
struct worker;
struct db_pool;
struct process; /* opaque */

/* Connects to Redis (and PostgreSQL) in the background; the worker fetches as soon as Redis
 * is up. The process holds a reference to `cfg` (cfg_ref()) until process_reload()
 * replaces it or process_free(). Caller owns the process, release with process_free().
 * Returns NULL and fills `err` when the configuration cannot be used (a Redis or database
 * URL). */
struct process *process_new(struct ev_loop *loop, const struct cfg *cfg, const char *version,
                            struct err *err);
/* Cancels what still runs, answers every callback under way and frees it all. NULL is
 * accepted. */
void process_free(struct process *p);

/* Applies `cfg` (the process takes a reference), which the caller has checked changes no
 * restart-only setting of Redis or PostgreSQL (cfg_restart_changes()). */
void process_reload(struct process *p, const struct cfg *cfg);

typedef void process_stopped_fn(struct process *p, void *arg);
/* Stops the periodic tasks, then the worker (worker_stop()); `done` runs once, from the
 * loop, when this process has left Redis. Calling it again is harmless. */
void process_stop(struct process *p, process_stopped_fn *done, void *arg);

/* The worker, for quiet mode and the operators' endpoint: borrowed, valid until
 * process_free(). */
struct worker *process_worker(const struct process *p);
/* The PostgreSQL pool (NULL without database.url nor database.pool_url), for the dashboard's
 * reads of the job history: borrowed, valid until process_free(). */
struct db_pool *process_pool(const struct process *p);

#endif
