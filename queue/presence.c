/* presence.c - heartbeat and process records. */
#include "queue/presence.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>
#include <jansson.h>

#include "lib/log.h"
#include "lib/util.h"
#include "lib/xalloc.h"
#include "queue/keys.h"
#include "queue/lua.h"
#include "queue/rconn.h"

struct presence {
    struct rconn *conn;
    char identity[256];
    char *k_identity, *k_work, *k_processes, *k_procs, *k_signals;
    presence_signal_fn *on_signal; /* or NULL */
    void *on_signal_arg;
    char *hostname, *host_id, *tag, *version;
    pid_t pid;
    long long pid_start;
    double started_at;
    bool registered; /* a beat went through: a missing record now means it was forgotten */
    bool had_work;   /* the last beat sent wrote IDENTITY:work: the next one replaces it */
    char *classes;   /* JSON array of the classes it runs; NULL before presence_set_classes() */
    bool classes_due; /* the next beat writes them (new, or the hash holding them expired) */
};

struct presence *presence_new(struct rconn *conn, const char *ns, const struct presence_info *info,
                              unsigned long long rnd)
{
    struct presence *p = xcalloc(1, sizeof(*p));

    p->conn = conn;
    (void)snprintf(p->identity, sizeof(p->identity), "%s:%d:%012llx", info->hostname,
                   (int)info->pid, rnd & 0xffffffffffffull);
    p->k_identity = keys_process(ns, p->identity);
    p->k_work = keys_process_work(ns, p->identity);
    p->k_processes = keys_processes(ns);
    p->k_procs = keys_procs(ns);
    p->k_signals = keys_process_signals(ns, p->identity);
    p->hostname = xstrdup(info->hostname);
    p->host_id = xstrdup(info->host_id);
    p->tag = xstrdup(info->tag ? info->tag : "");
    p->version = xstrdup(info->version);
    p->pid = info->pid;
    p->pid_start = info->pid_start;
    p->started_at = info->started_at;
    return p;
}

void presence_free(struct presence *p)
{
    if (!p)
        return;
    free(p->k_identity);
    free(p->k_work);
    free(p->k_processes);
    free(p->k_procs);
    free(p->k_signals);
    free(p->hostname);
    free(p->host_id);
    free(p->tag);
    free(p->version);
    free(p->classes);
    free(p);
}

void presence_set_classes(struct presence *p, json_t *classes)
{
    free(p->classes);
    p->classes = json_dumps(classes, JSON_COMPACT);
    p->classes_due = p->classes != NULL;
}

void presence_on_signal(struct presence *p, presence_signal_fn *fn, void *arg)
{
    p->on_signal = fn;
    p->on_signal_arg = arg;
}

const char *presence_identity(const struct presence *p)
{
    return p->identity;
}

static void beat_on_reply(struct redisReply *reply, void *arg)
{
    const char *error = rconn_reply_error(reply);

    if (error && reply)
        log_warn("event=heartbeat_failed err=%s", log_q(error));
}

static void beat_lua_on_reply(struct redisReply *reply, void *arg)
{
    struct presence *p = arg;
    const char *error = rconn_reply_error(reply);
    long long flags;

    if (error) {
        p->had_work = true; /* it may have written IDENTITY:work: the next beat clears it */
        p->classes_due = p->classes != NULL; /* ... and may not have written the classes */
        beat_on_reply(reply, NULL);
        return;
    }
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
        reply->element[0]->type != REDIS_REPLY_INTEGER ||
        reply->element[1]->type != REDIS_REPLY_STRING) {
        log_warn("event=heartbeat_failed err=\"beat.lua replied with something unexpected\"");
        return;
    }
    flags = reply->element[0]->integer;
    if ((flags & 2) && p->classes)
        p->classes_due = true;
    if ((flags & 1) == 0 && p->registered)
        log_warn("event=declared_dead identity=%s outcome=registered_again "
                 "why=\"its record was gone: a peer judged it dead (or Redis lost its data) and "
                 "may have recovered its jobs, whose outcomes it will not write\"",
                 log_q(p->identity));
    p->registered = true;
    /* last: acting on it may quiet or stop the process */
    if (reply->element[1]->len > 0 && p->on_signal)
        p->on_signal(reply->element[1]->str, p->on_signal_arg);
}

/* The nexus:procs record: what a reaper needs once this process is gone. NULL when a
 * string is not UTF-8 (a hostname can be anything). */
static char *record_encode(const struct presence *p, json_t *queues)
{
    json_t *rec;
    char *text;

    rec = json_pack("{s:s, s:s, s:s, s:i, s:I, s:O, s:f}", "identity", p->identity, "hostname",
                    p->hostname, "host_id", p->host_id, "pid", (int)p->pid, "pid_start",
                    (json_int_t)p->pid_start, "queues", queues, "started_at", p->started_at);
    if (!rec)
        return NULL;
    text = json_dumps(rec, JSON_COMPACT);
    json_decref(rec);
    return text;
}

static char *info_encode(const struct presence *p, unsigned concurrency, json_t *queues)
{
    json_t *info;
    char *text;

    info = json_pack("{s:s, s:f, s:i, s:s, s:i, s:O, s:[], s:s, s:s}", "hostname", p->hostname,
                     "started_at", p->started_at, "pid", (int)p->pid, "tag", p->tag, "concurrency",
                     (int)concurrency, "queues", queues, "labels", "identity", p->identity,
                     "version", p->version);
    if (!info)
        return NULL;
    text = json_dumps(info, JSON_COMPACT);
    json_decref(info);
    return text;
}

int presence_beat(struct presence *p, unsigned concurrency, json_t *queues, json_t *inflight_queues,
                  unsigned busy, bool quiet, json_t *work, double ttl_s)
{
    char *info = info_encode(p, concurrency, queues), *record = record_encode(p, inflight_queues);
    size_t nwork = json_object_size(work), nargs = 9 + 2 * nwork, k = 0;
    const char **args = xcalloc(nargs, sizeof(*args));
    char **values = xcalloc(nwork + 1, sizeof(*values));
    char busy_s[16], beat_s[32], ttl_s_text[24];
    const char *keys[] = {p->k_processes, p->k_identity, p->k_work, p->k_procs, p->k_signals};
    const char *slot;
    json_t *entry;
    int r = -EINVAL;

    if (!info || !record)
        goto out;
    (void)snprintf(busy_s, sizeof(busy_s), "%u", busy);
    (void)snprintf(beat_s, sizeof(beat_s), "%.3f", util_now());
    (void)snprintf(ttl_s_text, sizeof(ttl_s_text), "%ld", (long)(ttl_s + 0.999));
    args[0] = p->identity;
    args[1] = info;
    args[2] = busy_s;
    args[3] = beat_s;
    args[4] = quiet ? "true" : "false";
    args[5] = ttl_s_text;
    args[6] = record;
    args[7] = p->had_work ? "1" : "0";
    args[8] = p->classes_due ? p->classes : "";
    json_object_foreach(work, slot, entry)
    {
        values[k] = json_dumps(entry, JSON_COMPACT);
        args[9 + 2 * k] = slot;
        args[10 + 2 * k] = values[k] ? values[k] : "{}";
        k++;
    }
    r = rconn_eval(p->conn, beat_lua_on_reply, p, lua_beat, 5, keys, nargs, args, NULL);
    if (r == 0) {
        p->had_work = nwork > 0;
        p->classes_due = false;
    }
out:
    for (k = 0; k < nwork; k++)
        free(values[k]);
    free(values);
    free(args);
    free(info);
    free(record);
    return r;
}

struct remove_call {
    presence_done_fn *done;
    void *arg;
};

static void remove_on_reply(struct redisReply *reply, void *arg)
{
    struct remove_call rc = *(struct remove_call *)arg;
    const char *error = rconn_reply_error(reply);

    free(arg);
    rc.done(error ? -EIO : 0, rc.arg);
}

int presence_remove(struct presence *p, presence_done_fn *done, void *arg)
{
    struct remove_call *call = xmalloc(sizeof(*call));
    int r;

    call->done = done;
    call->arg = arg;
    r = rconn_commandf(p->conn, beat_on_reply, NULL, "SREM %s %s", p->k_processes, p->identity);
    if (r == 0)
        r = rconn_commandf(p->conn, beat_on_reply, NULL, "DEL %s %s %s", p->k_identity, p->k_work,
                           p->k_signals);
    if (r == 0)
        r = rconn_commandf(p->conn, remove_on_reply, call, "HDEL %s %s", p->k_procs, p->identity);
    if (r < 0)
        free(call);
    return r;
}

int presence_record_parse(const char *text, size_t len, struct presence_record *ret)
{
    json_t *root = json_loadb(text, len, 0, NULL), *queues = NULL;
    const char *identity = NULL, *host_id = NULL;
    json_int_t pid = 0, pid_start = -1;
    struct presence_record rec = {0};

    if (!root ||
        json_unpack(root, "{s:s, s:s, s:I, s:I, s:o}", "identity", &identity, "host_id", &host_id,
                    "pid", &pid, "pid_start", &pid_start, "queues", &queues) < 0 ||
        !json_is_array(queues)) {
        json_decref(root);
        return -EINVAL;
    }
    (void)snprintf(rec.identity, sizeof(rec.identity), "%s", identity);
    (void)snprintf(rec.host_id, sizeof(rec.host_id), "%s", host_id);
    rec.pid = (pid_t)pid;
    rec.pid_start = pid_start;
    rec.queues = json_incref(queues);
    json_decref(root);
    *ret = rec;
    return 0;
}

void presence_record_clear(struct presence_record *rec)
{
    json_decref(rec->queues);
    rec->queues = NULL;
}
