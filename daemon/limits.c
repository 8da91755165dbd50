/* limits.c - class limits: jobs in flight per process (a table of counters), and the limits
 * shared by every process (starts per period, global concurrency with leases: limit.lua and
 * lease.lua). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "conf/cfg.h"
#include "daemon/worker_int.h"
#include "lib/job.h"
#include "lib/log.h"
#include "lib/parse.h"
#include "lib/util.h"
#include "lib/xalloc.h"
#include "queue/keys.h"
#include "queue/lua.h"
#include "queue/presence.h"
#include "queue/rconn.h"

struct limit *limits_find(struct worker *wk, const char *class_name)
{
    for (size_t i = 0; i < wk->nlimits; i++)
        if (strcmp(wk->limits[i].name, class_name) == 0)
            return &wk->limits[i];
    return NULL;
}

void limits_free(struct worker *wk)
{
    for (size_t i = 0; i < wk->nlimits; i++)
        free(wk->limits[i].name);
    free(wk->limits);
    wk->limits = NULL;
    wk->nlimits = 0;
}

void limits_build(struct worker *wk)
{
    struct limit *limits = xcalloc(wk->cfg->nclasses + 1, sizeof(*limits));
    size_t n = 0;

    for (size_t i = 0; i < wk->cfg->nclasses; i++) {
        const struct cfg_class *c = &wk->cfg->classes[i];
        struct limit *old;
        if (c->concurrency == 0)
            continue;
        limits[n].name = xstrdup(c->name);
        limits[n].max = c->concurrency;
        old = limits_find(wk, c->name);
        limits[n].running = old ? old->running : 0;
        n++;
    }
    limits_free(wk);
    wk->limits = limits;
    wk->nlimits = n;
}

/* ---- limits shared by every process ---- */

static void lease_on_reply(struct redisReply *reply, void *arg)
{
    const char *error = rconn_reply_error(reply);

    if (error && reply)
        log_warn("event=lease_update_failed err=%s", log_q(error));
}

/* Who holds a lease: this process and the run, e.g. "host:1234:ab12cd:1f". */
static char *lease_holder(const struct worker *wk, const struct run *run)
{
    return xasprintf("%s:%llx", presence_identity(wk->presence), run->id);
}

/* Renews the lease of `run` for `ttl_s` more seconds, or releases it (ttl_s 0). */
static void lease_send(struct worker *wk, const struct run *run, double ttl_s)
{
    char *key = keys_conc(wk->cfg->redis_namespace, job_class(run->job));
    char *holder = lease_holder(wk, run), ttl[32] = "";

    if (ttl_s > 0)
        (void)snprintf(ttl, sizeof(ttl), "%.3f", ttl_s);
    (void)rconn_eval(wk->conn, lease_on_reply, NULL, lua_lease, 1, (const char *[]){key}, 2,
                     (const char *[]){ttl, holder}, NULL);
    free(key);
    free(holder);
}

void lease_release(struct worker *wk, struct run *run)
{
    if (!run->leased)
        return;
    run->leased = false;
    lease_send(wk, run, 0); /* lost with Redis: the lease then expires by itself */
}

void limits_renew(struct worker *wk, double ttl_s)
{
    struct run *heads[] = {&wk->runs, &wk->held};

    for (size_t h = 0; h < 2; h++)
        for (struct run *run = heads[h]->next; run != heads[h]; run = run->next)
            if (run->leased)
                lease_send(wk, run, ttl_s);
}

/* The answer of limit.lua for `run`: start it, defer it, or (stopping) drop it. */
static void limits_apply(struct worker *wk, struct run *run, const char *error, double wait)
{
    if (wk->phase != STOP_NONE) { /* its job stays in flight: the stop puts it back */
        if (!error && wait == 0) {
            run->leased = run->global_limit > 0;
            lease_release(wk, run);
        }
        run_free(run);
        return;
    }
    if (error || wait > 0) {
        /* over a limit (or Redis away): back to the schedule for later, no attempt spent */
        record_defer(wk, run, util_now(), error ? 1.0 : wait,
                     error ? "limits unknown: Redis unreachable"
                           : "over a rate or concurrency limit");
        run_free(run);
        fetch_more(wk);
        return;
    }
    run->leased = run->global_limit > 0;
    run_admit(wk, run);
}

static void limits_on_reply(struct redisReply *reply, void *arg)
{
    struct run *run = arg;
    struct worker *wk = run->wk;
    const char *error = rconn_reply_error(reply);
    double wait = 1.0;

    wk->nchecking--;
    if (!error && reply->type == REDIS_REPLY_STRING)
        (void)parse_double(reply->str, 0, 1e9, &wait);
    limits_apply(wk, run, error, wait);
    if (wk->reconciling) /* it waited for this answer: the job is now in a list or deferred */
        fetch_reconcile(wk);
}

void limits_admit(struct worker *wk, struct run *run)
{
    if (run->rate_limit || run->global_limit)
        limits_ask(wk, run);
    else
        run_admit(wk, run);
}

void limits_ask(struct worker *wk, struct run *run)
{
    char *k_rate = keys_rate(wk->cfg->redis_namespace, job_class(run->job));
    char *k_conc = keys_conc(wk->cfg->redis_namespace, job_class(run->job));
    char *holder = lease_holder(wk, run), rate[16], period[32], limit[16], ttl[32];
    int r;

    (void)snprintf(rate, sizeof(rate), "%u", run->rate_limit);
    (void)snprintf(period, sizeof(period), "%.6f", run->rate_period_s);
    (void)snprintf(limit, sizeof(limit), "%u", run->global_limit);
    (void)snprintf(ttl, sizeof(ttl), "%.3f", wk->cfg->process_ttl_s);
    r = rconn_eval(wk->conn, limits_on_reply, run, lua_limit, 2, (const char *[]){k_rate, k_conc},
                   5, (const char *[]){rate, period, limit, holder, ttl}, NULL);
    free(k_rate);
    free(k_conc);
    free(holder);
    if (r == 0) {
        wk->nchecking++;
        return;
    }
    record_defer(wk, run, util_now(), 1.0, "limits unknown: Redis unreachable");
    run_free(run);
}
