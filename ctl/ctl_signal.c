/* ctl_signal.c - `nexusctl quiet|stop IDENTITY|--all`: a live process told through Redis, as
 * Sidekiq's Process#quiet! and #stop! do: the signal's name pushed to IDENTITY-signals, which
 * the process's next heartbeat pops (queue/lua/beat.lua) and acts on as on the signal. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>
#include <jansson.h>

#include "ctl/ctl.h"
#include "ctl/ctl_fmt.h"
#include "ctl/ctl_redis.h"
#include "lib/err.h"
#include "queue/keys.h"

/* A signal list lives at least this long (Sidekiq's), and at least as long as the process's
 * hash has left: its next beat comes before that, or it is dead and the list goes too. */
#define SIGNAL_TTL_MIN_S 60

/* What each command pushes: the signal nexusd acts on as on kill -TSTP / -TERM. */
static const struct signal_cmd {
    const char *name; /* the command */
    const char *signal;
} signal_cmds[] = {
    {"quiet", "TSTP"},
    {"stop", "TERM"},
};

static const struct signal_cmd *signal_cmd_find(const char *name)
{
    for (size_t i = 0; i < sizeof(signal_cmds) / sizeof(signal_cmds[0]); i++)
        if (strcmp(signal_cmds[i].name, name) == 0)
            return &signal_cmds[i];
    return NULL;
}

/* MULTI; LPUSH IDENTITY-signals SIGNAL; EXPIRE it; EXEC, as Sidekiq's Process#signal. */
static int signal_push(struct ctl_redis *c, const char *ns, const char *identity,
                       const char *signal, struct err *err)
{
    char *k_proc = keys_process(ns, identity), *k_sig = keys_process_signals(ns, identity);
    redisReply *reply = NULL;
    long long pttl_ms = 0;
    char ttl[24];
    int r;

    r = ctl_redis_count(c, &pttl_ms, err, "PTTL", k_proc, NULL);
    (void)snprintf(ttl, sizeof(ttl), "%lld",
                   pttl_ms / 1000 + 1 > SIGNAL_TTL_MIN_S ? pttl_ms / 1000 + 1 : SIGNAL_TTL_MIN_S);
    if (r == 0 && (r = ctl_redis_cmd(c, &reply, err, "MULTI", NULL)) == 0)
        freeReplyObject(reply);
    if (r == 0 && (r = ctl_redis_cmd(c, &reply, err, "LPUSH", k_sig, signal, NULL)) == 0)
        freeReplyObject(reply);
    if (r == 0 && (r = ctl_redis_cmd(c, &reply, err, "EXPIRE", k_sig, ttl, NULL)) == 0)
        freeReplyObject(reply);
    if (r == 0 && (r = ctl_redis_exec(c, &reply, err)) == 0)
        freeReplyObject(reply);
    free(k_proc);
    free(k_sig);
    return r;
}

/* The identities to signal: `identity` when it is live, else every live one (`all`). */
static int targets_find(struct ctl *ctl, const char *identity, json_t **ret, struct err *err)
{
    json_t *procs = NULL, *p, *out;
    size_t i;
    int r;

    r = ctl_processes_live(ctl, &procs, err);
    if (r < 0)
        return r;
    out = json_array();
    json_array_foreach(procs, i, p)
    {
        const json_t *id = json_object_get(p, "identity");

        if (!identity || strcmp(json_string_value(id), identity) == 0)
            (void)json_array_append(out, (json_t *)id);
    }
    json_decref(procs);
    if (identity && json_array_size(out) == 0) {
        json_decref(out);
        return err_set(err, CTL_ENOTFOUND,
                       "no live process has the identity '%s' (nexusctl processes lists them)",
                       identity);
    }
    *ret = out;
    return 0;
}

static int signal_run(struct ctl *ctl, int argc, char **argv, struct err *err)
{
    const struct signal_cmd *cmd = signal_cmd_find(argv[0]);
    bool all = false;
    const struct ctl_opt opts[] = {{"all", false, NULL, &all, 0}};
    const char *identity;
    struct ctl_redis *c;
    json_t *ids = NULL, *id, *out;
    size_t i;
    int r;

    r = ctl_parse_args(ctl, argc, argv, opts, 1, &identity, 1, err);
    if (r != 0)
        return r;
    if (!identity == !all)
        return err_set(err, CTL_EUSAGE, "'%s' needs an IDENTITY or --all (%s)", ctl->path,
                       all ? "not both" : "nexusctl processes lists them");
    c = ctl_redis(ctl, err);
    if (!c)
        return err->code;
    r = targets_find(ctl, identity, &ids, err);
    json_array_foreach(ids, i, id)
    {
        r = signal_push(c, ctl_ns(ctl), json_string_value(id), cmd->signal, err);
        if (r < 0)
            break;
    }
    if (r == 0 && ctl->json) {
        out = json_pack("{s:s, s:s, s:O}", "command", cmd->name, "signal", cmd->signal,
                        "identities", ids);
        r = ctl_fmt_json(out, err);
        json_decref(out);
    } else if (r == 0 && json_array_size(ids) == 0) {
        printf("no live processes\n");
    } else if (r == 0) {
        json_array_foreach(ids, i, id)
        {
            printf("sent %s to ", cmd->signal);
            ctl_fmt_write(stdout, json_string_value(id), json_string_length(id), false);
            printf(" (%s at its next heartbeat)\n", cmd->name);
        }
    }
    json_decref(ids);
    return r;
}

#define SIGNAL_HELP                                                                                \
    "The process acts at its next heartbeat (within worker.heartbeat_interval), as for the\n"    \
    "signal sent with kill(1) on its host. Refuses an identity that is not live.\n"             \
    "\n"                                                                                           \
    "  IDENTITY   the process, as stats and processes show it\n"                                  \
    "  --all      every live process\n"

const struct ctl_command ctl_cmd_quiet = {
    .name = "quiet",
    .args = "IDENTITY | --all [--json]",
    .summary = "tell a process to fetch no more jobs and finish the running ones (TSTP)",
    .help = SIGNAL_HELP,
    .json = true,
    .run = signal_run,
};

const struct ctl_command ctl_cmd_stop = {
    .name = "stop",
    .args = "IDENTITY | --all [--json]",
    .summary = "tell a process to drain, requeue what is left and exit (TERM)",
    .help = SIGNAL_HELP,
    .json = true,
    .run = signal_run,
};
