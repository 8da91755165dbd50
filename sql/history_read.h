/* history_read.h - per-class attempts, failures and exact duration percentiles over a recent
 * window of nexus.job_history, for the dashboard's metrics (daemon/history_api.h). */
#ifndef HISTORY_READ_H
#define HISTORY_READ_H

typedef struct json_t json_t;
struct db_pool;

/* The longest window read: one day, what the BRIN index on finished_at keeps cheap to find. */
#define HISTORY_READ_WINDOW_MAX_S 86400.0

/* `classes` (caller owns it, json_decref()) is an array of {"class", "jobs", "failed",
 * "failure_rate", "duration_ms": {"p50", "p95", "p99"}}, most attempts first, and `total`
 * the number of classes in the window; NULL with err < 0 and `why` (borrowed, valid during the
 * call) when the query failed. */
typedef void history_read_fn(json_t *classes, long total, int err, const char *why, void *arg);

/* Reads the attempts (outcomes ok, retry, dead, discarded) that finished in the last
 * `window_s` seconds (at most HISTORY_READ_WINDOW_MAX_S), the `max_classes` with the most
 * attempts, in one query through `pool` (borrowed). Returns 0 and `done` runs exactly once,
 * later; or the errors of db_query(), and `done` is never called. */
int history_read(struct db_pool *pool, double window_s, unsigned max_classes,
                 history_read_fn *done, void *arg);

#endif
