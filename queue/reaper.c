/* reaper.c - recovery of the in-flight jobs of dead processes. */
#include "queue/reaper.h"

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
#include "queue/lua.h"
#include "queue/outcome.h"
#include "queue/presence.h"
#include "queue/rconn.h"

/* Test only: NEXUSD_TEST_REAP_DELAY_S holds a reap this long between the judgement and the
 * recovery, so that a test can make the judged process beat again in between. */
#define REAP_DELAY_ENV "NEXUSD_TEST_REAP_DELAY_S"
/* In-flight lists read per SCAN call of the orphan sweep (one page per tick). */
#define SWEEP_COUNT "1000"

struct reaper {
    struct ev_loop *loop;
    struct rconn *conn;
    char *ns, *self, *host_id, *k_procs, *k_processes, *k_queues, *k_dead;
    char *inflight_prefix; /* "<ns>nexus:inflight:" */
    char *sweep_match;     /* the same as a SCAN pattern, the namespace escaped */
    unsigned max_recoveries;
    size_t max_job;       /* bytes; a larger job in flight is requeued as it is, undecoded */
    unsigned outstanding; /* replies awaited by the current pass, and reaps under way */
    double delay_s;       /* REAP_DELAY_ENV, 0 outside tests */
    struct periodic *pass;   /* the check of every process; stopped: the reaper is */
    ev_timer pids;           /* the pid check of the cached records, without Redis: runs
                              * only while there are some (none: nothing wakes for it) */
    struct presence_record *cached; /* this host's other processes at the last pass */
    size_t ncached;
    struct periodic *sweep;  /* a SCAN page and its orphan check at a time, same interval */
    double sweep_interval_s; /* between the starts of two orphan sweeps, > 0 */
    double sweep_next_at;    /* ev_now() of the next sweep's start */
    char sweep_cursor[32];   /* "0" between sweeps */
    struct reap *delayed;    /* reaps waiting out delay_s, linked by next_delayed */
};

/* A job of a reap as it will be written. */
struct reap_job {
    size_t list; /* index in reap->lists */
    char *old;   /* as stored, or "SIZE:SHA1HEX" of a job over max_job (new_job NULL) */
    size_t old_len;
    char *new_job;   /* to write, or NULL: the stored job moves to its queue as it is */
    bool dead;       /* to `dead` rather than back to its queue */
    char *crash_jid; /* the job's jid when a crash loop ends it, or NULL; then also: */
    char *crash_class;
    int recoveries;
};

/* One in-flight list of a reap. */
struct reap_list {
    char *queue, *key, *queue_key;
};

/* One dead process (or one orphan list) being recovered: its lists are read, their jobs
 * rewritten, then reap.lua judges again, moves and forgets in one call. */
struct reap {
    struct reaper *rp;
    struct presence_record rec;
    const char *reason; /* static: pid_gone, heartbeat_expired, orphan */
    const char *test;   /* reap.lua's ARGV[2] */
    bool forget;
    bool failed; /* a list could not be read: nothing is sent */
    struct reap_list *lists;
    size_t nlists;
    struct reap_job *jobs;
    size_t njobs, cap;
    ev_timer delay; /* REAP_DELAY_ENV */
    struct reap *next_delayed;
};

static void pass_begin(struct reaper *rp)
{
    rp->outstanding++;
}

static void pass_end(struct reaper *rp)
{
    rp->outstanding--;
}

static void reap_free(struct reap *reap)
{
    for (size_t i = 0; i < reap->nlists; i++) {
        free(reap->lists[i].queue);
        free(reap->lists[i].key);
        free(reap->lists[i].queue_key);
    }
    for (size_t i = 0; i < reap->njobs; i++) {
        free(reap->jobs[i].old);
        free(reap->jobs[i].new_job);
        free(reap->jobs[i].crash_jid);
        free(reap->jobs[i].crash_class);
    }
    free(reap->lists);
    free(reap->jobs);
    presence_record_clear(&reap->rec);
    free(reap);
}

static void reap_end(struct reap *reap)
{
    struct reaper *rp = reap->rp;

    ev_timer_stop(rp->loop, &reap->delay);
    reap_free(reap);
    pass_end(rp);
}

static void reap_log_moves(struct reap *reap, const struct redisReply *reply)
{
    const char *id = reap->rec.identity;

    for (size_t i = 0; i < reap->njobs; i++) {
        const struct reap_job *j = &reap->jobs[i];
        size_t colon = strcspn(j->old, ":"); /* of "SIZE:SHA1HEX" when not decoded */
        if (j->crash_jid)
            log_error("event=crash_loop jid=%s class=%s recoveries=%d outcome=dead",
                      log_q(j->crash_jid), log_q(j->crash_class), j->recoveries);
        if (!j->new_job)
            log_warn("event=job_requeued_undecoded identity=%s queue=%s size=%.*s sha1=%s "
                     "why=\"over worker.max_job_size: back to its queue as it is, not counted as "
                     "a recovery; its fetch buries it\"",
                     log_q(id), log_q(reap->lists[j->list].queue), (int)colon, j->old,
                     j->old + colon + 1);
    }
    for (size_t i = 0; i < reap->nlists && i + 1 < reply->elements; i++) {
        long long moved = reply->element[i + 1]->integer;
        if (moved == 0) /* empty, or another survivor moved them first */
            continue;
        if (strcmp(reap->reason, "orphan") == 0)
            log_warn("event=orphan_recovered identity=%s queue=%s jobs=%lld "
                     "why=\"no live process owns the list\"",
                     log_q(id), log_q(reap->lists[i].queue), moved);
        else
            log_warn("event=jobs_recovered identity=%s queue=%s jobs=%lld reason=%s", log_q(id),
                     log_q(reap->lists[i].queue), moved, reap->reason);
    }
    if (reply->elements > 0 && reply->element[0]->integer == 1)
        log_info("event=process_forgotten identity=%s", log_q(id));
}

static void reap_on_reply(struct redisReply *reply, void *arg)
{
    struct reap *reap = arg;
    const char *error = rconn_reply_error(reply);

    if (error)
        log_warn("event=recovery_failed identity=%s err=%s retry=\"next check\"",
                 log_q(reap->rec.identity), log_q(error));
    else if (reply->type == REDIS_REPLY_INTEGER)
        log_warn("event=recovery_skipped identity=%s reason=alive "
                 "why=\"it beat again after it was judged dead\"",
                 log_q(reap->rec.identity));
    else if (reply->type == REDIS_REPLY_ARRAY && reply->elements > 0)
        reap_log_moves(reap, reply);
    reap_end(reap);
}

/* reap.lua: everything read, the judgement is made again with the moves and the forgetting. */
static void reap_send(struct reap *reap)
{
    struct reaper *rp = reap->rp;
    size_t nkeys = 7 + 2 * reap->nlists, nargs = 4 + 4 * reap->njobs, a = 0;
    const char **keys = xcalloc(nkeys, sizeof(*keys));
    const char **args = xcalloc(nargs, sizeof(*args));
    size_t *lens = xcalloc(nargs, sizeof(*lens));
    char *nums = xcalloc(reap->njobs + 1, 24), now[32];
    char *k_process = keys_process(rp->ns, reap->rec.identity);
    char *k_work = keys_process_work(rp->ns, reap->rec.identity);
    char *k_order = keys_order(rp->ns, reap->rec.identity);
    int r = -ECANCELED;

    if (reap->failed || periodic_stopped(rp->pass))
        goto out;
    keys[0] = rp->k_procs;
    keys[1] = rp->k_processes;
    keys[2] = k_process;
    keys[3] = k_work;
    keys[4] = rp->k_queues;
    keys[5] = rp->k_dead;
    for (size_t i = 0; i < reap->nlists; i++) {
        keys[6 + 2 * i] = reap->lists[i].key;
        keys[7 + 2 * i] = reap->lists[i].queue_key;
    }
    keys[nkeys - 1] = k_order;
    (void)snprintf(now, sizeof(now), "%.6f", util_now());
#define PUT(s, l) (args[a] = (s), lens[a] = (l), a++)
#define PUTS(s) PUT((s), strlen(s))
    PUTS(reap->rec.identity);
    PUTS(reap->test);
    PUTS(reap->forget ? "1" : "0");
    PUTS(now);
    for (size_t i = 0; i < reap->njobs; i++) {
        const struct reap_job *j = &reap->jobs[i];
        char *num = nums + 24 * i;
        (void)snprintf(num, 24, "%zu", j->list + 1);
        PUTS(num);
        PUT(j->old, j->old_len);
        PUTS(j->new_job ? j->new_job : "");
        PUTS(j->dead ? "" : reap->lists[j->list].queue);
    }
#undef PUT
#undef PUTS
    r = rconn_eval(rp->conn, reap_on_reply, reap, lua_reap, nkeys, keys, nargs, args, lens);
out:
    free(k_process);
    free(k_work);
    free(k_order);
    free(keys);
    free(args);
    free(lens);
    free(nums);
    if (r < 0)
        reap_end(reap);
}

/* Appends `rj`, taking what it owns. */
static void reap_add(struct reap *reap, struct reap_job *rj)
{
    if (reap->njobs == reap->cap) {
        reap->cap = reap->cap ? 2 * reap->cap : 16;
        reap->jobs = xreallocarray(reap->jobs, reap->cap, sizeof(*reap->jobs));
    }
    reap->jobs[reap->njobs++] = *rj;
}

/* Whether a recovered job (its count raised) has died with its process once too often. */
static bool crash_loop(const struct reaper *rp, const struct job *job)
{
    struct outcome o;

    outcome_decide(&(struct outcome_input){.cause = OUTCOME_CAUSE_RECOVERED,
                                           .recoveries = job_recoveries(job),
                                           .max_recoveries = rp->max_recoveries,
                                           .now = util_now()},
                   &o);
    return o.kind == OUTCOME_DEAD;
}

/* A recovered job with its count raised; to dead after max_recoveries. A job that cannot be
 * encoded again stays in its list for the next check. */
static void recover_job(struct reap *reap, size_t list, const char *text, size_t len)
{
    struct reaper *rp = reap->rp;
    struct reap_job rj = {.list = list, .old_len = len};
    struct job *job = NULL;
    struct err err = {0};
    char msg[512];
    int r;

    r = job_decode(text, len, reap->lists[list].queue, util_random(), &job, &err);
    rj.dead = r < 0;
    if (r < 0) {
        job_record_failure(job, "NexusInvalidJob", err.msg, util_now());
    } else {
        job_record_recovery(job);
        if (crash_loop(rp, job)) {
            (void)snprintf(msg, sizeof(msg),
                           "the process running this job died %d times (last: %s, %s); moved to "
                           "dead as a crash loop",
                           job_recoveries(job), reap->rec.identity, reap->reason);
            job_record_failure(job, "NexusCrashLoop", msg, util_now());
            rj.dead = true;
            rj.crash_jid = xstrdup(job_jid(job));
            rj.crash_class = xstrdup(job_class(job));
            rj.recoveries = job_recoveries(job);
        }
    }
    rj.new_job = job_encode(job, NULL);
    job_free(job);
    if (!rj.new_job) {
        free(rj.crash_jid);
        free(rj.crash_class);
        return;
    }
    rj.old = xmemdup(text, len);
    reap_add(reap, &rj);
}

/* A job over max_job, known by its size and SHA-1: back to its queue as it is, undecoded (it
 * cannot run: its fetch buries it), so not counted as a recovery. */
static void requeue_job(struct reap *reap, size_t list, long long size, const char *sha1)
{
    struct reap_job rj = {.list = list};

    rj.old = xasprintf("%lld:%s", size, sha1);
    rj.old_len = strlen(rj.old);
    reap_add(reap, &rj);
}

/* reap_read.lua's answer: per list, {size, text} pairs, the text a SHA-1 when the job was
 * over max_job. A job that cannot be taken in stays for the next check. */
static void read_on_reply(struct redisReply *reply, void *arg)
{
    struct reap *reap = arg;

    if (rconn_reply_error(reply) || reply->type != REDIS_REPLY_ARRAY ||
        reply->elements != reap->nlists)
        reap->failed = true;
    for (size_t i = 0; !reap->failed && i < reply->elements; i++) {
        const struct redisReply *l = reply->element[i];
        for (size_t k = 0; l->type == REDIS_REPLY_ARRAY && k + 1 < l->elements; k += 2) {
            const struct redisReply *size = l->element[k], *text = l->element[k + 1];
            if (size->type != REDIS_REPLY_INTEGER || text->type != REDIS_REPLY_STRING)
                continue;
            if ((long long)text->len == size->integer)
                recover_job(reap, i, text->str, text->len);
            else
                requeue_job(reap, i, size->integer, text->str);
        }
    }
    reap_send(reap);
}

/* Reads every in-flight list of the process in one call (reap_read.lua), the jobs over max_job
 * as their size and SHA-1 only. */
static void reap_read(struct reap *reap)
{
    struct reaper *rp = reap->rp;
    const char **keys = xcalloc(reap->nlists + 1, sizeof(*keys));
    char max[24];
    const char *args[] = {max};
    int r = -EINVAL;

    (void)snprintf(max, sizeof(max), "%zu", rp->max_job);
    for (size_t i = 0; i < reap->nlists; i++)
        keys[i] = reap->lists[i].key;
    if (!reap->failed) /* failed: a queue in its record is not a name; the next check retries */
        r = rconn_eval(rp->conn, read_on_reply, reap, lua_reap_read, reap->nlists, keys, 1, args,
                       NULL);
    free(keys);
    if (r < 0)
        reap_end(reap);
}

static void delayed_unlink(struct reap *reap)
{
    struct reap **pp = &reap->rp->delayed;

    while (*pp && *pp != reap)
        pp = &(*pp)->next_delayed;
    if (*pp)
        *pp = reap->next_delayed;
}

static void delay_on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct reap *reap = w->data;

    delayed_unlink(reap);
    if (periodic_stopped(reap->rp->pass))
        reap_end(reap);
    else
        reap_read(reap);
}

static void cache_forget(struct reaper *rp, const char *identity);

/* Takes `rec` (cleared also on failure). `test` is reap.lua's judgement to make again. */
static void reap_start(struct reaper *rp, struct presence_record *rec, const char *reason,
                       const char *test, bool forget)
{
    struct reap *reap = xcalloc(1, sizeof(*reap));
    size_t nq = json_array_size(rec->queues);

    reap->lists = xcalloc(nq + 1, sizeof(*reap->lists));
    cache_forget(rp, rec->identity); /* judged: the pid check does not judge it again */
    if (strcmp(reason, "orphan") != 0)
        log_warn("event=process_dead identity=%s reason=%s", log_q(rec->identity), reason);
    reap->rp = rp;
    reap->rec = *rec;
    reap->reason = reason;
    reap->test = test;
    reap->forget = forget;
    pass_begin(rp);
    for (size_t i = 0; i < nq; i++) {
        struct reap_list *rl = &reap->lists[reap->nlists];
        const char *q = json_string_value(json_array_get(rec->queues, i));
        reap->nlists++;
        if (!q) {
            reap->failed = true;
            continue;
        }
        rl->queue = xstrdup(q);
        rl->key = keys_inflight(rp->ns, rec->identity, q);
        rl->queue_key = keys_queue(rp->ns, q);
    }
    ev_timer_init(&reap->delay, delay_on_timer, rp->delay_s, 0);
    reap->delay.data = reap;
    if (rp->delay_s > 0) {
        reap->next_delayed = rp->delayed;
        rp->delayed = reap;
        ev_timer_start(rp->loop, &reap->delay);
    } else
        reap_read(reap);
}

static void exists_on_reply(struct redisReply *reply, void *arg)
{
    struct reap *probe = arg; /* rec + rp; becomes the reap when dead */
    struct reaper *rp = probe->rp;
    const char *error = rconn_reply_error(reply);

    if (!error && reply->type == REDIS_REPLY_INTEGER && reply->integer == 0 &&
        !periodic_stopped(rp->pass))
        reap_start(rp, &probe->rec, "heartbeat_expired", "beat", true);
    else
        presence_record_clear(&probe->rec);
    free(probe);
    pass_end(rp);
}

/* After (re)connecting, peers cut off by the same outage may still be reconnecting: their
 * heartbeats are not judged until they have had one reconnect back-off, twice over. */
static bool heartbeats_judgeable(const struct reaper *rp)
{
    return ev_now(rp->loop) - rconn_up_since(rp->conn) >= 2 * rconn_backoff_max(rp->conn);
}

static void check_process(struct reaper *rp, const char *identity, const char *text, size_t len)
{
    struct presence_record rec;
    struct reap *probe;
    long long start;
    char *key;
    int r;

    if (strcmp(identity, rp->self) == 0 || presence_record_parse(text, len, &rec) < 0)
        return;
    /* a pid hidden from us is not judged by pid: its heartbeat decides, as on other hosts */
    start = strcmp(rec.host_id, rp->host_id) == 0 ? util_pid_start(rec.pid) : rec.pid_start;
    if (start != rec.pid_start && start != UTIL_PID_HIDDEN) {
        reap_start(rp, &rec, "pid_gone", "pid", true);
        return;
    }
    if (!heartbeats_judgeable(rp)) {
        presence_record_clear(&rec);
        return;
    }
    probe = xcalloc(1, sizeof(*probe));
    key = keys_process(rp->ns, rec.identity);
    r = rconn_commandf(rp->conn, exists_on_reply, probe, "EXISTS %s", key);
    free(key);
    if (r < 0) {
        presence_record_clear(&rec);
        free(probe);
        return;
    }
    probe->rp = rp;
    probe->rec = rec;
    pass_begin(rp);
}

static void cache_clear(struct reaper *rp)
{
    for (size_t i = 0; i < rp->ncached; i++)
        presence_record_clear(&rp->cached[i]);
    free(rp->cached);
    rp->cached = NULL;
    rp->ncached = 0;
}

/* The pid check runs while records are cached and the reaper is not stopped. */
static void pids_update(struct reaper *rp)
{
    if (rp->ncached == 0 || periodic_stopped(rp->pass))
        ev_timer_stop(rp->loop, &rp->pids);
    else if (!ev_is_active(&rp->pids))
        ev_timer_again(rp->loop, &rp->pids); /* its repeat from now */
}

static void cache_forget(struct reaper *rp, const char *identity)
{
    for (size_t i = 0; i < rp->ncached; i++) {
        if (strcmp(rp->cached[i].identity, identity) != 0)
            continue;
        presence_record_clear(&rp->cached[i]);
        rp->cached[i] = rp->cached[--rp->ncached];
        pids_update(rp);
        return;
    }
}

/* Keeps the records of this host's other processes, whose pids are checked every second
 * between two passes without asking Redis. */
static void cache_fill(struct reaper *rp, const struct redisReply *reply)
{
    cache_clear(rp);
    rp->cached = xcalloc(reply->elements / 2 + 1, sizeof(*rp->cached));
    for (size_t i = 0; i + 1 < reply->elements; i += 2) {
        struct presence_record *rec = &rp->cached[rp->ncached];
        const struct redisReply *text = reply->element[i + 1];
        if (strcmp(reply->element[i]->str, rp->self) == 0 ||
            presence_record_parse(text->str, text->len, rec) < 0)
            continue;
        if (strcmp(rec->host_id, rp->host_id) != 0) {
            presence_record_clear(rec);
            continue;
        }
        rp->ncached++;
    }
    pids_update(rp);
}

static void procs_on_reply(struct redisReply *reply, void *arg)
{
    struct reaper *rp = arg;
    const char *error = rconn_reply_error(reply);

    if (!error && !periodic_stopped(rp->pass) && reply->type == REDIS_REPLY_ARRAY) {
        cache_fill(rp, reply);
        for (size_t i = 0; i + 1 < reply->elements; i += 2)
            check_process(rp, reply->element[i]->str, reply->element[i + 1]->str,
                          reply->element[i + 1]->len);
    }
    pass_end(rp);
}

/* The pids of this host's processes known at the last pass (the `pids` timer): a process
 * that died is recovered within a second, however long the interval between passes. */
static void pids_on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct reaper *rp = w->data;

    (void)loop;
    (void)revents;
    if (rp->outstanding > 0 || !rconn_is_up(rp->conn))
        return;
    for (size_t i = 0; i < rp->ncached;) {
        struct presence_record rec = rp->cached[i];
        long long start = util_pid_start(rec.pid);
        if (start == rec.pid_start || start == UTIL_PID_HIDDEN) {
            i++;
            continue;
        }
        rp->cached[i] = rp->cached[--rp->ncached]; /* out of the cache: the reap takes it */
        reap_start(rp, &rec, "pid_gone", "pid", true);
    }
    pids_update(rp);
}

/* A pass over every process (periodic_tick_fn), unless one is under way. It is never out as
 * a whole for the periodic: `outstanding` counts its replies and the reaps of the sweep too,
 * and keeps passes apart. */
static bool pass_on_tick(void *arg)
{
    struct reaper *rp = arg;

    if (rp->outstanding > 0 || !rconn_is_up(rp->conn))
        return false;
    if (rconn_commandf(rp->conn, procs_on_reply, rp, "HGETALL %s", rp->k_procs) == 0)
        pass_begin(rp);
    return false;
}

void reaper_kick(struct reaper *rp)
{
    periodic_kick(rp->pass);
}

/* ---- the orphan sweep: in-flight lists that no registered process owns ---- */

/* One SCAN page's lists of other processes, waiting for orphans.lua's answer. */
struct sweep_page {
    struct reaper *rp;
    size_t n;
    char **ids, **queues; /* n each */
};

static void sweep_page_free(struct sweep_page *pg)
{
    for (size_t i = 0; i < pg->n; i++) {
        free(pg->ids[i]);
        free(pg->queues[i]);
    }
    free(pg->ids);
    free(pg->queues);
    free(pg);
}

/* Splits "<prefix>HOST:PID:RANDOM:QUEUE" into its owner's identity and its queue (caller
 * owns both, release with free()). Returns 0, or -EINVAL when `key` is not of that form. */
static int inflight_key_parse(const struct reaper *rp, const char *key, char **ret_id,
                              char **ret_queue)
{
    size_t plen = strlen(rp->inflight_prefix);
    const char *p, *colon;

    if (strncmp(key, rp->inflight_prefix, plen) != 0)
        return -EINVAL;
    p = key + plen;
    colon = p;
    for (int i = 0; i < 3 && colon; i++)
        colon = strchr(colon + (i > 0), ':');
    if (!colon || colon == p || !colon[1])
        return -EINVAL;
    *ret_id = xstrndup(p, (size_t)(colon - p));
    *ret_queue = xstrdup(colon + 1);
    return 0;
}

static void orphans_on_reply(struct redisReply *reply, void *arg)
{
    struct sweep_page *pg = arg;
    struct reaper *rp = pg->rp;

    periodic_done(rp->sweep, false);
    if (rconn_reply_error(reply) || reply->type != REDIS_REPLY_ARRAY ||
        periodic_stopped(rp->pass)) {
        sweep_page_free(pg);
        return;
    }
    for (size_t i = 0; i < reply->elements; i++) {
        long long k = reply->element[i]->integer;
        struct presence_record rec = {0};
        if (k < 1 || (size_t)k > pg->n)
            continue;
        (void)snprintf(rec.identity, sizeof(rec.identity), "%s", pg->ids[k - 1]);
        rec.queues = json_pack("[s]", pg->queues[k - 1]);
        if (rec.queues)
            reap_start(rp, &rec, "orphan", "orphan", false);
    }
    sweep_page_free(pg);
}

/* Asks orphans.lua which of the page's lists have no live owner. Returns 0 or -errno. */
static int sweep_check(struct reaper *rp, struct sweep_page *pg)
{
    const char **keys = xcalloc(1 + 2 * pg->n, sizeof(*keys));
    char **owned = xcalloc(2 * pg->n, sizeof(*owned)); /* the keys but the first */
    int r;

    keys[0] = rp->k_procs;
    for (size_t i = 0; i < pg->n; i++) {
        owned[2 * i] = keys_inflight(rp->ns, pg->ids[i], pg->queues[i]);
        owned[2 * i + 1] = keys_process(rp->ns, pg->ids[i]);
        keys[1 + 2 * i] = owned[2 * i];
        keys[2 + 2 * i] = owned[2 * i + 1];
    }
    r = rconn_eval(rp->conn, orphans_on_reply, pg, lua_orphans, 1 + 2 * pg->n, keys, pg->n,
                   (const char *const *)pg->ids, NULL);
    for (size_t i = 0; i < 2 * pg->n; i++)
        free(owned[i]);
    free(owned);
    free(keys);
    return r;
}

/* Takes a SCAN page in. Returns true when its orphan check is out (orphans_on_reply() ends
 * the sweep's round). */
static bool scan_page(struct reaper *rp, struct redisReply *reply)
{
    struct redisReply *found;
    struct sweep_page *pg = NULL;

    if (rconn_reply_error(reply) || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
        reply->element[0]->type != REDIS_REPLY_STRING ||
        reply->element[1]->type != REDIS_REPLY_ARRAY) {
        (void)snprintf(rp->sweep_cursor, sizeof(rp->sweep_cursor), "0"); /* again next time */
        return false;
    }
    (void)snprintf(rp->sweep_cursor, sizeof(rp->sweep_cursor), "%s", reply->element[0]->str);
    found = reply->element[1];
    if (periodic_stopped(rp->pass) || found->elements == 0)
        return false;
    pg = xcalloc(1, sizeof(*pg));
    pg->ids = xcalloc(found->elements, sizeof(*pg->ids));
    pg->queues = xcalloc(found->elements, sizeof(*pg->queues));
    pg->rp = rp;
    for (size_t i = 0; i < found->elements; i++) {
        char *id, *queue;
        if (found->element[i]->type != REDIS_REPLY_STRING ||
            inflight_key_parse(rp, found->element[i]->str, &id, &queue) < 0)
            continue;
        if (strcmp(id, rp->self) == 0) {
            free(id);
            free(queue);
            continue;
        }
        pg->ids[pg->n] = id;
        pg->queues[pg->n] = queue;
        pg->n++;
    }
    if (pg->n > 0 && sweep_check(rp, pg) == 0)
        return true;
    sweep_page_free(pg);
    return false;
}

static void scan_on_reply(struct redisReply *reply, void *arg)
{
    struct reaper *rp = arg;

    if (!scan_page(rp, reply))
        periodic_done(rp->sweep, false);
}

/* One SCAN page per tick while a sweep is under way; a sweep every sweep_interval_s
 * (periodic_tick_fn). */
static bool sweep_on_tick(void *arg)
{
    struct reaper *rp = arg;
    double now = ev_now(rp->loop);

    if (!rconn_is_up(rp->conn))
        return false;
    if (strcmp(rp->sweep_cursor, "0") == 0) {
        if (now < rp->sweep_next_at)
            return false;
        rp->sweep_next_at = now + rp->sweep_interval_s;
    }
    return rconn_commandf(rp->conn, scan_on_reply, rp, "SCAN %s MATCH %s COUNT " SWEEP_COUNT,
                          rp->sweep_cursor, rp->sweep_match) == 0;
}

/* `s` with SCAN's glob characters escaped. Caller owns it, release with free(). */
static char *glob_escape(const char *s)
{
    char *out = xmalloc(2 * strlen(s) + 1), *o = out;

    for (; *s; s++) {
        if (strchr("*?[]\\^", *s))
            *o++ = '\\';
        *o++ = *s;
    }
    *o = '\0';
    return out;
}

/* How often the cached pids are checked: every second, or each pass when that is sooner. */
static double pid_interval(double interval_s)
{
    return interval_s < 1.0 ? interval_s : 1.0;
}

struct reaper *reaper_new(struct ev_loop *loop, struct rconn *conn, const char *ns,
                          const char *self_identity, const char *host_id, double interval_s,
                          unsigned max_recoveries, double sweep_interval_s)
{
    struct reaper *rp = xcalloc(1, sizeof(*rp));
    const char *delay = getenv(REAP_DELAY_ENV);
    char *ns_glob = glob_escape(ns), *prefix_glob;

    rp->loop = loop;
    rp->conn = conn;
    rp->ns = xstrdup(ns);
    rp->self = xstrdup(self_identity);
    rp->host_id = xstrdup(host_id);
    rp->k_procs = keys_procs(ns);
    rp->k_processes = keys_processes(ns);
    rp->k_queues = keys_queues(ns);
    rp->k_dead = keys_dead(ns);
    rp->inflight_prefix = keys_inflight_prefix(ns);
    prefix_glob = keys_inflight_prefix(ns_glob);
    rp->sweep_match = xasprintf("%s*", prefix_glob);
    free(prefix_glob);
    free(ns_glob);
    rp->max_recoveries = max_recoveries;
    rp->max_job = 1 << 20;
    if (delay && parse_double(delay, 0, 3600, &rp->delay_s) < 0)
        rp->delay_s = 0;
    rp->sweep_interval_s = sweep_interval_s;
    rp->sweep_next_at = ev_now(loop) + sweep_interval_s;
    (void)snprintf(rp->sweep_cursor, sizeof(rp->sweep_cursor), "0");
    rp->pass = periodic_new(loop, interval_s, 0, pass_on_tick, rp);
    ev_init(&rp->pids, pids_on_timer);
    rp->pids.repeat = pid_interval(interval_s);
    rp->pids.data = rp;
    rp->sweep = periodic_new(loop, interval_s, 0, sweep_on_tick, rp);
    return rp;
}

void reaper_free(struct reaper *rp)
{
    if (!rp)
        return;
    periodic_free(rp->pass);
    ev_timer_stop(rp->loop, &rp->pids);
    periodic_free(rp->sweep);
    cache_clear(rp);
    while (rp->delayed) {
        struct reap *reap = rp->delayed;
        rp->delayed = reap->next_delayed;
        ev_timer_stop(rp->loop, &reap->delay);
        reap_free(reap);
    }
    free(rp->ns);
    free(rp->self);
    free(rp->host_id);
    free(rp->k_procs);
    free(rp->k_processes);
    free(rp->k_queues);
    free(rp->k_dead);
    free(rp->inflight_prefix);
    free(rp->sweep_match);
    free(rp);
}

void reaper_set_limits(struct reaper *rp, double interval_s, unsigned max_recoveries,
                       double sweep_interval_s)
{
    rp->max_recoveries = max_recoveries;
    if (sweep_interval_s != rp->sweep_interval_s) {
        rp->sweep_next_at += sweep_interval_s - rp->sweep_interval_s;
        rp->sweep_interval_s = sweep_interval_s;
    }
    periodic_set_interval(rp->pass, interval_s);
    rp->pids.repeat = pid_interval(interval_s); /* from the next time it fires */
    periodic_set_interval(rp->sweep, interval_s);
}

void reaper_set_max_job(struct reaper *rp, size_t max_bytes)
{
    rp->max_job = max_bytes;
}

void reaper_stop(struct reaper *rp)
{
    periodic_stop(rp->pass);
    ev_timer_stop(rp->loop, &rp->pids);
    periodic_stop(rp->sweep);
}
