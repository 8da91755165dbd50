/* queue.h - Sidekiq's keys on hiredis async: reliable fetch, outcomes, requeue. */
#ifndef QUEUE_H
#define QUEUE_H

#include <stdbool.h>
#include <stddef.h>

#include "queue/outcome.h" /* enum outcome_kind: what queue_finish() writes */

struct rconn;
struct durable;
struct unique_lock;
struct tally;
struct queue; /* opaque */

/* Bytes of a job kept in an item when the job is over the queue's maximum size. */
#define QUEUE_EXCERPT 1024
#define QUEUE_SHA256_HEX 65 /* 64 hex digits and NUL (DIGEST_SHA256_HEX) */
#define QUEUE_SHA1_HEX 41   /* 40 hex digits and NUL (DIGEST_SHA1_HEX) */

/* One fetched job. `job` is owned by whoever holds the item, release with free(). */
struct queue_item {
    unsigned ref;           /* which queue it came from: see queue_ref() */
    unsigned long long seq; /* its place in its in-flight list (queue/order.h): hand it back to
                               queue_finish() */
    char *job;   /* NUL-terminated JSON text, exactly as stored; when `cut`, only its first
                    QUEUE_EXCERPT bytes */
    size_t len;  /* bytes at `job` */
    size_t size; /* bytes of the job as stored: `len`, or more when `cut` */
    bool cut;    /* over queue_set_max_job()'s limit: never copied whole; finish it with
                    queue_finish_cut() */
    char sha256[QUEUE_SHA256_HEX]; /* when `cut`: the stored job's SHA-256, lowercase hex */
    char sha1[QUEUE_SHA1_HEX];     /* when `cut`: its SHA-1 (what finish.lua matches it by) */
};

/* Whether `item` is the job stored as `job` (`len` bytes): the same text, or for a cut item
 * the same size and SHA-1. */
bool queue_item_is(const struct queue_item *item, const char *job, size_t len);

/* `items` (n of them) belong to the callee: each item's job must be freed, the array not.
 * `err` is 0, or a negative errno (nothing was fetched). */
typedef void queue_fetch_fn(struct queue_item *items, size_t n, int err, void *arg);

/* Keys go under `ns` (borrowed string copied). `identity` names this process's in-flight
 * lists: nexus:inflight:IDENTITY:QUEUE. `conn` is borrowed and must outlive the queue.
 * Caller owns the queue, release with queue_free(). */
struct queue *queue_new(struct rconn *conn, const char *ns, const char *identity);
void queue_free(struct queue *q);
void queue_set_dead_limits(struct queue *q, unsigned max_jobs, double max_age_s);
/* Jobs over `max_bytes` are handed over cut (see struct queue_item); default 1 MiB. */
void queue_set_max_job(struct queue *q, size_t max_bytes);

/* The reference of queue `name`, added on first use and kept for the process's life (its
 * in-flight list may hold jobs after a reload drops the queue). */
unsigned queue_ref(struct queue *q, const char *name);
const char *queue_ref_name(const struct queue *q, unsigned ref); /* borrowed */
size_t queue_nrefs(const struct queue *q);
/* Whether queue `ref` was in nexus:paused at the last fetch that named it (false before). */
bool queue_ref_paused(const struct queue *q, unsigned ref);
/* Key names of a ref, borrowed for the queue's life. */
const char *queue_ref_list_key(const struct queue *q, unsigned ref);     /* queue:NAME */
const char *queue_ref_inflight_key(const struct queue *q, unsigned ref); /* nexus:inflight:… */

/* Moves up to `max` jobs from the queues `refs` (taken in that order, those in nexus:paused
 * skipped) into the in-flight lists, atomically (one Lua call), and notes which are paused.
 * With `quotas` (nrefs counts, or NULL), queue refs[i] gives at most quotas[i] at first, and
 * what the others could not give is then taken in order. Items come queue by queue.
 * Returns 0 and `done` runs once, later; or -ENOTCONN (the connection is down), and `done`
 * is never called. Jobs whose digest OpenSSL could not compute stay in the in-flight list
 * and are left out of `items` (recovered when the process restarts). */
int queue_fetch(struct queue *q, const unsigned *refs, const unsigned *quotas, size_t nrefs,
                unsigned max, queue_fetch_fn *done, void *arg);
/* BLMOVE of one job from queue `ref` on `blocker` (a connection of its own), waiting up to
 * `timeout_s`; `done` gets n = 0 on timeout. */
int queue_block(struct queue *q, struct rconn *blocker, unsigned ref, double timeout_s,
                queue_fetch_fn *done, void *arg);

/* The worker has put back every job of its in-flight lists that a lost fetch or BLMOVE
 * reply moved unseen (daemon/fetch.c's reconcile): the lists hold only jobs this process
 * knows of, so jobs done in order may again leave them by a count (queue/order.h). */
void queue_order_reconciled(struct queue *q);

/* `resumed`: a queue noted as paused is not any more (its jobs wait: fetch them); `err` is 0
 * or a negative errno (nothing was noted). */
typedef void queue_paused_fn(bool resumed, int err, void *arg);
/* Notes which queues are in nexus:paused, in one SMEMBERS: what an idle process checks when
 * its BLMOVEs time out (cheaper than a fetch, which reads the set too). Returns 0 and `done`
 * runs once, later; or -ENOTCONN, and `done` is never called. */
int queue_paused_read(struct queue *q, queue_paused_fn *done, void *arg);

/* Each finish.lua call is followed by durable_after() on `d` (borrowed, outliving the queue;
 * NULL: none, the default): outcomes a failover could lose are logged and counted. */
void queue_set_durable(struct queue *q, struct durable *d);

/* `retry`: a job was written to `retry` (else to `schedule`, a deferral), due at `at`. */
typedef void queue_scheduled_fn(bool retry, double at, void *arg);
/* `fn` runs for each retry and deferral Redis confirmed written (`arg` borrowed, outliving
 * the queue): the poller then looks for it at its time. */
void queue_on_scheduled(struct queue *q, queue_scheduled_fn *fn, void *arg);

/* Records an outcome to write at the next queue_flush() (DONE, RETRY, DEAD, DISCARD, DEFER
 * or DUPLICATE; not REQUEUE, which is the reaper's). `seq` is the item's (0 when not known:
 * the job then leaves by its text). `old` is the job as fetched (copied); takes ownership of
 * `new_job` (the job to write for RETRY/DEAD, else NULL), also on failure. `score` is the retry or
 * dead time (epoch seconds). `lock`: a unique job's (copied; NULL or empty for none), let go with a
 * DONE, DEAD or DISCARD while its jid holds it (docs/PROTOCOL.md, "Unique jobs"). */
void queue_finish(struct queue *q, enum outcome_kind op, unsigned ref, unsigned long long seq,
                  const char *old, size_t old_len, char *new_job, double score,
                  const struct unique_lock *lock);
/* queue_finish(OUTCOME_DEAD) for a cut item: the stored job is removed from the in-flight list
 * in Redis by its size and SHA-1, never sent back. Takes ownership of `new_job`. */
void queue_finish_cut(struct queue *q, const struct queue_item *item, char *new_job, double score);
/* Sends the recorded outcomes in one Lua call per 1000. Outcomes whose call fails are kept
 * and sent again by a later flush (for an error reply, not before a second has passed).
 * Returns 0, -ENOTCONN or -EAGAIN (kept for later). */
int queue_flush(struct queue *q);
/* The metrics noted for finish.lua (queue/tally.h: tally_note() each finished attempt); a
 * call carries them when QUEUE_METRICS_HOLD_S have passed since they were last written, so
 * a busy process writes them about once a second, not in every call. Borrowed, valid until
 * queue_free(). */
#define QUEUE_METRICS_HOLD_S 1.0
struct tally *queue_tally(struct queue *q);
/* Writes the metrics held back (a finish.lua call without outcomes) when some may be and,
 * unless `now_too`, QUEUE_METRICS_HOLD_S have passed. Returns 0 (also when there was
 * nothing to write), or -ENOTCONN. */
int queue_flush_metrics(struct queue *q, bool now_too);
/* When metrics held back will be due (util_now() scale, which ev_now() shares), or 0 when
 * none are held. */
double queue_metrics_due(const struct queue *q);
/* Outcomes recorded or sent but not yet confirmed by Redis. */
size_t queue_unconfirmed(const struct queue *q);
/* Whether an unconfirmed outcome is for the job stored as `job` in queue `ref`'s list. */
bool queue_finishing(const struct queue *q, unsigned ref, const char *job, size_t len);

typedef void queue_count_fn(long long count, int err, void *arg);
/* Moves every job of this process's in-flight lists back to its queue (shutdown, or jobs
 * fetched and not started). `done` gets the count moved. */
int queue_requeue_all(struct queue *q, queue_count_fn *done, void *arg);

#endif
