/* push.h - pushing one job as a Sidekiq client does: onto its queue now, or into schedule.
 *
 * Now: SADD queues NAME and LPUSH queue:NAME JOB, atomically. Later: ZADD schedule AT JOB,
 * which the poller moves to queue:NAME when due. Both are push.lua, whose push_now() and
 * push_at() (queue/lua/lib/push.lua) are also what cron.lua, outbox.lua and move.lua push
 * with. A unique job (queue/unique.h) takes its lock in that same call, and is not pushed
 * when another jid holds it. nexusctl (synchronous hiredis) sends the words of
 * queue_push_make(); the daemon sends them with queue_push(). */
#ifndef PUSH_H
#define PUSH_H

#include <stddef.h>

#include "queue/rconn.h" /* rconn_reply_fn */

struct unique_lock;

/* `at` of a push onto the queue now (any other `at` is a due time, even 0). */
#define QUEUE_PUSH_NOW (-1.0)

/* One push spelled out for redis*CommandArgv(). Fill with queue_push_make(), empty with
 * queue_push_clear(); not to be copied (argv points into it). */
struct queue_push {
    int argc;
    const char *argv[12]; /* borrowed from make()'s arguments, or pointing into this struct */
    size_t lens[12];
    char *k_queues, *k_queue, *k_schedule; /* owned */
    char at[32];                           /* "" for now */
};

/* Pure. The push of `text` (`len` bytes, the job's JSON) onto queue `queue` under namespace
 * `ns`: now when `at` is QUEUE_PUSH_NOW, else into schedule due at `at` (epoch s, >= 0).
 * `lock`: the job's (unique_lock_make()), or NULL or empty for a job that is not unique.
 * `queue`, `text` and `lock` are borrowed until queue_push_clear(). push.lua's reply is then
 * an array holding the jid of the job this one duplicates when another jid holds the lock. */
void queue_push_make(struct queue_push *p, const char *ns, const char *queue, double at,
                     const char *text, size_t len, const struct unique_lock *lock);
void queue_push_clear(struct queue_push *p);

/* Sends that push on `rc`: `done` gets push.lua's reply (the queue's new length, or 1 when
 * scheduled; for a duplicate the array queue_push_holder() reads), as rconn_command() says
 * (0, or -ENOTCONN and `done` is never called). `lock` as for queue_push_make(). */
int queue_push(struct rconn *rc, const char *ns, const char *queue, double at, const char *text,
               size_t len, const struct unique_lock *lock, rconn_reply_fn *done, void *arg);
/* The jid holding the lock when push.lua's `reply` says the job was a duplicate (borrowed
 * from the reply), else NULL (pushed). */
const char *queue_push_holder(const struct redisReply *reply);

#endif
