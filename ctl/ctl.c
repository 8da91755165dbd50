/* ctl.c - nexusctl: the operator's command line for nexusd's queues in Redis. */
#include "ctl/ctl.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "conf/cfg.h"
#include "ctl/ctl_fmt.h"
#include "ctl/ctl_redis.h"
#include "lib/err.h"
#include "lib/log.h"
#include "lib/util.h"
#include "lib/xalloc.h"
#include "sql/pgurl.h"

#ifndef NEXUS_VERSION
#define NEXUS_VERSION "0.0.0"
#endif

/* The most options one command takes, common ones included. */
#define CTL_OPTS_MAX 16
/* getopt_long() values of command-specific options: CTL_OPT_BASE + their index. */
#define CTL_OPT_BASE 1000
#define CTL_OPT_JSON 'j'

static const struct ctl_command *const commands[] = {
    &ctl_cmd_enqueue, &ctl_cmd_stats, &ctl_cmd_processes,
    &ctl_cmd_dead,    &ctl_cmd_retry, &ctl_cmd_scheduled, &ctl_cmd_history, &ctl_cmd_cron,
    &ctl_cmd_queue,   &ctl_cmd_pause,   &ctl_cmd_resume,  &ctl_cmd_quiet,     &ctl_cmd_stop,
    &ctl_cmd_runs,
    &ctl_cmd_types,
};

static const char usage_head[] = "Usage: nexusctl [-c FILE] COMMAND [ARGS] [--json]\n";

static const char usage_tail[] =
    "\n"
    "Options (before or after the command):\n"
    "  -c, --config FILE  nexusd's configuration file; without it $NEXUS_CONFIG, else\n"
    "                     " CTL_DEFAULT_CONFIG " when it exists, else the\n"
    "                     defaults (NEXUS_CONFIG=\"\" for those); REDIS_URL overrides\n"
    "                     redis.url\n"
    "      --json         machine-readable output: one JSON document (every command\n"
    "                     but enqueue, pause, resume and types)\n"
    "  -h, --help         print help; 'nexusctl COMMAND --help' for a command's\n"
    "  -V, --version      print the version and exit\n"
    "\n"
    "Exit status: 0 success, 1 runtime error (such as Redis unreachable), 2 usage or\n"
    "configuration error, 3 no such job.\n";

static void print_main_help(void)
{
    fputs(usage_head, stdout);
    fputs("Reads and changes nexusd's queues in Redis: enqueues jobs, shows statistics and\n"
          "processes, lists, runs and deletes dead, retrying and scheduled jobs, peeks at,\n"
          "clears, pauses and resumes queues, quiets and stops processes.\n\n"
          "Commands:\n",
          stdout);
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        printf("  %-10s %s\n", commands[i]->name, commands[i]->summary);
    fputs(usage_tail, stdout);
}

static void print_short_usage(const struct ctl *ctl)
{
    if (!ctl->cmd) {
        fprintf(stderr, "%sTry 'nexusctl --help' for more.\n", usage_head);
        return;
    }
    fprintf(stderr, "Usage: nexusctl %s %s\nTry 'nexusctl %s --help' for more.\n", ctl->path,
            ctl->cmd->args, ctl->path);
}

void ctl_print_help(const struct ctl *ctl)
{
    const char *s = ctl->cmd->summary;

    /* The summary is a phrase in the list of commands, a sentence here. */
    printf("Usage: nexusctl %s %s\n%c%s.\n", ctl->path, ctl->cmd->args,
           toupper((unsigned char)s[0]), s + 1);
    if (ctl->cmd->help[0])
        printf("\n%s", ctl->cmd->help);
    printf("\nCommon options: -c, --config FILE; -h, --help%s.\n",
           ctl->cmd->json ? "; --json (machine-readable output)" : "");
}

void ctl_path_push(struct ctl *ctl, const char *word)
{
    size_t len = strlen(ctl->path);

    (void)snprintf(ctl->path + len, sizeof(ctl->path) - len, "%s%s", len ? " " : "", word);
}

/* getopt_long()'s complaint about argv[optind - 1] as a sentence. */
static int option_error(int c, char **argv, const struct option *longopts, struct err *err)
{
    const char *word = argv[optind - 1];

    if (c == ':')
        return err_set(err, CTL_EUSAGE, "option '%s' needs a value", word);
    if (optopt && word[0] == '-' && word[1] != '-')
        return err_set(err, CTL_EUSAGE, "unknown option '-%c'", optopt);
    for (const struct option *o = longopts; optopt && o->name; o++)
        if (o->val == optopt && o->has_arg == no_argument)
            return err_set(err, CTL_EUSAGE, "option '--%s' takes no value", o->name);
    return err_set(err, CTL_EUSAGE, "unknown option '%s'", word);
}

/* One option getopt_long() found; returns 1 after --help. */
static int option_take(struct ctl *ctl, int c, const struct ctl_opt *opts, struct err *err)
{
    const struct ctl_opt *o;

    switch (c) {
    case 'h':
        ctl_print_help(ctl);
        return 1;
    case 'c':
        ctl->cfg_path = optarg;
        return 0;
    case CTL_OPT_JSON:
        if (!ctl->cmd->json)
            return err_set(err, CTL_EUSAGE, "'%s' has no --json output", ctl->path);
        ctl->json = true;
        return 0;
    default:
        if (c < CTL_OPT_BASE) /* a short name */
            for (o = opts; o->short_name != c; o++)
                ;
        else
            o = &opts[c - CTL_OPT_BASE];
        if (o->has_arg)
            *o->ret_arg = optarg;
        else
            *o->ret_flag = true;
        return 0;
    }
}

int ctl_parse_args(struct ctl *ctl, int argc, char **argv, const struct ctl_opt *opts, size_t nopts,
                   const char **ret_pos, size_t npos, struct err *err)
{
    struct option longopts[CTL_OPTS_MAX] = {
        {"help", no_argument, NULL, 'h'},
        {"config", required_argument, NULL, 'c'},
        {"json", no_argument, NULL, CTL_OPT_JSON},
    };
    size_t ncommon = 3, n = 0, ns = 4;
    char shorts[4 + 2 * CTL_OPTS_MAX + 1] = ":hc:";
    int c, r;

    if (ncommon + nopts >= CTL_OPTS_MAX)
        return err_set(err, -E2BIG, "internal error: '%s' has too many options", ctl->path);
    for (size_t i = 0; i < nopts; i++) {
        longopts[ncommon + i] =
            (struct option){opts[i].name, opts[i].has_arg, NULL, CTL_OPT_BASE + (int)i};
        if (opts[i].short_name) {
            shorts[ns++] = opts[i].short_name;
            if (opts[i].has_arg)
                shorts[ns++] = ':';
        }
    }
    shorts[ns] = '\0';
    optind = 0; /* glibc: start afresh on this argv */
    opterr = 0;
    while ((c = getopt_long(argc, argv, shorts, longopts, NULL)) != -1) {
        if (c == '?' || c == ':')
            return option_error(c, argv, longopts, err);
        r = option_take(ctl, c, opts, err);
        if (r != 0)
            return r;
    }
    for (size_t i = 0; i < npos; i++)
        ret_pos[i] = NULL;
    for (; optind < argc; optind++) {
        if (n == npos)
            return err_set(err, CTL_EUSAGE, "unexpected argument '%s'", argv[optind]);
        ret_pos[n++] = argv[optind];
    }
    return 0;
}

static const char *env_get(const char *name)
{
    return getenv(name);
}

/* -c FILE, else $NEXUS_CONFIG ("" for none), else CTL_DEFAULT_CONFIG when it exists, as a
 * package installs it: commands on the host of a nexusd work without -c. */
static const char *config_path(const struct ctl *ctl)
{
    const char *env = getenv("NEXUS_CONFIG");

    if (ctl->cfg_path)
        return ctl->cfg_path;
    if (env)
        return *env ? env : NULL;
    return access(CTL_DEFAULT_CONFIG, F_OK) == 0 ? CTL_DEFAULT_CONFIG : NULL;
}

const struct cfg *ctl_cfg(struct ctl *ctl, struct err *err)
{
    if (ctl->cfg)
        return ctl->cfg;
    if (cfg_load(config_path(ctl), env_get, &ctl->cfg, err) < 0) {
        err->code = CTL_ECONFIG;
        return NULL;
    }
    return ctl->cfg;
}

const struct cfg *ctl_cfg_db(struct ctl *ctl, const char *what, struct err *err)
{
    const struct cfg *cfg = ctl_cfg(ctl, err);

    if (cfg && !cfg->database_url && !cfg->database_pool_url) {
        (void)err_set(err, CTL_ECONFIG, "%s needs database.url or DATABASE_URL", what);
        return NULL;
    }
    return cfg;
}

const char *ctl_db_url(const struct cfg *cfg)
{
    struct pgurl_roles roles;

    pgurl_roles(cfg->database_url, cfg->database_pool_url, &roles);
    return roles.session ? roles.session : roles.pool;
}

struct ctl_redis *ctl_redis(struct ctl *ctl, struct err *err)
{
    if (ctl->redis)
        return ctl->redis;
    if (!ctl_cfg(ctl, err))
        return NULL;
    ctl->redis = ctl_redis_connect(ctl->cfg, err);
    return ctl->redis;
}

const char *ctl_ns(const struct ctl *ctl)
{
    return ctl->cfg ? ctl->cfg->redis_namespace : "";
}

static const struct ctl_command *command_find(const char *name)
{
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(commands[i]->name, name) == 0)
            return commands[i];
    return NULL;
}

/* The options before the command. Returns 0, 1 when done (help, version), or
 * CTL_EUSAGE. */
static int global_parse(struct ctl *ctl, int argc, char **argv, struct err *err)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"json", no_argument, NULL, CTL_OPT_JSON},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    int c;

    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:c:hV", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            ctl->cfg_path = optarg;
            break;
        case CTL_OPT_JSON:
            ctl->json = true;
            break;
        case 'h':
            print_main_help();
            return 1;
        case 'V':
            printf("nexusctl %s\n", NEXUS_VERSION);
            return 1;
        default:
            return option_error(c, argv, longopts, err);
        }
    }
    if (optind == argc)
        return err_set(err, CTL_EUSAGE, "no command given");
    ctl->cmd = command_find(argv[optind]);
    if (!ctl->cmd)
        return err_set(err, CTL_EUSAGE, "unknown command '%s'", argv[optind]);
    ctl_path_push(ctl, ctl->cmd->name);
    if (ctl->json && !ctl->cmd->json)
        return err_set(err, CTL_EUSAGE, "'%s' has no --json output", ctl->path);
    return 0;
}

static int exit_status(int r)
{
    switch (r) {
    case 0:
        return 0;
    case CTL_EUSAGE:
    case CTL_ECONFIG:
        return 2;
    case CTL_ENOTFOUND:
        return 3;
    default:
        return 1;
    }
}

int main(int argc, char **argv)
{
    struct ctl ctl = {0};
    struct err err = {0};
    int r;

    xalloc_install();
    (void)signal(SIGPIPE, SIG_IGN); /* a write to a closed TLS connection is an error, not death */
    log_set_level(LOG_LEVEL_OFF);   /* failures are told in nexusctl's own sentences */
    r = global_parse(&ctl, argc, argv, &err);
    if (r == 0)
        r = ctl.cmd->run(&ctl, argc - optind, argv + optind, &err);
    if (r < 0) {
        fputs("nexusctl: ", stderr); /* a Redis error reply may carry any bytes */
        ctl_fmt_write(stderr, err.msg[0] ? err.msg : strerror(-r),
                      strlen(err.msg[0] ? err.msg : strerror(-r)), false);
        fputc('\n', stderr);
        if (r == CTL_EUSAGE)
            print_short_usage(&ctl);
    }
    if ((fflush(stdout) != 0 || ferror(stdout)) && r >= 0) {
        fprintf(stderr, "nexusctl: cannot write the output: %s\n", strerror(errno));
        r = -EIO;
    }
    ctl_redis_free(ctl.redis);
    cfg_free(ctl.cfg);
    return exit_status(r < 0 ? r : 0);
}
