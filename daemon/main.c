/* main.c - nexusd: the job worker daemon's entry point, signals and configuration. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>
#include <stdbool.h>

#include <ev.h>

#include "conf/cfg.h"
#include "daemon/dashboard.h"
#include "daemon/httpd.h"
#include "daemon/notify.h"
#include "daemon/process.h"
#include "daemon/status.h"
#include "daemon/worker.h"
#include "jobs/classes.h"
#include "jobs/registry.h"
#include "lib/cron.h"
#include "lib/err.h"
#include "lib/httpd_host.h"
#include "lib/log.h"
#include "lib/raddr.h"
#include "lib/urlmask.h"
#include "lib/util.h"
#include "lib/xalloc.h"
#include "lib/xfer.h"
#include "sql/migrate.h"
#include "sql/pgurl.h"

#ifndef NEXUS_VERSION
#define NEXUS_VERSION "0.0.0"
#endif

#define HTTP_ANSWER_TIMEOUT_S 10.0 /* a /status or /metrics read of Redis gets 504 after */

struct daemon {
    struct ev_loop *loop;
    const char *cfg_path; /* NULL: defaults */
    struct cfg *cfg;      /* owned; replaced on reload */
    struct process *proc;
    struct worker *wk; /* proc's */
    struct httpd *httpd;   /* NULL with http.enabled = false */
    struct status *status; /* its routes */
    struct dashboard *dashboard; /* the page and its actions, routes added last */
    struct notify *notify; /* systemd */
    ev_signal sigterm, sigint, sighup, sigtstp, sigusr1;
    int exit_code;
};

static const char usage[] =
    "Usage: nexusd [OPTIONS]\n"
    "       nexusd [-c FILE] migrate\n"
    "Runs background jobs from Redis queues (Sidekiq's format) until stopped.\n"
    "'migrate' applies pending migrations of nexusd's schema to database.url and exits.\n"
    "\n"
    "  -c, --config FILE    configuration file (default: none; every setting has a default)\n"
    "  -t, --check-config   validate the configuration, print a summary and exit\n"
    "  -l, --log-level LVL  error, warn, info or debug (overrides log.level)\n"
    "  -V, --version        print the version and exit\n"
    "  -h, --help           print this help and exit\n"
    "\n"
    "Environment: REDIS_URL, DATABASE_URL, DATABASE_POOL_URL and SMTP_URL override redis.url,\n"
    "database.url, database.pool_url and smtp.url. Secrets never sit in the file:\n"
    "NEXUS_HTTP_TOKEN, HF_API_TOKEN and SMTP_PASSWORD win over http.token_file,\n"
    "emotion.token_file and smtp.password_file; an http class names its own secret_env or\n"
    "secret_file. Read at start-up and on HUP.\n"
    "Signals: TERM/INT drain and stop; HUP reloads the configuration; TSTP/USR1 quiet (no\n"
    "new jobs).\n"
    "HTTP: GET /healthz, /readyz, /metrics, /status and the dashboard (/) on http.listen\n"
    "(default 127.0.0.1:7411); dashboard actions need the bearer token.\n"
    "systemd: Type=notify readiness and watchdog (NOTIFY_SOCKET, WATCHDOG_USEC).\n"
    "Exit status: 0 after a clean stop, 1 on a runtime error, 2 on a usage or configuration "
    "error.\n";

static const char *env_get(const char *name)
{
    return getenv(name);
}

static void migrate_on_report(const struct migration *m, const char *what, void *arg)
{
    printf("%03d_%s: %s\n", m->version, m->name, what);
}

/* `nexusd migrate`: 0 when the schema is up to date afterwards. */
static int migrate_command(const struct cfg *cfg)
{
    struct pgurl_roles roles;
    struct err err = {0};
    char why[512];
    int n;

    pgurl_roles(cfg->database_url, cfg->database_pool_url, &roles);
    if (!roles.pool) {
        fprintf(stderr, "nexusd: migrate needs database.url or DATABASE_URL\n");
        return 2;
    }
    if (!roles.session) {
        fprintf(stderr, "nexusd: %s\n",
                pgurl_no_session(cfg->database_url, cfg->database_pool_url, "migrations need",
                                 why, sizeof(why)));
        return 2;
    }
    n = migrate_apply(roles.session, migrate_on_report, NULL, &err);
    if (n < 0) {
        fprintf(stderr, "nexusd: %s\n", err.msg);
        return 1;
    }
    printf("%d migration%s applied; nexus schema at version %d\n", n, n == 1 ? "" : "s",
           nmigrations ? migrations[nmigrations - 1].version : 0);
    return 0;
}

static void migrate_on_log(const struct migration *m, const char *what, void *arg)
{
    log_info("event=migration version=%03d name=%s result=%s", m->version, m->name, log_q(what));
}

/* At start-up: refuse a database with pending migrations unless database.migrate says to
 * apply them. PostgreSQL out of reach is not fatal: jobs that need it fail and retry. */
static int schema_check(const struct cfg *cfg)
{
    const struct migration *first = NULL;
    struct pgurl_roles roles;
    struct err err = {0};
    char why[512];
    int pending;

    pgurl_roles(cfg->database_url, cfg->database_pool_url, &roles);
    if (!roles.pool)
        return 0;
    if (cfg->database_migrate && !roles.session) {
        log_error("event=migrate_refused err=%s",
                  log_q(pgurl_no_session(cfg->database_url, cfg->database_pool_url,
                                         "migrations (database.migrate = true) need",
                                         why,
                                         sizeof(why))));
        return -1;
    }
    /* reading needs no session: the pooler will do when there is nothing else */
    pending = migrate_pending(roles.session ? roles.session : roles.pool, &first, &err);
    if (pending < 0) {
        log_warn("event=schema_unchecked err=%s", log_q(err.msg));
        return 0;
    }
    if (pending == 0)
        return 0;
    if (!cfg->database_migrate) {
        log_error("event=schema_outdated pending=%d first=%03d_%s err=\"the database has pending "
                  "migrations: run 'nexusd migrate' or set database.migrate = true\"",
                  pending, first->version, first->name);
        return -1;
    }
    if (migrate_apply(roles.session, migrate_on_log, NULL, &err) < 0) {
        log_error("event=migrate_failed err=%s", log_q(err.msg));
        return -1;
    }
    return 0;
}

static void daemon_on_stopped(struct process *proc, void *arg)
{
    struct daemon *d = arg;

    ev_break(d->loop, EVBREAK_ALL);
}

static void stop_on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
    struct daemon *d = w->data;

    log_info("event=signal signal=%s action=stop", w->signum == SIGTERM ? "TERM" : "INT");
    notify_stopping(d->notify);
    process_stop(d->proc, daemon_on_stopped, d);
}

static void quiet_on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
    struct daemon *d = w->data;

    log_info("event=signal signal=%s action=quiet", w->signum == SIGTSTP ? "TSTP" : "USR1");
    worker_quiet(d->wk);
}

/* The operators' endpoint, when enabled. Returns 0, or -1 after logging why not. */
static int http_start(struct daemon *d)
{
    const struct cfg *cfg = d->cfg;
    struct httpd_cfg hc = {
        .listen = cfg->http_listen,
        .max_connections = cfg->http_max_connections,
        .idle_timeout_s = cfg->http_idle_timeout_s,
        .header_timeout_s = cfg->http_header_timeout_s,
        .allowed_hosts = (const char *const *)cfg->http_allowed_hosts,
        .max_body = cfg->http_max_body,
        .max_header = cfg->http_max_header,
        .answer_timeout_s = HTTP_ANSWER_TIMEOUT_S,
    };
    struct err err = {0};

    if (!cfg->http_enabled)
        return 0;
    d->httpd = httpd_new(d->loop, &hc, &err);
    if (!d->httpd) {
        log_error("event=start_failed err=%s", log_q(err.msg));
        return -1;
    }
    /* as Redis's protected mode, but a warning: /status and the dashboard's reads need no
     * token, and without one nothing at all does */
    if (!httpd_host_listen_is_local(cfg->http_listen) && !cfg->http_token)
        log_warn("event=http_exposed listen=%s why=\"http.listen is not loopback or a unix "
                 "socket and no token is set (http.token_file, NEXUS_HTTP_TOKEN): anyone who "
                 "reaches it reads the fleet and its jobs; keep it on loopback or set a token\"",
                 log_q(cfg->http_listen));
    d->status = status_new(d->loop, d->httpd, d->wk, cfg, NEXUS_VERSION);
    d->dashboard = dashboard_new(d->loop, d->httpd, cfg, &err);
    if (!d->dashboard) {
        log_error("event=start_failed err=%s", log_q(err.msg));
        return -1;
    }
    dashboard_set_pool(d->dashboard, process_pool(d->proc));
    return 0;
}

static void reload_on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
    struct daemon *d = w->data;
    struct err err = {0};
    struct cfg *cfg = NULL;

    log_info("event=signal signal=HUP action=reload path=%s", log_q(d->cfg_path));
    notify_reloading(d->notify);
    if (cfg_load(d->cfg_path, env_get, &cfg, &err) < 0 ||
        cfg_load_secrets(cfg, env_get, &err) < 0 ||
        cfg_check_run_as(cfg, (unsigned)geteuid(), &err) < 0) {
        log_error("event=reload_refused err=%s keeping=old_configuration", log_q(err.msg));
        cfg_free(cfg);
        notify_reloaded(d->notify);
        return;
    }
    /* Redis and PostgreSQL are connected once: a change of theirs refuses the reload (the
     * operators' endpoint, below, keeps its socket and applies the rest) */
    if (cfg_restart_changes(d->cfg, cfg, "redis", &err) < 0 ||
        cfg_restart_changes(d->cfg, cfg, "database", &err) < 0) {
        log_error("event=reload_refused err=%s keeping=old_configuration", log_q(err.msg));
        cfg_free(cfg);
        notify_reloaded(d->notify);
        return;
    }
    process_reload(d->proc, cfg);
    log_set_level(cfg->log_level);
    handlers_check(cfg);
    if (cfg_restart_changes(d->cfg, cfg, "http", &err) < 0)
        log_warn("event=reload_partial err=%s", log_q(err.msg));
    if (d->status)
        status_reload(d->status, cfg);
    if (d->dashboard)
        dashboard_reload(d->dashboard, cfg);
    cfg_free(d->cfg);
    d->cfg = cfg;
    notify_reloaded(d->notify);
}

static void signal_watch(struct daemon *d, ev_signal *w,
                         void (*cb)(struct ev_loop *, ev_signal *, int), int signum)
{
    ev_signal_init(w, cb, signum);
    w->data = d;
    ev_signal_start(d->loop, w);
}

/* "redis sentinel: master NAME via h1:p1, h2:p2" with each sentinel's port made explicit. */
static void print_sentinels(const struct cfg *cfg)
{
    struct raddr a;

    if (cfg_redis_addr(cfg, &a, NULL) < 0) /* `-t` checked it */
        return;
    if (a.nsentinels) {
        printf("  redis sentinel: master %s via", a.sentinel_master);
        for (size_t i = 0; i < a.nsentinels; i++)
            printf(strchr(a.sentinels[i].host, ':') ? " [%s]:%d%s" : " %s:%d%s",
                   a.sentinels[i].host, a.sentinels[i].port, i + 1 < a.nsentinels ? "," : "\n");
    }
    raddr_clear(&a);
}

/* Whether this configuration's worker reads `queue`. */
static bool queue_read(const struct cfg *cfg, const char *queue)
{
    for (size_t i = 0; i < cfg->nqueues; i++)
        if (strcmp(cfg->queues[i].name, queue) == 0)
            return true;
    return false;
}

/* Each schedule with its next tick, and a warning for one whose jobs would get stuck: a class
 * no handler knows (dead at once), a queue this worker does not read (waiting for another). */
static void print_schedules(const struct cfg *cfg, const struct classes *cl)
{
    printf("  schedules: %zu\n", cfg->nschedules);
    for (size_t i = 0; i < cfg->nschedules; i++) {
        const struct cfg_schedule *sc = &cfg->schedules[i];
        char when[32] = "never";
        time_t next;
        struct tm tm;

        if (cron_next(&sc->expr, sc->tz, time(NULL), &next, NULL) == 0 && gmtime_r(&next, &tm))
            (void)strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
        printf("    %s: \"%s\" %s, class %s on queue %s, next %s\n", sc->name, sc->cron, sc->tz,
               sc->class_name, sc->queue, when);
        if (!classes_find(cl, sc->class_name))
            printf("    warning: schedule %s enqueues class %s, which no handler of nexusd "
                   "knows: its jobs would go to dead\n",
                   sc->name, sc->class_name);
        if (!queue_read(cfg, sc->queue))
            printf("    warning: schedule %s enqueues to queue %s, which worker.queues does not "
                   "read: its jobs wait for a process that reads it\n",
                   sc->name, sc->queue);
    }
}

/* The classes this configuration runs: those the process publishes with its record. */
static void print_classes(const struct classes *cl)
{
    printf("  classes run (%zu):", classes_count(cl));
    for (size_t i = 0; i < classes_count(cl); i++)
        printf(" %s%s", classes_get(cl, i)->name, i + 1 < classes_count(cl) ? "," : "\n");
}

static void print_summary(const struct cfg *cfg)
{
    struct classes *cl = classes_new(cfg); /* the list processes publish: one source */
    char url[256]; /* shown with url_mask(): never a password */

    printf("configuration %s is valid\n", cfg->path ? cfg->path : "(defaults)");
    printf("  redis: %s namespace '%s'\n", url_mask(cfg->redis_url, url, sizeof(url)),
           cfg->redis_namespace);
    if (strncmp(cfg->redis_url, "rediss://", 9) == 0)
        printf("  redis tls: on, verify %s, CA %s, client certificate %s, server name %s\n",
               cfg->redis_tls_verify ? "on" : "OFF",
               *cfg->redis_tls_ca_file ? cfg->redis_tls_ca_file : "(system)",
               *cfg->redis_tls_cert_file ? cfg->redis_tls_cert_file : "(none)",
               *cfg->redis_tls_server_name ? cfg->redis_tls_server_name : "(the URL's host)");
    else
        printf("  redis tls: off\n");
    print_sentinels(cfg);
    if (cfg->database_url)
        printf("  database: %s\n", url_mask(cfg->database_url, url, sizeof(url)));
    if (cfg->database_pool_url)
        printf("  database pool: %s\n", url_mask(cfg->database_pool_url, url, sizeof(url)));
    printf("  concurrency: %u, queues (%s):", cfg->concurrency,
           cfg->queue_order == CFG_QUEUES_WEIGHTED ? "weighted" : "strict");
    for (size_t i = 0; i < cfg->nqueues; i++)
        printf(" %s%s", cfg->queues[i].name, i + 1 < cfg->nqueues ? "," : "\n");
    printf("  job timeout %gs, max retries %d, shutdown timeout %gs\n", cfg->job_timeout_s,
           cfg->max_retries, cfg->shutdown_timeout_s);
    printf("  classes configured: %zu\n", cfg->nclasses);
    print_classes(cl);
    printf("  http: %s\n", cfg->http_enabled ? cfg->http_listen : "off");
    print_schedules(cfg, cl);
    classes_free(cl);
}

int main(int argc, char **argv)
{
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'},
        {"check-config", no_argument, NULL, 't'},
        {"log-level", required_argument, NULL, 'l'},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct daemon d = {0};
    struct err err = {0};
    const char *level_name = NULL;
    enum log_level level;
    bool check = false;
    int c;

    while ((c = getopt_long(argc, argv, "c:tl:Vh", options, NULL)) != -1) {
        switch (c) {
        case 'c':
            d.cfg_path = optarg;
            break;
        case 't':
            check = true;
            break;
        case 'l':
            level_name = optarg;
            break;
        case 'V':
            printf("nexusd %s\n", NEXUS_VERSION);
            return 0;
        case 'h':
            fputs(usage, stdout);
            return 0;
        default:
            fputs(usage, stderr);
            return 2;
        }
    }
    if (optind < argc && (strcmp(argv[optind], "migrate") != 0 || optind + 1 < argc)) {
        fprintf(stderr, "nexusd: unexpected argument '%s'\n%s", argv[optind], usage);
        return 2;
    }
    if (level_name && log_level_parse(level_name, &level) < 0) {
        fprintf(stderr, "nexusd: --log-level must be error, warn, info or debug (got '%s')\n",
                level_name);
        return 2;
    }
    /* before the secrets are read: our memory and /proc/PID/environ become unreadable to
     * processes of our uid without CAP_SYS_PTRACE (command children: docs/commands.md) */
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) {
        fprintf(stderr, "nexusd: prctl(PR_SET_DUMPABLE): %s\n", strerror(errno));
        return 1;
    }
    if (cfg_load(d.cfg_path, env_get, &d.cfg, &err) < 0 ||
        cfg_load_secrets(d.cfg, env_get, &err) < 0 ||
        cfg_check_run_as(d.cfg, (unsigned)geteuid(), &err) < 0) {
        fprintf(stderr, "nexusd: %s\n", err.msg);
        cfg_free(d.cfg);
        return 2;
    }
    if (check) {
        print_summary(d.cfg);
        cfg_free(d.cfg);
        return 0;
    }
    if (optind < argc) { /* migrate */
        c = migrate_command(d.cfg);
        cfg_free(d.cfg);
        return c;
    }
    log_setup(level_name ? level : d.cfg->log_level, stderr);
    handlers_init(); /* before http_start() raises RLIMIT_NOFILE */
    handlers_check(d.cfg);
    xalloc_install();
    (void)signal(SIGPIPE, SIG_IGN);
    if (schema_check(d.cfg) < 0) {
        log_flush();
        cfg_free(d.cfg);
        return 1;
    }
    d.loop = ev_default_loop(EVFLAG_AUTO);
    d.proc = process_new(d.loop, d.cfg, NEXUS_VERSION, &err);
    if (!d.proc) {
        log_error("event=start_failed err=%s", log_q(err.msg));
        cfg_free(d.cfg);
        return 1;
    }
    d.wk = process_worker(d.proc);
    d.notify = notify_new(d.loop, d.wk);
    if (http_start(&d) < 0) {
        d.exit_code = 1;
        goto out;
    }
    signal_watch(&d, &d.sigterm, stop_on_signal, SIGTERM);
    signal_watch(&d, &d.sigint, stop_on_signal, SIGINT);
    signal_watch(&d, &d.sighup, reload_on_signal, SIGHUP);
    signal_watch(&d, &d.sigtstp, quiet_on_signal, SIGTSTP);
    signal_watch(&d, &d.sigusr1, quiet_on_signal, SIGUSR1);
    log_info("event=start version=%s config=%s pid=%d", NEXUS_VERSION, log_q(d.cfg_path),
             (int)getpid());
    ev_run(d.loop, 0);
out:
    notify_free(d.notify);
    handlers_drain(d.loop); /* what cancelled jobs left (command children): reaped, recorded */
    process_free(d.proc); /* answers the HTTP requests waiting for Redis */
    dashboard_free(d.dashboard);
    status_free(d.status);
    httpd_free(d.httpd);
    cfg_free(d.cfg);
    ev_loop_destroy(d.loop);
    xfer_global_cleanup(); /* libcurl initialises with the first transfer (lib/xfer.h) */
    log_flush();
    return d.exit_code;
}
