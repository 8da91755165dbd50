/* reaper.c - recovery of the in-flight jobs of dead processes. */
#include "reaper.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>
#include <hiredis/hiredis.h>
#include <jansson.h>

#include "daemon/err.h"
#include "daemon/log.h"
#include "daemon/util.h"
#include "jobs/job.h"
#include "queue/keys.h"
#include "queue/move.h"
#include "queue/presence.h"
#include "queue/rconn.h"

extern const char lua_forget[];

struct reaper {
    struct ev_loop *loop;
    struct rconn *conn;
    char *ns, *self, *host_id, *k_procs, *k_processes;
    unsigned max_recoveries;
    unsigned outstanding; /* replies awaited by the current pass */
    bool stopped;
    ev_timer tick;
};

/* One dead process being emptied, queue by queue. */
struct reap {
    struct reaper *rp;
    struct presence_record rec;
    const char *reason;
    size_t queues_left;
};

/* One of its in-flight lists. */
struct reap_list {
    struct reap *reap;
    char *queue;
    char *key;
};

static void pass_begin(struct reaper *rp)
{
    rp->outstanding++;
}

static void pass_end(struct reaper *rp)
{
    rp->outstanding--;
}

static void forget_on_reply(struct redisReply *reply, void *arg)
{
    struct reap *reap = arg;
    const char *error = rconn_reply_error(reply);

    if (!error && reply->integer == 1)
        log_info("event=process_forgotten identity=%s", log_q(reap->rec.identity));
    pass_end(reap->rp);
    presence_record_clear(&reap->rec);
    free(reap);
}

/* Every list emptied: drop the process's records (only if the lists are still empty). */
static void reap_finish(struct reap *reap)
{
    struct reaper *rp = reap->rp;
    size_t nq = json_array_size(reap->rec.queues);
    const char **keys = calloc(4 + nq, sizeof(*keys));
    char **owned = calloc(nq + 2, sizeof(*owned)); /* keys[2..]: the process's own keys */
    int r = -ENOMEM;

    if (!keys || !owned)
        goto out;
    owned[0] = keys_make(rp->ns, "%s", reap->rec.identity);
    owned[1] = keys_make(rp->ns, "%s:work", reap->rec.identity);
    for (size_t i = 0; i < nq; i++)
        owned[2 + i] = keys_make(rp->ns, "nexus:inflight:%s:%s", reap->rec.identity,
                                 json_string_value(json_array_get(reap->rec.queues, i)));
    keys[0] = rp->k_procs;
    keys[1] = rp->k_processes;
    for (size_t i = 0; i < nq + 2; i++) {
        if (!owned[i])
            goto out;
        keys[2 + i] = owned[i];
    }
    r = rconn_eval(rp->conn, forget_on_reply, reap, lua_forget, 4 + nq, keys, 1,
                   (const char *[]){reap->rec.identity}, NULL);
out:
    for (size_t i = 0; owned && i < nq + 2; i++)
        free(owned[i]);
    free(owned);
    free(keys);
    if (r < 0) {
        pass_end(rp);
        presence_record_clear(&reap->rec);
        free(reap);
    }
}

static void list_end(struct reap_list *rl)
{
    struct reap *reap = rl->reap;

    free(rl->queue);
    free(rl->key);
    free(rl);
    if (--reap->queues_left == 0)
        reap_finish(reap);
}

static void move_on_done(long long moved, int err, void *arg)
{
    struct reap_list *rl = arg;

    if (err == 0)
        log_warn("event=jobs_recovered identity=%s queue=%s jobs=%lld reason=%s",
                 log_q(rl->reap->rec.identity), log_q(rl->queue), moved, rl->reap->reason);
    list_end(rl);
}

/* A recovered job with its count raised; to dead after max_recoveries. *ret_dead says which. */
static char *recover_job(struct reaper *rp, const struct reap_list *rl, const char *text,
                         size_t len, bool *ret_dead)
{
    struct job *job = NULL;
    struct err err = {0};
    char msg[512];
    char *out;
    int r;

    r = job_decode(text, len, rl->queue, util_random(), &job, &err);
    if (!job)
        return NULL;
    *ret_dead = r < 0;
    if (r < 0) {
        r = job_record_failure(job, "NexusInvalidJob", err.msg, util_now());
    } else if (job_record_recovery(job) == 0 &&
               (unsigned)job_recoveries(job) >= rp->max_recoveries) {
        (void)snprintf(msg, sizeof(msg),
                       "the process running this job died %d times (last: %s, %s); moved to dead "
                       "as a crash loop",
                       job_recoveries(job), rl->reap->rec.identity, rl->reap->reason);
        r = job_record_failure(job, "NexusCrashLoop", msg, util_now());
        *ret_dead = true;
        log_error("event=crash_loop jid=%s class=%s recoveries=%d outcome=dead",
                  log_q(job_jid(job)), log_q(job_class(job)), job_recoveries(job));
    }
    out = r < 0 ? NULL : job_encode(job, NULL);
    job_free(job);
    return out;
}

static void lrange_on_reply(struct redisReply *reply, void *arg)
{
    struct reap_list *rl = arg;
    struct reaper *rp = rl->reap->rp;
    const char *error = rconn_reply_error(reply);
    struct move_batch *b = NULL;
    bool dead;

    if (!error && reply->type == REDIS_REPLY_ARRAY && reply->elements > 0)
        b = move_batch_new(rp->ns, rl->key, false);
    for (size_t i = 0; b && i < reply->elements; i++) {
        struct redisReply *e = reply->element[i];
        char *job = recover_job(rp, rl, e->str, e->len, &dead);
        if (job)
            (void)move_batch_add(b, e->str, e->len, job, dead ? NULL : rl->queue);
    }
    if (b && move_batch_size(b) > 0 &&
        move_batch_send(b, rp->conn, util_now(), move_on_done, rl) == 0)
        return;
    if (b && move_batch_size(b) == 0)
        move_batch_free(b);
    list_end(rl);
}

static void reap_start(struct reaper *rp, struct presence_record *rec, const char *reason)
{
    struct reap *reap = calloc(1, sizeof(*reap));
    size_t nq = json_array_size(rec->queues);

    if (!reap) {
        presence_record_clear(rec);
        return;
    }
    log_warn("event=process_dead identity=%s reason=%s", log_q(rec->identity), reason);
    reap->rp = rp;
    reap->rec = *rec;
    reap->reason = reason;
    reap->queues_left = nq + 1; /* +1 held until every list is started */
    pass_begin(rp);
    for (size_t i = 0; i < nq; i++) {
        struct reap_list *rl = calloc(1, sizeof(*rl));
        const char *q = json_string_value(json_array_get(rec->queues, i));
        if (!rl || !q || !(rl->queue = strdup(q)) ||
            !(rl->key = keys_make(rp->ns, "nexus:inflight:%s:%s", rec->identity, q))) {
            if (rl)
                free(rl->queue);
            free(rl);
            reap->queues_left--;
            continue;
        }
        rl->reap = reap;
        if (rconn_commandf(rp->conn, lrange_on_reply, rl, "LRANGE %s 0 -1", rl->key) < 0) {
            free(rl->queue);
            free(rl->key);
            free(rl);
            reap->queues_left--;
        }
    }
    if (--reap->queues_left == 0)
        reap_finish(reap);
}

static void exists_on_reply(struct redisReply *reply, void *arg)
{
    struct reap *probe = arg; /* rec + rp; becomes the reap when dead */
    struct reaper *rp = probe->rp;
    const char *error = rconn_reply_error(reply);

    if (!error && reply->type == REDIS_REPLY_INTEGER && reply->integer == 0 && !rp->stopped)
        reap_start(rp, &probe->rec, "heartbeat_expired");
    else
        presence_record_clear(&probe->rec);
    free(probe);
    pass_end(rp);
}

static void check_process(struct reaper *rp, const char *identity, const char *text, size_t len)
{
    struct presence_record rec;
    struct reap *probe;
    char *key;

    if (strcmp(identity, rp->self) == 0 || presence_record_parse(text, len, &rec) < 0)
        return;
    if (strcmp(rec.host_id, rp->host_id) == 0 && util_pid_start(rec.pid) != rec.pid_start) {
        reap_start(rp, &rec, "pid_gone");
        return;
    }
    probe = calloc(1, sizeof(*probe));
    key = keys_make(rp->ns, "%s", rec.identity);
    if (!probe || !key || rconn_commandf(rp->conn, exists_on_reply, probe, "EXISTS %s", key) < 0) {
        presence_record_clear(&rec);
        free(probe);
        free(key);
        return;
    }
    free(key);
    probe->rp = rp;
    probe->rec = rec;
    pass_begin(rp);
}

static void procs_on_reply(struct redisReply *reply, void *arg)
{
    struct reaper *rp = arg;
    const char *error = rconn_reply_error(reply);

    if (!error && !rp->stopped && reply->type == REDIS_REPLY_ARRAY)
        for (size_t i = 0; i + 1 < reply->elements; i += 2)
            check_process(rp, reply->element[i]->str, reply->element[i + 1]->str,
                          reply->element[i + 1]->len);
    pass_end(rp);
}

void reaper_kick(struct reaper *rp)
{
    if (rp->outstanding > 0 || rp->stopped || !rconn_is_up(rp->conn))
        return;
    if (rconn_commandf(rp->conn, procs_on_reply, rp, "HGETALL %s", rp->k_procs) == 0)
        pass_begin(rp);
}

static void tick_on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    reaper_kick(w->data);
}

struct reaper *reaper_new(struct ev_loop *loop, struct rconn *conn, const char *ns,
                          const char *self_identity, const char *host_id, double interval_s,
                          unsigned max_recoveries)
{
    struct reaper *rp = calloc(1, sizeof(*rp));

    if (!rp)
        return NULL;
    rp->loop = loop;
    rp->conn = conn;
    rp->ns = strdup(ns);
    rp->self = strdup(self_identity);
    rp->host_id = strdup(host_id);
    rp->k_procs = keys_make(ns, "nexus:procs");
    rp->k_processes = keys_make(ns, "processes");
    rp->max_recoveries = max_recoveries;
    if (!rp->ns || !rp->self || !rp->host_id || !rp->k_procs || !rp->k_processes) {
        reaper_free(rp);
        return NULL;
    }
    ev_timer_init(&rp->tick, tick_on_timer, interval_s, interval_s);
    rp->tick.data = rp;
    ev_timer_start(loop, &rp->tick);
    return rp;
}

void reaper_free(struct reaper *rp)
{
    if (!rp)
        return;
    ev_timer_stop(rp->loop, &rp->tick);
    free(rp->ns);
    free(rp->self);
    free(rp->host_id);
    free(rp->k_procs);
    free(rp->k_processes);
    free(rp);
}

void reaper_set_limits(struct reaper *rp, double interval_s, unsigned max_recoveries)
{
    rp->max_recoveries = max_recoveries;
    ev_timer_stop(rp->loop, &rp->tick);
    ev_timer_set(&rp->tick, interval_s, interval_s);
    if (!rp->stopped)
        ev_timer_start(rp->loop, &rp->tick);
}

void reaper_stop(struct reaper *rp)
{
    rp->stopped = true;
    ev_timer_stop(rp->loop, &rp->tick);
}
