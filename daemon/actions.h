/* actions.h - operators' actions on Redis, asynchronous over a rconn: list, run and delete
 * the jobs of retry, dead and schedule, pause and resume queues, run a schedule now. The
 * same effects as nexusctl's, through the same pure parts (queue/rerun.h) and the same
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

/* Most jobs one list call returns (a larger limit is served as this one). */
#define ACTIONS_LIST_MAX 100

/* What one list call may read from Redis and answer; every value > 0. */
struct actions_list_bounds {
    size_t member_max;  /* bytes of a job read whole; of a longer one, only its first bytes */
    size_t read_max;    /* bytes of jobs Redis reads for one page (the first job always) */
    size_t excerpt_max; /* bytes shown of each text: args (as JSON), error_message, ... */
    size_t answer_max;  /* bytes of the answer's jobs (the first job always) */
};

/* The first bytes of jobs over member_max that list calls have read, by set and score, so that
 * later pages do not make Redis copy them again while the set holds one job at that score;
 * each is read again after ACTIONS_HEADS_TTL_S. At most ACTIONS_HEADS_MAX, the oldest go. */
#define ACTIONS_HEADS_MAX 64
#define ACTIONS_HEADS_TTL_S 600.0
struct actions_heads; /* opaque */
/* Caller owns it, release with actions_heads_free() (accepts NULL). */
struct actions_heads *actions_heads_new(void);
void actions_heads_free(struct actions_heads *hs);

/* Bytes of a job run and delete decode: a larger one is found by the jid in its first 64 KiB,
 * can be deleted but not run from here (-EFBIG). */
#define ACTIONS_DECODE_MAX (16u << 20)

/* Runs exactly once, from a loop callback, when the action was started (0 returned).
 * `err` is 0; -ENOENT (no such job, or another process moved it first); -EBADMSG (the job
 * in the set does not decode: it stays); -EFBIG (run: the job is over ACTIONS_DECODE_MAX: it
 * stays); -EIO (Redis refused, or the connection was lost
 * with the outcome unknown). `result` is a new reference on success (NULL
 * otherwise) that the callee owns; `why` a borrowed sentence on failure (NULL on success),
 * valid during the call. */
typedef void actions_done_fn(int err, json_t *result, const char *why, void *arg);

/* Each starter copies its strings (`ns` is the key namespace) and borrows `conn` until
 * `done` has run. It returns 0, or -ENOTCONN (Redis down: `done` is not called). */

/* The set's size and `limit` (1..ACTIONS_LIST_MAX) jobs from `offset`, dead newest first,
 * retry and schedule soonest first, within `bounds` (copied): {"set", "size", "offset",
 * "limit", "truncated" (fewer jobs than asked although the set has more: a byte bound ended
 * the page), "jobs": [{"jid", "class", "queue", "args", "retry_count", "error_class",
 * "error_message", "failed_at", "retried_at", "enqueued_at", "score", "invalid", "size" (bytes
 * stored), "truncated", "excerpt", ...}]}. A text over bounds->excerpt_max is shown cut with
 * its length in "NAME_size" (args: null, with "args_excerpt" and "args_size"); a job over
 * bounds->member_max is shown from its first bytes: the fields found whole there, and
 * "excerpt". "truncated" is true for a job shown in part. `heads` (borrowed until `done`, may
 * be NULL) remembers such jobs. */
int actions_list(struct rconn *conn, const char *ns, enum actions_set set, unsigned offset,
                 unsigned limit, const struct actions_list_bounds *bounds,
                 struct actions_heads *heads, actions_done_fn *done, void *arg);
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
