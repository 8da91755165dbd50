/* ctl_pause.c - nexusctl pause and resume: a queue's jobs stay in it while it is paused. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "ctl/ctl.h"
#include "ctl/ctl_redis.h"
#include "lib/err.h"
#include "lib/job.h"
#include "queue/keys.h"

/* SADD (pause) or SREM (resume) of the queue in nexus:paused; says whether it changed. */
static int pause_set(struct ctl *ctl, int argc, char **argv, bool pause, struct err *err)
{
    struct ctl_redis *c;
    const char *queue;
    long long changed = 0;
    char *key;
    int r;

    r = ctl_parse_args(ctl, argc, argv, NULL, 0, &queue, 1, err);
    if (r != 0)
        return r;
    if (!queue)
        return err_set(err, CTL_EUSAGE, "'%s' needs a QUEUE", ctl->path);
    r = job_check_queue("QUEUE", queue, strlen(queue), err);
    if (r < 0)
        return r == -EINVAL ? CTL_EUSAGE : r;
    c = ctl_redis(ctl, err);
    if (!c)
        return err->code;
    key = keys_paused(ctl_ns(ctl));
    r = ctl_redis_count(c, &changed, err, pause ? "SADD" : "SREM", key, queue, NULL);
    free(key);
    if (r < 0)
        return r;
    if (changed)
        printf("%s %s\n", pause ? "paused" : "resumed", queue);
    else
        printf("%s was %s\n", queue, pause ? "already paused" : "not paused");
    return 0;
}

static int pause_run(struct ctl *ctl, int argc, char **argv, struct err *err)
{
    return pause_set(ctl, argc, argv, true, err);
}

static int resume_run(struct ctl *ctl, int argc, char **argv, struct err *err)
{
    return pause_set(ctl, argc, argv, false, err);
}

const struct ctl_command ctl_cmd_pause = {
    .name = "pause",
    .args = "QUEUE",
    .summary = "stop every nexusd from taking jobs of a queue",
    .help = "Adds QUEUE to nexus:paused. No process fetches from it from then on (a process\n"
            "waiting idle on it may still take one job in the next 2 s); its jobs stay, and\n"
            "clients go on pushing. A queue may be paused before it exists.\n",
    .json = false,
    .run = pause_run,
};

const struct ctl_command ctl_cmd_resume = {
    .name = "resume",
    .args = "QUEUE",
    .summary = "let the processes take jobs of a paused queue again",
    .help = "Removes QUEUE from nexus:paused; processes take its jobs again within about 2 s.\n",
    .json = false,
    .run = resume_run,
};
