/* history.h - every finished attempt into nexus.job_history, written in batches. */
#ifndef HISTORY_H
#define HISTORY_H

#include <stddef.h>

struct ev_loop;
struct db_pool;
struct history; /* opaque */

struct history_entry {
    const char *jid, *class_name, *queue;
    int attempt;                       /* >= 1 */
    const char *outcome;               /* ok | retry | dead | discarded | deferred */
    double started_at, finished_at;    /* epoch s */
    const char *error_class, *error;   /* NULL when none */
};

/* Writes batches of up to 1000 entries every `flush_s` (or at once when 1000 wait) through
 * `pool` (borrowed; must outlive the history), and deletes entries older than `retention_s`
 * every 10 minutes. While PostgreSQL is away, up to `max_pending` entries wait; beyond that
 * the oldest are dropped and counted in a log line (history is a record, not job data).
 * `process` names this process in the rows (copied). Caller owns it, history_free(). */
struct history *history_new(struct ev_loop *loop, struct db_pool *pool, const char *process,
                            double flush_s, double retention_s, size_t max_pending);
void history_free(struct history *h);
void history_set_retention(struct history *h, double retention_s);
/* Copies the entry into the next batch. */
void history_add(struct history *h, const struct history_entry *e);
/* Starts writing what waits now (shutdown). */
void history_flush(struct history *h);
/* Entries not yet written (waiting or in a batch under way). */
size_t history_unwritten(const struct history *h);

#endif
