/* queue.c - reliable fetch and batched outcomes over Sidekiq's keys. */
#include "queue/queue.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>
#include <jansson.h>
#include "lib/decimal.h"
#include "lib/digest.h"
#include "lib/log.h"
#include "lib/util.h"
#include "lib/xalloc.h"
#include "queue/durable.h"
#include "queue/keys.h"
#include "queue/lua.h"
#include "queue/order.h"
#include "queue/rconn.h"
#include "queue/tally.h"
#include "queue/unique.h"

#define FLUSH_MAX_RECORDS 1000
#define FINISH_FIXED_KEYS 10
#define FLUSH_HOLD_S 1.0
#define ORDER_TOKEN_TTL_S 86400 /* a token lost to time costs one trim sent again */

struct ref {
    char *name;
    char *list_key;      /* queue:NAME */
    char *inflight_key;  /* nexus:inflight:IDENTITY:NAME */
    bool paused;         /* in nexus:paused at the last fetch that named it */
    struct order *order; /* owned: what this process knows of the in-flight list's order */
    unsigned blocking;   /* BLMOVEs on it not yet answered */
};

struct record {
    struct record *next;
    enum outcome_kind op;
    unsigned ref;
    unsigned long long seq; /* the job's place in the in-flight list (queue/order.h), 0 unknown */
    uint64_t digest;        /* order_digest() of `old` */
    char *old;
    size_t old_len;
    char *new_job; /* NULL for DONE/DISCARD */
    bool cut;      /* DEAD of a cut item: `old` is "SIZE:SHA1HEX", matched in Redis */
    bool resent;   /* its first call's reply was lost: that call may have written it */
    double score;
    char *lock_key; /* a unique job's lock (finish.lua lets it go), else NULL */
    char *lock_jid; /* its jid, when lock_key */
};

/* One Lua call in flight with the records it carries. */
struct flush {
    struct flush *prev, *next; /* in q->flushes */
    struct queue *q;
    struct record *records;
    size_t n;
};

struct queue {
    struct rconn *conn;
    char *ns;
    char *identity;
    struct ref *refs;
    size_t nrefs;
    char *k_processed, *k_failed, *k_retry, *k_dead, *k_schedule;
    char *k_paused;
    char *k_order;             /* nexus:order:IDENTITY, the in-flight lists' token */
    /* the keys of the time being, made again when their period changes: the day's counters
       (period: its UTC day) and the metrics' minute and quarter-hour slots */
    struct timed_key {
        long long period; /* the one `key` is of; -1 before the first */
        char *key;
    } k_pday, k_fday, k_minute, k_quarter;
    unsigned long long token;  /* the one this process holds, 0 for none (no trim offered) */
    unsigned long long tokens; /* the last one a fetch offered to set */
    bool unsure; /* a fetch's reply was lost: its jobs may be in a list, known to no one, until
                    the worker reconciles (queue_order_reconciled()); no count trims */
    struct tally *tally; /* owned: metrics noted since the last finish.lua call */
    unsigned dead_max_jobs;
    double dead_max_age_s;
    size_t max_job;              /* bytes; larger jobs are handed over cut */
    struct record *head, **tail; /* waiting for the next flush, in order */
    size_t nwaiting;
    size_t nsent;          /* in Lua calls not yet answered */
    struct flush *flushes; /* those calls */
    double hold_until;     /* after an error reply, no flush before this (epoch s) */
    queue_scheduled_fn *on_scheduled;
    void *on_scheduled_arg;
    struct durable *durable; /* borrowed, or NULL: outcomes WAITed for after each call */
    double metrics_at;       /* util_now() when the metrics were last sent */
    bool metrics_held;       /* a call went without them: some may wait in the tally */
};

struct queue *queue_new(struct rconn *conn, const char *ns, const char *identity)
{
    struct queue *q = xcalloc(1, sizeof(*q));

    q->conn = conn;
    q->ns = xstrdup(ns);
    q->identity = xstrdup(identity);
    q->k_processed = keys_stat_processed(ns);
    q->k_failed = keys_stat_failed(ns);
    q->k_retry = keys_retry(ns);
    q->k_dead = keys_dead(ns);
    q->k_schedule = keys_schedule(ns);
    q->k_paused = keys_paused(ns);
    q->k_order = keys_order(ns, identity);
    q->k_pday.period = q->k_fday.period = q->k_minute.period = q->k_quarter.period = -1;
    q->tally = tally_new();
    q->tail = &q->head;
    q->dead_max_jobs = 10000;
    q->dead_max_age_s = 180 * 86400.0;
    q->max_job = 1 << 20;
    return q;
}

static void record_free(struct record *rec)
{
    free(rec->lock_key);
    free(rec->lock_jid);
    free(rec->old);
    free(rec->new_job);
    free(rec);
}

void queue_free(struct queue *q)
{
    struct record *rec, *next;

    if (!q)
        return;
    for (rec = q->head; rec; rec = next) {
        next = rec->next;
        record_free(rec);
    }
    for (size_t i = 0; i < q->nrefs; i++) {
        free(q->refs[i].name);
        free(q->refs[i].list_key);
        free(q->refs[i].inflight_key);
        order_free(q->refs[i].order);
    }
    free(q->refs);
    free(q->ns);
    free(q->identity);
    free(q->k_processed);
    free(q->k_failed);
    free(q->k_retry);
    free(q->k_dead);
    free(q->k_schedule);
    free(q->k_paused);
    free(q->k_order);
    free(q->k_pday.key);
    free(q->k_fday.key);
    free(q->k_minute.key);
    free(q->k_quarter.key);
    tally_free(q->tally);
    free(q);
}

void queue_set_dead_limits(struct queue *q, unsigned max_jobs, double max_age_s)
{
    q->dead_max_jobs = max_jobs;
    q->dead_max_age_s = max_age_s;
}

void queue_set_max_job(struct queue *q, size_t max_bytes)
{
    q->max_job = max_bytes;
}

void queue_set_durable(struct queue *q, struct durable *d)
{
    q->durable = d;
}

void queue_on_scheduled(struct queue *q, queue_scheduled_fn *fn, void *arg)
{
    q->on_scheduled = fn;
    q->on_scheduled_arg = arg;
}

/* Fills `item` with the job `text` of `len` bytes: a copy, or, over the maximum size, only
 * its first QUEUE_EXCERPT bytes, its size and digests (a huge job is never copied whole).
 * Returns 0, or -ENOMEM when OpenSSL failed. */
static int item_fill(const struct queue *q, struct queue_item *item, const char *text, size_t len)
{
    size_t keep = len;

    item->size = len;
    item->cut = len > q->max_job;
    if (item->cut) {
        keep = QUEUE_EXCERPT;
        if (digest_sha256_hex(text, len, item->sha256) < 0 ||
            digest_sha1_hex(text, len, item->sha1) < 0)
            return -ENOMEM;
    }
    item->job = xmemdup(text, keep);
    item->len = keep;
    return 0;
}

/* What finish.lua matches a cut item's job by: "SIZE:SHA1HEX" into `key`; returns its length. */
static size_t cut_key(const struct queue_item *item, char key[32 + QUEUE_SHA1_HEX])
{
    return (size_t)snprintf(key, 32 + QUEUE_SHA1_HEX, "%zu:%s", item->size, item->sha1);
}

/* Notes the job `text` (`len` bytes) of a filled `item` in its list's order: its seq. */
static void item_push(struct queue *q, struct queue_item *item, const char *text, size_t len)
{
    char key[32 + QUEUE_SHA1_HEX];
    uint64_t digest = item->cut ? order_digest(key, cut_key(item, key)) : order_digest(text, len);

    item->seq = order_push(q->refs[item->ref].order, digest);
}

bool queue_item_is(const struct queue_item *item, const char *job, size_t len)
{
    char sha1[QUEUE_SHA1_HEX];

    if (item->size != len)
        return false;
    if (!item->cut)
        return memcmp(item->job, job, len) == 0;
    return digest_sha1_hex(job, len, sha1) == 0 && strcmp(sha1, item->sha1) == 0;
}

unsigned queue_ref(struct queue *q, const char *name)
{
    struct ref *ref;

    for (size_t i = 0; i < q->nrefs; i++)
        if (strcmp(q->refs[i].name, name) == 0)
            return (unsigned)i;
    q->refs = xreallocarray(q->refs, q->nrefs + 1, sizeof(*q->refs));
    ref = &q->refs[q->nrefs];
    ref->name = xstrdup(name);
    ref->list_key = keys_queue(q->ns, name);
    ref->inflight_key = keys_inflight(q->ns, q->identity, name);
    ref->paused = false;
    ref->order = order_new();
    ref->blocking = 0;
    return (unsigned)q->nrefs++;
}

const char *queue_ref_name(const struct queue *q, unsigned ref)
{
    return q->refs[ref].name;
}

bool queue_ref_paused(const struct queue *q, unsigned ref)
{
    return q->refs[ref].paused;
}

size_t queue_nrefs(const struct queue *q)
{
    return q->nrefs;
}

const char *queue_ref_list_key(const struct queue *q, unsigned ref)
{
    return q->refs[ref].list_key;
}

const char *queue_ref_inflight_key(const struct queue *q, unsigned ref)
{
    return q->refs[ref].inflight_key;
}

/* A fetch in flight: maps the script's 1-based queue index back to refs. */
struct fetch {
    struct queue *q;
    queue_fetch_fn *done;
    void *arg;
    unsigned long long token; /* set by the script when the one held was not there */
    size_t nrefs;
    unsigned refs[];
};

/* Every job known so far in every in-flight list leaves by its text (queue/order.h). */
static void order_distrust_all(struct queue *q)
{
    for (size_t i = 0; i < q->nrefs; i++)
        order_distrust(q->refs[i].order);
}

/* A fetch or BLMOVE whose reply did not come may have moved jobs no one knows of. */
static void order_lost(struct queue *q)
{
    q->unsure = true;
    order_distrust_all(q);
}

void queue_order_reconciled(struct queue *q)
{
    q->unsure = false;
}

static void fetch_on_reply(struct redisReply *reply, void *arg)
{
    struct fetch *f = arg;
    struct queue_item *items = NULL;
    const char *error = rconn_reply_error(reply);
    size_t n = 0;
    int r;

    if (error) {
        log_warn("event=fetch_failed err=%s", log_q(error));
        order_lost(f->q);
        f->done(NULL, 0, -EIO, f->arg);
        free(f);
        return;
    }
    for (size_t i = 0; i < f->nrefs; i++)
        f->q->refs[f->refs[i]].paused = false;
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements >= 2) {
        /* groups {i, count, job...}; {-i, 0} for a paused queue (fetch.lua) */
        items = xcalloc(reply->elements, sizeof(*items));
        for (size_t i = 0; i + 1 < reply->elements;) {
            long long idx = reply->element[i]->integer, count = reply->element[i + 1]->integer;
            size_t end;
            i += 2;
            end = count > 0 && (size_t)count <= reply->elements - i ? i + (size_t)count : i;
            if (idx < 0 && (size_t)-idx <= f->nrefs)
                f->q->refs[f->refs[-idx - 1]].paused = true;
            if (idx == 0 && f->q->token != f->token) { /* a new token: lists maybe recovered */
                if (f->q->token > 0)
                    log_info("event=inflight_token_changed by=fetch why=\"a peer recovered "
                             "this process's jobs, or the token expired: jobs fetched before "
                             "leave by their text\"");
                f->q->token = f->token;
                order_distrust_all(f->q);
            }
            for (; i < end; i++) {
                struct redisReply *job = reply->element[i];
                if (idx < 1 || (size_t)idx > f->nrefs || job->type != REDIS_REPLY_STRING)
                    continue;
                items[n].ref = f->refs[idx - 1];
                r = item_fill(f->q, &items[n], job->str, job->len);
                item_push(f->q, &items[n], job->str, job->len);
                if (r < 0)
                    continue; /* still in the in-flight list: recovered on restart */
                n++;
            }
        }
    }
    /* a BLMOVE out on another connection may have put its job among these */
    for (size_t i = 0; i < f->nrefs; i++)
        if (f->q->refs[f->refs[i]].blocking > 0)
            order_distrust(f->q->refs[f->refs[i]].order);
    f->done(items, n, 0, f->arg);
    free(items);
    free(f);
}

int queue_fetch(struct queue *q, const unsigned *refs, const unsigned *quotas, size_t nrefs,
                unsigned max, queue_fetch_fn *done, void *arg)
{
    /* KEYS: each queue's list, each one's in-flight list, paused, the token; ARGV: want,
       the token held, the next one, its time to live, the names, and the quotas when there
       are */
    size_t nkeys = 2 * nrefs + 2, nargs = 4 + nrefs + (quotas ? nrefs : 0), i;
    const char **keys = xcalloc(nkeys + nargs, sizeof(*keys)), **args = keys + nkeys;
    char *nums = xmalloc(24 * (nrefs + 4)), *p = nums;
    struct fetch *f = xmalloc(sizeof(*f) + nrefs * sizeof(f->refs[0]));
    int r;

    f->token = ++q->tokens; /* a new one, in case the script finds another than q->token */
    args[0] = p;
    p += decimal_put(p, max) + 1;
    args[1] = p;
    p += decimal_put(p, q->token) + 1;
    args[2] = p;
    p += decimal_put(p, f->token) + 1;
    args[3] = p;
    p += decimal_put(p, ORDER_TOKEN_TTL_S) + 1;
    for (i = 0; i < nrefs; i++) {
        keys[i] = q->refs[refs[i]].list_key;
        keys[nrefs + i] = q->refs[refs[i]].inflight_key;
        args[4 + i] = q->refs[refs[i]].name;
        f->refs[i] = refs[i];
        if (quotas) {
            args[4 + nrefs + i] = p;
            p += decimal_put(p, quotas[i]) + 1;
        }
    }
    keys[2 * nrefs] = q->k_paused;
    keys[2 * nrefs + 1] = q->k_order;
    f->q = q;
    f->done = done;
    f->arg = arg;
    f->nrefs = nrefs;
    r = rconn_eval(q->conn, fetch_on_reply, f, lua_fetch, nkeys, keys, nargs, args, NULL);
    if (r < 0)
        free(f);
    free(keys);
    free(nums);
    return r;
}

static void block_on_reply(struct redisReply *reply, void *arg)
{
    struct fetch *f = arg;
    const char *error = rconn_reply_error(reply);
    struct ref *ref = &f->q->refs[f->refs[0]];
    struct queue_item item = {.ref = f->refs[0]};

    ref->blocking--;
    if (error) {
        order_lost(f->q);
        f->done(NULL, 0, -EIO, f->arg);
    } else if (reply->type == REDIS_REPLY_STRING) {
        /* moved on another connection: its place among the jobs fetched meanwhile is not
           known */
        (void)item_fill(f->q, &item, reply->str, reply->len);
        item_push(f->q, &item, reply->str, reply->len);
        order_distrust(ref->order);
        f->done(&item, item.job ? 1 : 0, 0, f->arg);
    } else {
        f->done(NULL, 0, 0, f->arg); /* nil: timed out */
    }
    free(f);
}

int queue_block(struct queue *q, struct rconn *blocker, unsigned ref, double timeout_s,
                queue_fetch_fn *done, void *arg)
{
    struct fetch *f = xmalloc(sizeof(*f) + sizeof(f->refs[0]));
    char timeout[32];
    const char *argv[6];
    int r;

    f->q = q;
    f->done = done;
    f->arg = arg;
    f->nrefs = 1;
    f->refs[0] = ref;
    (void)snprintf(timeout, sizeof(timeout), "%.3f", timeout_s);
    argv[0] = "BLMOVE";
    argv[1] = q->refs[ref].list_key;
    argv[2] = q->refs[ref].inflight_key;
    argv[3] = "RIGHT";
    argv[4] = "LEFT";
    argv[5] = timeout;
    r = rconn_command_blocking(blocker, timeout_s, block_on_reply, f, 6, argv, NULL);
    if (r < 0)
        free(f);
    else
        q->refs[ref].blocking++;
    return r;
}

struct paused_read {
    struct queue *q;
    queue_paused_fn *done;
    void *arg;
};

static void paused_on_reply(struct redisReply *reply, void *arg)
{
    struct paused_read pr = *(struct paused_read *)arg;
    bool resumed = false;

    free(arg);
    if (rconn_reply_error(reply) || reply->type != REDIS_REPLY_ARRAY) {
        pr.done(false, -EIO, pr.arg);
        return;
    }
    for (size_t i = 0; i < pr.q->nrefs; i++) {
        struct ref *ref = &pr.q->refs[i];
        bool paused = false;
        for (size_t k = 0; k < reply->elements && !paused; k++)
            paused = reply->element[k]->type == REDIS_REPLY_STRING &&
                     strcmp(reply->element[k]->str, ref->name) == 0;
        resumed |= ref->paused && !paused;
        ref->paused = paused;
    }
    pr.done(resumed, 0, pr.arg);
}

int queue_paused_read(struct queue *q, queue_paused_fn *done, void *arg)
{
    struct paused_read *pr = xmalloc(sizeof(*pr));
    int r;

    pr->q = q;
    pr->done = done;
    pr->arg = arg;
    r = rconn_commandf(q->conn, paused_on_reply, pr, "SMEMBERS %s", q->k_paused);
    if (r < 0)
        free(pr);
    return r;
}

static struct record *record_add(struct queue *q, enum outcome_kind op, unsigned ref,
                                 unsigned long long seq, const char *old, size_t old_len,
                                 char *new_job, double score, bool cut)
{
    struct record *rec = xcalloc(1, sizeof(*rec));

    rec->seq = seq;
    rec->digest = order_digest(old, old_len);
    rec->old = xmemdup(old, old_len);
    rec->old_len = old_len;
    rec->op = op;
    rec->ref = ref;
    rec->new_job = new_job;
    rec->score = score;
    rec->cut = cut;
    *q->tail = rec;
    q->tail = &rec->next;
    q->nwaiting++;
    return rec;
}

void queue_finish(struct queue *q, enum outcome_kind op, unsigned ref, unsigned long long seq,
                  const char *old, size_t old_len, char *new_job, double score,
                  const struct unique_lock *lock)
{
    struct record *rec = record_add(q, op, ref, seq, old, old_len, new_job, score, false);

    if (lock && lock->key) {
        rec->lock_key = xstrdup(lock->key);
        rec->lock_jid = xstrdup(lock->jid);
    }
}

void queue_finish_cut(struct queue *q, const struct queue_item *item, char *new_job, double score)
{
    char key[32 + QUEUE_SHA1_HEX];
    size_t n = cut_key(item, key);

    (void)record_add(q, OUTCOME_DEAD, item->ref, item->seq, key, n, new_job, score, true);
}

struct tally *queue_tally(struct queue *q)
{
    return q->tally;
}

size_t queue_unconfirmed(const struct queue *q)
{
    return q->nwaiting + q->nsent;
}

/* Whether record `rec` is for the stored job `job` of `len` bytes. */
static bool record_is_for(const struct record *rec, const char *job, size_t len)
{
    char key[32 + QUEUE_SHA1_HEX];
    int n;

    if (!rec->cut)
        return rec->old_len == len && memcmp(rec->old, job, len) == 0;
    n = snprintf(key, sizeof(key), "%zu:", len);
    if (rec->old_len <= (size_t)n || memcmp(rec->old, key, (size_t)n) != 0)
        return false; /* another size: no digest needed */
    return digest_sha1_hex(job, len, key + n) == 0 && strcmp(rec->old, key) == 0;
}

static bool records_hold(const struct record *rec, unsigned ref, const char *job, size_t len)
{
    for (; rec; rec = rec->next)
        if (rec->ref == ref && record_is_for(rec, job, len))
            return true;
    return false;
}

bool queue_finishing(const struct queue *q, unsigned ref, const char *job, size_t len)
{
    if (records_hold(q->head, ref, job, len))
        return true;
    for (const struct flush *fl = q->flushes; fl; fl = fl->next)
        if (records_hold(fl->records, ref, job, len))
            return true;
    return false;
}

/* Puts the `n` records from `first` to `last` back at the front, in their order. */
static void give_back(struct queue *q, struct record *first, struct record *last, size_t n)
{
    if (!first)
        return;
    last->next = q->head;
    if (!q->head)
        q->tail = &last->next;
    q->head = first;
    q->nwaiting += n;
}

static const char *const op_names[] = {[OUTCOME_DONE] = "ok",
                                       [OUTCOME_RETRY] = "retry",
                                       [OUTCOME_DEAD] = "dead",
                                       [OUTCOME_DISCARD] = "discard",
                                       [OUTCOME_DEFER] = "defer"};

/* finish.lua names the records whose job was no longer in the in-flight list: a peer judged
 * this process dead and recovered it (or, for a record sent again after a lost reply, the
 * first call wrote it). Nothing was written for them. */
static void flush_log_dropped(const struct flush *fl, const struct redisReply *reply)
{
    const struct record *rec = fl->records;
    long long at = 1;

    for (size_t i = 0; reply->type == REDIS_REPLY_ARRAY && i < reply->elements; i++) {
        long long k = reply->element[i]->integer;
        json_t *job;
        if (k < 1)
            continue; /* a trim not done (flush_on_trims_refused()) */
        for (; rec && at < k; rec = rec->next)
            at++;
        if (!rec)
            break;
        job = rec->cut ? NULL : json_loadb(rec->old, rec->old_len, 0, NULL);
        log_warn("event=outcome_dropped reason=%s jid=%s queue=%s outcome=%s why=\"%s\"",
                 rec->resent ? "resent" : "taken",
                 log_q(json_string_value(json_object_get(job, "jid"))),
                 log_q(queue_ref_name(fl->q, rec->ref)), op_names[rec->op],
                 rec->resent ? "sent again after a lost reply: the first call wrote it, or a "
                               "peer recovered the job"
                             : "the job was no longer in this process's in-flight list: a peer "
                               "recovered it");
        json_decref(job);
    }
}

/* The jobs whose trim finish.lua refused (its token was not the one this process holds: a
 * peer recovered the lists, or the token expired) go back to wait, to be sent by their text;
 * the order of every list is distrusted. Returns a flag per record (1-based) set for those. */
static unsigned char *flush_on_trims_refused(struct flush *fl, const struct redisReply *reply)
{
    unsigned char *refused = NULL;

    for (size_t i = 0; i < reply->elements; i++) {
        long long k = reply->element[i]->integer;
        if (k >= 0 || (size_t)-k > fl->n)
            continue;
        if (!refused)
            refused = xcalloc(fl->n + 1, 1);
        refused[-k] = 1;
    }
    if (refused) {
        log_info("event=inflight_token_changed by=finish why=\"a peer recovered this "
                 "process's jobs, or the token expired: jobs done leave by their text\"");
        order_distrust_all(fl->q);
        fl->q->token = 0; /* no trim is offered before a fetch sets a new one */
    }
    return refused;
}

static void flush_on_reply(struct redisReply *reply, void *arg)
{
    struct flush *fl = arg;
    struct queue *q = fl->q;
    const char *error = rconn_reply_error(reply);
    struct record *rec, *next, *last = NULL;

    q->nsent -= fl->n;
    if (fl->prev)
        fl->prev->next = fl->next;
    else
        q->flushes = fl->next;
    if (fl->next)
        fl->next->prev = fl->prev;
    if (error) {
        /* kept for a later flush: after reconnecting, or in a second for an error reply */
        log_warn("event=outcomes_not_written jobs=%zu err=%s retry_in=%s", fl->n, log_q(error),
                 reply ? "1s" : "reconnect");
        if (reply)
            q->hold_until = util_now() + FLUSH_HOLD_S;
        order_distrust_all(q); /* what the call removed is not known */
        for (rec = fl->records; rec; rec = rec->next) {
            rec->resent |= !reply;
            last = rec;
        }
        give_back(q, fl->records, last, fl->n);
    } else {
        struct record *first = NULL, **again = &first;
        unsigned char *refused =
            reply->type == REDIS_REPLY_ARRAY ? flush_on_trims_refused(fl, reply) : NULL;
        size_t no = 1, nagain = 0;
        flush_log_dropped(fl, reply);
        for (rec = fl->records; rec; rec = next, no++) {
            next = rec->next;
            if (refused && refused[no]) {
                rec->next = NULL;
                *again = last = rec;
                again = &rec->next;
                nagain++;
                continue;
            }
            order_gone(q->refs[rec->ref].order, rec->seq, rec->digest);
            if ((rec->op == OUTCOME_RETRY || rec->op == OUTCOME_DEFER) && q->on_scheduled)
                q->on_scheduled(rec->op == OUTCOME_RETRY, rec->score, q->on_scheduled_arg);
            record_free(rec);
        }
        give_back(q, first, last, nagain);
        free(refused);
    }
    free(fl);
}

static const char op_codes[] = {
    [OUTCOME_DONE] = 'a',    [OUTCOME_RETRY] = 'r', [OUTCOME_DEAD] = 'd',
    [OUTCOME_DISCARD] = 'x', [OUTCOME_DEFER] = 's', [OUTCOME_DUPLICATE] = 'u'};

/* Whether `rec` may go in a run of finish.lua: a job done, holding no lock. */
static bool record_in_run(const struct record *rec)
{
    return rec->op == OUTCOME_DONE && !rec->cut && !rec->lock_key;
}

/* Puts the first `n` waiting records in the order of their finish.lua call: those that go by
 * their text, in their order, then list by list those a count trim takes (queue/order.h),
 * then those held back for a later call. Fills trims[ref] (q->nrefs of them), and returns
 * how many go by their text; *ret_sent is how many go in the call. */
static size_t flush_arrange(struct queue *q, size_t n, size_t *trims, size_t *ret_sent)
{
    struct record **recs = xreallocarray(NULL, n, sizeof(*recs)), *rec, **link;
    unsigned char *held = xcalloc(n ? n : 1, 1);
    bool may = q->token > 0 && !q->unsure;
    size_t i, ntext = 0, nsent;

    for (rec = q->head, i = 0; i < n; rec = rec->next, i++)
        recs[i] = rec;
    memset(trims, 0, q->nrefs * sizeof(*trims));
    for (i = 0; i < n; i++) {
        struct order *o = q->refs[recs[i]->ref].order;
        enum order_offer offer =
            may && record_in_run(recs[i]) ? order_offer(o, recs[i]->seq) : ORDER_BY_TEXT;
        if (offer == ORDER_OFFERED)
            trims[recs[i]->ref] = 1;
        else if (offer == ORDER_HELD)
            held[i] = 1;
        else
            order_removing(o, recs[i]->seq);
    }
    for (size_t r = 0; r < q->nrefs; r++)
        if (trims[r])
            trims[r] = order_take(q->refs[r].order);
    link = &q->head;
    for (i = 0; i < n; i++) {
        struct order *o = q->refs[recs[i]->ref].order;
        if (held[i] || order_taken(o, recs[i]->seq))
            continue;
        order_removing(o, recs[i]->seq); /* an offer not taken */
        *link = recs[i];
        link = &recs[i]->next;
        ntext++;
    }
    nsent = ntext;
    for (size_t r = 0; r < q->nrefs; r++) {
        for (i = 0; i < n && trims[r] > 0; i++) {
            if (recs[i]->ref == r && order_taken(q->refs[r].order, recs[i]->seq)) {
                *link = recs[i];
                link = &recs[i]->next;
                nsent++;
            }
        }
    }
    for (i = 0; i < n; i++) {
        if (held[i]) {
            *link = recs[i];
            link = &recs[i]->next;
        }
    }
    *link = rec; /* the records after the first n */
    if (!rec)
        q->tail = link;
    free(held);
    free(recs);
    *ret_sent = nsent;
    return ntext;
}

static void timed_key_set(struct timed_key *k, long long period, char *key)
{
    free(k->key);
    k->key = key;
    k->period = period;
}

/* Sends up to FLUSH_MAX_RECORDS waiting records in one finish.lua call, with the metrics
 * when they are due (or `metrics_now`). Returns 0, 1 when every record is held back for a
 * later call (queue/order.h), or a negative errno. */
static int flush_some(struct queue *q, bool metrics_now)
{
    size_t n = q->nwaiting < FLUSH_MAX_RECORDS ? q->nwaiting : FLUSH_MAX_RECORDS;
    size_t nkeys = FINISH_FIXED_KEYS + q->nrefs, nargs = 8 + 7 * n, a = 0, i, ntext;
    size_t *trims = xreallocarray(NULL, q->nrefs, sizeof(*trims));
    const char **keys, **args;
    size_t *lens = xreallocarray(NULL, nargs, sizeof(*lens));
    char *nums = xmalloc(n * 64 + 256), *p = nums, day[16];
    char *noted;
    size_t noted_len = 0;
    struct flush *fl = xcalloc(1, sizeof(*fl));
    struct record *rec, **cut;
    double now = (double)time(NULL);
    /* the periods of the day's counters and of the metrics' slots (struct timed_key) */
    long long utc_day = (long long)now / 86400, minute = (long long)now / TALLY_MINUTE_S,
              quarter = (long long)now / TALLY_QUARTER_S;
    int r;

    ntext = flush_arrange(q, n, trims, &n); /* n: those that go, the held ones after them */
    if (n == 0 && !metrics_now) {
        free(trims);
        free(lens);
        free(nums);
        free(fl);
        return 1; /* all held back */
    }
    for (rec = q->head, i = 0; i < n; rec = rec->next, i++)
        nkeys += rec->lock_key != NULL;
    keys = xreallocarray(NULL, nkeys, sizeof(*keys));
    args = xreallocarray(NULL, nargs, sizeof(*args));
    nkeys = FINISH_FIXED_KEYS + q->nrefs; /* the locks' keys follow, as the records go */
    if (q->k_pday.period != utc_day) {
        (void)keys_day(now, day);
        timed_key_set(&q->k_pday, utc_day, keys_stat_processed_day(q->ns, day));
        timed_key_set(&q->k_fday, utc_day, keys_stat_failed_day(q->ns, day));
    }
    if (q->k_minute.period != minute)
        timed_key_set(&q->k_minute, minute, keys_metrics(q->ns, TALLY_MINUTE_S, minute));
    if (q->k_quarter.period != quarter)
        timed_key_set(&q->k_quarter, quarter, keys_metrics(q->ns, TALLY_QUARTER_S, quarter));
    keys[0] = q->k_processed;
    keys[1] = q->k_pday.key;
    keys[2] = q->k_failed;
    keys[3] = q->k_fday.key;
    keys[4] = q->k_retry;
    keys[5] = q->k_dead;
    keys[6] = q->k_schedule;
    keys[7] = q->k_minute.key;
    keys[8] = q->k_quarter.key;
    keys[9] = q->k_order;
    metrics_now = metrics_now || util_now() - q->metrics_at >= QUEUE_METRICS_HOLD_S;
    noted = metrics_now ? tally_text(q->tally, &noted_len) : NULL;
    for (i = 0; i < q->nrefs; i++)
        keys[FINISH_FIXED_KEYS + i] = q->refs[i].inflight_key;
#define PUT(s, l) (args[a] = (s), lens[a] = (l), a++)
#define PUTS(s) PUT((s), strlen(s))
#define PUTF(fmt, v)                                                                               \
    do {                                                                                           \
        int len_ = sprintf(p, fmt, v);                                                             \
        PUT(p, (size_t)len_);                                                                      \
        p += len_ + 1;                                                                             \
    } while (0)
#define PUTU(v)                                                                                    \
    do {                                                                                           \
        size_t len_ = decimal_put(p, (v));                                                         \
        PUT(p, len_);                                                                              \
        p += len_ + 1;                                                                             \
    } while (0)
    PUTF("%.3f", now - q->dead_max_age_s);
    PUTU(q->dead_max_jobs);
    PUTU(KEYS_STAT_TTL_S);
    PUT(noted ? noted : "", noted_len);
    PUTU(TALLY_MINUTE_TTL_S);
    PUTU(TALLY_QUARTER_TTL_S);
    PUTU(TALLY_FIELDS_MAX);
    PUTU(q->token);
    for (rec = q->head, i = 0; i < ntext; rec = rec->next, i++) {
        if (record_in_run(rec)) { /* a run: 'A', its list, how many, the jobs */
            size_t count = 1;
            const struct record *end = rec->next;
            for (; i + count < ntext && record_in_run(end) && end->ref == rec->ref; end = end->next)
                count++;
            PUT("A", 1);
            PUTU(FINISH_FIXED_KEYS + rec->ref + 1);
            PUTU(count);
            for (i += count - 1;; rec = rec->next) {
                PUT(rec->old, rec->old_len);
                if (rec->next == end)
                    break;
            }
            continue;
        }
        PUT(rec->cut ? "D" : &op_codes[rec->op], 1);
        PUTU(FINISH_FIXED_KEYS + rec->ref + 1);
        PUT(rec->old, rec->old_len);
        PUTS(rec->new_job ? rec->new_job : "");
        PUTF("%.6f", rec->score);
        if (rec->lock_key) {
            keys[nkeys++] = rec->lock_key;
            PUTU(nkeys);
            PUTS(rec->lock_jid);
        } else {
            PUT("0", 1);
            PUT("", 0);
        }
    }
    for (size_t ref = 0; ref < q->nrefs; ref++) { /* trims: 'T', the list, how many */
        if (trims[ref] == 0)
            continue;
        PUT("T", 1);
        PUTU(FINISH_FIXED_KEYS + ref + 1);
        PUTU(trims[ref]);
    }
#undef PUT
#undef PUTS
#undef PUTF
#undef PUTU
    fl->q = q;
    fl->n = n;
    r = rconn_eval(q->conn, flush_on_reply, fl, lua_finish, nkeys, keys, a, args, lens);
    if (r < 0) {
        order_distrust_all(q); /* the records wait as they are: by their text */
        goto out;
    }
    for (i = 0; i < q->nrefs; i++)
        order_sent(q->refs[i].order);
    if (metrics_now) { /* sent: a call that fails loses them (counts, not jobs) */
        tally_clear(q->tally);
        q->metrics_at = util_now();
    }
    q->metrics_held = !metrics_now;
    if (q->durable) /* a shortfall is logged and counted: the outcomes are written */
        durable_after(q->durable, "finish", NULL, NULL);
    /* detach the first n records: they travel with the call */
    fl->records = q->head;
    for (cut = &q->head, i = 0; i < n; i++)
        cut = &(*cut)->next;
    q->head = *cut;
    *cut = NULL;
    if (!q->head)
        q->tail = &q->head;
    q->nwaiting -= n;
    q->nsent += n;
    fl->next = q->flushes;
    if (fl->next)
        fl->next->prev = fl;
    q->flushes = fl;
    fl = NULL;
out:
    free(fl);
    free(trims);
    free(keys);
    free(args);
    free(lens);
    free(nums);
    free(noted);
    return r;
}

int queue_flush(struct queue *q)
{
    int r;

    if (q->hold_until > 0 && util_now() < q->hold_until)
        return -EAGAIN;
    while (q->nwaiting > 0) {
        r = flush_some(q, false);
        if (r != 0)
            return r < 0 ? r : 0; /* held back: the next flush after a reply sends them */
    }
    return 0;
}

double queue_metrics_due(const struct queue *q)
{
    return q->metrics_held ? q->metrics_at + QUEUE_METRICS_HOLD_S : 0;
}

int queue_flush_metrics(struct queue *q, bool now_too)
{
    if (!q->metrics_held || (!now_too && util_now() - q->metrics_at < QUEUE_METRICS_HOLD_S))
        return 0;
    return flush_some(q, true);
}

struct count_call {
    queue_count_fn *done;
    void *arg;
};

static void count_on_reply(struct redisReply *reply, void *arg)
{
    struct count_call cc = *(struct count_call *)arg;
    const char *error = rconn_reply_error(reply);

    free(arg);
    if (error) {
        log_warn("event=requeue_failed err=%s", log_q(error));
        cc.done(0, -EIO, cc.arg);
        return;
    }
    cc.done(reply->type == REDIS_REPLY_INTEGER ? reply->integer : 0, 0, cc.arg);
}

int queue_requeue_all(struct queue *q, queue_count_fn *done, void *arg)
{
    const char **keys = xcalloc(2 * q->nrefs, sizeof(*keys)); /* in-flight lists, then lists */
    struct count_call *cc = xmalloc(sizeof(*cc));
    int r;

    for (size_t i = 0; i < q->nrefs; i++) {
        keys[i] = q->refs[i].inflight_key;
        keys[q->nrefs + i] = q->refs[i].list_key;
    }
    cc->done = done;
    cc->arg = arg;
    r = rconn_eval(q->conn, count_on_reply, cc, lua_requeue, 2 * q->nrefs, keys, 0, NULL, NULL);
    if (r < 0)
        free(cc);
    order_distrust_all(q); /* the lists are emptied under the jobs still known */
    free(keys);
    return r;
}
