/* cfg_rules.c - what one setting's row cannot say: the kinds of class (sql, http, command)
 * and their keys together, schedules, checks across settings and with the environment, and
 * the secrets and users a configuration names. */
#include "conf/cfg.h"

#include <assert.h>
#include <errno.h>
#include <jansson.h>
#include <libconfig.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <strings.h>
#include <grp.h>
#include <pwd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conf/cfg_int.h"
#include "conf/secret.h"
#include "lib/err.h"
#include "lib/httpd_host.h"
#include "lib/job.h"
#include "lib/mail_msg.h"
#include "lib/mail_tmpl.h"
#include "lib/parse.h"
#include "lib/raddr.h"
#include "lib/xalloc.h"

/* classes: ( { name = "x"; timeout = "10s"; ... }, ... ). */
static const char *const arg_type_names[] = {
    [CFG_ARG_TEXT] = "text",        [CFG_ARG_INT] = "int",   [CFG_ARG_FLOAT] = "float",
    [CFG_ARG_BOOL] = "bool",        [CFG_ARG_JSON] = "json", [CFG_ARG_UUID] = "uuid",
    [CFG_ARG_TIME] = "timestamptz",
};

/* The highest $N in `sql` (0 when none). */
static unsigned sql_max_param(const char *sql)
{
    unsigned max = 0;

    for (const char *p = sql; *p; p++) {
        unsigned v = 0;
        if (*p != '$' || p[1] < '0' || p[1] > '9')
            continue;
        while (p[1] >= '0' && p[1] <= '9' && v < 100000)
            v = v * 10 + (unsigned)(*++p - '0');
        if (v > max)
            max = v;
    }
    return max;
}

/* Whether `sql` starts with a transaction-control word or COPY, which would break the
 * transaction the statement runs in with its jid marker. */
static bool sql_controls_transaction(const char *sql)
{
    static const char *const words[] = {"begin", "start",     "commit",  "end",     "rollback",
                                        "abort", "savepoint", "release", "prepare", "copy"};
    size_t len;

    while (*sql == ' ' || *sql == '\t' || *sql == '\n' || *sql == '\r' || *sql == '(')
        sql++;
    for (len = 0; (sql[len] >= 'a' && sql[len] <= 'z') || (sql[len] >= 'A' && sql[len] <= 'Z');)
        len++;
    for (size_t i = 0; i < NELEMS(words); i++)
        if (strlen(words[i]) == len && strncasecmp(sql, words[i], len) == 0)
            return true;
    return false;
}

/* A `sql` class: `args` is a comma-separated list of types, one per $N of `sql`. */
static int sql_class_check(struct load *ld, const config_setting_t *e, const char *name,
                           void *entry)
{
    struct cfg_class *c = entry;
    const char *p = c->args ? c->args : "";
    unsigned uses;

    if (!c->sql)
        return c->args ? cfg_fail_at(e, ld->err, -EINVAL, "%s.args needs %s.sql", name, name) : 0;
    c->nargs = 0;
    while (*p) {
        size_t len, t;
        while (*p == ' ' || *p == ',')
            p++;
        len = strcspn(p, " ,");
        if (len == 0)
            break;
        for (t = 0; t < NELEMS(arg_type_names); t++)
            if (strlen(arg_type_names[t]) == len && strncmp(p, arg_type_names[t], len) == 0)
                break;
        if (t == NELEMS(arg_type_names))
            return cfg_fail_at(e, ld->err, -EINVAL,
                               "%s.args: unknown type '%.*s' (text, int, float, bool, json, uuid, "
                               "timestamptz)",
                               name, (int)len, p);
        if (c->nargs == CFG_MAX_SQL_ARGS)
            return cfg_fail_at(e, ld->err, -EINVAL, "%s.args must name at most %d types", name,
                               CFG_MAX_SQL_ARGS);
        c->arg_types[c->nargs++] = (enum cfg_arg_type)t;
        p += len;
    }
    if (sql_controls_transaction(c->sql))
        return cfg_fail_at(e, ld->err, -EINVAL,
                           "%s.sql must be one statement that reads or writes data: transaction "
                           "control and COPY would break its exactly-once transaction",
                           name);
    uses = sql_max_param(c->sql);
    if (uses != c->nargs)
        return cfg_fail_at(e, ld->err, -EINVAL,
                           "%s.sql uses parameters up to $%u but %s.args names %u type%s", name,
                           uses, name, c->nargs, c->nargs == 1 ? "" : "s");
    return 0;
}

/* An `http` (webhook) class: an http(s) URL and exactly one source of its secret. */
static int webhook_class_check(struct load *ld, const config_setting_t *e, const char *name,
                               struct cfg_class *c)
{
    char buf[GOT_MAX];

    if (!c->url)
        return c->secret_file || c->secret_env
                   ? cfg_fail_at(e, ld->err, -EINVAL, "%s.secret_%s needs %s.url", name,
                                 c->secret_file ? "file" : "env", name)
                   : 0;
    if (c->sql || c->command || c->shell)
        return cfg_fail_at(e, ld->err, -EINVAL, "%s has both url and %s: a class is one kind", name,
                           c->sql       ? "sql"
                           : c->command ? "command"
                                        : "shell");
    if (strncmp(c->url, "http://", 7) != 0 && strncmp(c->url, "https://", 8) != 0)
        return cfg_fail_at(e, ld->err, -EINVAL,
                           "%s.url must start with http:// or https:// (got %s)", name,
                           cfg_url_show(c->url, buf, sizeof(buf)));
    if (!c->secret_file == !c->secret_env)
        return cfg_fail_at(e, ld->err, -EINVAL,
                           "%s needs its signing secret from exactly one of secret_file or "
                           "secret_env",
                           name);
    return 0;
}

void cfg_class_clear(void *entry)
{
    struct cfg_class *c = entry;

    secret_free(c->secret);
    c->secret = NULL;
    free(c->groups);
    c->groups = NULL;
    free(c->home);
    c->home = NULL;
}

/* A schedule: its cron expression parses, its zone exists, it fires within 5 years, its
 * args are a JSON array. Needs `cron` and `class`. */
int cfg_schedule_check(struct load *ld, const config_setting_t *e, const char *name, void *entry)
{
    struct cfg_schedule *sc = entry;
    struct err why = {0};
    json_t *args;
    time_t next;
    int r;

    if (!sc->cron || !sc->class_name)
        return cfg_fail_at(e, ld->err, -EINVAL, "%s must have a %s", name,
                           sc->cron ? "class" : "cron");
    if (cron_parse(sc->cron, &sc->expr, &why) < 0)
        return cfg_fail_at(e, ld->err, -EINVAL, "%s.cron: %s", name, why.msg);
    r = cron_next(&sc->expr, sc->tz, time(NULL), &next, &why);
    if (r < 0)
        return cfg_fail_at(e, ld->err, -EINVAL, "%s.%s: %s", name, r == -ERANGE ? "cron" : "tz",
                           why.msg);
    args = json_loads(sc->args, 0, NULL);
    r = json_is_array(args) ? 0 : -EINVAL;
    json_decref(args);
    if (r < 0)
        return cfg_fail_at(e, ld->err, -EINVAL,
                           "%s.args must be a JSON array as text, e.g. \"[1, \\\"x\\\"]\" (got %s)",
                           name, sc->args);
    return 0;
}

/* nexusd's own secrets in its environment: a command class's env_pass cannot name them
 * (NEXUS_HTTP_TOKEN is refused as any NEXUS_ name; an http class's secret_env also). */
static const char *const own_secrets[] = {"REDIS_URL",     "DATABASE_URL", "DATABASE_POOL_URL",
                                          "SMTP_URL",      "SMTP_PASSWORD", "HF_API_TOKEN"};

/* An environment variable's name: [A-Za-z_][A-Za-z0-9_]*, not NEXUS_ (nexusd sets those). */
static int env_name_check(struct load *ld, const config_setting_t *at, const char *name,
                          const char *var, size_t len)
{
    char buf[GOT_MAX];
    bool ok = len > 0 && !(var[0] >= '0' && var[0] <= '9');

    for (size_t i = 0; i < len && ok; i++)
        ok = var[i] == '_' || (var[i] >= 'a' && var[i] <= 'z') ||
             (var[i] >= 'A' && var[i] <= 'Z') || (var[i] >= '0' && var[i] <= '9');
    if (!ok)
        return cfg_fail_at(
            at, ld->err, -EINVAL,
            "%s: a variable name is letters, digits and _, not starting with a digit "
            "(got %s)",
            name, cfg_quote(var, buf, sizeof(buf)));
    if (len >= 6 && strncmp(var, "NEXUS_", 6) == 0)
        return cfg_fail_at(at, ld->err, -EINVAL,
                           "%s: NEXUS_ variables are set by nexusd (got %.*s)", name, (int)len,
                           var);
    return 0;
}

static int command_env_check(struct load *ld, const config_setting_t *e, const char *name,
                             const struct cfg_class *c)
{
    char ename[CFG_MAX_NAME], buf[GOT_MAX];
    int r;

    for (size_t i = 0; c->env && c->env[i]; i++) {
        const char *eq = strchr(c->env[i], '=');

        (void)snprintf(ename, sizeof(ename), "%s.env[%zu]", name, i);
        if (!eq)
            return cfg_fail_at(cfg_member_or(e, "env"), ld->err, -EINVAL,
                               "%s must be NAME=value (got %s)", ename,
                               cfg_quote(c->env[i], buf, sizeof(buf)));
        r = env_name_check(ld, cfg_member_or(e, "env"), ename, c->env[i], (size_t)(eq - c->env[i]));
        if (r < 0)
            return r;
        for (size_t k = 0; k < i; k++)
            if (strncmp(c->env[k], c->env[i], (size_t)(eq - c->env[i]) + 1) == 0)
                return cfg_fail_at(cfg_member_or(e, "env"), ld->err, -EINVAL,
                                   "%s sets %.*s twice (first at %s.env[%zu])", ename,
                                   (int)(eq - c->env[i]), c->env[i], name, k);
    }
    for (size_t i = 0; c->env_pass && c->env_pass[i]; i++) {
        (void)snprintf(ename, sizeof(ename), "%s.env_pass[%zu]", name, i);
        r = env_name_check(ld, cfg_member_or(e, "env_pass"), ename, c->env_pass[i],
                           strlen(c->env_pass[i]));
        if (r < 0)
            return r;
        for (size_t k = 0; k < NELEMS(own_secrets); k++)
            if (strcmp(c->env_pass[i], own_secrets[k]) == 0)
                return cfg_fail_at(
                    cfg_member_or(e, "env_pass"), ld->err, -EINVAL,
                    "%s: %s is one of nexusd's own secrets and is never passed to a "
                    "child; give the program its own (in a file it reads, or in env)",
                    ename, c->env_pass[i]);
    }
    return 0;
}

/* env_pass naming an http class's secret_env (which may come later in the file). */
static int env_pass_secret_check(const struct cfg *cfg, struct err *err)
{
    for (size_t i = 0; i < cfg->nclasses; i++) {
        const struct cfg_class *c = &cfg->classes[i];

        for (size_t k = 0; c->env_pass && c->env_pass[k]; k++)
            for (size_t j = 0; j < cfg->nclasses; j++)
                if (cfg->classes[j].secret_env &&
                    strcmp(cfg->classes[j].secret_env, c->env_pass[k]) == 0)
                    return err_set(err, -EINVAL,
                                   "%s:%d: classes[%zu].env_pass[%zu]: %s is the secret_env of "
                                   "class %s and is never passed to a child",
                                   cfg->path ? cfg->path : "?", c->line, i, k, c->env_pass[k],
                                   cfg->classes[j].name);
    }
    return 0;
}

/* `user` and `group` to ids, as the child will need them (it cannot read /etc/passwd once
 * forked): the user's uid, its group or `group`, and initgroups' supplementary list. */
static int command_user_resolve(struct load *ld, const config_setting_t *e, const char *name,
                                struct cfg_class *c)
{
    char buf[GOT_MAX];
    struct passwd *pw;
    struct group *gr;
    int n = 16;

    if (c->group && !c->user)
        return cfg_fail_at(cfg_member_or(e, "group"), ld->err, -EINVAL,
                           "%s.group needs %s.user: alone it would leave the child nexusd's user",
                           name, name);
    if (!c->user)
        return 0;
    errno = 0;
    pw = getpwnam(c->user);
    if (!pw)
        return cfg_fail_at(cfg_member_or(e, "user"), ld->err, -EINVAL, "%s.user: %s %s", name,
                           cfg_quote(c->user, buf, sizeof(buf)),
                           errno ? strerror(errno) : "is no user of this system");
    if (pw->pw_uid == 0)
        return cfg_fail_at(cfg_member_or(e, "user"), ld->err, -EINVAL,
                           "%s.user must not be root (uid 0): a child running as root can read "
                           "nexusd's memory (got %s)",
                           name, cfg_quote(c->user, buf, sizeof(buf)));
    c->uid = pw->pw_uid;
    c->gid = pw->pw_gid;
    c->home = xstrdup(pw->pw_dir ? pw->pw_dir : "/");
    if (c->group) {
        errno = 0;
        gr = getgrnam(c->group);
        if (!gr)
            return cfg_fail_at(cfg_member_or(e, "group"), ld->err, -EINVAL, "%s.group: %s %s", name,
                               cfg_quote(c->group, buf, sizeof(buf)),
                               errno ? strerror(errno) : "is no group of this system");
        c->gid = gr->gr_gid;
    }
    for (;;) {
        int got = n;

        c->groups = xreallocarray(c->groups, (size_t)n, sizeof(*c->groups));
        if (getgrouplist(c->user, c->gid, c->groups, &got) >= 0) {
            c->ngroups = (size_t)got;
            return 0;
        }
        if (got <= n || got > CFG_MAX_GROUPS)
            return cfg_fail_at(cfg_member_or(e, "user"), ld->err, -EINVAL,
                               "%s.user: the groups of %s cannot be listed", name,
                               cfg_quote(c->user, buf, sizeof(buf)));
        n = got;
    }
}

/* `shell` as one step: /bin/sh -c SCRIPT CLASS (the class name is $0; args_append adds $1..). */
static void shell_step(struct cfg_class *c)
{
    const char *words[] = {"/bin/sh", "-c", c->shell, c->name};
    char ***steps = xcalloc(2, sizeof(*steps));

    steps[0] = xcalloc(NELEMS(words) + 1, sizeof(char *));
    for (size_t i = 0; i < NELEMS(words); i++)
        steps[0][i] = xstrdup(words[i]);
    c->command = steps;
}

/* A `command` class: command or shell (not both, not with sql), an absolute workdir, valid
 * env names, a known parser; the other command keys need one of them. */
static int command_class_check(struct load *ld, const config_setting_t *e, const char *name,
                               struct cfg_class *c)
{
    static const char *const only[] = {"workdir",      "env",   "env_pass", "output_limit",
                                       "kill_grace",   "parse", "fail_on",  "args_append",
                                       "args_options", "user",  "group"};
    char buf[GOT_MAX];
    int r;

    if (!c->command && !c->shell) {
        for (size_t i = 0; i < NELEMS(only); i++)
            if (config_setting_get_member(e, only[i]))
                return cfg_fail_at(config_setting_get_member(e, only[i]), ld->err, -EINVAL,
                                   "%s.%s needs %s.command or %s.shell", name, only[i], name, name);
        return 0;
    }
    if (c->command && c->shell)
        return cfg_fail_at(cfg_member_or(e, "shell"), ld->err, -EINVAL,
                           "%s has both command and shell: a class runs an argv or a shell line, "
                           "not both",
                           name);
    if (c->sql)
        return cfg_fail_at(cfg_member_or(e, "sql"), ld->err, -EINVAL,
                           "%s has both sql and %s: a class is a sql class or a command class",
                           name, c->shell ? "shell" : "command");
    if (c->workdir && c->workdir[0] != '/')
        return cfg_fail_at(cfg_member_or(e, "workdir"), ld->err, -EINVAL,
                           "%s.workdir must be an absolute path (got %s)", name,
                           cfg_quote(c->workdir, buf, sizeof(buf)));
    r = command_env_check(ld, e, name, c);
    if (r == 0)
        r = command_user_resolve(ld, e, name, c);
    if (r < 0)
        return r;
    if (c->args_options && !c->args_append)
        return cfg_fail_at(cfg_member_or(e, "args_options"), ld->err, -EINVAL,
                           "%s.args_options needs %s.args_append = true", name, name);
    if (*c->parse && strcmp(c->parse, "npm-audit") != 0)
        return cfg_fail_at(cfg_member_or(e, "parse"), ld->err, -EINVAL,
                           "%s.parse must be \"npm-audit\" or \"\" for none (got %s)", name,
                           cfg_quote(c->parse, buf, sizeof(buf)));
    if (c->fail_level > 0 && !*c->parse)
        return cfg_fail_at(cfg_member_or(e, "fail_on"), ld->err, -EINVAL,
                           "%s.fail_on needs %s.parse", name, name);
    if (c->shell)
        shell_step(c);
    for (c->nsteps = 0; c->command[c->nsteps];)
        c->nsteps++;
    return 0;
}

/* A class is one kind at most: sql, http (url) or command; each kind's keys checked. */
int cfg_class_check(struct load *ld, const config_setting_t *e, const char *name, void *entry)
{
    int r = webhook_class_check(ld, e, name, entry);

    if (r == 0)
        r = sql_class_check(ld, e, name, entry);
    return r < 0 ? r : command_class_check(ld, e, name, entry);
}

/* redis.metered: the defaults of the intervals that cost Redis commands while idle, for a
 * Redis billed per command (about 400 an hour idle; docs/operations.md "Redis cost"), and
 * redis.metrics off (its counters cost commands with every outcome call). A setting the file
 * gives keeps its value. */
static const struct metered_default {
    const char *name;
    size_t offset; /* of the double in struct cfg */
    double value_s;
} metered_defaults[] = {
    {"worker.heartbeat_interval", offsetof(struct cfg, heartbeat_s), 300},
    {"worker.process_ttl", offsetof(struct cfg, process_ttl_s), 900},
    {"worker.poll_interval", offsetof(struct cfg, poll_interval_s), 60},
    {"worker.block_timeout", offsetof(struct cfg, block_timeout_s), 300},
    {"worker.orphan_sweep_interval", offsetof(struct cfg, orphan_sweep_s), 3600},
};

static void metered_apply(struct load *ld, const config_t *lc)
{
    if (!ld->cfg->redis_metered)
        return;
    for (size_t i = 0; i < NELEMS(metered_defaults); i++)
        if (!config_lookup(lc, metered_defaults[i].name))
            *(double *)((char *)ld->cfg + metered_defaults[i].offset) =
                metered_defaults[i].value_s;
    if (!config_lookup(lc, "redis.metrics"))
        ld->cfg->redis_metrics = false;
}

/* A silent process is declared dead after process_ttl: it must survive a missed beat. */
static int beat_check(struct load *ld, const config_t *lc)
{
    const struct cfg *cfg = ld->cfg;
    const config_setting_t *s;
    char lo[32], v[32];

    if (cfg->process_ttl_s >= 2 * cfg->heartbeat_s)
        return 0;
    s = config_lookup(lc, "worker.process_ttl");
    if (!s)
        s = config_lookup(lc, "worker.heartbeat_interval");
    assert(s); /* the defaults pass */
    return cfg_fail_at(s, ld->err, -EINVAL,
                       "worker.process_ttl must be at least 2 * worker.heartbeat_interval = %s "
                       "(got %s)",
                       cfg_duration_fmt(2 * cfg->heartbeat_s, lo, sizeof(lo)),
                       cfg_duration_fmt(cfg->process_ttl_s, v, sizeof(v)));
}

/* http.listen is an address nexusd can bind without a name lookup; http.allowed_hosts are
 * names or addresses that a Host header can carry. */
static int listen_check(struct load *ld, const config_t *lc)
{
    char *const *hosts = ld->cfg->http_allowed_hosts;
    struct sockaddr_storage ss;
    const config_setting_t *s;
    char buf[GOT_MAX];
    unsigned len;

    for (unsigned i = 0; hosts && hosts[i]; i++) {
        if (httpd_host_entry_valid(hosts[i]))
            continue;
        s = config_lookup(lc, "http.allowed_hosts");
        assert(s); /* the default is empty */
        return cfg_fail_at(
            config_setting_get_elem(s, i), ld->err, -EINVAL,
            "http.allowed_hosts[%u] must be a host name, '.' and a domain, an address "
            "([IPv6] in brackets) or \"*\", without a port (got %s)",
            i, cfg_quote(hosts[i], buf, sizeof(buf)));
    }
    if (parse_listen(ld->cfg->http_listen, &ss, &len) == 0)
        return 0;
    s = config_lookup(lc, "http.listen");
    assert(s); /* the default parses */
    return cfg_fail_at(s, ld->err, -EINVAL,
                       "http.listen must be IP:PORT, [IPv6]:PORT or unix:/absolute/path, with an "
                       "address rather than a host name (got %s)",
                       cfg_quote(ld->cfg->http_listen, buf, sizeof(buf)));
}

/* analytics.tz names a zone; analytics.sales_statuses is a list of words. */
static int analytics_check(struct load *ld, const config_t *lc)
{
    const struct cfg *cfg = ld->cfg;
    const config_setting_t *s;
    struct cron_expr daily;
    struct err why = {0};
    char buf[GOT_MAX];
    const char *p;
    time_t next;

    s = config_lookup(lc, "analytics.tz");
    if (s && (cron_parse("@daily", &daily, &why) < 0 ||
              cron_next(&daily, cfg->analytics_tz, time(NULL), &next, &why) < 0))
        return cfg_fail_at(s, ld->err, -EINVAL, "analytics.tz: %s", why.msg);
    s = config_lookup(lc, "analytics.sales_statuses");
    for (p = cfg->analytics_sales_statuses; s && *p; p++) {
        bool word = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                    (*p >= '0' && *p <= '9') || *p == '_' || *p == '-';
        if (!word &&
            (*p != ',' || p[1] == ',' || p[1] == '\0' || p == cfg->analytics_sales_statuses))
            return cfg_fail_at(s, ld->err, -EINVAL,
                               "analytics.sales_statuses must be comma-separated words of letters, "
                               "digits, _ and - (got %s)",
                               cfg_quote(cfg->analytics_sales_statuses, buf, sizeof(buf)));
    }
    return 0;
}

static bool number_ok(const char *s, size_t n, uint32_t min, uint32_t max);

/* No spaces or control characters anywhere in `url`. */
static bool url_printable(const char *url)
{
    for (const char *p = url; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            return false;
    return true;
}

/* A URL's authority [userinfo@]host[:port] in p..end: a host name or [IPv6], a port 1..65535. */
static bool authority_ok(const char *p, const char *end)
{
    const char *host_end;

    for (const char *at = p; at < end; at++)
        if (*at == '@')
            p = at + 1;
    if (*p == '[') {
        host_end = memchr(p, ']', (size_t)(end - p));
        if (!host_end || host_end == p + 1)
            return false;
        host_end++;
    } else {
        host_end = p + strcspn(p, ":/?#");
        if (host_end > end)
            host_end = end;
    }
    if (host_end == p || (host_end < end && *host_end != ':'))
        return false;
    return host_end == end || number_ok(host_end + 1, (size_t)(end - host_end - 1), 1, 65535);
}

/* smtp[s]://[user[:password]@]host[:port][/ehlo-name], no spaces or control characters. */
static bool smtp_url_ok(const char *url)
{
    const char *p;

    if (!url_printable(url))
        return false;
    if (strncmp(url, "smtp://", 7) == 0)
        p = url + 7;
    else if (strncmp(url, "smtps://", 8) == 0)
        p = url + 8;
    else
        return false;
    return authority_ok(p, p + strcspn(p, "/?#"));
}

/* The smtp group as the file sets it: addresses, policy words, the URL and the templates (read now,
 * so that a broken template stops a start or a reload). */
static int smtp_file_check(struct load *ld, const config_t *lc)
{
    struct cfg *cfg = ld->cfg;
    const config_setting_t *s;
    struct mail_addr addr;
    struct err why = {0};
    char buf[GOT_MAX];
    int r;

    s = config_lookup(lc, "smtp.from");
    if (s && mail_addr_parse(cfg->smtp_from, &addr, &why) < 0)
        return cfg_fail_at(s, ld->err, -EINVAL, "smtp.from: %s", why.msg);
    s = config_lookup(lc, "smtp.reply_to");
    if (s && *cfg->smtp_reply_to && mail_addr_parse(cfg->smtp_reply_to, &addr, &why) < 0)
        return cfg_fail_at(s, ld->err, -EINVAL, "smtp.reply_to: %s", why.msg);
    s = config_lookup(lc, "smtp.url");
    if (s && !smtp_url_ok(cfg->smtp_url))
        return cfg_fail_at(
            s, ld->err, -EINVAL,
            "smtp.url must be smtp://[user:password@]host[:port] or smtps://... (got "
            "%s)",
            cfg_url_show(cfg->smtp_url, buf, sizeof(buf)));
    s = config_lookup(lc, "smtp.templates");
    r = s ? mail_tmpl_set_load(cfg->smtp_templates, &cfg->smtp_tmpls, &why) : 0;
    if (r == -ENOENT && strcmp(cfg->smtp_templates, CFG_TEMPLATES_DEFAULT) == 0)
        r = 0; /* the default, written out: optional as when left out */
    if (r < 0)
        return cfg_fail_at(s, ld->err, -EINVAL, "smtp.templates: %s", why.msg);
    return 0;
}

/* starttls = "never" with credentials would send AUTH in clear text: refused unless
 * smtp.allow_plaintext_auth (with "try", jobs/smtp.c makes STARTTLS a must instead). */
static int smtp_plaintext_check(struct load *ld, cfg_getenv_fn *get_env)
{
    struct cfg *cfg = ld->cfg;
    char *password = NULL;
    bool creds;

    if (cfg->smtp_starttls != CFG_STARTTLS_NEVER || cfg->smtp_allow_plaintext_auth ||
        strncmp(cfg->smtp_url, "smtp://", 7) != 0)
        return 0;
    if (secret_env(get_env, "SMTP_PASSWORD", &password, NULL) < 0)
        password = NULL; /* cfg_load_secrets() reports it */
    creds = *cfg->smtp_username || *cfg->smtp_password_file || password ||
            strchr(cfg->smtp_url + 7, '@');
    secret_free(password);
    if (!creds)
        return 0;
    return err_set(ld->err, -EINVAL,
                   "%s: smtp.starttls = \"never\" would send the SMTP credentials in clear text; "
                   "use \"try\" or \"always\", or smtps://, or set smtp.allow_plaintext_auth = "
                   "true",
                   *ld->starttls_where ? ld->starttls_where : "smtp.starttls");
}

/* After the environment: SMTP_URL checked, the default template directory read when it
 * exists. */
static int smtp_finish(struct load *ld, cfg_getenv_fn *get_env)
{
    struct cfg *cfg = ld->cfg;
    struct err why = {0};
    char buf[GOT_MAX];
    int r;

    if (ld->smtp_url_env && !smtp_url_ok(cfg->smtp_url))
        return err_set(ld->err, -EINVAL,
                       "SMTP_URL: smtp.url must be smtp://[user:password@]host[:port] or "
                       "smtps://... (got %s)",
                       cfg_url_show(cfg->smtp_url, buf, sizeof(buf)));
    r = smtp_plaintext_check(ld, get_env);
    if (r < 0)
        return r;
    if (cfg->smtp_tmpls)
        return 0;
    r = mail_tmpl_set_load(cfg->smtp_templates, &cfg->smtp_tmpls, &why);
    if (r == -ENOENT)
        return 0; /* the default directory is optional: email classes then say what is missing */
    if (r < 0)
        return err_set(ld->err, r, "smtp.templates (default %s): %s", cfg->smtp_templates, why.msg);
    return 0;
}

/* `n` bytes at `s` are a decimal number min..max. */
static bool number_ok(const char *s, size_t n, uint32_t min, uint32_t max)
{
    char num[16];
    uint32_t v;

    if (n == 0 || n >= sizeof(num))
        return false;
    memcpy(num, s, n);
    num[n] = '\0';
    return parse_u32(num, min, max, &v) == 0;
}

static int url_check(struct load *ld)
{
    const char *url = ld->cfg->redis_url;
    const char *where = *ld->url_where ? ld->url_where : "default";
    const char *why;
    char buf[GOT_MAX];

    assert(url); /* the defaults set one */
    why = raddr_problem(url); /* what the connections will make of it */
    if (why)
        return err_set(ld->err, -EINVAL,
                       "%s: redis.url must be redis[s]://[[user]:password@]host[:port][/db] or "
                       "unix:///path[?db=N] (got %s): %s",
                       where, cfg_url_show(url, buf, sizeof(buf)), why);
    return 0;
}

/* The TLS files of redis.* are readable now (a start must not wait for the first connection
 * to find a typo), and a client certificate comes with its key. */
static int redis_tls_check(struct load *ld, const config_t *lc)
{
    static const char *const names[] = {"redis.tls_ca_file", "redis.tls_cert_file",
                                        "redis.tls_key_file"};
    const char *paths[] = {ld->cfg->redis_tls_ca_file, ld->cfg->redis_tls_cert_file,
                           ld->cfg->redis_tls_key_file};
    const config_setting_t *s;

    for (size_t i = 0; i < NELEMS(names); i++) {
        s = config_lookup(lc, names[i]);
        if (s && *paths[i] && access(paths[i], R_OK) < 0)
            return cfg_fail_at(s, ld->err, -EINVAL, "%s: cannot read '%s': %s", names[i],
                               paths[i], strerror(errno));
    }
    if (!*ld->cfg->redis_tls_cert_file != !*ld->cfg->redis_tls_key_file) {
        s = config_lookup(lc, *paths[1] ? names[1] : names[2]);
        return cfg_fail_at(s, ld->err, -EINVAL,
                           "redis.tls_cert_file and redis.tls_key_file go together (got only %s)",
                           *paths[1] ? names[1] : names[2]);
    }
    return 0;
}

/* Each of redis.sentinels is a host:port, and they come with the master's name (the file's
 * part; the whole address is tried in sentinel_final() once REDIS_URL is known). */
static int sentinel_check(struct load *ld, const config_t *lc)
{
    char *const *specs = ld->cfg->redis_sentinels;
    const config_setting_t *s = config_lookup(lc, "redis.sentinels");
    struct raddr a;
    struct err why = {0};

    for (size_t i = 0; specs && specs[i]; i++) {
        if (raddr_sentinel_spec_parse(specs[i], &a, &why) < 0)
            return cfg_fail_at(config_setting_get_elem(s, (unsigned)i), ld->err, -EINVAL,
                               "redis.sentinels[%zu]: %s", i, why.msg);
        raddr_clear(&a);
    }
    if (specs && specs[0] && !*ld->cfg->redis_sentinel_master)
        return cfg_fail_at(s, ld->err, -EINVAL,
                           "redis.sentinels needs redis.sentinel_master, the name the sentinels "
                           "know the master by");
    if ((!specs || !specs[0]) && *ld->cfg->redis_sentinel_master)
        return cfg_fail_at(config_lookup(lc, "redis.sentinel_master"), ld->err, -EINVAL,
                           "redis.sentinel_master needs redis.sentinels, the sentinels to ask");
    return 0;
}

/* emotion.url and emotion.endpoint are http(s) URLs. */
static int emotion_check(struct load *ld, const config_t *lc)
{
    static const char *const names[] = {"emotion.url", "emotion.endpoint"};
    const char *values[] = {ld->cfg->emotion_url, ld->cfg->emotion_endpoint};
    const config_setting_t *s;
    char buf[GOT_MAX];

    for (size_t i = 0; i < NELEMS(names); i++) {
        if (!*values[i] || strncmp(values[i], "http://", 7) == 0 ||
            strncmp(values[i], "https://", 8) == 0)
            continue;
        s = config_lookup(lc, names[i]);
        assert(s); /* the defaults pass */
        return cfg_fail_at(s, ld->err, -EINVAL, "%s must be an http:// or https:// URL (got %s)",
                           names[i], cfg_url_show(values[i], buf, sizeof(buf)));
    }
    return 0;
}

/* Settings a class or schedule leaves out are the worker's or the class's. */
static void classes_inherit(struct cfg *cfg)
{
    for (size_t i = 0; i < cfg->nclasses; i++) {
        struct cfg_class *c = &cfg->classes[i];

        c->timeout_set = c->timeout_s >= 0;
        if (c->timeout_s < 0)
            c->timeout_s = cfg->job_timeout_s;
        if (c->max_retries < 0)
            c->max_retries = cfg->max_retries;
    }
    for (size_t i = 0; i < cfg->nschedules; i++) {
        struct cfg_schedule *sc = &cfg->schedules[i];

        if (!sc->queue)
            sc->queue = xstrdup(cfg_class_queue(cfg, sc->class_name));
    }
}

int cfg_rules_file(struct load *ld, const config_t *lc)
{
    int r;

    metered_apply(ld, lc);
    r = beat_check(ld, lc);

    if (r == 0)
        r = redis_tls_check(ld, lc);
    if (r == 0)
        r = sentinel_check(ld, lc);
    if (r == 0)
        r = listen_check(ld, lc);
    if (r == 0)
        r = analytics_check(ld, lc);
    if (r == 0)
        r = emotion_check(ld, lc);
    if (r == 0)
        r = smtp_file_check(ld, lc);
    return r;
}

static int secret_load(struct secret_src src, cfg_getenv_fn *get_env, char **dst,
                       struct err *err);

/* The sentinels' password (nexusctl needs it too, so it is read with the file, not with
 * cfg_load_secrets()), then the whole address as the connections will make it. */
static int sentinel_final(struct load *ld, cfg_getenv_fn *get_env)
{
    struct cfg *cfg = ld->cfg;
    struct raddr a;
    struct err why = {0};
    int r;

    if (!cfg->redis_sentinels || !cfg->redis_sentinels[0])
        return 0;
    r = secret_load((struct secret_src){"REDIS_SENTINEL_PASSWORD", NULL,
                                        cfg->redis_sentinel_password_file,
                                        "redis.sentinel_password_file",
                                        cfg->redis_sentinel_password_where, 1, CFG_MAX_SECRET,
                                        true},
                    get_env, &cfg->redis_sentinel_password, ld->err);
    if (r < 0)
        return r;
    if (cfg_redis_addr(cfg, &a, &why) < 0)
        return err_set(ld->err, -EINVAL, "%s: redis.sentinels: %s",
                       *ld->url_where ? ld->url_where : "default", why.msg);
    raddr_clear(&a);
    return 0;
}

int cfg_rules_final(struct load *ld, cfg_getenv_fn *get_env)
{
    int r = url_check(ld);

    if (r == 0)
        r = sentinel_final(ld, get_env);
    if (r < 0)
        return r;
    classes_inherit(ld->cfg);
    r = env_pass_secret_check(ld->cfg, ld->err);
    if (r == 0)
        r = smtp_finish(ld, get_env);
    return r;
}

/* A secret `src` names into *dst, which must be empty; src->env_name's value comes from
 * `get_env` or, when unset, from systemd's credential of that name (secret_env()). */
static int secret_load(struct secret_src src, cfg_getenv_fn *get_env, char **dst, struct err *err)
{
    char *value = NULL;
    int r = 0;

    assert(!*dst);
    if (src.env_name)
        r = secret_env(get_env, src.env_name, &value, err);
    if (r < 0)
        return r;
    src.env_value = value;
    r = secret_get(&src, dst, err);
    secret_free(value);
    return r;
}

/* Class `c`'s secret_env names a variable with a value (or a credential). */
static bool secret_env_set(const struct cfg_class *c, cfg_getenv_fn *get_env)
{
    char *value = NULL;
    bool set = secret_env(get_env, c->secret_env, &value, NULL) == 0 && value;

    secret_free(value);
    return set;
}

int cfg_load_secrets(struct cfg *cfg, cfg_getenv_fn *get_env, struct err *err)
{
    char where[ERR_MSG_MAX], setting[ERR_MSG_MAX];
    int r;

    r = secret_load((struct secret_src){"NEXUS_HTTP_TOKEN", NULL, cfg->http_token_file,
                                        "http.token_file", cfg->http_token_where, CFG_TOKEN_MIN,
                                        CFG_TOKEN_MAX, false},
                    get_env, &cfg->http_token, err);
    if (r == 0)
        r = secret_load((struct secret_src){"HF_API_TOKEN", NULL, cfg->emotion_token_file,
                                            "emotion.token_file", cfg->emotion_token_where, 1,
                                            CFG_TOKEN_MAX, false},
                        get_env, &cfg->emotion_token, err);
    if (r == 0)
        r = secret_load((struct secret_src){"SMTP_PASSWORD", NULL, cfg->smtp_password_file,
                                            "smtp.password_file", cfg->smtp_password_where, 1,
                                            CFG_MAX_SECRET, true},
                        get_env, &cfg->smtp_password, err);
    for (size_t i = 0; r == 0 && i < cfg->nclasses; i++) {
        struct cfg_class *c = &cfg->classes[i];

        if (!c->url)
            continue;
        (void)snprintf(where, sizeof(where), "%s:%d", cfg->path ? cfg->path : "?", c->line);
        (void)snprintf(setting, sizeof(setting), "class %s's secret_file", c->name);
        if (c->secret_env && !secret_env_set(c, get_env))
            return err_set(err, -EINVAL, "%s: class %s's secret_env names %s, which is not set",
                           where, c->name, c->secret_env);
        r = secret_load((struct secret_src){c->secret_env, NULL, c->secret_file, setting, where, 1,
                                            CFG_MAX_SECRET, false},
                        get_env, &c->secret, err);
    }
    return r;
}

int cfg_check_run_as(const struct cfg *cfg, unsigned euid, struct err *err)
{
    for (size_t i = 0; euid != 0 && i < cfg->nclasses; i++) {
        const struct cfg_class *c = &cfg->classes[i];

        if (c->user)
            return err_set(err, -EPERM,
                           "%s:%d: class %s has user = \"%s\": nexusd must run as root to "
                           "start its children as another user (it runs as uid %u)",
                           cfg->path ? cfg->path : "?", c->line, c->name, c->user, euid);
    }
    return 0;
}
