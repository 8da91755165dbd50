/* ctl_cron.c - `nexusctl cron`: the schedules with their last and next fire; run one now;
 * the next fire times of any expression (no Redis, no configuration). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>
#include <jansson.h>

#include "conf/cfg.h"
#include "ctl/ctl.h"
#include "ctl/ctl_fmt.h"
#include "ctl/ctl_redis.h"
#include "ctl/ctl_table.h"
#include "lib/cron.h"
#include "lib/err.h"
#include "lib/job.h"
#include "lib/parse.h"
#include "lib/util.h"
#include "queue/keys.h"
#include "queue/push.h"
#include "queue/rerun.h"

/* The last fired tick of a schedule (epoch s), 0 when never. */
static int last_fire(struct ctl_redis *c, const char *ns, const char *name, double *ret,
                     struct err *err)
{
    char *key = keys_cron(ns, name);
    redisReply *reply = NULL;
    int r;

    r = ctl_redis_cmd(c, &reply, err, "HGET", key, "last", NULL);
    free(key);
    *ret = 0;
    if (r == 0 && reply->type == REDIS_REPLY_STRING)
        (void)parse_double(reply->str, 0, 1e12, ret);
    freeReplyObject(reply);
    return r;
}

static int cron_list(struct ctl *ctl, struct ctl_redis *c, struct err *err)
{
    static const char *const headers[] = {"NAME",  "CRON",      "TZ",       "CLASS",
                                          "QUEUE", "LAST FIRE", "NEXT FIRE"};
    const struct cfg *cfg = ctl->cfg;
    struct ctl_table *t = ctl->json ? NULL : ctl_table_new(7, headers, 0);
    json_t *list = ctl->json ? json_array() : NULL;
    int r = 0;

    for (size_t i = 0; i < cfg->nschedules && r == 0; i++) {
        const struct cfg_schedule *sc = &cfg->schedules[i];
        char last_s[CTL_FMT_TIME_BUF], next_s[CTL_FMT_TIME_BUF];
        time_t next = 0;
        double last;
        r = last_fire(c, ctl_ns(ctl), sc->name, &last, err);
        if (r < 0)
            break;
        (void)cron_next(&sc->expr, sc->tz, time(NULL), &next, NULL);
        if (list) {
            (void)json_array_append_new(
                list, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:o}", "name", sc->name,
                                "cron", sc->cron, "tz", sc->tz, "class", sc->class_name, "queue",
                                sc->queue, "missed", cfg_missed_name(sc->missed),
                                "last_fire", last > 0 ? json_real(last) : json_null(), "next_fire",
                                next > 0 ? json_real((double)next) : json_null()));
        } else {
            const char *cells[7] = {sc->name,
                                    sc->cron,
                                    sc->tz,
                                    sc->class_name,
                                    sc->queue,
                                    last > 0 ? ctl_fmt_time(last, last_s) : "never",
                                    next > 0 ? ctl_fmt_time((double)next, next_s) : "never"};
            ctl_table_add(t, cells);
        }
    }
    if (r == 0 && list) {
        json_t *out = json_pack("{s:O}", "schedules", list);
        r = ctl_fmt_json(out, err);
        json_decref(out);
    } else if (r == 0) {
        if (ctl_table_rows(t) == 0)
            printf("no schedules in the configuration\n");
        else
            ctl_table_print(t, stdout);
    }
    json_decref(list);
    ctl_table_free(t);
    return r;
}

/* Enqueues the schedule's job now, outside its ticks (its next tick still fires). */
static int cron_run_now(struct ctl *ctl, struct ctl_redis *c, const char *name, struct err *err)
{
    const struct cfg_schedule *sc = cfg_schedule_find(ctl->cfg, name);
    struct job *job;
    char *text;
    size_t len;
    int r;

    if (!sc)
        return err_set(err, CTL_ENOTFOUND, "no schedule named '%s' in the configuration", name);
    job = rerun_schedule_job(sc, util_now(), util_random());
    text = job_encode(job, &len);
    r = ctl_push_job(c, ctl_ns(ctl), sc->queue, QUEUE_PUSH_NOW, job, text, len, NULL, err);
    free(text);
    job_free(job);
    return r;
}

/* The next `count` fire times of `text` in zone `tz` after `from`: like systemd-analyze
 * calendar, without Redis or a configuration. */
static int cron_next_times(struct ctl *ctl, const char *text, const char *tz, const char *from,
                           const char *count, struct err *err)
{
    struct cron_expr expr;
    struct err why = {0};
    double start = util_now();
    uint32_t n = 5;
    time_t t, next;
    json_t *list = ctl->json ? json_array() : NULL;
    char utc[CTL_FMT_TIME_BUF], local[64];
    int r = 0;

    if (cron_parse(text, &expr, &why) < 0)
        r = err_set(err, CTL_EUSAGE, "cron expression '%s': %s", text, why.msg);
    else if (from && ctl_fmt_parse_time(from, &start) < 0 &&
             parse_double(from, 0, 253402300799.0, &start) < 0)
        r = err_set(err, CTL_EUSAGE,
                    "--from must be a UTC time such as 2026-11-25T03:00:00Z or epoch seconds "
                    "(got '%s')",
                    from);
    else if (count && parse_u32(count, 1, 1000, &n) < 0)
        r = err_set(err, CTL_EUSAGE, "--count must be 1..1000 (got '%s')", count);
    t = (time_t)start;
    for (uint32_t i = 0; r == 0 && i < n; i++, t = next) {
        int e = cron_next(&expr, tz, t, &next, &why);

        if (e == -ERANGE && i > 0)
            break; /* fewer than asked within the 5 years looked at */
        if (e < 0) {
            r = e == -EINVAL ? err_set(err, CTL_EUSAGE, "%s", why.msg)
                             : err_set(err, e, "cron expression '%s' %s", text, why.msg);
            break;
        }
        (void)ctl_fmt_time((double)next, utc);
        if (cron_local_time(next, tz, local, sizeof(local), NULL) < 0)
            (void)snprintf(local, sizeof(local), "-");
        if (list)
            (void)json_array_append_new(list, json_pack("{s:I, s:s, s:s}", "at", (json_int_t)next,
                                                        "utc", utc, "local", local));
        else
            printf("%s  %s\n", utc, local);
    }
    if (r == 0 && list) {
        json_t *out = json_pack("{s:s, s:s, s:O}", "cron", text, "tz", tz, "next", list);
        r = ctl_fmt_json(out, err);
        json_decref(out);
    }
    json_decref(list);
    return r;
}

static int cron_run(struct ctl *ctl, int argc, char **argv, struct err *err)
{
    const char *pos[2] = {NULL, NULL}, *tz = NULL, *from = NULL, *count = NULL;
    const struct ctl_opt opts[] = {
        {"tz", true, &tz, NULL, 0},
        {"from", true, &from, NULL, 0},
        {"count", true, &count, NULL, 'n'},
    };
    struct ctl_redis *c;
    int r;

    r = ctl_parse_args(ctl, argc, argv, opts, sizeof(opts) / sizeof(opts[0]), pos, 2, err);
    if (r != 0)
        return r;
    if (pos[0] && strcmp(pos[0], "list") != 0 && strcmp(pos[0], "run") != 0 &&
        strcmp(pos[0], "next") != 0)
        return err_set(err, CTL_EUSAGE, "unknown cron command '%s' (list, run NAME, next EXPR)",
                       pos[0]);
    if (pos[0] && strcmp(pos[0], "run") == 0 && !pos[1])
        return err_set(err, CTL_EUSAGE, "cron run needs a schedule NAME");
    if (pos[0] && strcmp(pos[0], "next") == 0) {
        if (!pos[1])
            return err_set(err, CTL_EUSAGE, "cron next needs an expression, quoted: \"0 3 * * *\"");
        return cron_next_times(ctl, pos[1], tz ? tz : "UTC", from, count, err);
    }
    if (tz || from || count)
        return err_set(err, CTL_EUSAGE, "--tz, --from and --count go with cron next");
    c = ctl_redis(ctl, err);
    if (!c)
        return err->code;
    if (pos[0] && strcmp(pos[0], "run") == 0)
        return cron_run_now(ctl, c, pos[1], err);
    return cron_list(ctl, c, err);
}

const struct ctl_command ctl_cmd_cron = {
    .name = "cron",
    .args = "[list | run NAME | next EXPR [--tz ZONE] [--from TIME] [-n K]] [--json]",
    .summary = "list the schedules with their last and next fire, run one now, or show when an "
               "expression fires",
    .help = "cron [list] shows every schedule of the configuration: name, cron expression, time\n"
            "zone, class, queue, the last tick fired (by any process) and the next one.\n"
            "cron run NAME enqueues the schedule's job now and prints its jid; its ticks go on\n"
            "as before. Exit status 3 when there is no such schedule.\n"
            "cron next EXPR prints the next fire times of a cron expression (quote it), in UTC\n"
            "and in the zone, as nexusd's cron engine computes them; needs neither Redis nor a\n"
            "configuration.\n"
            "  --tz ZONE       an IANA zone such as Europe/Paris (default UTC)\n"
            "  --from TIME     start after this UTC time (2026-11-25T03:00:00Z) or epoch\n"
            "                  seconds (default now)\n"
            "  -n, --count K   how many times, 1..1000 (default 5)\n",
    .json = true,
    .run = cron_run,
};
