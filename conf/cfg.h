/* cfg.h - the configuration: libconfig file + environment -> validated struct cfg.
 *
 * A loaded configuration is immutable and reference-counted: nexusd keeps one reference to
 * the current one and each running job holds another (jobs/task.c), so a reload frees the old
 * configuration only once the last job that started with it has ended. Single-threaded: the
 * counts are plain integers, used from the event loop only. The loader lives in cfg_load.c,
 * the table of settings in cfg_keys.c, the checks across settings in cfg_rules.c. */
#ifndef CFG_H
#define CFG_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "lib/cron.h"
#include "lib/log.h"

struct err;
struct mail_tmpl_set;
struct raddr;

struct cfg_queue {
    char *name;       /* owned; 1..JOB_MAX_QUEUE bytes */
    unsigned weight;  /* >= 1; used when cfg.queue_order is CFG_QUEUES_WEIGHTED */
};

/* Types of a `sql` class's arguments: how args[i] must look and how it is bound to $i+1. */
enum cfg_arg_type {
    CFG_ARG_TEXT,   /* a JSON string */
    CFG_ARG_INT,    /* a JSON integer */
    CFG_ARG_FLOAT,  /* a JSON number */
    CFG_ARG_BOOL,   /* true or false */
    CFG_ARG_JSON,   /* any JSON value, bound as its text */
    CFG_ARG_UUID,   /* a string in 8-4-4-4-12 hex form */
    CFG_ARG_TIME,   /* an ISO 8601 string or epoch seconds, bound as text */
};
#define CFG_MAX_SQL_ARGS 32

/* A `command` class's limits. */
#define CFG_MAX_STEPS 16     /* argv vectors of one `command` list */
#define CFG_MAX_ARGV 256     /* items of one argv, of `env`, of `env_pass` */
#define CFG_MAX_ARG 65536    /* bytes of one argv item, `env` entry or `shell` script */

/* classes[].unique_until: when a unique job's lock is let go (docs/PROTOCOL.md, "Unique
 * jobs"); dead and discarded jobs let it go too, a retry keeps it. */
enum cfg_unique_until {
    CFG_UNIQUE_UNTIL_START,   /* "start": as the job starts */
    CFG_UNIQUE_UNTIL_SUCCESS, /* "success": when it succeeds */
};

/* Per job class settings; a class with no entry uses the worker defaults. */
struct cfg_class {
    char *name;          /* owned; the job's "class" */
    double timeout_s;    /* > 0; defaults to worker.job_timeout */
    bool timeout_set;    /* the entry gives `timeout` (else a class's own default wins) */
    int max_retries;     /* >= 0; used when the job says "retry": true; default worker's */
    unsigned concurrency;/* jobs of this class in flight per process; 0 = no limit */
    unsigned global_concurrency; /* ... in flight across every process; 0 = no limit */
    unsigned rate_limit; /* starts per rate_period across every process; 0 = no limit */
    double rate_period_s;/* > 0 */
    char *sql;           /* owned; a `sql` class: the statement, NULL otherwise */
    char *args;          /* owned; the type list as written, e.g. "int, text" */
    enum cfg_arg_type arg_types[CFG_MAX_SQL_ARGS]; /* parsed from `args` */
    unsigned nargs;      /* = the highest $N of `sql` */
    char *queue;         /* owned; where nexusd enqueues this class itself (schedules,
                            nexusctl enqueue) when not told; NULL: "default" */
    char *url;           /* owned; an `http` (webhook) class: jobs are POSTed here; NULL else */
    char *secret_file;   /* owned; the webhook's HMAC secret is read from this file, or */
    char *secret_env;    /* owned; ... from this environment variable (exactly one is set) */
    char *secret;        /* owned; the secret itself, filled by cfg_load_secrets() */
    /* A `command` class (docs/commands.md): a child process per step, no shell unless
     * `shell` asks for one. */
    char ***command;     /* owned; NULL-terminated list of NULL-terminated argv vectors run
                            in turn (`shell` becomes /bin/sh -c SCRIPT CLASS); NULL when the
                            class is no command class */
    size_t nsteps;       /* entries of `command`, 1..CFG_MAX_STEPS; 0 when none */
    char *shell;         /* owned; the `shell` script as written, NULL when none */
    char *workdir;       /* owned; absolute path; NULL = nexusd's working directory */
    char **env;          /* owned; NULL-terminated "NAME=value" list; NULL when none */
    char **env_pass;     /* owned; NULL-terminated names copied from nexusd's environment */
    unsigned output_limit; /* bytes of stdout+stderr tail kept per step, 1024..16 MiB */
    double kill_grace_s; /* TERM to KILL of the process group, 0..10m */
    bool args_append;    /* the job's args become extra argv items (shell: $1..$n) */
    bool args_options;   /* ... and may start with '-' (options of the program); else refused */
    char *user;          /* owned; the child runs as this user (nexusd must be root); NULL:
                            as nexusd's own user */
    char *group;         /* owned; ... with this group instead of the user's; needs `user` */
    /* resolved from `user` and `group` at load (getpwnam, getgrnam, getgrouplist) */
    uid_t uid;           /* valid when `user` is set; != 0 */
    gid_t gid;
    gid_t *groups;       /* owned; the supplementary groups (initgroups' list), ngroups >= 1 */
    size_t ngroups;
    char *home;          /* owned; the user's home directory, the child's HOME */
    char *parse;         /* owned; output parser: "" (none) | "npm-audit" */
    int fail_level;      /* fail_on "none" | "info" | "low" | "moderate" | "high" | "critical"
                            as a level: 0 = never, 1 = info .. 5 = critical */
    enum cfg_unique_until unique_until; /* when a unique job's lock is let go */
    int line;            /* line of the entry in the file, 0 when none */
};

/* schedules[].missed: what a tick missed while no nexusd ran becomes. */
enum cfg_missed {
    CFG_MISSED_SKIP,     /* "skip": nothing */
    CFG_MISSED_RUN_ONCE, /* "run_once": fired once at start-up */
};
/* The word of `missed` as the file writes it ("skip"); static. */
const char *cfg_missed_name(enum cfg_missed missed);

/* smtp.starttls: STARTTLS on smtp:// URLs. */
enum cfg_starttls {
    CFG_STARTTLS_TRY,    /* "try": when the server offers it */
    CFG_STARTTLS_ALWAYS, /* "always": or fail */
    CFG_STARTTLS_NEVER,  /* "never": plain text */
};

/* worker.queue_order: how a fetch picks among worker.queues. */
enum cfg_queue_order {
    CFG_QUEUES_STRICT,   /* "strict": in the listed order */
    CFG_QUEUES_WEIGHTED, /* "weighted": at random, by weight */
};

/* A recurring job: fired once per tick of `cron` in zone `tz`, across every process. */
struct cfg_schedule {
    char *name;             /* owned; unique, names its Redis keys */
    char *cron;             /* owned; as written */
    struct cron_expr expr;  /* parsed from `cron` */
    char *class_name;       /* owned; the job's class */
    char *args;             /* owned; the job's args as JSON text (an array) */
    char *queue;            /* owned; default: the class entry's queue, else "default" */
    char *tz;               /* owned; IANA zone name, "UTC" by default */
    enum cfg_missed missed; /* "skip" | "run_once" */
    double unique_for_s;    /* its jobs' "unique_for" (docs/PROTOCOL.md): 0 = not unique */
    int line;               /* of the entry in the file */
};

struct cfg {
    unsigned refs;            /* references held: cfg_ref() adds one, cfg_free() drops one */
    char *path;               /* owned; NULL when running on defaults */

    enum log_level log_level; /* log.level: "error" | "warn" | "info" | "debug" */

    char *redis_url;          /* redis.url, env REDIS_URL wins: redis://[:pass@]host[:port][/db]
                                 or unix:///path/to/sock[?db=N] */
    char *redis_namespace;    /* redis.namespace: prefix of every key, "" for none */
    double redis_connect_timeout_s; /* redis.connect_timeout, > 0 */
    bool redis_metered;       /* redis.metered: a Redis billed per command; the defaults of
                                 the intervals below become the metered ones
                                 (conf/cfg_rules.c, docs/operations.md) */
    bool redis_metrics;       /* redis.metrics: the dashboard's per-class counters kept in
                                 Redis with the outcomes; false by default when metered */
    double redis_read_timeout_s; /* redis.read_timeout, > 0: a reply later than this is a lost
                                    connection (blocking commands: their block time added) */
    char *redis_tls_ca_file;     /* redis.tls_ca_file: PEM CA bundle, "" for the system's */
    char *redis_tls_cert_file;   /* redis.tls_cert_file: PEM client certificate, "" for none */
    char *redis_tls_key_file;    /* redis.tls_key_file: its key, "" for none (both or neither) */
    char *redis_tls_server_name; /* redis.tls_server_name: SNI and name checked, "" = URL host */
    bool redis_tls_verify;       /* redis.tls_verify: check the server's certificate and name */
    char **redis_sentinels;      /* redis.sentinels: owned, NULL-terminated "host:port" specs;
                                    NULL: no Sentinel, redis.url's host is the server */
    char *redis_sentinel_master; /* redis.sentinel_master: the master's name ("" without) */
    char *redis_sentinel_username; /* redis.sentinel_username: ACL user on the sentinels */
    char *redis_sentinel_password_file; /* redis.sentinel_password_file, "" for none */
    char *redis_sentinel_password_where; /* owned: "FILE:LINE" of that setting, or NULL */
    char *redis_sentinel_password; /* owned secret: env REDIS_SENTINEL_PASSWORD, else the
                                      file's first line; NULL for none */
    unsigned redis_wait_replicas;  /* redis.wait_replicas: replicas that must have a write
                                      that creates or settles a job (WAIT), 0: none */
    double redis_wait_timeout_s;   /* redis.wait_timeout: WAIT's longest wait, > 0 */

    char *database_url;       /* database.url, env DATABASE_URL wins; NULL when unset */
    char *database_pool_url;  /* database.pool_url (a transaction-mode pooler), env
                                 DATABASE_POOL_URL wins; NULL when unset */
    unsigned database_pool_size;      /* database.pool_size: connections, 1..100 */
    unsigned database_max_waiting;    /* database.max_waiting: queued queries, >= 1 */
    unsigned database_group_commit;   /* database.group_commit: sql jobs' units that may
                                         share one transaction, 1..64 */
    double database_connect_timeout_s;   /* database.connect_timeout, > 0 */
    double database_statement_timeout_s; /* database.statement_timeout, 0 = none */
    bool database_prepared;   /* database.prepared_statements: false behind PgBouncer
                                 (transaction mode) */
    bool database_migrate;    /* database.migrate: apply pending migrations at start-up */
    bool database_history;    /* database.history: record attempts in nexus.job_history */
    double database_history_retention_s; /* database.history_retention, > 0 */
    bool database_outbox;     /* database.outbox: relay nexus.outbox to Redis */
    double database_outbox_interval_s; /* database.outbox_interval: relay poll, > 0 */

    unsigned concurrency;     /* worker.concurrency: jobs in flight per process, 1..100000 */
    struct cfg_queue *queues; /* worker.queues, owned; at least one ("default") */
    size_t nqueues;
    enum cfg_queue_order queue_order; /* worker.queue_order: "strict" | "weighted" */
    double shutdown_timeout_s;/* worker.shutdown_timeout: drain time on SIGTERM, >= 0 */
    double job_timeout_s;     /* worker.job_timeout: default per-job limit, > 0 */
    int max_retries;          /* worker.max_retries: default for "retry": true, 0..1000 */
    double heartbeat_s;       /* worker.heartbeat_interval, > 0 */
    double process_ttl_s;     /* worker.process_ttl: a silent process is dead after, > beat */
    unsigned max_recoveries;  /* worker.max_recoveries: crash recoveries before dead, >= 1 */
    double orphan_sweep_s;    /* worker.orphan_sweep_interval: SCAN for orphaned in-flight
                                 lists this often, 1s..1d */
    double poll_interval_s;   /* worker.poll_interval: longest wait between two looks at
                                 schedule and retry (a due job's latest lateness), > 0 */
    double block_timeout_s;   /* worker.block_timeout: an idle BLMOVE's wait, then one SMEMBERS
                                 of nexus:paused, > 0 */
    unsigned fetch_batch;     /* worker.fetch_batch: jobs per fetch round trip, 1..1000 */
    unsigned prefetch;        /* worker.prefetch: most jobs fetched ahead of a free slot */
    double unknown_class_grace_s; /* worker.unknown_class_grace: a job of a class no handler
                                     knows is put off (not counted) while younger than this,
                                     then dead; 0: dead at once */
    unsigned max_job_size;    /* worker.max_job_size: bytes of a job's text, larger ones go to
                                 dead undecoded (an excerpt, size and SHA-256), 1 KiB..512 MiB */
    unsigned dead_keep_max;   /* worker.dead_keep_max: an undecodable job up to this many bytes
                                 is kept whole in its dead entry, a larger one as an excerpt */
    char *tag;                /* worker.tag: shown with the process, "" for none */

    unsigned dead_max_jobs;   /* dead.max_jobs: size cap of `dead` */
    double dead_max_age_s;    /* dead.max_age: age cap of `dead` */

    bool http_enabled;        /* http.enabled: serve /healthz, /readyz, /metrics, /status */
    char *http_listen;        /* http.listen: "IP:PORT", "[IPv6]:PORT" or "unix:/path" */
    unsigned http_max_connections; /* http.max_connections: open at once, 1..100000 */
    double http_idle_timeout_s;    /* http.idle_timeout: a silent connection is closed, 1s..1h */
    double http_header_timeout_s;  /* http.header_timeout: a request's header must be whole by
                                      then, 0.1s..1h */
    char **http_allowed_hosts;     /* http.allowed_hosts: owned, NULL-terminated Host names
                                      answered beyond loopback's; NULL when none */
    unsigned http_max_body;   /* http.max_body: request body bytes, larger gets 413 */
    unsigned http_max_header; /* http.max_header: request line + header bytes, larger gets 431 */
    char *analytics_funnel_prefix;   /* analytics.funnel_prefix: the app's funnel counter keys
                                        start with it (not under redis.namespace), 1..128 bytes */
    char *analytics_tz;              /* analytics.tz: IANA zone whose days the rollup cuts */
    char *analytics_sales_statuses;  /* analytics.sales_statuses: order statuses that count as
                                        sales, comma-separated words */
    unsigned analytics_max_days;     /* analytics.max_days: longest range of one run, 1..3660 */
    unsigned analytics_scan_count;   /* analytics.scan_count: SCAN's COUNT, 10..100000 */
    unsigned analytics_max_counters; /* analytics.max_counters: counters one run may hold */
    char *http_token_file;    /* http.token_file: the dashboard's bearer token, "" for none */
    char *http_token_where;   /* owned: "FILE:LINE" of http.token_file, NULL when not set */
    char *http_token;         /* owned secret, NULL: the dashboard is read-only; filled by
                                 cfg_load_secrets() from NEXUS_HTTP_TOKEN or http.token_file */
    /* emotion.analyze (docs/emotion.md) */
    char *emotion_url;        /* emotion.url: http(s) base, the model's id appended */
    char *emotion_model;      /* emotion.model: the model's id on the Hub */
    char *emotion_endpoint;   /* emotion.endpoint: full URL used as is instead, "" for none */
    char *emotion_token_file; /* emotion.token_file: path of the token, "" for none */
    char *emotion_token_where;/* owned: "FILE:LINE" of emotion.token_file, NULL when not set */
    char *emotion_token;      /* owned secret: env HF_API_TOKEN, else the token file's line;
                                 NULL when neither (jobs then fail); by cfg_load_secrets() */
    double emotion_timeout_s; /* emotion.timeout: whole request, > 0 */
    double emotion_cache_ttl_s; /* emotion.cache_ttl: 0 = no cache */
    char *emotion_cache_prefix; /* emotion.cache_prefix: not under redis.namespace */
    unsigned emotion_max_text;  /* emotion.max_text: bytes of a job's text */
    unsigned emotion_max_response; /* emotion.max_response: bytes of an answer */
    unsigned emotion_top_k;   /* emotion.top_k: labels asked for; 0 = the endpoint's default */
    double emotion_max_defer_s; /* emotion.max_defer: longest wait a 503/429 may ask for */
    char *smtp_url;           /* smtp.url, env SMTP_URL wins: smtp[s]://[user:pass@]host[:port] */
    char *smtp_username;      /* smtp.username, "" for none (or the URL's) */
    char *smtp_password_file; /* smtp.password_file, "" for none */
    char *smtp_password_where;/* owned: "FILE:LINE" of smtp.password_file, NULL when not set */
    char *smtp_password;      /* owned secret: env SMTP_PASSWORD, else password_file's first
                                 line, else NULL; by cfg_load_secrets(); never logged */
    char *smtp_from;          /* smtp.from: the default sender, a checked address */
    char *smtp_reply_to;      /* smtp.reply_to: a checked address, "" for none */
    enum cfg_starttls smtp_starttls; /* smtp.starttls: "try" | "always" | "never" */
    bool smtp_allow_plaintext_auth; /* smtp.allow_plaintext_auth: AUTH without TLS allowed */
    char *smtp_ca_file;       /* smtp.ca_file: CA bundle for the server, "" for the system's */
    double smtp_connect_timeout_s; /* smtp.connect_timeout, > 0 */
    double smtp_timeout_s;    /* smtp.timeout: one whole SMTP exchange, > 0 */
    char *smtp_templates;     /* smtp.templates: the template directory */
    struct mail_tmpl_set *smtp_tmpls; /* owned: read from smtp_templates at load; NULL when
                                         the default directory does not exist */

    struct cfg_class *classes;/* classes, owned */
    size_t nclasses;
    struct cfg_schedule *schedules; /* schedules, owned */
    size_t nschedules;
};

typedef const char *cfg_getenv_fn(const char *name);

/* Loads `path` (NULL: defaults only), then applies the environment through `get_env`
 * (NULL: no environment; an unset REDIS_URL, DATABASE_URL or SMTP_URL may come from
 * $CREDENTIALS_DIRECTORY, see secret_env()). On success writes *ret_cfg with one reference:
 * caller owns it, release with cfg_free(). On failure returns -EINVAL (or the file's -errno,
 * e.g. -ENOENT) and fills `err` with a sentence naming file and line, e.g.
 * "conf/nexusd.conf:14: worker.concurrency must be 1..100000 (got 0)". Unknown keys are
 * errors. */
int cfg_load(const char *path, cfg_getenv_fn *get_env, struct cfg **ret_cfg, struct err *err);
/* Another reference to `cfg`, for a holder that must outlive a reload (a running job):
 * returns `cfg` (NULL for NULL); release with cfg_free(). */
const struct cfg *cfg_ref(const struct cfg *cfg);
/* Drops one reference; the last one frees the configuration. Accepts NULL. */
void cfg_free(const struct cfg *cfg);

/* Where Redis is and how to reach it (conf/cfg_redis.c): redis.url taken apart with the TLS
 * settings and the read timeout, for every connection nexusd and nexusctl make. Fills *ret
 * (clear with raddr_clear()) and returns 0, or -EINVAL with raddr_parse()'s sentence. */
int cfg_redis_addr(const struct cfg *cfg, struct raddr *ret, struct err *err);

/* Settings that take effect only at start-up (their table rows carry KEY_RESTART):
 * redis.url, redis.namespace, redis.read_timeout, redis.tls_*, database.url, .pool_size,
 * .prepared_statements, .history, .outbox, and http.* but http.token_file. Compares those of
 * section `section` ("redis", "database", "http"; NULL: every section) in `old` and `new`.
 * Returns 0 when they are equal, else -EINVAL with the first one that differs in `err`, by
 * its full name:
 * "redis.url changed: restart nexusd to apply it". */
int cfg_restart_changes(const struct cfg *old, const struct cfg *new, const char *section,
                        struct err *err);

/* Bytes of a dashboard token: a shorter one is refused as guessable. */
#define CFG_TOKEN_MIN 16
#define CFG_TOKEN_MAX 4096
/* Reads the secrets the configuration names (conf/secret.h: an environment variable when set
 * and not empty, or else systemd's credential of that name, else the first line of a file
 * that group and others cannot read): cfg->http_token (NEXUS_HTTP_TOKEN,
 * http.token_file), cfg->emotion_token (HF_API_TOKEN, emotion.token_file) and the `secret`
 * of every http class (its secret_env or secret_file, required). nexusd calls it after
 * cfg_load(), at start-up and on reload; nexusctl does not (the files may be readable by
 * nexusd alone). Returns 0, or a negative errno with a sentence, e.g. "nexusd.conf:31:
 * http.token_file cannot be read: /etc/nexusd/token: No such file or directory" or
 * "NEXUS_HTTP_TOKEN must be 16..4096 bytes (got 5)". */
int cfg_load_secrets(struct cfg *cfg, cfg_getenv_fn *get_env, struct err *err);
/* What only nexusd's own process can check: a class with `user` needs nexusd to run as root
 * (`euid` 0), to drop to that user in the child. nexusd calls it at start-up and on reload,
 * nexusctl does not. Returns 0, or -EPERM with a sentence naming file and line. */
int cfg_check_run_as(const struct cfg *cfg, unsigned euid, struct err *err);

/* The schedule named `name`, or NULL. Borrowed, valid until cfg_free(). */
const struct cfg_schedule *cfg_schedule_find(const struct cfg *cfg, const char *name);
/* The class entry for `name`, or NULL. Borrowed, valid until cfg_free(). */
const struct cfg_class *cfg_class_find(const struct cfg *cfg, const char *name);
/* The queue nexusd puts a job of `class_name` in when nobody said: the class entry's
 * `queue`, else "default". Borrowed, valid until cfg_free(); `cfg` may be NULL. */
const char *cfg_class_queue(const struct cfg *cfg, const char *class_name);

#endif
