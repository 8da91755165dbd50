/* poller.h - moves due jobs from `schedule` and `retry` to their queues, exactly once
 * across processes (ZREM decides who moves a job), 100 jobs per round trip. */
#ifndef POLLER_H
#define POLLER_H

#include <stdbool.h>
#include <stddef.h>

struct ev_loop;
struct rconn;
struct poller; /* opaque */

/* Looks at each set's earliest job (one ZRANGE) every 0.5..1 `interval_s` (randomised so that
 * processes spread out), at the earliest score when it comes sooner, and again at once while a
 * set has more due jobs: a due job is moved at most `interval_s` late, on time when it was the
 * earliest of its set at the last look. `conn` is borrowed and must outlive the poller.
 * Caller owns it, release with poller_free(). */
struct poller *poller_new(struct ev_loop *loop, struct rconn *conn, const char *ns,
                          double interval_s);
void poller_free(struct poller *p);
void poller_set_interval(struct poller *p, double interval_s);
/* A due job over `max_bytes` (default 1 MiB) is not decoded: it goes to `dead` as job_cut()
 * describes it (NexusJobTooLarge), as the worker does with one fetched from a queue. */
void poller_set_max_job(struct poller *p, size_t max_bytes);
/* A job this process wrote to `retry` (`retry` true) or `schedule`, due at `at` (epoch s):
 * looked for at that time when it comes before the next look, so that it moves on time. */
void poller_expect(struct poller *p, bool retry, double at);
/* Polls now (e.g. after Redis came back). */
void poller_kick(struct poller *p);
/* Stops polling for good (shutdown). */
void poller_stop(struct poller *p);

#endif
