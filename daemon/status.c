/* status.c - /healthz, /readyz, /metrics and /status: the process's state plus one read of
 * the fleet from Redis (fleet.lua) per request. */
#include "daemon/status.h"

#include <assert.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ev.h>
#include <hiredis/hiredis.h>
#include <jansson.h>

#include "conf/cfg.h"
#include "daemon/auth.h"
#include "daemon/httpd.h"
#include "daemon/metrics.h"
#include "daemon/worker.h"
#include "lib/cron.h"
#include "lib/log.h"
#include "lib/util.h"
#include "lib/xalloc.h"
#include "queue/durable.h"
#include "queue/excerpt.h"
#include "queue/keys.h"
#include "queue/lua.h"
#include "queue/rconn.h"

#define STATUS_MAX_JOBS 1000       /* jobs in flight listed by /status */
#define STATUS_MAX_PAYLOAD 16384   /* larger payloads are listed without their args; the args
                                    * of others are cut to EXCERPT_PUBLIC or EXCERPT_TOKEN */
#define STATUS_MAX_SCHEDULES 1000  /* = CFG_MAX_SCHEDULES */

/* After a fleet read the next one waits 19 times what it cost (at most FLEET_PAUSE_MAX_S), so
 * that however many clients poll, fleet.lua takes at most about 5 % of Redis's time. */
#define FLEET_PAUSE_FACTOR 19.0
#define FLEET_PAUSE_MAX_S 2.0

struct read;

/* Reads of the fleet for one kind of request (metrics, full) and who waits for them. */
struct fleet {
    struct status *st;    /* borrowed: the owner */
    bool full;
    bool busy;            /* fleet.lua under way */
    double started;       /* ev_time() when it was sent */
    struct read *reading; /* owned: answered by the read under way */
    struct read *waiting; /* owned: answered by the next (a read sent before they came could
                           * miss what they expect to see) */
    ev_timer pause;       /* after a read: the next waits for it */
};

struct status {
    struct ev_loop *loop; /* borrowed */
    struct httpd *h;      /* borrowed */
    struct worker *wk;    /* borrowed */
    const struct cfg *cfg; /* borrowed */
    const char *version;  /* borrowed */
    struct fleet fleets[2]; /* [full] */
};

/* One request waiting for fleet.lua. */
struct read {
    struct status *st;
    struct httpd_req *req;
    bool full;  /* /status, else /metrics */
    bool token; /* sent the right bearer token: longer excerpts of the jobs' texts */
    struct read *next;
};

/* ---- /healthz, /readyz ---- */

static void healthz_on_request(struct httpd_req *req, void *arg)
{
    httpd_respond(req, 200, "application/json", "{\"status\":\"ok\"}", 15);
}

static void readyz_on_request(struct httpd_req *req, void *arg)
{
    struct status *st = arg;
    struct worker_stats ws;
    char reason[128] = "";

    worker_stats(st->wk, &ws);
    if (!ws.redis_up)
        strcat(reason, "redis unreachable; ");
    if (ws.db_configured && !ws.db_up)
        strcat(reason, "postgresql unreachable; ");
    if (ws.stopping)
        strcat(reason, "shutting down; ");
    if (*reason)
        reason[strlen(reason) - 2] = '\0';
    httpd_respond_json(req, *reason ? 503 : 200,
                       json_pack("{s:b, s:s, s:s, s:b, s:s*}", "ready", !*reason, "redis",
                                 ws.redis_up ? "up" : "down", "postgresql",
                                 !ws.db_configured ? "not configured"
                                 : ws.db_up        ? "up"
                                                   : "down",
                                 "stopping", ws.stopping, "reason", *reason ? reason : NULL));
}

/* ---- the fleet from Redis ---- */

static void read_finish(struct read *rd, json_t *fleet, const char *error);

/* Every request waiting gets its copy of the fleet (or the error); the next read waits for the
 * pause this one earned. */
static void fleet_done(struct fleet *fl, json_t *fleet, const char *error)
{
    struct read *rd = fl->reading, *next;
    double pause = (ev_time() - fl->started) * FLEET_PAUSE_FACTOR;

    fl->reading = NULL;
    fl->busy = false;
    for (; rd; rd = next) {
        next = rd->next;
        read_finish(rd, fleet ? json_deep_copy(fleet) : NULL, error);
    }
    json_decref(fleet);
    ev_timer_set(&fl->pause, pause < FLEET_PAUSE_MAX_S ? pause : FLEET_PAUSE_MAX_S, 0);
    ev_timer_start(fl->st->loop, &fl->pause);
}

static void fleet_on_reply(struct redisReply *reply, void *arg)
{
    struct fleet *fl = arg;
    const char *error = rconn_reply_error(reply);
    json_t *fleet = NULL;

    if (!error && reply->type != REDIS_REPLY_STRING)
        error = "fleet.lua gave no text";
    if (!error) {
        fleet = json_loadb(reply->str, reply->len, 0, NULL);
        if (!json_is_object(fleet)) {
            json_decref(fleet);
            fleet = NULL;
            error = "fleet.lua gave bad JSON";
        }
    }
    if (error && reply)
        log_warn("event=status_read_failed err=%s", log_q(error));
    fleet_done(fl, fleet, error);
}

/* fleet.lua's KEYS before the schedules', in its order. */
static char *(*const fleet_keys[])(const char *ns) = {
    keys_schedule,       keys_retry,       keys_dead,     keys_queues,
    keys_stat_processed, keys_stat_failed, keys_processes};
#define FLEET_FIXED_KEYS (sizeof(fleet_keys) / sizeof(fleet_keys[0]))

/* Sends fleet.lua; fleet_done() runs once, now when Redis is down. */
static void fleet_read(struct fleet *fl)
{
    const struct cfg *cfg = fl->st->cfg;
    const char *ns = cfg->redis_namespace;
    size_t n = fl->full ? cfg->nschedules : 0, nkeys = FLEET_FIXED_KEYS + n, nargs = 6 + n;
    char **keys = xcalloc(nkeys, sizeof(*keys));
    const char **args = xcalloc(nargs, sizeof(*args));
    /* what queue:NAME, IDENTITY and IDENTITY:work are made of, for names read in the script */
    char *queue_prefix = keys_queue(ns, ""), *process_prefix = keys_process(ns, "");
    char *work_suffix = keys_process_work("", "");
    char max_jobs[16], max_payload[16];

    fl->busy = true;
    fl->started = ev_time();
    fl->reading = fl->waiting;
    fl->waiting = NULL;
    (void)snprintf(max_jobs, sizeof(max_jobs), "%d", STATUS_MAX_JOBS);
    (void)snprintf(max_payload, sizeof(max_payload), "%d", STATUS_MAX_PAYLOAD);
    args[0] = fl->full ? "full" : "metrics";
    args[1] = max_jobs;
    args[2] = max_payload;
    args[3] = queue_prefix;
    args[4] = process_prefix;
    args[5] = work_suffix;
    for (size_t i = 0; i < FLEET_FIXED_KEYS; i++)
        keys[i] = fleet_keys[i](ns);
    for (size_t i = 0; i < n; i++) {
        keys[FLEET_FIXED_KEYS + i] = keys_cron(ns, cfg->schedules[i].name);
        args[6 + i] = cfg->schedules[i].name;
    }
    if (rconn_eval(worker_redis(fl->st->wk), fleet_on_reply, fl, lua_fleet, nkeys,
                   (const char *const *)keys, nargs, args, NULL) < 0)
        fleet_done(fl, NULL, "redis unreachable");
    for (size_t i = 0; i < nkeys; i++)
        free(keys[i]);
    free(keys);
    free(args);
    free(queue_prefix);
    free(process_prefix);
    free(work_suffix);
}

/* An array of the fleet (cjson writes an empty one as {}). Borrowed. */
static json_t *fleet_array(json_t *fleet, const char *name)
{
    json_t *v = json_object_get(fleet, name);

    return json_is_array(v) ? v : NULL;
}

static double number_of(const json_t *obj, const char *name)
{
    return json_number_value(json_object_get(obj, name));
}

/* ---- /metrics ---- */

static void metrics_answer(struct read *rd, json_t *fleet)
{
    struct status *st = rd->st;
    json_t *queues = fleet_array(fleet, "queues"), *q;
    struct metrics_queue *mq = xcalloc(json_array_size(queues) + 1, sizeof(*mq));
    struct metrics_snapshot snap = {.version = st->version, .postgresql_up = -1};
    struct worker_stats ws;
    double now = util_now();
    size_t i, len = 0;
    char *text;

    worker_stats(st->wk, &ws);
    snap.start_time_s = ws.started_at;
    snap.concurrency = ws.concurrency;
    snap.in_flight = ws.running;
    snap.redis_up = ws.redis_up;
    snap.redis_wait_short = durable_short_total();
    if (ws.db_configured)
        snap.postgresql_up = ws.db_up;
    if (fleet) {
        json_array_foreach(queues, i, q)
        {
            double at = number_of(q, "oldest_enqueued_at");
            mq[i].name = json_string_value(json_object_get(q, "name"));
            mq[i].size = (long long)number_of(q, "size");
            mq[i].latency_s = at > 0 && now > at ? now - at : 0;
            if (!mq[i].name)
                mq[i].name = "";
        }
        snap.fleet = true;
        snap.queues = mq;
        snap.nqueues = json_array_size(queues);
        snap.scheduled = (long long)number_of(fleet, "scheduled");
        snap.retry = (long long)number_of(fleet, "retry");
        snap.dead = (long long)number_of(fleet, "dead");
    }
    text = metrics_render(worker_metrics(st->wk), &snap, &len);
    httpd_respond(rd->req, 200, METRICS_CONTENT_TYPE, text, len);
    free(text);
    free(mq);
}

static void pause_on_timeout(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct fleet *fl = t->data;

    if (fl->waiting)
        fleet_read(fl);
}

/* Answers `req` from the next read of the fleet (the whole of it for /status: full), shared with
 * every request waiting for it: now, or once the read under way and its pause are over. */
static void read_start(struct httpd_req *req, struct status *st, bool full, bool token)
{
    struct read *rd = xcalloc(1, sizeof(*rd));
    struct fleet *fl = &st->fleets[full];

    rd->st = st;
    rd->req = req;
    rd->full = full;
    rd->token = token;
    rd->next = fl->waiting;
    fl->waiting = rd;
    if (!fl->busy && !ev_is_active(&fl->pause))
        fleet_read(fl);
}

static void metrics_on_request(struct httpd_req *req, void *arg)
{
    read_start(req, arg, false, false);
}

/* ---- /status ---- */

static json_t *time_iso(double epoch_s)
{
    time_t t = (time_t)epoch_s;
    struct tm tm;
    char buf[32];

    if (!(epoch_s > 0) || !gmtime_r(&t, &tm))
        return json_null();
    (void)strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return json_string(buf);
}

/* One job in flight: its texts and the args parsed from its payload (which is dropped), each
 * within `max` bytes as the dashboard's lists show them (excerpt.h). */
static void job_fix(json_t *job, size_t max)
{
    static const char *const texts[] = {"jid", "class", "queue"};
    json_t *payload = json_object_get(job, "payload"), *parsed, *args;
    bool listed = json_is_string(payload); /* else over STATUS_MAX_PAYLOAD: no args */
    bool cut = false, args_cut;

    parsed = listed ? json_loads(json_string_value(payload), 0, NULL) : NULL;
    args = json_object_get(parsed, "args");
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
        cut |= excerpt_put_text(job, texts[i], json_object_get(job, texts[i]), max);
    args_cut = excerpt_put_args(job, json_is_array(args) ? args : NULL, max);
    json_decref(parsed);
    (void)json_object_del(job, "payload"); /* absent when not listed */
    if (!json_object_get(job, "size"))
        (void)json_object_set_new(job, "size", json_null());
    (void)json_object_set_new(job, "args_truncated", json_boolean(!listed || args_cut));
    (void)json_object_set_new(job, "truncated", json_boolean(!listed || args_cut || cut));
}

/* Jobs in flight, each as job_fix() makes it. */
static void jobs_fix(json_t *jobs, size_t max)
{
    json_t *job;
    size_t i;

    json_array_foreach(jobs, i, job)
        job_fix(job, max);
}

/* The configured schedules with their next fire and, from Redis, their last. */
static json_t *schedules_json(const struct cfg *cfg, json_t *fleet, time_t now)
{
    json_t *out = json_array(), *fired = fleet_array(fleet, "schedules"), *f = NULL;

    for (size_t i = 0; out && i < cfg->nschedules; i++) {
        const struct cfg_schedule *sc = &cfg->schedules[i];
        time_t next = 0;
        size_t k;

        /* by name: a reload may have changed the list since the read was sent */
        json_array_foreach(fired, k, f)
        {
            const char *name = json_string_value(json_object_get(f, "name"));
            if (name && strcmp(name, sc->name) == 0)
                break;
        }
        if (k == json_array_size(fired))
            f = NULL;

        if (cron_next(&sc->expr, sc->tz, now, &next, NULL) < 0)
            next = 0;
        (void)json_array_append_new(
            out, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:O?}", "name",
                           sc->name, "cron", sc->cron, "tz", sc->tz, "class", sc->class_name,
                           "queue", sc->queue, "missed", cfg_missed_name(sc->missed), "next_fire",
                           next ? json_integer((json_int_t)next) : json_null(), "next_fire_at",
                           time_iso((double)next), "last_fire",
                           number_of(f, "last") > 0 ? json_integer((json_int_t)number_of(f, "last"))
                                                    : json_null(),
                           "last_jid", json_object_get(f, "last_jid")));
    }
    return out;
}

static void status_answer(struct read *rd, json_t *fleet)
{
    const struct cfg *cfg = rd->st->cfg;
    json_t *queues = fleet_array(fleet, "queues"), *q, *procs, *jobs, *out;
    double now = util_now();
    long long enqueued = 0;
    size_t i;

    json_array_foreach(queues, i, q)
    {
        double at = number_of(q, "oldest_enqueued_at");
        enqueued += (long long)number_of(q, "size");
        (void)json_object_set_new(q, "latency", json_real(at > 0 && now > at ? now - at : 0));
        (void)json_object_del(q, "oldest_enqueued_at");
    }
    procs = fleet_array(fleet, "processes");
    jobs = fleet_array(fleet, "jobs");
    jobs_fix(jobs, rd->token ? EXCERPT_TOKEN : EXCERPT_PUBLIC);
    out = json_pack(
        "{s:f, s:o, s:o, s:{s:I, s:I, s:I, s:I, s:I, s:I}, s:o, s:o, s:b, s:o}", "time", now,
        "time_at", time_iso(now), "queues", queues ? json_incref(queues) : json_array(), "counts",
        "enqueued", (json_int_t)enqueued, "scheduled", (json_int_t)number_of(fleet, "scheduled"),
        "retry", (json_int_t)number_of(fleet, "retry"), "dead",
        (json_int_t)number_of(fleet, "dead"), "processed",
        (json_int_t)number_of(fleet, "processed"), "failed", (json_int_t)number_of(fleet, "failed"),
        "processes", procs ? json_incref(procs) : json_array(), "jobs",
        jobs ? json_incref(jobs) : json_array(), "jobs_truncated",
        json_is_true(json_object_get(fleet, "jobs_truncated")), "schedules",
        schedules_json(cfg, fleet, (time_t)now));
    httpd_respond_json(rd->req, 200, out);
}

static void status_on_request(struct httpd_req *req, void *arg)
{
    struct status *st = arg;
    enum auth_result a = auth_check(st->cfg->http_token, httpd_req_header(req, "Authorization"));

    read_start(req, st, true, a == AUTH_OK); /* with the token, longer excerpts */
}

static void read_finish(struct read *rd, json_t *fleet, const char *error)
{
    if (!rd->full)
        metrics_answer(rd, fleet); /* without the fleet's part when Redis failed */
    else if (!fleet)
        httpd_respond_json(rd->req, 503,
                           json_pack("{s:s, s:s}", "error", "cannot read the fleet from Redis",
                                     "reason", error ? error : "unknown"));
    else
        status_answer(rd, fleet);
    json_decref(fleet);
    free(rd);
}

/* ---- life cycle ---- */

struct status *status_new(struct ev_loop *loop, struct httpd *h, struct worker *wk,
                          const struct cfg *cfg, const char *version)
{
    struct status *st = xcalloc(1, sizeof(*st));

    st->h = h;
    st->wk = wk;
    st->cfg = cfg;
    st->loop = loop;
    st->version = version;
    for (int i = 0; i < 2; i++) {
        st->fleets[i].st = st;
        st->fleets[i].full = i;
        ev_timer_init(&st->fleets[i].pause, pause_on_timeout, 0, 0);
        st->fleets[i].pause.data = &st->fleets[i];
    }
    httpd_route(h, "GET", "/healthz", healthz_on_request, st);
    httpd_route(h, "GET", "/readyz", readyz_on_request, st);
    httpd_route(h, "GET", "/metrics", metrics_on_request, st);
    httpd_route(h, "GET", "/status", status_on_request, st);
    return st;
}

void status_reload(struct status *st, const struct cfg *cfg)
{
    st->cfg = cfg;
}

void status_free(struct status *st)
{
    if (!st)
        return;
    for (int i = 0; i < 2; i++) {
        struct read *rd = st->fleets[i].waiting, *next;

        ev_timer_stop(st->loop, &st->fleets[i].pause);
        st->fleets[i].waiting = NULL;
        assert(!st->fleets[i].reading); /* process_free() answered the read under way */
        for (; rd; rd = next) { /* waiting for a pause to end */
            next = rd->next;
            read_finish(rd, NULL, "nexusd is stopping");
        }
    }
    free(st);
}
