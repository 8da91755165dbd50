/* poller.c - the scheduled-job and retry mover: each set's earliest job is looked at (one
 * ZRANGE), due jobs moved, and the next look is at the earliest score or after the interval,
 * whichever comes first. */
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
#include "lib/parse.h"
#include "lib/periodic.h"
#include "lib/util.h"
#include "lib/xalloc.h"
#include "queue/keys.h"
#include "queue/move.h"
#include "queue/rconn.h"

#define POLL_BATCH 100
/* Rounds 0.5..1 interval apart (0.75 ± a third), so that processes spread out and a due job
 * waits at most one interval. */
#define POLL_SPREAD 0.75
#define POLL_JITTER (1.0 / 3)

enum { SET_SCHEDULE, SET_RETRY, NSETS };

/* One set's polling: its rounds (the range read, then the move) never overlap. */
struct poll_set {
    struct poller *p;
    int set;
    struct periodic *timer;
    ev_timer due; /* at the earliest score seen, when before the next round */
};

struct poller {
    struct ev_loop *loop;
    double interval_s;
    struct rconn *conn;
    char *ns;
    char *keys[NSETS];
    struct poll_set sets[NSETS];
    size_t max_job; /* bytes; a larger due job goes to dead undecoded */
};

static void move_on_done(long long moved, int err, void *arg)
{
    struct poll_set *ps = arg;

    if (moved > 0)
        log_debug("event=scheduled_moved set=%s jobs=%lld",
                  ps->set == SET_RETRY ? "retry" : "schedule", moved);
    periodic_done(ps->timer, err == 0 && moved > 0);
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
    (void)snprintf(why, sizeof(why),
                   "job of %zu bytes exceeds worker.max_job_size (%zu); not decoded", len,
                   p->max_job);
    log_warn("event=invalid_job where=schedule jid=%s size=%zu sha256=%s err=%s outcome=dead",
             log_q(job_jid(job)), len, sha, log_q(why));
    job_record_failure(job, "NexusJobTooLarge", why, now);
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
        log_warn("event=invalid_job where=schedule jid=%s err=%s outcome=dead", log_q(job_jid(job)),
                 log_q(err.msg));
        job_record_failure(job, "NexusInvalidJob", err.msg, now);
    } else {
        (void)json_object_del(job_root(job), "at");
        job_set_enqueued_at(job, now);
        *ret_queue = xstrdup(job_queue(job));
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
    struct poll_set *ps = arg;
    struct poller *p = ps->p;
    const char *error = rconn_reply_error(reply);
    struct move_batch *b;
    double now = util_now();
    char *job, *queue;

    if (error || reply->type != REDIS_REPLY_ARRAY || reply->elements == 0) {
        if (error && reply)
            log_warn("event=poll_failed set=%s err=%s", p->keys[ps->set], log_q(error));
        periodic_done(ps->timer, false);
        return;
    }
    b = move_batch_new(p->ns, p->keys[ps->set], true);
    for (size_t i = 0; i < reply->elements; i++) {
        struct redisReply *e = reply->element[i];
        job = prepare_job(p, e->str, e->len, now, &queue);
        if (job) /* else: it could not be encoded; it stays where it is for the next poll */
            move_batch_add(b, e->str, e->len, job, queue);
        free(queue);
    }
    if (move_batch_size(b) == 0) {
        move_batch_free(b);
        periodic_done(ps->timer, false);
        return;
    }
    if (move_batch_send(b, p->conn, now, move_on_done, ps) < 0)
        periodic_done(ps->timer, false);
}

/* A round at `score` (epoch s) when that comes before the next look and before a round
 * already set. */
static void due_at(struct poll_set *ps, double score, double now)
{
    struct poller *p = ps->p;
    double in = score > now ? score - now : 0;

    if (in >= p->interval_s ||
        (ev_is_active(&ps->due) && ev_timer_remaining(p->loop, &ps->due) <= in))
        return;
    ev_timer_stop(p->loop, &ps->due);
    ev_timer_set(&ps->due, in, 0);
    ev_timer_start(p->loop, &ps->due);
}

/* The set's earliest job and its score: when due, the due jobs are read (100 at a time) and
 * moved; otherwise a round is due at that score if it comes before the next one. */
static void first_on_reply(struct redisReply *reply, void *arg)
{
    struct poll_set *ps = arg;
    struct poller *p = ps->p;
    const char *error = rconn_reply_error(reply);
    double now = util_now(), score;
    char now_s[32];

    if (error || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
        reply->element[1]->type != REDIS_REPLY_STRING) {
        if (error && reply)
            log_warn("event=poll_failed set=%s err=%s", p->keys[ps->set], log_q(error));
        periodic_done(ps->timer, false);
        return;
    }
    if (parse_double(reply->element[1]->str, -1e300, 1e300, &score) < 0)
        score = now; /* "-inf" and the like: the range read decides */
    if (score > now) {
        due_at(ps, score, now);
        periodic_done(ps->timer, false);
        return;
    }
    (void)snprintf(now_s, sizeof(now_s), "%.6f", now);
    if (rconn_commandf(p->conn, range_on_reply, ps, "ZRANGEBYSCORE %s -inf %s LIMIT 0 %d",
                       p->keys[ps->set], now_s, POLL_BATCH) < 0)
        periodic_done(ps->timer, false);
}

/* One round of a set (periodic_tick_fn): one ZRANGE while nothing is due. */
static bool poll_on_tick(void *arg)
{
    struct poll_set *ps = arg;
    struct poller *p = ps->p;

    if (!rconn_is_up(p->conn))
        return false;
    return rconn_commandf(p->conn, first_on_reply, ps, "ZRANGE %s 0 0 WITHSCORES",
                          p->keys[ps->set]) == 0;
}

static void due_on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct poll_set *ps = w->data;

    periodic_kick(ps->timer);
}

struct poller *poller_new(struct ev_loop *loop, struct rconn *conn, const char *ns,
                          double interval_s)
{
    struct poller *p = xcalloc(1, sizeof(*p));

    p->loop = loop;
    p->interval_s = interval_s;
    p->conn = conn;
    p->max_job = 1 << 20;
    p->ns = xstrdup(ns);
    p->keys[SET_SCHEDULE] = keys_schedule(ns);
    p->keys[SET_RETRY] = keys_retry(ns);
    for (int set = 0; set < NSETS; set++) {
        p->sets[set] = (struct poll_set){.p = p, .set = set};
        p->sets[set].timer = periodic_new(loop, POLL_SPREAD * interval_s, POLL_JITTER,
                                          poll_on_tick, &p->sets[set]);
        ev_timer_init(&p->sets[set].due, due_on_timer, 0, 0);
        p->sets[set].due.data = &p->sets[set];
    }
    return p;
}

void poller_free(struct poller *p)
{
    if (!p)
        return;
    for (int set = 0; set < NSETS; set++) {
        ev_timer_stop(p->loop, &p->sets[set].due);
        periodic_free(p->sets[set].timer);
        free(p->keys[set]);
    }
    free(p->ns);
    free(p);
}

void poller_set_interval(struct poller *p, double interval_s)
{
    p->interval_s = interval_s;
    for (int set = 0; set < NSETS; set++)
        periodic_set_interval(p->sets[set].timer, POLL_SPREAD * interval_s);
}

void poller_set_max_job(struct poller *p, size_t max_bytes)
{
    p->max_job = max_bytes;
}

void poller_expect(struct poller *p, bool retry, double at)
{
    struct poll_set *ps = &p->sets[retry ? SET_RETRY : SET_SCHEDULE];

    if (!periodic_stopped(ps->timer))
        due_at(ps, at, util_now());
}

void poller_kick(struct poller *p)
{
    for (int set = 0; set < NSETS; set++)
        periodic_kick(p->sets[set].timer);
}

void poller_stop(struct poller *p)
{
    for (int set = 0; set < NSETS; set++) {
        ev_timer_stop(p->loop, &p->sets[set].due);
        periodic_stop(p->sets[set].timer);
    }
}
