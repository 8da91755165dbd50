/* metrics.h - the process's job counters and their Prometheus text rendering (pure). */
#ifndef METRICS_H
#define METRICS_H

#include <stdbool.h>
#include <stddef.h>

struct metrics; /* opaque */

#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
/* Classes counted apart; later ones are counted under class="(other)". */
#define METRICS_MAX_CLASSES 500

/* Caller owns the counters, release with metrics_free() (accepts NULL). */
struct metrics *metrics_new(void);
void metrics_free(struct metrics *m);

/* One attempt of a job of `class_name` ended (borrowed; copied the first time). `failed`:
 * it goes to retry or dead. `duration_s` < 0 for a job that never ran (undecodable, unknown
 * class): counted, not timed. */
void metrics_job_end(struct metrics *m, const char *class_name, bool failed, double duration_s);
/* A unique job of `class_name` was not run: another jid held its lock (a duplicate). */
void metrics_job_duplicate(struct metrics *m, const char *class_name);
/* A job of `class_name` carried a traceparent that is not W3C trace context: it ran untraced. */
void metrics_traceparent_invalid(struct metrics *m, const char *class_name);

/* One queue as read from Redis at scrape time. */
struct metrics_queue {
    const char *name;  /* borrowed */
    long long size;    /* jobs waiting */
    double latency_s;  /* age of the oldest one, 0 when empty */
};

/* What the scrape adds to the counters: the process's state and the fleet's from Redis. */
struct metrics_snapshot {
    const char *version;  /* borrowed */
    double start_time_s;  /* epoch s */
    unsigned concurrency;
    unsigned in_flight;
    bool redis_up;
    unsigned long long redis_wait_short; /* WAITs short of redis.wait_replicas (durable.h) */
    int postgresql_up;    /* 1, 0, or -1 without database.url (not shown) */
    bool fleet;           /* the fields below were read from Redis */
    const struct metrics_queue *queues; /* borrowed, nqueues entries */
    size_t nqueues;
    long long scheduled, retry, dead;
};

/* The Prometheus text exposition (format 0.0.4) of `m` and `snap`. Caller owns the text,
 * release with free(); writes its length. */
char *metrics_render(const struct metrics *m, const struct metrics_snapshot *snap,
                     size_t *ret_len);

#endif
