/* ctl_cron.c - `nexusctl cron`: the schedules with their last and next fire; run one now. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>
#include <jansson.h>

#include "conf/cfg.h"
#include "ctl/ctl.h"
#include "ctl/ctl_fmt.h"
#include "ctl/ctl_redis.h"
#include "ctl/ctl_table.h"
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
    r = ctl_push(c, ctl_ns(ctl), sc->queue, QUEUE_PUSH_NOW, text, len, err);
    if (r == 0)
        printf("%s\n", job_jid(job));
    free(text);
    job_free(job);
    return r;
}

static int cron_run(struct ctl *ctl, int argc, char **argv, struct err *err)
{
    const char *pos[2] = {NULL, NULL};
    struct ctl_redis *c;
    int r;

    r = ctl_parse_args(ctl, argc, argv, NULL, 0, pos, 2, err);
    if (r != 0)
        return r;
    if (pos[0] && strcmp(pos[0], "list") != 0 && strcmp(pos[0], "run") != 0)
        return err_set(err, CTL_EUSAGE, "unknown cron command '%s' (list, run NAME)", pos[0]);
    if (pos[0] && strcmp(pos[0], "run") == 0 && !pos[1])
        return err_set(err, CTL_EUSAGE, "cron run needs a schedule NAME");
    c = ctl_redis(ctl, err);
    if (!c)
        return err->code;
    if (pos[0] && strcmp(pos[0], "run") == 0)
        return cron_run_now(ctl, c, pos[1], err);
    return cron_list(ctl, c, err);
}

const struct ctl_command ctl_cmd_cron = {
    .name = "cron",
    .args = "[list | run NAME] [--json]",
    .summary = "list the schedules with their last and next fire, or run one now",
    .help = "cron [list] shows every schedule of the configuration: name, cron expression, time\n"
            "zone, class, queue, the last tick fired (by any process) and the next one.\n"
            "cron run NAME enqueues the schedule's job now and prints its jid; its ticks go on\n"
            "as before. Exit status 3 when there is no such schedule.\n",
    .json = true,
    .run = cron_run,
};
