/* cfg.h - the configuration: libconfig file + environment -> validated struct cfg. */
#ifndef CFG_H
#define CFG_H

#include <stdbool.h>
#include <stddef.h>

#include "../daemon/cron.h"
#include "../daemon/log.h"

struct err;
struct mail_tmpl_set;

struct cfg_queue {
    char *name;       /* owned; 1..JOB_MAX_QUEUE bytes */
    unsigned weight;  /* >= 1; used when cfg.queues_weighted */
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

/* Per job class settings; a class with no entry uses the worker defaults. */
struct cfg_class {
    char *name;          /* owned; the job's "class" */
    double timeout_s;    /* > 0; defaults to worker.job_timeout */
    int max_retries;     /* >= 0; used when the job says "retry": true; default worker's */
    unsigned concurrency;/* jobs of this class in flight per process; 0 = no limit */
    unsigned global_concurrency; /* ... in flight across every process; 0 = no limit */
    unsigned rate_limit; /* starts per rate_period across every process; 0 = no limit */
    double rate_period_s;/* > 0 */
    char *sql;           /* owned; a `sql` class: the statement, NULL otherwise */
    char *args;          /* owned; the type list as written, e.g. "int, text" */
    enum cfg_arg_type arg_types[CFG_MAX_SQL_ARGS]; /* parsed from `args` */
    unsigned nargs;      /* = the highest $N of `sql` */
    int line;            /* line of the entry in the file, 0 when none */
};

/* A recurring job: fired once per tick of `cron` in zone `tz`, across every process. */
struct cfg_schedule {
    char *name;             /* owned; unique, names its Redis keys */
    char *cron;             /* owned; as written */
    struct cron_expr expr;  /* parsed from `cron` */
    char *class_name;       /* owned; the job's class */
    char *args;             /* owned; the job's args as JSON text (an array) */
    char *queue;            /* owned */
    char *tz;               /* owned; IANA zone name, "UTC" by default */
    char *missed;           /* owned; "skip" | "run_once" */
    bool run_missed;        /* missed == "run_once": a tick missed while no nexusd ran is
                               fired once at start-up */
    int line;               /* of the entry in the file */
};

struct cfg {
    char *path;               /* owned; NULL when running on defaults */

    enum log_level log_level; /* log.level: "error" | "warn" | "info" | "debug" */

    char *redis_url;          /* redis.url, env REDIS_URL wins: redis://[:pass@]host[:port][/db]
                                 or unix:///path/to/sock[?db=N] */
    char *redis_namespace;    /* redis.namespace: prefix of every key, "" for none */
    double redis_connect_timeout_s; /* redis.connect_timeout, > 0 */

    char *database_url;       /* database.url, env DATABASE_URL wins; NULL when unset */
    unsigned database_pool_size;      /* database.pool_size: connections, 1..100 */
    unsigned database_max_waiting;    /* database.max_waiting: queued queries, >= 1 */
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
    bool queues_weighted;     /* worker.queue_order: "strict" (false) | "weighted" (true) */
    double shutdown_timeout_s;/* worker.shutdown_timeout: drain time on SIGTERM, >= 0 */
    double job_timeout_s;     /* worker.job_timeout: default per-job limit, > 0 */
    int max_retries;          /* worker.max_retries: default for "retry": true, 0..1000 */
    double heartbeat_s;       /* worker.heartbeat_interval, > 0 */
    double process_ttl_s;     /* worker.process_ttl: a silent process is dead after, > beat */
    unsigned max_recoveries;  /* worker.max_recoveries: crash recoveries before dead, >= 1 */
    double poll_interval_s;   /* worker.poll_interval: schedule/retry poll, > 0 */
    unsigned fetch_batch;     /* worker.fetch_batch: jobs per fetch round trip, 1..1000 */
    char *tag;                /* worker.tag: shown with the process, "" for none */

    unsigned dead_max_jobs;   /* dead.max_jobs: size cap of `dead` */
    double dead_max_age_s;    /* dead.max_age: age cap of `dead` */

    char *smtp_url;           /* smtp.url, env SMTP_URL wins: smtp[s]://[user:pass@]host[:port] */
    char *smtp_username;      /* smtp.username, "" for none (or the URL's) */
    char *smtp_password_file; /* smtp.password_file, "" for none */
    char *smtp_password;      /* owned: env SMTP_PASSWORD, else password_file's first line,
                                 else ""; never logged */
    char *smtp_from;          /* smtp.from: the default sender, a checked address */
    char *smtp_reply_to;      /* smtp.reply_to: a checked address, "" for none */
    char *smtp_starttls;      /* smtp.starttls: "try" | "always" | "never" */
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
 * (NULL: no environment). On success writes *ret_cfg: caller owns it, release with
 * cfg_free(). On failure returns -EINVAL (or -ENOMEM, -ENOENT) and fills `err` with a
 * sentence naming file and line, e.g.
 * "conf/nexusd.conf:14: worker.concurrency must be 1..100000 (got 0)". Unknown keys are
 * errors. */
int cfg_load(const char *path, cfg_getenv_fn *get_env, struct cfg **ret_cfg, struct err *err);
void cfg_free(struct cfg *cfg);

/* The schedule named `name`, or NULL. Borrowed, valid until cfg_free(). */
const struct cfg_schedule *cfg_schedule_find(const struct cfg *cfg, const char *name);
/* The class entry for `name`, or NULL. Borrowed, valid until cfg_free(). */
const struct cfg_class *cfg_class_find(const struct cfg *cfg, const char *name);

#endif
