/* actions.h - operators' actions on Redis, asynchronous over a rconn: list, run and delete
 * the jobs of retry, dead and schedule, pause and resume queues, run a schedule now. The
 * same effects as nexusctl's, through the same pure parts (jobs/rerun.h) and the same
 * exactly-once move (queue/move.h). Knows nothing of HTTP: the dashboard maps results. */
#ifndef ACTIONS_H
#define ACTIONS_H

#include <stdbool.h>
#include <stddef.h>

struct rconn;
struct cfg_schedule;
typedef struct json_t json_t;

/* The sorted sets of jobs. */
enum actions_set {
    ACTIONS_DEAD,     /* "dead": run gives one more attempt */
    ACTIONS_RETRY,    /* "retry": run gives one more attempt */
    ACTIONS_SCHEDULE, /* "schedule": run leaves retry_count alone */
};

/* Most jobs one list call returns. */
#define ACTIONS_LIST_MAX 1000

/* Runs exactly once, from a loop callback, when the action was started (0 returned).
 * `err` is 0; -ENOENT (no such job, or another process moved it first); -EBADMSG (the job
 * in the set does not decode: it stays); -EIO (Redis refused, or the connection was lost
 * with the outcome unknown); -ENOMEM. `result` is a new reference on success (NULL
 * otherwise) that the callee owns; `why` a borrowed sentence on failure (NULL on success),
 * valid during the call. */
typedef void actions_done_fn(int err, json_t *result, const char *why, void *arg);

/* Each starter copies its strings (`ns` is the key namespace) and borrows `conn` until
 * `done` has run. It returns 0, -ENOTCONN (Redis down: `done` is not called) or -ENOMEM. */

/* The set's size and `limit` (1..ACTIONS_LIST_MAX) jobs from `offset`, dead newest first,
 * retry and schedule soonest first: {"set", "size", "offset", "jobs": [{"jid", "class",
 * "queue", "args", "retry_count", "error_class", "error_message", "failed_at",
 * "retried_at", "enqueued_at", "score", "invalid"}]}. */
int actions_list(struct rconn *conn, const char *ns, enum actions_set set, unsigned offset,
                 unsigned limit, actions_done_fn *done, void *arg);
/* Moves every job with `jid` from the set to its queue now, each exactly once however
 * many callers try: {"moved": N >= 1}. */
int actions_run(struct rconn *conn, const char *ns, enum actions_set set, const char *jid,
                actions_done_fn *done, void *arg);
/* Deletes every job with `jid` from the set: {"deleted": N >= 1}. */
int actions_delete(struct rconn *conn, const char *ns, enum actions_set set, const char *jid,
                   actions_done_fn *done, void *arg);
/* Adds `queue` to nexus:paused (or removes it): {"queue", "paused", "changed"}. */
int actions_pause(struct rconn *conn, const char *ns, const char *queue, bool pause,
                  actions_done_fn *done, void *arg);
/* The paused queues, sorted: {"paused": [names]}. */
int actions_paused(struct rconn *conn, const char *ns, actions_done_fn *done, void *arg);
/* Pushes the schedule's job now, as `nexusctl cron run` does (its ticks go on as before):
 * {"jid", "queue"}. `sc` is read during the call only. */
int actions_schedule_run(struct rconn *conn, const char *ns, const struct cfg_schedule *sc,
                         actions_done_fn *done, void *arg);

#endif
