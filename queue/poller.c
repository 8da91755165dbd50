/* poller.c - the scheduled-job and retry mover. */
#include "queue/poller.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>
#include <hiredis/hiredis.h>
#include <jansson.h>

#include "lib/err.h"
#include "lib/job.h"
#include "lib/log.h"
#include "lib/util.h"
#include "queue/keys.h"
#include "queue/move.h"
#include "queue/rconn.h"

#define POLL_BATCH 100

enum { SET_SCHEDULE, SET_RETRY, NSETS };

struct poller {
    struct ev_loop *loop;
    struct rconn *conn;
    char *ns;
    char *keys[NSETS];
    bool busy[NSETS]; /* a round trip is under way for this set */
    bool stopped;
    double interval_s;
    size_t max_job; /* bytes; a larger due job goes to dead undecoded */
    ev_timer tick;
};

/* One set's round: the range read, then the move. */
struct round {
    struct poller *p;
    int set;
};

static void poll_set(struct poller *p, int set);

static void round_end(struct round *rd, bool more)
{
    struct poller *p = rd->p;
    int set = rd->set;

    free(rd);
    p->busy[set] = false;
    if (more && !p->stopped)
        poll_set(p, set);
}

static void move_on_done(long long moved, int err, void *arg)
{
    struct round *rd = arg;

    if (moved > 0)
        log_debug("event=scheduled_moved set=%s jobs=%lld",
                  rd->set == SET_RETRY ? "retry" : "schedule", moved);
    round_end(rd, err == 0 && moved > 0);
}

/* The dead entry of a due job over the maximum size: never decoded (job_cut()). */
static char *cut_job(const struct poller *p, const char *text, size_t len, double now)
{
    char sha[JOB_SHA256_HEX], why[160];
    struct job *job;
    char *out = NULL;

    if (job_sha256_hex(text, len, sha) < 0)
        return NULL;
    job = job_cut(text, len, len, sha, NULL, util_random());
    if (!job)
        return NULL;
    (void)snprintf(why, sizeof(why),
                   "job of %zu bytes exceeds worker.max_job_size (%zu); not decoded", len,
                   p->max_job);
    log_warn("event=invalid_job where=schedule jid=%s size=%zu sha256=%s err=%s outcome=dead",
             log_q(job_jid(job)), len, sha, log_q(why));
    if (job_record_failure(job, "NexusJobTooLarge", why, now) == 0)
        out = job_encode(job, NULL);
    job_free(job);
    return out;
}

/* A due job ready for its queue: "at" dropped, enqueued_at now; or, when it does not decode
 * or is over the maximum size, a dead job carrying the reason. Writes the queue (NULL for
 * dead) to *ret_queue. */
static char *prepare_job(const struct poller *p, const char *text, size_t len, double now,
                         char **ret_queue)
{
    struct job *job = NULL;
    struct err err = {0};
    char *out;

    *ret_queue = NULL;
    if (len > p->max_job)
        return cut_job(p, text, len, now);
    if (job_decode(text, len, "default", util_random(), &job, &err) < 0) {
        if (!job)
            return NULL;
        log_warn("event=invalid_job where=schedule jid=%s err=%s outcome=dead", log_q(job_jid(job)),
                 log_q(err.msg));
        if (job_record_failure(job, "NexusInvalidJob", err.msg, now) < 0) {
            job_free(job);
            return NULL;
        }
    } else {
        (void)json_object_del(job_root(job), "at");
        if (job_set_enqueued_at(job, now) < 0 || !(*ret_queue = strdup(job_queue(job)))) {
            job_free(job);
            return NULL;
        }
    }
    out = job_encode(job, NULL);
    job_free(job);
    if (!out) {
        free(*ret_queue);
        *ret_queue = NULL;
    }
    return out;
}

static void range_on_reply(struct redisReply *reply, void *arg)
{
    struct round *rd = arg;
    struct poller *p = rd->p;
    const char *error = rconn_reply_error(reply);
    struct move_batch *b;
    double now = util_now();
    char *job, *queue;

    if (error || reply->type != REDIS_REPLY_ARRAY || reply->elements == 0) {
        if (error && reply)
            log_warn("event=poll_failed set=%s err=%s", p->keys[rd->set], log_q(error));
        round_end(rd, false);
        return;
    }
    b = move_batch_new(p->ns, p->keys[rd->set], true);
    for (size_t i = 0; b && i < reply->elements; i++) {
        struct redisReply *e = reply->element[i];
        job = prepare_job(p, e->str, e->len, now, &queue);
        if (job) /* else: out of memory; the job stays where it is for the next poll */
            (void)move_batch_add(b, e->str, e->len, job, queue);
        free(queue);
    }
    if (!b || move_batch_size(b) == 0) {
        move_batch_free(b);
        round_end(rd, false);
        return;
    }
    if (move_batch_send(b, p->conn, now, move_on_done, rd) < 0)
        round_end(rd, false);
}

static void poll_set(struct poller *p, int set)
{
    struct round *rd;
    char now[32];

    if (p->busy[set] || p->stopped || !rconn_is_up(p->conn))
        return;
    rd = malloc(sizeof(*rd));
    if (!rd)
        return;
    rd->p = p;
    rd->set = set;
    (void)snprintf(now, sizeof(now), "%.6f", util_now());
    if (rconn_commandf(p->conn, range_on_reply, rd, "ZRANGEBYSCORE %s -inf %s LIMIT 0 %d",
                       p->keys[set], now, POLL_BATCH) < 0) {
        free(rd);
        return;
    }
    p->busy[set] = true;
}

static void tick_on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct poller *p = w->data;
    double jitter = 0.5 + (double)(util_random() % 1000) / 1000.0;

    for (int set = 0; set < NSETS; set++)
        poll_set(p, set);
    ev_timer_set(&p->tick, p->interval_s * jitter, 0);
    ev_timer_start(loop, &p->tick);
}

struct poller *poller_new(struct ev_loop *loop, struct rconn *conn, const char *ns,
                          double interval_s)
{
    struct poller *p = calloc(1, sizeof(*p));

    if (!p)
        return NULL;
    p->loop = loop;
    p->conn = conn;
    p->interval_s = interval_s;
    p->max_job = 1 << 20;
    p->ns = strdup(ns);
    p->keys[SET_SCHEDULE] = keys_make(ns, "schedule");
    p->keys[SET_RETRY] = keys_make(ns, "retry");
    if (!p->ns || !p->keys[SET_SCHEDULE] || !p->keys[SET_RETRY]) {
        poller_free(p);
        return NULL;
    }
    ev_timer_init(&p->tick, tick_on_timer, interval_s, 0);
    p->tick.data = p;
    ev_timer_start(loop, &p->tick);
    return p;
}

void poller_free(struct poller *p)
{
    if (!p)
        return;
    ev_timer_stop(p->loop, &p->tick);
    free(p->ns);
    for (int set = 0; set < NSETS; set++)
        free(p->keys[set]);
    free(p);
}

void poller_set_interval(struct poller *p, double interval_s)
{
    p->interval_s = interval_s;
}

void poller_set_max_job(struct poller *p, size_t max_bytes)
{
    p->max_job = max_bytes;
}

void poller_kick(struct poller *p)
{
    for (int set = 0; set < NSETS; set++)
        poll_set(p, set);
}

void poller_stop(struct poller *p)
{
    p->stopped = true;
    ev_timer_stop(p->loop, &p->tick);
}
