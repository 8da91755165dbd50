/* ctl_stats.c - nexusctl stats and processes: counters, queues and live processes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>
#include <jansson.h>

#include "ctl/ctl.h"
#include "ctl/ctl_fmt.h"
#include "ctl/ctl_redis.h"
#include "ctl/ctl_table.h"
#include "lib/err.h"
#include "lib/job.h"
#include "lib/parse.h"
#include "lib/util.h"
#include "queue/keys.h"

/* Everything a run reads Redis with. */
struct stats_ctx {
    struct ctl_redis *c; /* borrowed */
    const char *ns;         /* borrowed */
    double now;             /* epoch s, once for the whole report */
    bool inflight;          /* count each process's in-flight jobs (its lists, one read each) */
};

/* Appends `value` (taken): a queue or a process, NULL when json_pack() found its name, read
 * from Redis, not UTF-8. */
static int append(json_t *arr, json_t *value, struct err *err)
{
    if (!value)
        return err_set(err, -EPROTO, "Redis holds a queue or process name that is not UTF-8");
    (void)json_array_append_new(arr, value);
    return 0;
}

static int member_cmp(const void *a, const void *b)
{
    const redisReply *x = *(redisReply *const *)a, *y = *(redisReply *const *)b;
    int r = memcmp(x->str, y->str, x->len < y->len ? x->len : y->len);

    return r ? r : (x->len > y->len) - (x->len < y->len);
}

/* SMEMBERS of the set `key_of` names under the namespace, sorted; caller owns the reply. */
static int members_sorted(const struct stats_ctx *sc, char *(*key_of)(const char *ns),
                          redisReply **ret, struct err *err)
{
    char *key = key_of(sc->ns);
    redisReply *reply = NULL;
    int r;

    r = ctl_redis_cmd(sc->c, &reply, err, "SMEMBERS", key, NULL);
    free(key);
    if (r == 0 && (r = ctl_redis_expect(reply, REDIS_REPLY_ARRAY, "SMEMBERS", err)) < 0)
        freeReplyObject(reply);
    if (r < 0)
        return r;
    for (size_t i = 0; i < reply->elements; i++)
        if (reply->element[i]->type != REDIS_REPLY_STRING) {
            freeReplyObject(reply);
            return err_set(err, -EPROTO, "Redis gave a set member that is not a string");
        }
    if (reply->elements > 1) /* an empty set's element array is NULL */
        qsort(reply->element, reply->elements, sizeof(*reply->element), member_cmp);
    *ret = reply;
    return 0;
}

/* `command` KEY for a count; takes ownership of `key`. */
static int key_count(const struct stats_ctx *sc, const char *command, char *key, long long *ret,
                     struct err *err)
{
    int r;

    r = ctl_redis_count(sc->c, ret, err, command, key, NULL);
    free(key);
    return r;
}

/* --- queues ----------------------------------------------------------------------------- */

/* now - enqueued_at of the oldest job of the queue (the list's right end); 0 when empty. */
static int queue_latency(const struct stats_ctx *sc, const char *key, double *ret, struct err *err)
{
    redisReply *reply = NULL;
    struct job *job = NULL;
    double at;
    int r;

    *ret = 0;
    r = ctl_redis_cmd(sc->c, &reply, err, "LINDEX", key, "-1", NULL);
    if (r < 0)
        return r;
    if (reply->type == REDIS_REPLY_STRING) {
        (void)job_decode(reply->str, reply->len, NULL, 0, &job, NULL);
        at = job ? job_enqueued_at(job) : 0;
        *ret = at > 0 && sc->now > at ? sc->now - at : 0;
        job_free(job);
    }
    freeReplyObject(reply);
    return 0;
}

/* Whether `name` is a member of the sorted reply of members_sorted(). */
static bool member_of(const redisReply *set, const char *name)
{
    redisReply key = {.type = REDIS_REPLY_STRING, .str = (char *)name, .len = strlen(name)};
    const redisReply *k = &key;

    return set->elements > 0 &&
           bsearch(&k, set->element, set->elements, sizeof(*set->element), member_cmp);
}

static int queue_collect(const struct stats_ctx *sc, const char *name, bool paused,
                         json_t *queues, long long *total, struct err *err)
{
    char *key = keys_queue(sc->ns, name);
    double latency = 0;
    long long size = 0;
    int r;

    r = ctl_redis_count(sc->c, &size, err, "LLEN", key, NULL);
    if (r == 0)
        r = queue_latency(sc, key, &latency, err);
    free(key);
    if (r < 0)
        return r;
    *total += size;
    return append(queues,
                  json_pack("{s:s, s:I, s:f, s:b}", "name", name, "size", (json_int_t)size,
                            "latency", latency, "paused", paused),
                  err);
}

/* Every queue of the `queues` set; writes the jobs waiting in all of them. */
static int queues_collect(const struct stats_ctx *sc, json_t **ret, long long *ret_total,
                          struct err *err)
{
    json_t *queues = json_array();
    redisReply *names = NULL, *paused = NULL;
    long long total = 0;
    int r;

    r = members_sorted(sc, keys_queues, &names, err);
    if (r == 0 && (r = members_sorted(sc, keys_paused, &paused, err)) < 0)
        freeReplyObject(names);
    for (size_t i = 0; r == 0 && i < names->elements; i++)
        r = queue_collect(sc, names->element[i]->str, member_of(paused, names->element[i]->str),
                          queues, &total, err);
    /* a queue paused before any job came to it */
    for (size_t i = 0; r == 0 && i < paused->elements; i++)
        if (!member_of(names, paused->element[i]->str))
            r = queue_collect(sc, paused->element[i]->str, true, queues, &total, err);
    if (names) {
        freeReplyObject(names);
        freeReplyObject(paused);
    }
    if (r < 0) {
        json_decref(queues);
        return r;
    }
    *ret = queues;
    *ret_total = total;
    return 0;
}

/* --- processes -------------------------------------------------------------------------- */

/* Jobs in the process's in-flight lists: one per queue named by its nexus:procs record. */
static int inflight_count(const struct stats_ctx *sc, const char *identity, long long *ret,
                          struct err *err)
{
    char *k_procs = keys_procs(sc->ns);
    redisReply *reply = NULL;
    json_t *rec = NULL, *q;
    long long n, total = 0;
    size_t i;
    int r;

    r = ctl_redis_cmd(sc->c, &reply, err, "HGET", k_procs, identity, NULL);
    free(k_procs);
    if (r < 0)
        return r;
    if (reply->type == REDIS_REPLY_STRING)
        rec = json_loadb(reply->str, reply->len, 0, NULL);
    freeReplyObject(reply);
    json_array_foreach(json_object_get(rec, "queues"), i, q)
    {
        if (!json_is_string(q))
            continue;
        r = key_count(sc, "LLEN", keys_inflight(sc->ns, identity, json_string_value(q)), &n, err);
        if (r < 0)
            break;
        total += n;
    }
    json_decref(rec);
    *ret = total;
    return r;
}

/* The fields of the IDENTITY hash. */
enum { PROC_INFO, PROC_BUSY, PROC_BEAT, PROC_QUIET, PROC_CLASSES, PROC_NFIELDS };

/* A number field of the hash, or JSON null. */
static json_t *hash_number(const redisReply *v, bool integer)
{
    double d;

    if (v->type != REDIS_REPLY_STRING || parse_double(v->str, -1e300, 1e300, &d) < 0)
        return json_null();
    return integer ? json_integer((json_int_t)d) : json_real(d);
}

/* The process as JSON from its hash fields (info, busy, beat, quiet, classes). */
static json_t *process_json(const struct stats_ctx *sc, const char *identity, redisReply *const *f,
                            long long inflight)
{
    json_t *info = NULL, *classes = NULL, *proc, *beat = hash_number(f[PROC_BEAT], false);
    double age = json_is_real(beat) ? sc->now - json_real_value(beat) : -1;

    if (f[PROC_INFO]->type == REDIS_REPLY_STRING)
        info = json_loadb(f[PROC_INFO]->str, f[PROC_INFO]->len, 0, NULL);
    proc = json_pack("{s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:b, s:o, s:o, s:I}", "identity",
                     identity, "hostname", ctl_fmt_ref(json_object_get(info, "hostname")), "pid",
                     ctl_fmt_ref(json_object_get(info, "pid")), "version",
                     ctl_fmt_ref(json_object_get(info, "version")), "started_at",
                     ctl_fmt_ref(json_object_get(info, "started_at")), "queues",
                     ctl_fmt_ref(json_object_get(info, "queues")), "concurrency",
                     ctl_fmt_ref(json_object_get(info, "concurrency")), "busy",
                     hash_number(f[PROC_BUSY], true), "quiet",
                     f[PROC_QUIET]->type == REDIS_REPLY_STRING &&
                         strcmp(f[PROC_QUIET]->str, "true") == 0,
                     "beat", beat, "beat_age", age >= 0 ? json_real(age) : json_null(), "in_flight",
                     (json_int_t)inflight);
    json_decref(info);
    /* the classes it runs (nexusd publishes them at start and reload), null when none */
    if (f[PROC_CLASSES]->type == REDIS_REPLY_STRING)
        classes = json_loadb(f[PROC_CLASSES]->str, f[PROC_CLASSES]->len, 0, NULL);
    if (!json_is_array(classes)) {
        json_decref(classes);
        classes = json_null();
    }
    (void)json_object_set_new(proc, "classes", classes);
    return proc;
}

/* Appends the process when its hash still exists (its heartbeat has not expired). */
static int process_collect(const struct stats_ctx *sc, const char *identity, json_t *procs,
                           struct err *err)
{
    char *key = keys_process(sc->ns, identity);
    redisReply *reply = NULL;
    long long inflight = 0;
    bool live = false;
    int r;

    r = ctl_redis_cmd(sc->c, &reply, err, "HMGET", key, "info", "busy", "beat", "quiet", "classes",
                      NULL);
    free(key);
    if (r == 0 && (r = ctl_redis_expect(reply, REDIS_REPLY_ARRAY, "HMGET", err)) == 0 &&
        reply->elements != PROC_NFIELDS)
        r = err_set(err, -EPROTO, "Redis replied to HMGET with %zu values, expected %d",
                    reply->elements, PROC_NFIELDS);
    for (size_t i = 0; r == 0 && i < PROC_NFIELDS; i++)
        live |= reply->element[i]->type != REDIS_REPLY_NIL;
    if (r == 0 && live && sc->inflight)
        r = inflight_count(sc, identity, &inflight, err);
    if (r == 0 && live)
        r = append(procs, process_json(sc, identity, reply->element, inflight), err);
    freeReplyObject(reply);
    return r;
}

/* Live processes: members of `processes` whose hash exists, sorted by identity. */
static int processes_collect(const struct stats_ctx *sc, json_t **ret, struct err *err)
{
    json_t *procs = json_array();
    redisReply *ids = NULL;
    int r;

    r = members_sorted(sc, keys_processes, &ids, err);
    for (size_t i = 0; r == 0 && i < ids->elements; i++)
        r = process_collect(sc, ids->element[i]->str, procs, err);
    freeReplyObject(ids);
    if (r < 0) {
        json_decref(procs);
        return r;
    }
    *ret = procs;
    return 0;
}

/* An integer field of `obj`, 0 when absent. */
static long long int_of(const json_t *obj, const char *name)
{
    return (long long)json_integer_value(json_object_get(obj, name));
}

static void processes_print(const json_t *procs)
{
    static const char *const headers[] = {"IDENTITY", "BUSY",      "CONCURRENCY",
                                          "QUIET",    "LAST BEAT", "IN FLIGHT"};
    char busy[24], conc[24], age[CTL_FMT_AGE_BUF], since[CTL_FMT_AGE_BUF + 8], inflight[24];
    struct ctl_table *t;
    const json_t *p;
    size_t i;

    if (json_array_size(procs) == 0) {
        printf("no live processes\n");
        return;
    }
    t = ctl_table_new(6, headers, 1u << 1 | 1u << 2 | 1u << 5);
    json_array_foreach(procs, i, p)
    {
        const json_t *b = json_object_get(p, "busy"), *c = json_object_get(p, "concurrency"),
                     *a = json_object_get(p, "beat_age");

        (void)snprintf(busy, sizeof(busy), "%lld", (long long)json_integer_value(b));
        (void)snprintf(conc, sizeof(conc), "%lld", (long long)json_integer_value(c));
        (void)snprintf(since, sizeof(since), "%s ago", ctl_fmt_age(json_real_value(a), age));
        (void)snprintf(inflight, sizeof(inflight), "%lld", int_of(p, "in_flight"));
        ctl_table_add(t, (const char *const[]){
                             json_string_value(json_object_get(p, "identity")),
                             json_is_integer(b) ? busy : NULL,
                             json_is_integer(c) ? conc : NULL,
                             json_is_true(json_object_get(p, "quiet")) ? "yes" : "no",
                             json_is_real(a) ? since : NULL,
                             inflight,
                         });
    }
    ctl_table_print(t, stdout);
    ctl_table_free(t);
}

/* --- the commands ----------------------------------------------------------------------- */

static int stats_ctx_open(struct ctl *ctl, struct stats_ctx *sc, struct err *err)
{
    sc->c = ctl_redis(ctl, err);
    if (!sc->c)
        return err->code;
    sc->ns = ctl_ns(ctl);
    sc->now = util_now();
    sc->inflight = true;
    return 0;
}

/* The counters: totals, today's and the sizes of the sorted sets. */
static int counters_collect(const struct stats_ctx *sc, json_t *stats, struct err *err)
{
    static const struct counter {
        const char *json_name, *command;
        char *(*key)(const char *ns);                      /* or: */
        char *(*day_key)(const char *ns, const char *day); /* today's */
    } counters[] = {
        {"processed", "GET", keys_stat_processed, NULL},
        {"failed", "GET", keys_stat_failed, NULL},
        {"processed_today", "GET", NULL, keys_stat_processed_day},
        {"failed_today", "GET", NULL, keys_stat_failed_day},
        {"scheduled_size", "ZCARD", keys_schedule, NULL},
        {"retry_size", "ZCARD", keys_retry, NULL},
        {"dead_size", "ZCARD", keys_dead, NULL},
    };
    char day[11];
    long long n;
    int r = 0;

    (void)json_object_set_new(stats, "date", json_string(keys_day(sc->now, day)));
    for (size_t i = 0; r == 0 && i < sizeof(counters) / sizeof(counters[0]); i++) {
        const struct counter *k = &counters[i];

        r = key_count(sc, k->command, k->key ? k->key(sc->ns) : k->day_key(sc->ns, day), &n, err);
        if (r == 0)
            (void)json_object_set_new(stats, k->json_name, json_integer(n));
    }
    return r;
}

/* Live processes among `procs` (as processes_collect() gives them) whose array `field` holds
 * `name`; one without that array counts when `absent_holds`. */
static size_t holders_of(const json_t *procs, const char *field, const char *name,
                         bool absent_holds)
{
    const json_t *p, *q, *list;
    size_t i, j, n = 0;

    json_array_foreach(procs, i, p)
    {
        list = json_object_get(p, field);
        if (!json_is_array(list) && absent_holds)
            n++;
        json_array_foreach(list, j, q)
        {
            if (json_is_string(q) && strcmp(json_string_value(q), name) == 0) {
                n++;
                break;
            }
        }
    }
    return n;
}

/* ... whose worker.queues holds `queue`. */
static size_t readers_of(const json_t *procs, const char *queue)
{
    return holders_of(procs, "queues", queue, false);
}

int ctl_queue_readers(struct ctl *ctl, const char *queue, const char *class_name,
                      size_t *ret_live, size_t *ret_readers, size_t *ret_knowers,
                      struct err *err)
{
    struct stats_ctx sc = {0};
    json_t *procs = NULL;
    int r = stats_ctx_open(ctl, &sc, err);

    sc.inflight = false; /* only their queues are wanted */
    if (r == 0)
        r = processes_collect(&sc, &procs, err);
    if (r < 0)
        return r;
    *ret_live = json_array_size(procs);
    *ret_readers = readers_of(procs, queue);
    /* a process that published no classes (an older nexusd) may know it */
    *ret_knowers = holders_of(procs, "classes", class_name, true);
    json_decref(procs);
    return 0;
}

static void stats_print(const json_t *s)
{
    const json_t *queues = json_object_get(s, "queues"), *q;
    char latency[CTL_FMT_AGE_BUF], size[24], readers[24];
    struct ctl_table *t;
    size_t i;

    printf("processed  %lld (today %lld)\n", int_of(s, "processed"), int_of(s, "processed_today"));
    printf("failed     %lld (today %lld)\n", int_of(s, "failed"), int_of(s, "failed_today"));
    printf("enqueued   %lld\nscheduled  %lld\nretry      %lld\ndead       %lld\n\n",
           int_of(s, "enqueued"), int_of(s, "scheduled_size"), int_of(s, "retry_size"),
           int_of(s, "dead_size"));
    if (json_array_size(queues) == 0) {
        printf("no queues\n\n");
    } else {
        t = ctl_table_new(5,
                          (const char *const[]){"QUEUE", "SIZE", "LATENCY", "PAUSED", "READERS"},
                          1u << 1 | 1u << 2 | 1u << 4);
        json_array_foreach(queues, i, q)
        {
            (void)snprintf(size, sizeof(size), "%lld", int_of(q, "size"));
            (void)snprintf(readers, sizeof(readers), "%lld", int_of(q, "readers"));
            (void)ctl_fmt_age(json_real_value(json_object_get(q, "latency")), latency);
            ctl_table_add(t, (const char *const[]){
                                 json_string_value(json_object_get(q, "name")), size, latency,
                                 json_is_true(json_object_get(q, "paused")) ? "yes" : "no",
                                 readers});
        }
        ctl_table_print(t, stdout);
        ctl_table_free(t);
        json_array_foreach(queues, i, q)
        {
            if (int_of(q, "readers") == 0 && int_of(q, "size") > 0)
                printf("warning: no live process reads queue %s: its %lld jobs wait for one "
                       "whose worker.queues names it\n",
                       json_string_value(json_object_get(q, "name")), int_of(q, "size"));
        }
        printf("\n");
    }
    processes_print(json_object_get(s, "processes"));
}

/* The queues (queues_collect()) with their readers among the live processes, which it also
 * writes. */
static int queues_report(const struct stats_ctx *sc, json_t **ret_queues, long long *ret_total,
                         json_t **ret_procs, struct err *err)
{
    json_t *queues = NULL, *procs = NULL, *q;
    size_t i;
    int r;

    r = queues_collect(sc, &queues, ret_total, err);
    if (r == 0 && (r = processes_collect(sc, &procs, err)) < 0)
        json_decref(queues);
    if (r < 0)
        return r;
    json_array_foreach(queues, i, q)
    {
        size_t n = readers_of(procs, json_string_value(json_object_get(q, "name")));

        (void)json_object_set_new(q, "readers", json_integer((json_int_t)n));
    }
    *ret_queues = queues;
    *ret_procs = procs;
    return 0;
}

int ctl_queues_report(struct ctl *ctl, json_t **ret_queues, struct err *err)
{
    struct stats_ctx sc = {0};
    json_t *procs = NULL;
    long long total;
    int r = stats_ctx_open(ctl, &sc, err);

    sc.inflight = false; /* only their queues are wanted */
    if (r == 0)
        r = queues_report(&sc, ret_queues, &total, &procs, err);
    json_decref(procs);
    return r;
}

int ctl_processes_live(struct ctl *ctl, json_t **ret_procs, struct err *err)
{
    struct stats_ctx sc = {0};
    int r = stats_ctx_open(ctl, &sc, err);

    sc.inflight = false;
    return r < 0 ? r : processes_collect(&sc, ret_procs, err);
}

static int stats_run(struct ctl *ctl, int argc, char **argv, struct err *err)
{
    json_t *stats = NULL, *queues = NULL, *procs = NULL;
    struct stats_ctx sc = {0};
    long long enqueued = 0;
    int r;

    r = ctl_parse_args(ctl, argc, argv, NULL, 0, NULL, 0, err);
    if (r != 0)
        return r;
    r = stats_ctx_open(ctl, &sc, err);
    if (r < 0)
        return r;
    stats = json_object();
    if ((r = counters_collect(&sc, stats, err)) < 0 ||
        (r = queues_report(&sc, &queues, &enqueued, &procs, err)) < 0)
        goto out;
    (void)json_object_set_new(stats, "enqueued", json_integer(enqueued));
    (void)json_object_set_new(stats, "queues", queues);
    (void)json_object_set_new(stats, "processes", procs);
    if (ctl->json)
        r = ctl_fmt_json(stats, err);
    else
        stats_print(stats);
out:
    json_decref(stats);
    return r;
}

static int processes_run(struct ctl *ctl, int argc, char **argv, struct err *err)
{
    json_t *procs = NULL;
    struct stats_ctx sc = {0};
    int r;

    r = ctl_parse_args(ctl, argc, argv, NULL, 0, NULL, 0, err);
    if (r != 0)
        return r;
    r = stats_ctx_open(ctl, &sc, err);
    if (r == 0)
        r = processes_collect(&sc, &procs, err);
    if (r < 0)
        return r;
    if (ctl->json)
        return ctl_fmt_json_list("processes", procs, err);
    processes_print(procs);
    json_decref(procs);
    return 0;
}

const struct ctl_command ctl_cmd_stats = {
    .name = "stats",
    .args = "[--json]",
    .summary = "show counters, queues with size and latency, and live processes",
    .help = "Shows the processed and failed totals and today's (UTC), the size of each queue,\n"
            "its latency (the age of its oldest job) and whether it is paused, the sizes of\n"
            "schedule, retry and dead, and the live processes with their jobs in flight.\n",
    .json = true,
    .run = stats_run,
};

const struct ctl_command ctl_cmd_processes = {
    .name = "processes",
    .args = "[--json]",
    .summary = "show the live nexusd processes",
    .help = "Shows each live process (its heartbeat has not expired): identity, jobs busy,\n"
            "concurrency, whether it is quiet, time since its last beat, and the jobs in its\n"
            "in-flight lists.\n",
    .json = true,
    .run = processes_run,
};
