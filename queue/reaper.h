/* reaper.h - finds dead nexusd processes and puts their in-flight jobs back. */
#ifndef REAPER_H
#define REAPER_H

#include <stddef.h>

struct ev_loop;
struct rconn;
struct reaper; /* opaque */

/* A process is dead when its heartbeat hash has expired (judged only once this connection
 * has been up for two reconnect back-offs, so that peers cut off by the same outage are back)
 * or, for a process on this host (same host_id), when its pid is gone or belongs to another
 * program. Each of its in-flight jobs goes back to the front of its queue with
 * "nexus_recoveries" incremented; a job recovered `max_recoveries` times goes to `dead`
 * instead. The expiry is checked again in the one call (reap.lua) that moves the jobs and
 * forgets the process, so a process that beats in between keeps its jobs and its records.
 * Reads every process's record (one HGETALL) every `interval_s` (the heartbeat's); the pids of
 * this host's other processes among them are checked every second in between, without Redis
 * (no timer runs while there are none).
 * Every `sweep_interval_s`, a sweep (SCAN, one page per check)
 * recovers in-flight lists whose owner has neither a heartbeat nor a record.
 * `conn` is borrowed and must outlive the reaper. Caller owns it, reaper_free(). */
struct reaper *reaper_new(struct ev_loop *loop, struct rconn *conn, const char *ns,
                          const char *self_identity, const char *host_id, double interval_s,
                          unsigned max_recoveries, double sweep_interval_s);
void reaper_free(struct reaper *rp);
void reaper_set_limits(struct reaper *rp, double interval_s, unsigned max_recoveries,
                       double sweep_interval_s);
/* A job in flight over `max_bytes` (worker.max_job_size, default 1 MiB) is neither read nor
 * decoded here: reap.lua moves it back to its queue as it is, found by its size and SHA-1, and
 * its fetch buries it (NexusJobTooLarge); it is not counted as a recovery. */
void reaper_set_max_job(struct reaper *rp, size_t max_bytes);
/* Checks now (start-up, Redis back). */
void reaper_kick(struct reaper *rp);
void reaper_stop(struct reaper *rp);

#endif
