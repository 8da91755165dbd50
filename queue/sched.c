/* sched.c - firing cron schedules, one claim per tick in Redis. */
#include "queue/sched.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>
#include <jansson.h>

#include "conf/cfg.h"
#include "lib/cron.h"
#include "lib/err.h"
#include "lib/job.h"
#include "lib/log.h"
#include "lib/parse.h"
#include "lib/periodic.h"
#include "lib/util.h"
#include "lib/xalloc.h"
#include "queue/durable.h"
#include "queue/keys.h"
#include "queue/lua.h"
#include "queue/rconn.h"
#include "queue/rerun.h"
#include "queue/unique.h"

#define SCHED_TICK_S 0.25          /* how often due schedules are looked for */
#define SCHED_CATCH_UP_MAX 1000000 /* ticks stepped over looking for the latest missed */

/* One schedule's state: its settings (copied: a reload frees the old configuration), the
 * next tick to fire. */
struct entry {
    struct cfg_schedule *sc; /* owned copy: strings and all */
    time_t next;             /* 0: not computed yet */
    bool caught_up;          /* missed ticks were looked for */
    bool busy;               /* a fire or look-up is under way */
};

struct sched {
    struct rconn *conn;
    struct durable *durable; /* borrowed, or NULL: fired ticks WAITed for */
    char *ns;
    struct entry *entries;
    size_t n;
    struct ev_loop *loop;
    struct periodic *tick; /* every SCHED_TICK_S while there are entries, NULL while none (an
                              idle process without schedules is not woken for them); each
                              entry keeps its own calls apart */
    bool stopped;
};

/* A call under way for one entry; `sched` is freed only after its calls come back. */
struct call {
    struct sched *s;
    char *name; /* the schedule's, to find its entry after a reload */
    time_t tick;
};

static struct entry *entry_find(struct sched *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->entries[i].sc->name, name) == 0)
            return &s->entries[i];
    return NULL;
}

static void call_free(struct call *c)
{
    struct entry *e = entry_find(c->s, c->name);

    if (e)
        e->busy = false;
    free(c->name);
    free(c);
}

static time_t next_after(const struct cfg_schedule *sc, time_t after)
{
    struct err err = {0};
    time_t next = 0;

    if (cron_next(&sc->expr, sc->tz, after, &next, &err) < 0) {
        log_error("event=schedule_never_fires schedule=%s err=%s", log_q(sc->name), log_q(err.msg));
        return 0;
    }
    return next;
}

static void fire_on_reply(struct redisReply *reply, void *arg)
{
    struct call *c = arg;
    const char *error = rconn_reply_error(reply);

    if (error)
        log_warn("event=schedule_fire_failed schedule=%s tick=%lld err=%s", log_q(c->name),
                 (long long)c->tick, log_q(error));
    else if (reply->type == REDIS_REPLY_STRING) /* unique, and its lock held: nothing pushed */
        log_info("event=schedule_fired schedule=%s tick=%lld outcome=duplicate holder=%s",
                 log_q(c->name), (long long)c->tick, log_q(reply->str));
    else if (reply->integer == 1) {
        log_info("event=schedule_fired schedule=%s tick=%lld", log_q(c->name), (long long)c->tick);
        if (c->s->durable) /* a shortfall is logged and counted: the tick is fired */
            durable_after(c->s->durable, "cron", NULL, NULL);
    }
    call_free(c);
}

/* The job of a tick, as a client would push it, marked with its schedule and tick; its jid
 * goes to ret_jid and, for a unique job, its lock under `ns` to *ret_lock (its jid ret_jid;
 * empty it with unique_lock_clear(); left empty when OpenSSL fails: the worker then takes
 * the lock as the job starts). */
static char *tick_job(const struct cfg_schedule *sc, const char *ns, time_t tick, char *ret_jid,
                      struct unique_lock *ret_lock)
{
    struct job *job = rerun_schedule_job(sc, util_now(), util_random());
    char *text;

    (void)json_object_set_new(job_root(job), "nexus_tick", json_integer((json_int_t)tick));
    text = job_encode(job, NULL);
    (void)snprintf(ret_jid, JOB_MAX_JID + 1, "%s", job_jid(job));
    if (unique_lock_make(ret_lock, ns, job, 0) == 0)
        ret_lock->jid = ret_jid;
    job_free(job);
    return text;
}

/* Tries to fire `tick` of entry `e` (cron.lua decides whether this process does). */
static void fire(struct sched *s, struct entry *e, time_t tick)
{
    const struct cfg_schedule *sc = e->sc;
    const char *ns = s->ns;
    char *k_cron = keys_cron(ns, sc->name);
    char *k_queues = keys_queues(ns), *k_queue = keys_queue(ns, sc->queue);
    char jid[JOB_MAX_JID + 1] = "", tick_s[32], now_s[32];
    struct unique_lock lock;
    char *job = tick_job(sc, ns, tick, jid, &lock);
    struct call *c = xcalloc(1, sizeof(*c));

    c->name = xstrdup(sc->name);
    c->s = s;
    c->tick = tick;
    (void)snprintf(tick_s, sizeof(tick_s), "%lld", (long long)tick);
    (void)snprintf(now_s, sizeof(now_s), "%.3f", util_now());
    if (rconn_eval(s->conn, fire_on_reply, c, lua_cron, lock.key ? 4 : 3,
                   (const char *[]){k_cron, k_queues, k_queue, lock.key}, lock.key ? 6 : 5,
                   (const char *[]){tick_s, job, jid, sc->queue, now_s, lock.ttl_ms}, NULL) == 0)
        e->busy = true;
    else
        call_free(c); /* the connection is down */
    unique_lock_clear(&lock);
    free(job);
    free(k_cron);
    free(k_queues);
    free(k_queue);
}

/* The latest tick after `last` that is not after `now`, or 0 when none was missed. Every
 * process computes the same one, so cron.lua fires it once, whichever gets there first. */
static time_t latest_missed(const struct cfg_schedule *sc, time_t last, time_t now)
{
    time_t t = last, next;

    for (int i = 0; i < SCHED_CATCH_UP_MAX; i++) {
        next = next_after(sc, t);
        if (next == 0 || next > now)
            return t == last ? 0 : t;
        t = next;
    }
    return t; /* a very long outage of a frequent schedule: the latest seen will do */
}

/* run_once: the latest tick missed since the last fired one fires now, once. */
static void last_on_reply(struct redisReply *reply, void *arg)
{
    struct call *c = arg;
    struct sched *s = c->s;
    struct entry *e = entry_find(s, c->name);
    int64_t last = 0;
    time_t missed;

    if (!e || rconn_reply_error(reply) || periodic_stopped(s->tick)) {
        call_free(c);
        return;
    }
    e->caught_up = true;
    if (reply->type == REDIS_REPLY_STRING)
        (void)parse_i64(reply->str, 0, INT64_MAX, &last);
    e->busy = false;
    missed = last > 0 ? latest_missed(e->sc, (time_t)last, time(NULL)) : 0;
    if (missed > 0) {
        log_info("event=schedule_missed schedule=%s tick=%lld policy=run_once", log_q(e->sc->name),
                 (long long)missed);
        fire(s, e, missed);
    }
    call_free(c);
}

static void catch_up(struct sched *s, struct entry *e)
{
    struct call *c = xcalloc(1, sizeof(*c));
    char *key = keys_cron(s->ns, e->sc->name);

    c->name = xstrdup(e->sc->name);
    c->s = s;
    if (rconn_commandf(s->conn, last_on_reply, c, "HGET %s last", key) == 0)
        e->busy = true;
    else
        call_free(c); /* the connection is down */
    free(key);
}

/* Fires the due ticks (periodic_tick_fn); never out as a whole: entries are busy one by one. */
static bool sched_on_tick(void *arg)
{
    struct sched *s = arg;
    time_t now = time(NULL);

    if (!rconn_is_up(s->conn))
        return false;
    for (size_t i = 0; i < s->n; i++) {
        struct entry *e = &s->entries[i];
        if (e->busy)
            continue;
        if (e->sc->missed == CFG_MISSED_RUN_ONCE && !e->caught_up) {
            catch_up(s, e);
            continue;
        }
        if (e->next == 0)
            e->next = next_after(e->sc, now);
        if (e->next == 0 || e->next > now)
            continue;
        fire(s, e, e->next);
        e->next = next_after(e->sc, e->next > now - 1 ? e->next : now);
    }
    return false;
}

static void schedule_free(struct cfg_schedule *sc)
{
    if (!sc)
        return;
    free(sc->name);
    free(sc->cron);
    free(sc->class_name);
    free(sc->args);
    free(sc->queue);
    free(sc->tz);
    free(sc);
}

static struct cfg_schedule *schedule_copy(const struct cfg_schedule *from)
{
    struct cfg_schedule *sc = xmalloc(sizeof(*sc));

    *sc = *from;
    sc->name = xstrdup(from->name);
    sc->cron = xstrdup(from->cron);
    sc->class_name = xstrdup(from->class_name);
    sc->args = xstrdup(from->args);
    sc->queue = xstrdup(from->queue);
    sc->tz = xstrdup(from->tz);
    return sc;
}

static void entries_free(struct entry *entries, size_t n)
{
    for (size_t i = 0; i < n; i++)
        schedule_free(entries[i].sc);
    free(entries);
}

/* Copies cfg's schedules in place of the old entries. */
static void entries_build(struct sched *s, const struct cfg *cfg)
{
    struct entry *entries = xcalloc(cfg->nschedules + 1, sizeof(*entries));
    char *ns = xstrdup(cfg->redis_namespace);

    for (size_t i = 0; i < cfg->nschedules; i++) {
        struct entry *old = entry_find(s, cfg->schedules[i].name);
        entries[i].sc = schedule_copy(&cfg->schedules[i]);
        /* a schedule kept across a reload keeps its place, unless its timing changed */
        if (old && strcmp(old->sc->cron, cfg->schedules[i].cron) == 0 &&
            strcmp(old->sc->tz, cfg->schedules[i].tz) == 0) {
            entries[i].next = old->next;
            entries[i].caught_up = old->caught_up;
            entries[i].busy = old->busy;
        }
    }
    entries_free(s->entries, s->n);
    free(s->ns);
    s->entries = entries;
    s->n = cfg->nschedules;
    s->ns = ns;
}

/* The timer runs while there are schedules (never after a stop). The tick never leaves a
 * round out (sched_on_tick() returns false), so the timer can go at any time but inside it. */
static void tick_update(struct sched *s)
{
    if (s->n && !s->tick && !s->stopped) {
        s->tick = periodic_new(s->loop, SCHED_TICK_S, 0, sched_on_tick, s);
    } else if (!s->n && s->tick) {
        periodic_free(s->tick);
        s->tick = NULL;
    }
}

struct sched *sched_new(struct ev_loop *loop, struct rconn *conn, const struct cfg *cfg)
{
    struct sched *s = xcalloc(1, sizeof(*s));

    s->conn = conn;
    s->loop = loop;
    entries_build(s, cfg);
    tick_update(s);
    return s;
}

void sched_free(struct sched *s)
{
    if (!s)
        return;
    periodic_free(s->tick);
    entries_free(s->entries, s->n);
    free(s->ns);
    free(s);
}

void sched_set_durable(struct sched *s, struct durable *d)
{
    s->durable = d;
}

void sched_reload(struct sched *s, const struct cfg *cfg)
{
    entries_build(s, cfg);
    tick_update(s);
}

void sched_kick(struct sched *s)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->entries[i].sc->missed == CFG_MISSED_RUN_ONCE && !s->entries[i].busy)
            s->entries[i].caught_up = false;
    if (s->tick)
        periodic_kick(s->tick);
}

void sched_stop(struct sched *s)
{
    s->stopped = true;
    if (s->tick)
        periodic_stop(s->tick);
}
