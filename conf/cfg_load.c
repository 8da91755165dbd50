/* cfg.c - reads the libconfig file, checks every setting against its table, applies env. */
#include "conf/cfg.h"

#include <assert.h>
#include <errno.h>
#include <jansson.h>
#include <libconfig.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <strings.h>
#include <grp.h>
#include <pwd.h>
#include <sys/socket.h>

#include "conf/secret.h"
#include "lib/err.h"
#include "lib/httpd_host.h"
#include "lib/job.h"
#include "lib/mail_msg.h"
#include "lib/mail_tmpl.h"
#include "lib/parse.h"
#include "lib/raddr.h"
#include "lib/urlmask.h"

/* Every size the file controls has one named maximum. */
#define CFG_MAX_URL 4096  /* redis.url, database.url bytes */
#define CFG_MAX_SECRET 1024 /* bytes of a webhook secret or the SMTP password */
#define CFG_MAX_SQL 65536 /* a sql class's statement bytes */
#define CFG_MAX_SCHEDULES 1000
#define CFG_MAX_SCHEDULE_NAME 128
#define CFG_MAX_SCHEDULE_ARGS 65536
#define CFG_MAX_NAMESPACE 128 /* redis.namespace bytes */
#define CFG_MAX_TAG 64        /* worker.tag bytes */
#define CFG_MAX_QUEUES 1000   /* entries of worker.queues */
#define CFG_MAX_CLASSES 10000 /* entries of classes */
#define CFG_MAX_NAME 128      /* a setting's full name, e.g. "worker.queues[12].weight" */
#define CFG_MAX_PATH 4096     /* smtp.password_file, smtp.ca_file, smtp.templates bytes */
#define CFG_MAX_USER 256      /* a command class's user and group names */
#define CFG_MAX_GROUPS 65536  /* supplementary groups of a command class's user (NGROUPS_MAX) */

#define MIN 60.0
#define DAY 86400.0
#define INHERIT (-1.0) /* class default meaning "the worker's value", filled after the file */
#define NELEMS(a) (sizeof(a) / sizeof((a)[0]))

enum key_type {
    KEY_GROUP,    /* a group of settings, parsed with `sub` into the same base */
    KEY_UINT,     /* unsigned, an integer min..max */
    KEY_INT,      /* int, an integer min..max */
    KEY_DURATION, /* double seconds: a number or a string with a unit, min..max */
    KEY_STRING,   /* char *, owned: min..max bytes, no control characters */
    KEY_NAME,     /* as KEY_STRING, and no spaces either (queue names) */
    KEY_LEVEL,    /* enum log_level, by log_level_parse() */
    KEY_ORDER,    /* bool: "strict" (false) | "weighted" (true) */
    KEY_BOOL,     /* bool: true | false; def 0 or 1 */
    KEY_QUEUES,   /* cfg.queues + nqueues: entries are a name or a group parsed with `sub` */
    KEY_LIST,     /* a list of named groups parsed with `sub`, described by `list` */
    KEY_STRINGS,  /* char **, owned, NULL-terminated: an array or list of max strings */
    KEY_ARGVS,    /* char ***, owned: one argv (strings) or a list of max argv arrays */
};

struct load;

/* A list of groups each with a unique name (classes, schedules): where the array and its
 * count live in struct cfg, and what one entry is. */
struct group_list {
    const char *what; /* "class", for messages */
    size_t size;      /* bytes of one entry */
    size_t array_at;  /* offset of the entries' pointer in struct cfg */
    size_t count_at;  /* offset of their size_t count */
    size_t name_at;   /* offset of the char *name in an entry */
    size_t line_at;   /* offset of the int line in an entry */
    /* checks an entry once its keys are read; NULL for none */
    int (*check)(struct load *ld, const config_setting_t *e, const char *name, void *entry);
    /* frees what `check` added to an entry beyond its keys; NULL for nothing */
    void (*clear)(void *entry);
};

/* One setting: where it goes, what it may hold, what it holds when the file is silent. */
struct key {
    const char *name; /* inside its group */
    enum key_type type;
    double min, max;       /* numbers: the range; strings: bytes; lists: entries */
    double def;            /* numbers: the default (INHERIT: the worker's) */
    const char *def_str;   /* strings, enums, queues: the default; NULL: none (required) */
    size_t offset;         /* destination in the base struct */
    const struct key *sub; /* KEY_GROUP, KEY_QUEUES, KEY_LIST: the entries' keys */
    size_t nsub;
    const struct group_list *list; /* KEY_LIST */
};

#define AT(field) offsetof(struct cfg, field)
#define QUEUE_AT(field) offsetof(struct cfg_queue, field)
#define CLASS_AT(field) offsetof(struct cfg_class, field)

static const struct key log_keys[] = {
    {"level", KEY_LEVEL, 0, 0, 0, "info", AT(log_level), NULL, 0, NULL},
};

static const struct key redis_keys[] = {
    {"url", KEY_STRING, 1, CFG_MAX_URL, 0, "redis://127.0.0.1:6379/0", AT(redis_url), NULL, 0,
     NULL},
    {"namespace", KEY_STRING, 0, CFG_MAX_NAMESPACE, 0, "", AT(redis_namespace), NULL, 0, NULL},
    {"connect_timeout", KEY_DURATION, 0.001, 300, 5, NULL, AT(redis_connect_timeout_s), NULL, 0,
     NULL},
};

static const struct key database_keys[] = {
    {"url", KEY_STRING, 0, CFG_MAX_URL, 0, "", AT(database_url), NULL, 0, NULL},
    {"pool_size", KEY_UINT, 1, 100, 4, NULL, AT(database_pool_size), NULL, 0, NULL},
    {"max_waiting", KEY_UINT, 1, 1000000, 10000, NULL, AT(database_max_waiting), NULL, 0, NULL},
    {"connect_timeout", KEY_DURATION, 0.001, 300, 5, NULL, AT(database_connect_timeout_s), NULL, 0,
     NULL},
    {"statement_timeout", KEY_DURATION, 0, DAY, 30, NULL, AT(database_statement_timeout_s), NULL, 0,
     NULL},
    {"prepared_statements", KEY_BOOL, 0, 1, 1, NULL, AT(database_prepared), NULL, 0, NULL},
    {"migrate", KEY_BOOL, 0, 1, 0, NULL, AT(database_migrate), NULL, 0, NULL},
    {"history", KEY_BOOL, 0, 1, 1, NULL, AT(database_history), NULL, 0, NULL},
    {"history_retention", KEY_DURATION, 0.001, 3650 * DAY, 30 * DAY, NULL,
     AT(database_history_retention_s), NULL, 0, NULL},
    {"outbox", KEY_BOOL, 0, 1, 1, NULL, AT(database_outbox), NULL, 0, NULL},
    {"outbox_interval", KEY_DURATION, 0.01, 60, 1, NULL, AT(database_outbox_interval_s), NULL, 0,
     NULL},
};

static const struct key queue_keys[] = {
    {"name", KEY_NAME, 1, JOB_MAX_QUEUE, 0, NULL, QUEUE_AT(name), NULL, 0, NULL},
    {"weight", KEY_UINT, 1, 1000, 1, NULL, QUEUE_AT(weight), NULL, 0, NULL},
};

static const struct key worker_keys[] = {
    {"concurrency", KEY_UINT, 1, 100000, 50, NULL, AT(concurrency), NULL, 0, NULL},
    {"queues", KEY_QUEUES, 1, CFG_MAX_QUEUES, 0, "default", AT(queues), queue_keys,
     NELEMS(queue_keys), NULL},
    {"queue_order", KEY_ORDER, 0, 0, 0, "strict", AT(queues_weighted), NULL, 0, NULL},
    {"shutdown_timeout", KEY_DURATION, 0, 3600, 25, NULL, AT(shutdown_timeout_s), NULL, 0, NULL},
    {"job_timeout", KEY_DURATION, 0.001, 7 * DAY, 30 * MIN, NULL, AT(job_timeout_s), NULL, 0, NULL},
    {"max_retries", KEY_INT, 0, 1000, 25, NULL, AT(max_retries), NULL, 0, NULL},
    {"heartbeat_interval", KEY_DURATION, 0.1, 300, 5, NULL, AT(heartbeat_s), NULL, 0, NULL},
    {"process_ttl", KEY_DURATION, 0.2, DAY, 60, NULL, AT(process_ttl_s), NULL, 0, NULL},
    {"max_recoveries", KEY_UINT, 1, 1000, 3, NULL, AT(max_recoveries), NULL, 0, NULL},
    {"orphan_sweep_interval", KEY_DURATION, 1, DAY, 60, NULL, AT(orphan_sweep_s), NULL, 0, NULL},
    {"poll_interval", KEY_DURATION, 0.01, 60, 1, NULL, AT(poll_interval_s), NULL, 0, NULL},
    {"fetch_batch", KEY_UINT, 1, 1000, 100, NULL, AT(fetch_batch), NULL, 0, NULL},
    {"max_job_size", KEY_UINT, 1024, JOB_MAX_BYTES, 1048576, NULL, AT(max_job_size), NULL, 0,
     NULL},
    {"dead_keep_max", KEY_UINT, 0, JOB_MAX_BYTES, 65536, NULL, AT(dead_keep_max), NULL, 0, NULL},
    {"tag", KEY_STRING, 0, CFG_MAX_TAG, 0, "", AT(tag), NULL, 0, NULL},
};

static const struct key dead_keys[] = {
    {"max_jobs", KEY_UINT, 1, 10000000, 10000, NULL, AT(dead_max_jobs), NULL, 0, NULL},
    {"max_age", KEY_DURATION, 0.001, 3650 * DAY, 180 * DAY, NULL, AT(dead_max_age_s), NULL, 0,
     NULL},
};

#define CFG_MAX_LISTEN 120 /* http.listen bytes: "unix:" + a socket path */
#define CFG_MAX_HTTP_CONNECTIONS 100000 /* http.max_connections */
#define CFG_MAX_ALLOWED_HOSTS 64        /* entries of http.allowed_hosts */

static const struct key http_keys[] = {
    {"enabled", KEY_BOOL, 0, 1, 1, NULL, AT(http_enabled), NULL, 0, NULL},
    {"listen", KEY_STRING, 1, CFG_MAX_LISTEN, 0, "127.0.0.1:7411", AT(http_listen), NULL, 0, NULL},
    {"max_connections", KEY_UINT, 1, CFG_MAX_HTTP_CONNECTIONS, 4096, NULL,
     AT(http_max_connections), NULL, 0, NULL},
    {"idle_timeout", KEY_DURATION, 1, 3600, 30, NULL, AT(http_idle_timeout_s), NULL, 0, NULL},
    {"header_timeout", KEY_DURATION, 0.1, 3600, 10, NULL, AT(http_header_timeout_s), NULL, 0,
     NULL},
    {"allowed_hosts", KEY_STRINGS, 0, CFG_MAX_ALLOWED_HOSTS, 0, NULL, AT(http_allowed_hosts), NULL,
     0, NULL},
    {"max_body", KEY_UINT, 0, 16777216, 65536, NULL, AT(http_max_body), NULL, 0, NULL},
    {"max_header", KEY_UINT, 2048, 1048576, 16384, NULL, AT(http_max_header), NULL, 0, NULL},
    {"token_file", KEY_STRING, 0, CFG_MAX_URL, 0, "", AT(http_token_file), NULL, 0, NULL},
};

static const struct key analytics_keys[] = {
    {"funnel_prefix", KEY_STRING, 1, CFG_MAX_NAMESPACE, 0, "funnel:", AT(analytics_funnel_prefix),
     NULL, 0, NULL},
    {"tz", KEY_STRING, 1, 64, 0, "UTC", AT(analytics_tz), NULL, 0, NULL},
    {"sales_statuses", KEY_STRING, 1, 1024, 0, "paid", AT(analytics_sales_statuses), NULL, 0,
     NULL},
    {"max_days", KEY_UINT, 1, 3660, 366, NULL, AT(analytics_max_days), NULL, 0, NULL},
    {"scan_count", KEY_UINT, 10, 100000, 1000, NULL, AT(analytics_scan_count), NULL, 0, NULL},
    {"max_counters", KEY_UINT, 1, 10000000, 1000000, NULL, AT(analytics_max_counters), NULL, 0,
     NULL},
};

static const struct key emotion_keys[] = {
    {"url", KEY_NAME, 1, CFG_MAX_URL, 0, "https://router.huggingface.co/hf-inference/models",
     AT(emotion_url), NULL, 0, NULL},
    {"model", KEY_NAME, 1, 256, 0, "j-hartmann/emotion-english-distilroberta-base",
     AT(emotion_model), NULL, 0, NULL},
    {"endpoint", KEY_NAME, 0, CFG_MAX_URL, 0, "", AT(emotion_endpoint), NULL, 0, NULL},
    {"token_file", KEY_STRING, 0, 4096, 0, "", AT(emotion_token_file), NULL, 0, NULL},
    {"timeout", KEY_DURATION, 0.001, 10 * MIN, 30, NULL, AT(emotion_timeout_s), NULL, 0, NULL},
    {"cache_ttl", KEY_DURATION, 0, 30 * DAY, 3600, NULL, AT(emotion_cache_ttl_s), NULL, 0, NULL},
    {"cache_prefix", KEY_NAME, 0, CFG_MAX_NAMESPACE, 0, "emotion:", AT(emotion_cache_prefix),
     NULL, 0, NULL},
    {"max_text", KEY_UINT, 1, 1000000, 10000, NULL, AT(emotion_max_text), NULL, 0, NULL},
    {"max_response", KEY_UINT, 1024, 64 << 20, 1 << 20, NULL, AT(emotion_max_response), NULL, 0,
     NULL},
    {"top_k", KEY_UINT, 0, 1000, 0, NULL, AT(emotion_top_k), NULL, 0, NULL},
    {"max_defer", KEY_DURATION, 1, DAY, 3600, NULL, AT(emotion_max_defer_s), NULL, 0, NULL},
};

static const struct key smtp_keys[] = {
    {"url", KEY_STRING, 1, CFG_MAX_URL, 0, "smtp://127.0.0.1:25", AT(smtp_url), NULL, 0, NULL},
    {"username", KEY_STRING, 0, 256, 0, "", AT(smtp_username), NULL, 0, NULL},
    {"password_file", KEY_STRING, 0, CFG_MAX_PATH, 0, "", AT(smtp_password_file), NULL, 0, NULL},
    {"from", KEY_STRING, 1, 600, 0, "Nexus Sales <no-reply@example.com>", AT(smtp_from), NULL, 0,
     NULL},
    {"reply_to", KEY_STRING, 0, 600, 0, "", AT(smtp_reply_to), NULL, 0, NULL},
    {"starttls", KEY_STRING, 1, 16, 0, "try", AT(smtp_starttls), NULL, 0, NULL},
    {"allow_plaintext_auth", KEY_BOOL, 0, 1, 0, NULL, AT(smtp_allow_plaintext_auth), NULL, 0,
     NULL},
    {"ca_file", KEY_STRING, 0, CFG_MAX_PATH, 0, "", AT(smtp_ca_file), NULL, 0, NULL},
    {"connect_timeout", KEY_DURATION, 0.001, 300, 10, NULL, AT(smtp_connect_timeout_s), NULL, 0,
     NULL},
    {"timeout", KEY_DURATION, 0.001, 3600, 60, NULL, AT(smtp_timeout_s), NULL, 0, NULL},
    {"templates", KEY_STRING, 1, CFG_MAX_PATH, 0, "/etc/nexusd/templates", AT(smtp_templates),
     NULL, 0, NULL},
};

static const struct key class_keys[] = {
    {"name", KEY_STRING, 1, JOB_MAX_CLASS, 0, NULL, CLASS_AT(name), NULL, 0, NULL},
    {"timeout", KEY_DURATION, 0.001, 7 * DAY, INHERIT, NULL, CLASS_AT(timeout_s), NULL, 0, NULL},
    {"max_retries", KEY_INT, 0, 1000, INHERIT, NULL, CLASS_AT(max_retries), NULL, 0, NULL},
    {"concurrency", KEY_UINT, 0, 100000, 0, NULL, CLASS_AT(concurrency), NULL, 0, NULL},
    {"global_concurrency", KEY_UINT, 0, 100000, 0, NULL, CLASS_AT(global_concurrency), NULL, 0,
     NULL},
    {"rate_limit", KEY_UINT, 0, 1000000, 0, NULL, CLASS_AT(rate_limit), NULL, 0, NULL},
    {"rate_period", KEY_DURATION, 0.001, DAY, 1, NULL, CLASS_AT(rate_period_s), NULL, 0, NULL},
    {"sql", KEY_STRING, 1, CFG_MAX_SQL, 0, NULL, CLASS_AT(sql), NULL, 0, NULL},
    {"args", KEY_STRING, 0, 1024, 0, NULL, CLASS_AT(args), NULL, 0, NULL},
    {"queue", KEY_NAME, 1, JOB_MAX_QUEUE, 0, NULL, CLASS_AT(queue), NULL, 0, NULL},
    {"url", KEY_STRING, 1, CFG_MAX_URL, 0, NULL, CLASS_AT(url), NULL, 0, NULL},
    {"secret_file", KEY_STRING, 1, 4096, 0, NULL, CLASS_AT(secret_file), NULL, 0, NULL},
    {"secret_env", KEY_NAME, 1, 128, 0, NULL, CLASS_AT(secret_env), NULL, 0, NULL},
    {"command", KEY_ARGVS, 1, CFG_MAX_STEPS, 0, NULL, CLASS_AT(command), NULL, 0, NULL},
    {"shell", KEY_STRING, 1, CFG_MAX_ARG, 0, NULL, CLASS_AT(shell), NULL, 0, NULL},
    {"workdir", KEY_STRING, 1, 4096, 0, NULL, CLASS_AT(workdir), NULL, 0, NULL},
    {"env", KEY_STRINGS, 0, CFG_MAX_ARGV, 0, NULL, CLASS_AT(env), NULL, 0, NULL},
    {"env_pass", KEY_STRINGS, 0, CFG_MAX_ARGV, 0, NULL, CLASS_AT(env_pass), NULL, 0, NULL},
    {"output_limit", KEY_UINT, 1024, 16 << 20, 65536, NULL, CLASS_AT(output_limit), NULL, 0, NULL},
    {"kill_grace", KEY_DURATION, 0, 10 * MIN, 10, NULL, CLASS_AT(kill_grace_s), NULL, 0, NULL},
    {"args_append", KEY_BOOL, 0, 1, 0, NULL, CLASS_AT(args_append), NULL, 0, NULL},
    {"args_options", KEY_BOOL, 0, 1, 0, NULL, CLASS_AT(args_options), NULL, 0, NULL},
    {"user", KEY_NAME, 1, CFG_MAX_USER, 0, NULL, CLASS_AT(user), NULL, 0, NULL},
    {"group", KEY_NAME, 1, CFG_MAX_USER, 0, NULL, CLASS_AT(group), NULL, 0, NULL},
    {"parse", KEY_STRING, 0, 32, 0, "", CLASS_AT(parse), NULL, 0, NULL},
    {"fail_on", KEY_STRING, 1, 32, 0, "none", CLASS_AT(fail_on), NULL, 0, NULL},
};

#define SCHED_AT(field) offsetof(struct cfg_schedule, field)

static const struct key schedule_keys[] = {
    {"name", KEY_STRING, 1, CFG_MAX_SCHEDULE_NAME, 0, NULL, SCHED_AT(name), NULL, 0, NULL},
    {"cron", KEY_STRING, 1, CRON_TEXT_MAX, 0, NULL, SCHED_AT(cron), NULL, 0, NULL},
    {"class", KEY_STRING, 1, JOB_MAX_CLASS, 0, NULL, SCHED_AT(class_name), NULL, 0, NULL},
    {"args", KEY_STRING, 2, CFG_MAX_SCHEDULE_ARGS, 0, "[]", SCHED_AT(args), NULL, 0, NULL},
    {"queue", KEY_NAME, 1, JOB_MAX_QUEUE, 0, NULL, SCHED_AT(queue), NULL, 0, NULL},
    {"tz", KEY_STRING, 1, 64, 0, "UTC", SCHED_AT(tz), NULL, 0, NULL},
    {"missed", KEY_STRING, 1, 16, 0, "skip", SCHED_AT(missed), NULL, 0, NULL},
};

static int class_check(struct load *ld, const config_setting_t *e, const char *name, void *entry);
static void class_clear(void *entry);
static int schedule_check(struct load *ld, const config_setting_t *e, const char *name,
                          void *entry);

static const struct group_list class_list = {
    "class",        sizeof(struct cfg_class), AT(classes),     AT(nclasses),
    CLASS_AT(name), CLASS_AT(line),           class_check,              class_clear,
};

static const struct group_list schedule_list = {
    "schedule",     sizeof(struct cfg_schedule),
    AT(schedules),  AT(nschedules),
    SCHED_AT(name), SCHED_AT(line),
    schedule_check, NULL,
};

static const struct key root_keys[] = {
    {"log", KEY_GROUP, 0, 0, 0, NULL, 0, log_keys, NELEMS(log_keys), NULL},
    {"redis", KEY_GROUP, 0, 0, 0, NULL, 0, redis_keys, NELEMS(redis_keys), NULL},
    {"database", KEY_GROUP, 0, 0, 0, NULL, 0, database_keys, NELEMS(database_keys), NULL},
    {"worker", KEY_GROUP, 0, 0, 0, NULL, 0, worker_keys, NELEMS(worker_keys), NULL},
    {"dead", KEY_GROUP, 0, 0, 0, NULL, 0, dead_keys, NELEMS(dead_keys), NULL},
    {"http", KEY_GROUP, 0, 0, 0, NULL, 0, http_keys, NELEMS(http_keys), NULL},
    {"analytics", KEY_GROUP, 0, 0, 0, NULL, 0, analytics_keys, NELEMS(analytics_keys), NULL},
    {"emotion", KEY_GROUP, 0, 0, 0, NULL, 0, emotion_keys, NELEMS(emotion_keys), NULL},
    {"smtp", KEY_GROUP, 0, 0, 0, NULL, 0, smtp_keys, NELEMS(smtp_keys), NULL},
    {"classes", KEY_LIST, 0, CFG_MAX_CLASSES, 0, NULL, 0, class_keys, NELEMS(class_keys),
     &class_list},
    {"schedules", KEY_LIST, 0, CFG_MAX_SCHEDULES, 0, NULL, 0, schedule_keys, NELEMS(schedule_keys),
     &schedule_list},
};

static const char *const order_names[] = {"strict", "weighted"}; /* index = queues_weighted */

/* One load in progress. */
struct load {
    struct cfg *cfg; /* being filled; freed by the caller on failure */
    struct err *err;
    char url_where[ERR_MSG_MAX]; /* "FILE:LINE" of redis.url, "" when it is the default */
    bool smtp_url_env;           /* smtp.url came from SMTP_URL */
    char starttls_where[ERR_MSG_MAX]; /* "FILE:LINE" of smtp.starttls, "" when not set */
};

#define GOT_MAX 128 /* a value shown in a message, quoted and cut */

static int value_load(struct load *ld, const config_setting_t *s, const char *name,
                      const struct key *key, void *base);
static int fail_at(const config_setting_t *s, struct err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void queues_clear(struct cfg *cfg);
static void list_clear(const struct key *key, struct cfg *cfg);
static void strv_free(char **v);
static void argvs_free(char ***v);
static const char *url_show(const char *url, char *buf, size_t size);
static int strings_load(struct load *ld, const config_setting_t *s, const char *name,
                        const struct key *key, void *base);
static int argvs_load(struct load *ld, const config_setting_t *s, const char *name,
                      const struct key *key, void *base);

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *copy = malloc(n);

    if (copy)
        memcpy(copy, s, n);
    return copy;
}

static int nomem(struct err *err)
{
    return err_set(err, -ENOMEM, "out of memory while loading the configuration");
}

static void *field(void *base, const struct key *key)
{
    return (char *)base + key->offset;
}

/* Replaces the owned string at `key` in `base` with a copy of `s`. */
static int string_set(const struct key *key, const char *s, void *base, struct err *err)
{
    char **dst = field(base, key);
    char *copy = dup_str(s);

    if (!copy)
        return nomem(err);
    free(*dst);
    *dst = copy;
    return 0;
}

/* Fails with "FILE:LINE: <message>" at setting `s`. */
static int fail_at(const config_setting_t *s, struct err *err, int code, const char *fmt, ...)
{
    const char *file = config_setting_source_file(s);
    char msg[ERR_MSG_MAX];
    va_list ap;

    va_start(ap, fmt);
    (void)vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return err_set(err, code, "%s:%u: %s", file ? file : "?",
                   (unsigned)config_setting_source_line(s), msg);
}

/* err_quote() of a setting's text, cut after 80 bytes. `size` >= 16. */
static const char *quote(const char *s, char *buf, size_t size)
{
    return err_quote(s, strlen(s), 80, buf, size);
}

/* What a setting holds, for "(got ...)": its value, or its kind when it is not a scalar. */
static const char *got(const config_setting_t *s, char *buf, size_t size)
{
    switch (config_setting_type(s)) {
    case CONFIG_TYPE_INT:
    case CONFIG_TYPE_INT64:
        (void)snprintf(buf, size, "%lld", config_setting_get_int64(s));
        return buf;
    case CONFIG_TYPE_FLOAT:
        (void)snprintf(buf, size, "%g", config_setting_get_float(s));
        return buf;
    case CONFIG_TYPE_BOOL:
        return config_setting_get_bool(s) ? "true" : "false";
    case CONFIG_TYPE_STRING:
        return quote(config_setting_get_string(s), buf, size);
    case CONFIG_TYPE_GROUP:
        return "a group";
    case CONFIG_TYPE_ARRAY:
        return "an array";
    case CONFIG_TYPE_LIST:
        return "a list";
    default:
        return "nothing";
    }
}

/* Seconds in the largest unit that keeps them whole: 604800 -> "7d", 0.25 -> "250ms". */
static const char *duration_fmt(double s, char *buf, size_t size)
{
    static const struct {
        const char *suffix;
        double seconds;
    } units[] = {{"d", DAY}, {"h", 3600}, {"m", MIN}, {"s", 1}, {"ms", 0.001}};

    for (size_t i = 0; i < NELEMS(units); i++) {
        double n = s / units[i].seconds;

        if (n >= 1 && n < 1e15 && fabs(n - round(n)) < 1e-9 * n) {
            (void)snprintf(buf, size, "%.0f%s", round(n), units[i].suffix);
            return buf;
        }
    }
    (void)snprintf(buf, size, "%gs", s);
    return buf;
}

/* The allowed range of a number: "1..100000", or "1ms..7d" for a duration. */
static const char *range_fmt(const struct key *key, char *buf, size_t size)
{
    char lo[32], hi[32];

    if (key->type == KEY_DURATION)
        (void)snprintf(buf, size, "%s..%s", duration_fmt(key->min, lo, sizeof(lo)),
                       duration_fmt(key->max, hi, sizeof(hi)));
    else
        (void)snprintf(buf, size, "%.0f..%.0f", key->min, key->max);
    return buf;
}

/* The allowed size of a string: "at most 64 bytes" or "1..128 bytes". */
static const char *bytes_fmt(const struct key *key, char *buf, size_t size)
{
    if (key->min == 0)
        (void)snprintf(buf, size, "at most %.0f bytes", key->max);
    else
        (void)snprintf(buf, size, "%.0f..%.0f bytes", key->min, key->max);
    return buf;
}

static const struct key *key_find(const struct key *keys, size_t nkeys, const char *name)
{
    for (size_t i = 0; i < nkeys; i++)
        if (strcmp(keys[i].name, name) == 0)
            return &keys[i];
    return NULL;
}

static int level_set(const struct key *key, const char *s, void *base)
{
    return log_level_parse(s, field(base, key));
}

static int order_set(const struct key *key, const char *s, void *base)
{
    for (size_t i = 0; i < NELEMS(order_names); i++) {
        if (strcmp(s, order_names[i]) == 0) {
            *(bool *)field(base, key) = i == 1;
            return 0;
        }
    }
    return -EINVAL;
}

/* Frees what `keys` own in `base`: strings and lists. */
static void keys_free(const struct key *keys, size_t nkeys, void *base)
{
    for (size_t i = 0; i < nkeys; i++) {
        const struct key *key = &keys[i];

        switch (key->type) {
        case KEY_GROUP:
            keys_free(key->sub, key->nsub, base);
            break;
        case KEY_STRING:
        case KEY_NAME:
            free(*(char **)field(base, key));
            *(char **)field(base, key) = NULL;
            break;
        case KEY_QUEUES:
            queues_clear(base);
            break;
        case KEY_LIST:
            list_clear(key, base);
            break;
        case KEY_STRINGS:
            strv_free(*(char ***)field(base, key));
            *(char ***)field(base, key) = NULL;
            break;
        case KEY_ARGVS:
            argvs_free(*(char ****)field(base, key));
            *(char ****)field(base, key) = NULL;
            break;
        default:
            break;
        }
    }
}

static void queues_clear(struct cfg *cfg)
{
    for (size_t i = 0; i < cfg->nqueues; i++)
        keys_free(queue_keys, NELEMS(queue_keys), &cfg->queues[i]);
    free(cfg->queues);
    cfg->queues = NULL;
    cfg->nqueues = 0;
}

static void **list_array(const struct group_list *gl, struct cfg *cfg)
{
    return (void **)((char *)cfg + gl->array_at);
}

static size_t *list_count(const struct group_list *gl, struct cfg *cfg)
{
    return (size_t *)((char *)cfg + gl->count_at);
}

static char *list_entry(const struct group_list *gl, struct cfg *cfg, size_t i)
{
    return (char *)*list_array(gl, cfg) + i * gl->size;
}

static void list_clear(const struct key *key, struct cfg *cfg)
{
    const struct group_list *gl = key->list;

    for (size_t i = 0; i < *list_count(gl, cfg); i++) {
        keys_free(key->sub, key->nsub, list_entry(gl, cfg, i));
        if (gl->clear)
            gl->clear(list_entry(gl, cfg, i));
    }
    free(*list_array(gl, cfg));
    *list_array(gl, cfg) = NULL;
    *list_count(gl, cfg) = 0;
}

/* Empties cfg->queues and makes room for `n` zeroed entries (n >= 1). */
static int queues_alloc(struct cfg *cfg, size_t n, struct err *err)
{
    queues_clear(cfg);
    cfg->queues = calloc(n, sizeof(cfg->queues[0]));
    if (!cfg->queues)
        return nomem(err);
    cfg->nqueues = n;
    return 0;
}

/* Writes the defaults of `keys` into `base`; keys without one are left as they are. */
static int defaults_apply(const struct key *keys, size_t nkeys, void *base, struct err *err)
{
    int r = 0;

    for (size_t i = 0; i < nkeys && r == 0; i++) {
        const struct key *key = &keys[i];

        switch (key->type) {
        case KEY_GROUP:
            r = defaults_apply(key->sub, key->nsub, base, err);
            break;
        case KEY_UINT:
            *(unsigned *)field(base, key) = (unsigned)key->def;
            break;
        case KEY_INT:
            *(int *)field(base, key) = (int)key->def;
            break;
        case KEY_DURATION:
            *(double *)field(base, key) = key->def;
            break;
        case KEY_BOOL:
            *(bool *)field(base, key) = key->def != 0;
            break;
        case KEY_STRING:
        case KEY_NAME:
            if (key->def_str)
                r = string_set(key, key->def_str, base, err);
            break;
        case KEY_LEVEL:
            r = level_set(key, key->def_str, base);
            assert(r == 0);
            break;
        case KEY_ORDER:
            r = order_set(key, key->def_str, base);
            assert(r == 0);
            break;
        case KEY_QUEUES:
            r = queues_alloc(base, 1, err);
            if (r == 0)
                r = defaults_apply(key->sub, key->nsub, ((struct cfg *)base)->queues, err);
            if (r == 0)
                r = string_set(&key->sub[0], key->def_str, ((struct cfg *)base)->queues, err);
            break;
        case KEY_LIST:
        case KEY_STRINGS:
        case KEY_ARGVS:
            break;
        }
    }
    return r;
}

/* Reads a group's settings with `keys` into `base`; `prefix` is the group's full name. */
static int group_load(struct load *ld, const config_setting_t *group, const char *prefix,
                      const struct key *keys, size_t nkeys, void *base)
{
    const char *dot = *prefix ? "." : "";
    char name[CFG_MAX_NAME], buf[GOT_MAX];
    int n = config_setting_length(group), r;

    if (config_setting_type(group) != CONFIG_TYPE_GROUP)
        return fail_at(group, ld->err, -EINVAL, "%s must be a group (got %s)", prefix,
                       got(group, buf, sizeof(buf)));
    for (int i = 0; i < n; i++) {
        const config_setting_t *s = config_setting_get_elem(group, (unsigned)i);
        const char *sname = config_setting_name(s);
        const struct key *key = key_find(keys, nkeys, sname);

        if (!key)
            return fail_at(s, ld->err, -EINVAL, "unknown setting '%s%s%s'", prefix, dot, sname);
        (void)snprintf(name, sizeof(name), "%s%s%s", prefix, dot, sname);
        r = value_load(ld, s, name, key, base);
        if (r < 0)
            return r;
    }
    return 0;
}

static int integer_load(struct load *ld, const config_setting_t *s, const char *name,
                        const struct key *key, void *base)
{
    int type = config_setting_type(s);
    char range[80], buf[GOT_MAX];
    long long v;

    if (type != CONFIG_TYPE_INT && type != CONFIG_TYPE_INT64)
        return fail_at(s, ld->err, -EINVAL, "%s must be an integer %s (got %s)", name,
                       range_fmt(key, range, sizeof(range)), got(s, buf, sizeof(buf)));
    v = config_setting_get_int64(s);
    if ((double)v < key->min || (double)v > key->max)
        return fail_at(s, ld->err, -EINVAL, "%s must be %s (got %lld)", name,
                       range_fmt(key, range, sizeof(range)), v);
    if (key->type == KEY_UINT)
        *(unsigned *)field(base, key) = (unsigned)v;
    else
        *(int *)field(base, key) = (int)v;
    return 0;
}

static int duration_load(struct load *ld, const config_setting_t *s, const char *name,
                         const struct key *key, void *base)
{
    char range[80], buf[GOT_MAX];
    double v = 0;
    int r;

    switch (config_setting_type(s)) {
    case CONFIG_TYPE_INT:
    case CONFIG_TYPE_INT64:
        v = (double)config_setting_get_int64(s);
        r = v >= key->min && v <= key->max ? 0 : -ERANGE;
        break;
    case CONFIG_TYPE_FLOAT:
        v = config_setting_get_float(s);
        r = v >= key->min && v <= key->max ? 0 : -ERANGE;
        break;
    case CONFIG_TYPE_STRING:
        r = parse_duration(config_setting_get_string(s), key->min, key->max, &v);
        break;
    default:
        r = -EINVAL;
        break;
    }
    if (r == -ERANGE)
        return fail_at(s, ld->err, -EINVAL, "%s must be %s (got %s)", name,
                       range_fmt(key, range, sizeof(range)), got(s, buf, sizeof(buf)));
    if (r < 0)
        return fail_at(s, ld->err, -EINVAL,
                       "%s must be a duration %s, in seconds or with a unit ms|s|m|h|d (got %s)",
                       name, range_fmt(key, range, sizeof(range)), got(s, buf, sizeof(buf)));
    *(double *)field(base, key) = v;
    return 0;
}

static int string_load(struct load *ld, const config_setting_t *s, const char *name,
                       const struct key *key, void *base)
{
    char bytes[48], buf[GOT_MAX];
    const char *v;
    size_t len;

    if (config_setting_type(s) != CONFIG_TYPE_STRING)
        return fail_at(s, ld->err, -EINVAL, "%s must be a string of %s (got %s)", name,
                       bytes_fmt(key, bytes, sizeof(bytes)), got(s, buf, sizeof(buf)));
    v = config_setting_get_string(s);
    len = strlen(v);
    if ((double)len < key->min || (double)len > key->max)
        return fail_at(s, ld->err, -EINVAL, "%s must be %s (got %zu bytes)", name,
                       bytes_fmt(key, bytes, sizeof(bytes)), len);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)v[i];

        if (key->type == KEY_NAME && c == ' ')
            return fail_at(s, ld->err, -EINVAL,
                           "%s must not contain spaces or control characters (got %s)", name,
                           quote(v, buf, sizeof(buf)));
        if (c < 0x20 || c == 0x7f) /* the value is not shown: URLs may carry a password */
            return fail_at(s, ld->err, -EINVAL,
                           "%s must not contain control characters (got 0x%02x at byte %zu)", name,
                           c, i);
    }
    return string_set(key, v, base, ld->err);
}

/* log.level and worker.queue_order: one of a few words. */
static int word_load(struct load *ld, const config_setting_t *s, const char *name,
                     const struct key *key, void *base)
{
    const char *v = NULL, *allowed;
    char buf[GOT_MAX];
    int r = -EINVAL;

    if (config_setting_type(s) == CONFIG_TYPE_STRING)
        v = config_setting_get_string(s);
    if (key->type == KEY_LEVEL) {
        allowed = "error|warn|info|debug";
        if (v)
            r = level_set(key, v, base);
    } else {
        allowed = "strict|weighted";
        if (v)
            r = order_set(key, v, base);
    }
    if (r < 0)
        return fail_at(s, ld->err, -EINVAL, "%s must be one of %s (got %s)", name, allowed,
                       got(s, buf, sizeof(buf)));
    return 0;
}

static int bool_load(struct load *ld, const config_setting_t *s, const char *name,
                     const struct key *key, void *base)
{
    char buf[GOT_MAX];

    if (config_setting_type(s) != CONFIG_TYPE_BOOL)
        return fail_at(s, ld->err, -EINVAL, "%s must be true or false (got %s)", name,
                       got(s, buf, sizeof(buf)));
    *(bool *)field(base, key) = config_setting_get_bool(s) != 0;
    return 0;
}

/* One entry of a list: a group read with `keys`, whose first key is the entry's name. */
static int entry_load(struct load *ld, const config_setting_t *e, const char *name,
                      const struct key *keys, size_t nkeys, void *base)
{
    int r;

    r = defaults_apply(keys, nkeys, base, ld->err);
    if (r < 0)
        return r;
    r = group_load(ld, e, name, keys, nkeys, base);
    if (r < 0)
        return r;
    if (!*(char **)field(base, &keys[0]))
        return fail_at(e, ld->err, -EINVAL, "%s must have a %s", name, keys[0].name);
    return 0;
}

/* worker.queues: ( "a", { name = "b"; weight = 3; } ). */
static int queues_load(struct load *ld, const config_setting_t *s, const char *name,
                       const struct key *key, struct cfg *cfg)
{
    int type = config_setting_type(s), n = config_setting_length(s), r;
    char ename[CFG_MAX_NAME], buf[GOT_MAX];

    if (type != CONFIG_TYPE_LIST && type != CONFIG_TYPE_ARRAY)
        return fail_at(s, ld->err, -EINVAL, "%s must be a list of queue names (got %s)", name,
                       got(s, buf, sizeof(buf)));
    if ((double)n < key->min || (double)n > key->max)
        return fail_at(s, ld->err, -EINVAL, "%s must name %.0f..%.0f queues (got %d)", name,
                       key->min, key->max, n);
    r = queues_alloc(cfg, (size_t)n, ld->err);
    for (int i = 0; i < n && r == 0; i++) {
        const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
        struct cfg_queue *q = &cfg->queues[i];

        (void)snprintf(ename, sizeof(ename), "%s[%d]", name, i);
        if (config_setting_type(e) == CONFIG_TYPE_STRING) {
            r = defaults_apply(key->sub, key->nsub, q, ld->err);
            if (r == 0)
                r = value_load(ld, e, ename, &key->sub[0], q);
        } else if (config_setting_type(e) == CONFIG_TYPE_GROUP) {
            r = entry_load(ld, e, ename, key->sub, key->nsub, q);
        } else {
            r = fail_at(e, ld->err, -EINVAL,
                        "%s must be a queue name or a group { name = \"...\"; weight = N; } "
                        "(got %s)",
                        ename, got(e, buf, sizeof(buf)));
        }
        for (int j = 0; j < i && r == 0; j++)
            if (strcmp(cfg->queues[j].name, q->name) == 0)
                r = fail_at(e, ld->err, -EINVAL, "duplicate queue '%s' in %s", q->name, name);
    }
    return r;
}

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
        return c->args ? fail_at(e, ld->err, -EINVAL, "%s.args needs %s.sql", name, name) : 0;
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
            return fail_at(e, ld->err, -EINVAL,
                           "%s.args: unknown type '%.*s' (text, int, float, bool, json, uuid, "
                           "timestamptz)",
                           name, (int)len, p);
        if (c->nargs == CFG_MAX_SQL_ARGS)
            return fail_at(e, ld->err, -EINVAL, "%s.args must name at most %d types", name,
                           CFG_MAX_SQL_ARGS);
        c->arg_types[c->nargs++] = (enum cfg_arg_type)t;
        p += len;
    }
    if (sql_controls_transaction(c->sql))
        return fail_at(e, ld->err, -EINVAL,
                       "%s.sql must be one statement that reads or writes data: transaction "
                       "control and COPY would break its exactly-once transaction",
                       name);
    uses = sql_max_param(c->sql);
    if (uses != c->nargs)
        return fail_at(e, ld->err, -EINVAL,
                       "%s.sql uses parameters up to $%u but %s.args names %u type%s", name, uses,
                       name, c->nargs, c->nargs == 1 ? "" : "s");
    return 0;
}

/* An `http` (webhook) class: an http(s) URL and exactly one source of its secret. */
static int webhook_class_check(struct load *ld, const config_setting_t *e, const char *name,
                               struct cfg_class *c)
{
    char buf[GOT_MAX];

    if (!c->url)
        return c->secret_file || c->secret_env
                   ? fail_at(e, ld->err, -EINVAL, "%s.secret_%s needs %s.url", name,
                             c->secret_file ? "file" : "env", name)
                   : 0;
    if (c->sql || c->command || c->shell)
        return fail_at(e, ld->err, -EINVAL, "%s has both url and %s: a class is one kind", name,
                       c->sql ? "sql" : c->command ? "command" : "shell");
    if (strncmp(c->url, "http://", 7) != 0 && strncmp(c->url, "https://", 8) != 0)
        return fail_at(e, ld->err, -EINVAL, "%s.url must start with http:// or https:// (got %s)",
                       name, url_show(c->url, buf, sizeof(buf)));
    if (!c->secret_file == !c->secret_env)
        return fail_at(e, ld->err, -EINVAL,
                       "%s needs its signing secret from exactly one of secret_file or "
                       "secret_env",
                       name);
    return 0;
}

static void class_clear(void *entry)
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
 * args are a JSON array, `missed` is a known policy. Needs `cron` and `class`. */
static int schedule_check(struct load *ld, const config_setting_t *e, const char *name, void *entry)
{
    struct cfg_schedule *sc = entry;
    struct err why = {0};
    json_t *args;
    time_t next;
    int r;

    if (!sc->cron || !sc->class_name)
        return fail_at(e, ld->err, -EINVAL, "%s must have a %s", name, sc->cron ? "class" : "cron");
    if (cron_parse(sc->cron, &sc->expr, &why) < 0)
        return fail_at(e, ld->err, -EINVAL, "%s.cron: %s", name, why.msg);
    r = cron_next(&sc->expr, sc->tz, time(NULL), &next, &why);
    if (r < 0)
        return fail_at(e, ld->err, -EINVAL, "%s.%s: %s", name, r == -ERANGE ? "cron" : "tz",
                       why.msg);
    args = json_loads(sc->args, 0, NULL);
    r = json_is_array(args) ? 0 : -EINVAL;
    json_decref(args);
    if (r < 0)
        return fail_at(e, ld->err, -EINVAL,
                       "%s.args must be a JSON array as text, e.g. \"[1, \\\"x\\\"]\" (got %s)",
                       name, sc->args);
    if (strcmp(sc->missed, "skip") == 0 || strcmp(sc->missed, "run_once") == 0) {
        sc->run_missed = sc->missed[0] == 'r';
        return 0;
    }
    return fail_at(e, ld->err, -EINVAL, "%s.missed must be skip or run_once (got \"%s\")", name,
                   sc->missed);
}

static void strv_free(char **v)
{
    if (!v)
        return;
    for (char **p = v; *p; p++)
        free(*p);
    free(v);
}

static void argvs_free(char ***v)
{
    if (!v)
        return;
    for (char ***p = v; *p; p++)
        strv_free(*p);
    free(v);
}

/* An array or list of min..max strings, each at most CFG_MAX_ARG bytes without control
 * characters, into a NULL-terminated vector: caller owns it, release with strv_free(). */
static int strv_read(struct load *ld, const config_setting_t *s, const char *name, int min, int max,
                     char ***ret)
{
    int type = config_setting_type(s), n = config_setting_length(s), r = 0;
    char ename[CFG_MAX_NAME], buf[GOT_MAX];
    char **v;

    if (type != CONFIG_TYPE_ARRAY && type != CONFIG_TYPE_LIST)
        return fail_at(s, ld->err, -EINVAL,
                       "%s must be an array of strings such as [\"a\", \"b\"] (got %s)", name,
                       got(s, buf, sizeof(buf)));
    if (n < min || n > max)
        return fail_at(s, ld->err, -EINVAL, "%s must have %d..%d items (got %d)", name, min, max,
                       n);
    v = calloc((size_t)n + 1, sizeof(*v));
    if (!v)
        return nomem(ld->err);
    for (int i = 0; i < n && r == 0; i++) {
        const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
        const char *str;
        size_t len;

        (void)snprintf(ename, sizeof(ename), "%s[%d]", name, i);
        if (config_setting_type(e) != CONFIG_TYPE_STRING) {
            r = fail_at(e, ld->err, -EINVAL, "%s must be a string (got %s)", ename,
                        got(e, buf, sizeof(buf)));
            break;
        }
        str = config_setting_get_string(e);
        len = strlen(str);
        if (len > CFG_MAX_ARG)
            r = fail_at(e, ld->err, -EINVAL, "%s must be at most %d bytes (got %zu bytes)", ename,
                        CFG_MAX_ARG, len);
        for (size_t k = 0; k < len && r == 0; k++)
            if ((unsigned char)str[k] < 0x20 || str[k] == 0x7f)
                r = fail_at(e, ld->err, -EINVAL,
                            "%s must not contain control characters (got 0x%02x at byte %zu)",
                            ename, (unsigned char)str[k], k);
        if (r == 0 && !(v[i] = dup_str(str)))
            r = nomem(ld->err);
    }
    if (r < 0) {
        strv_free(v);
        return r;
    }
    *ret = v;
    return 0;
}

/* env, env_pass: ["A=1", "B=2"]. */
static int strings_load(struct load *ld, const config_setting_t *s, const char *name,
                        const struct key *key, void *base)
{
    char ***dst = field(base, key);
    char **v;
    int r;

    r = strv_read(ld, s, name, (int)key->min, (int)key->max, &v);
    if (r < 0)
        return r;
    strv_free(*dst);
    *dst = v;
    return 0;
}

/* command: one argv ["npm", "test"], or a list of them (["npm", "a"], ["npm", "b"]). */
static int argvs_load(struct load *ld, const config_setting_t *s, const char *name,
                      const struct key *key, void *base)
{
    int type = config_setting_type(s), n = config_setting_length(s), r = 0;
    char ename[CFG_MAX_NAME], buf[GOT_MAX];
    char ****dst = field(base, key);
    bool one = false;
    char ***steps;

    if ((type != CONFIG_TYPE_ARRAY && type != CONFIG_TYPE_LIST) || n == 0)
        return fail_at(s, ld->err, -EINVAL,
                       "%s must be an argv array such as [\"npm\", \"test\"] or a list of them "
                       "(got %s; for a shell line use `shell`)",
                       name,
                       n == 0 && type != CONFIG_TYPE_STRING ? "nothing" : got(s, buf, sizeof(buf)));
    one = config_setting_type(config_setting_get_elem(s, 0)) == CONFIG_TYPE_STRING;
    if (!one && (double)n > key->max)
        return fail_at(s, ld->err, -EINVAL, "%s must have at most %.0f steps (got %d)", name,
                       key->max, n);
    steps = calloc(one ? 2 : (size_t)n + 1, sizeof(*steps));
    if (!steps)
        return nomem(ld->err);
    if (one)
        r = strv_read(ld, s, name, 1, CFG_MAX_ARGV, &steps[0]);
    for (int i = 0; !one && i < n && r == 0; i++) {
        const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
        int etype = config_setting_type(e);

        (void)snprintf(ename, sizeof(ename), "%s[%d]", name, i);
        if (etype != CONFIG_TYPE_ARRAY && etype != CONFIG_TYPE_LIST)
            r = fail_at(e, ld->err, -EINVAL,
                        "%s must be an argv array such as [\"npm\", \"test\"] "
                        "(got %s)",
                        ename, got(e, buf, sizeof(buf)));
        else
            r = strv_read(ld, e, ename, 1, CFG_MAX_ARGV, &steps[i]);
    }
    for (size_t i = 0; r == 0 && steps[i]; i++)
        if (!*steps[i][0])
            r = fail_at(s, ld->err, -EINVAL,
                        "%s: argv[0] of step %zu is empty: it names the "
                        "program to run",
                        name, i + 1);
    if (r < 0) {
        argvs_free(steps);
        return r;
    }
    argvs_free(*dst);
    *dst = steps;
    return 0;
}

/* The setting `key` of entry `e`, for its line; `e` itself when absent. */
static const config_setting_t *member_or(const config_setting_t *e, const char *key)
{
    const config_setting_t *m = config_setting_get_member(e, key);

    return m ? m : e;
}

/* nexusd's own secrets in its environment: a command class's env_pass cannot name them
 * (NEXUS_HTTP_TOKEN is refused as any NEXUS_ name; an http class's secret_env also). */
static const char *const own_secrets[] = {"REDIS_URL", "DATABASE_URL", "SMTP_URL",
                                          "SMTP_PASSWORD", "HF_API_TOKEN"};

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
        return fail_at(at, ld->err, -EINVAL,
                       "%s: a variable name is letters, digits and _, not starting with a digit "
                       "(got %s)",
                       name, quote(var, buf, sizeof(buf)));
    if (len >= 6 && strncmp(var, "NEXUS_", 6) == 0)
        return fail_at(at, ld->err, -EINVAL, "%s: NEXUS_ variables are set by nexusd (got %.*s)",
                       name, (int)len, var);
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
            return fail_at(member_or(e, "env"), ld->err, -EINVAL, "%s must be NAME=value (got %s)",
                           ename, quote(c->env[i], buf, sizeof(buf)));
        r = env_name_check(ld, member_or(e, "env"), ename, c->env[i], (size_t)(eq - c->env[i]));
        if (r < 0)
            return r;
        for (size_t k = 0; k < i; k++)
            if (strncmp(c->env[k], c->env[i], (size_t)(eq - c->env[i]) + 1) == 0)
                return fail_at(member_or(e, "env"), ld->err, -EINVAL,
                               "%s sets %.*s twice (first at %s.env[%zu])", ename,
                               (int)(eq - c->env[i]), c->env[i], name, k);
    }
    for (size_t i = 0; c->env_pass && c->env_pass[i]; i++) {
        (void)snprintf(ename, sizeof(ename), "%s.env_pass[%zu]", name, i);
        r = env_name_check(ld, member_or(e, "env_pass"), ename, c->env_pass[i],
                           strlen(c->env_pass[i]));
        if (r < 0)
            return r;
        for (size_t k = 0; k < NELEMS(own_secrets); k++)
            if (strcmp(c->env_pass[i], own_secrets[k]) == 0)
                return fail_at(member_or(e, "env_pass"), ld->err, -EINVAL,
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
        return fail_at(member_or(e, "group"), ld->err, -EINVAL,
                       "%s.group needs %s.user: alone it would leave the child nexusd's user",
                       name, name);
    if (!c->user)
        return 0;
    errno = 0;
    pw = getpwnam(c->user);
    if (!pw)
        return fail_at(member_or(e, "user"), ld->err, -EINVAL, "%s.user: %s %s", name,
                       quote(c->user, buf, sizeof(buf)),
                       errno ? strerror(errno) : "is no user of this system");
    if (pw->pw_uid == 0)
        return fail_at(member_or(e, "user"), ld->err, -EINVAL,
                       "%s.user must not be root (uid 0): a child running as root can read "
                       "nexusd's memory (got %s)",
                       name, quote(c->user, buf, sizeof(buf)));
    c->uid = pw->pw_uid;
    c->gid = pw->pw_gid;
    c->home = dup_str(pw->pw_dir ? pw->pw_dir : "/");
    if (!c->home)
        return nomem(ld->err);
    if (c->group) {
        errno = 0;
        gr = getgrnam(c->group);
        if (!gr)
            return fail_at(member_or(e, "group"), ld->err, -EINVAL, "%s.group: %s %s", name,
                           quote(c->group, buf, sizeof(buf)),
                           errno ? strerror(errno) : "is no group of this system");
        c->gid = gr->gr_gid;
    }
    for (;;) {
        gid_t *groups = realloc(c->groups, (size_t)n * sizeof(*groups));
        int got = n;

        if (!groups)
            return nomem(ld->err);
        c->groups = groups;
        if (getgrouplist(c->user, c->gid, groups, &got) >= 0) {
            c->ngroups = (size_t)got;
            return 0;
        }
        if (got <= n || got > CFG_MAX_GROUPS)
            return fail_at(member_or(e, "user"), ld->err, -EINVAL,
                           "%s.user: the groups of %s cannot be listed", name,
                           quote(c->user, buf, sizeof(buf)));
        n = got;
    }
}

/* `shell` as one step: /bin/sh -c SCRIPT CLASS (the class name is $0; args_append adds $1..). */
static int shell_step(struct load *ld, struct cfg_class *c)
{
    const char *words[] = {"/bin/sh", "-c", c->shell, c->name};
    char ***steps = calloc(2, sizeof(*steps));

    if (!steps)
        return nomem(ld->err);
    steps[0] = calloc(NELEMS(words) + 1, sizeof(char *));
    for (size_t i = 0; steps[0] && i < NELEMS(words); i++)
        if (!(steps[0][i] = dup_str(words[i]))) {
            argvs_free(steps);
            return nomem(ld->err);
        }
    if (!steps[0]) {
        free(steps);
        return nomem(ld->err);
    }
    c->command = steps;
    return 0;
}

static const char *const severity_names[] = {"none", "info",    "low", "moderate",
                                             "high", "critical"}; /* index = fail_level */

/* A `command` class: command or shell (not both, not with sql), an absolute workdir, valid
 * env names, a known parser; the other command keys need one of them. */
static int command_class_check(struct load *ld, const config_setting_t *e, const char *name,
                               struct cfg_class *c)
{
    static const char *const only[] = {"workdir",     "env",          "env_pass", "output_limit",
                                       "kill_grace",  "parse",        "fail_on",  "args_append",
                                       "args_options", "user",        "group"};
    char buf[GOT_MAX];
    size_t level;
    int r;

    if (!c->command && !c->shell) {
        for (size_t i = 0; i < NELEMS(only); i++)
            if (config_setting_get_member(e, only[i]))
                return fail_at(config_setting_get_member(e, only[i]), ld->err, -EINVAL,
                               "%s.%s needs %s.command or %s.shell", name, only[i], name, name);
        return 0;
    }
    if (c->command && c->shell)
        return fail_at(member_or(e, "shell"), ld->err, -EINVAL,
                       "%s has both command and shell: a class runs an argv or a shell line, "
                       "not both",
                       name);
    if (c->sql)
        return fail_at(member_or(e, "sql"), ld->err, -EINVAL,
                       "%s has both sql and %s: a class is a sql class or a command class", name,
                       c->shell ? "shell" : "command");
    if (c->workdir && c->workdir[0] != '/')
        return fail_at(member_or(e, "workdir"), ld->err, -EINVAL,
                       "%s.workdir must be an absolute path (got %s)", name,
                       quote(c->workdir, buf, sizeof(buf)));
    r = command_env_check(ld, e, name, c);
    if (r == 0)
        r = command_user_resolve(ld, e, name, c);
    if (r < 0)
        return r;
    if (c->args_options && !c->args_append)
        return fail_at(member_or(e, "args_options"), ld->err, -EINVAL,
                       "%s.args_options needs %s.args_append = true", name, name);
    if (*c->parse && strcmp(c->parse, "npm-audit") != 0)
        return fail_at(member_or(e, "parse"), ld->err, -EINVAL,
                       "%s.parse must be \"npm-audit\" or \"\" for none (got %s)", name,
                       quote(c->parse, buf, sizeof(buf)));
    for (level = 0; level < NELEMS(severity_names); level++)
        if (strcmp(c->fail_on, severity_names[level]) == 0)
            break;
    if (level == NELEMS(severity_names))
        return fail_at(member_or(e, "fail_on"), ld->err, -EINVAL,
                       "%s.fail_on must be one of none|info|low|moderate|high|critical (got %s)",
                       name, quote(c->fail_on, buf, sizeof(buf)));
    if (level > 0 && !*c->parse)
        return fail_at(member_or(e, "fail_on"), ld->err, -EINVAL, "%s.fail_on needs %s.parse", name,
                       name);
    c->fail_level = (int)level;
    if (c->shell) {
        r = shell_step(ld, c);
        if (r < 0)
            return r;
    }
    for (c->nsteps = 0; c->command[c->nsteps];)
        c->nsteps++;
    return 0;
}

/* A class is one kind at most: sql, http (url) or command; each kind's keys checked. */
static int class_check(struct load *ld, const config_setting_t *e, const char *name, void *entry)
{
    int r = webhook_class_check(ld, e, name, entry);

    if (r == 0)
        r = sql_class_check(ld, e, name, entry);
    return r < 0 ? r : command_class_check(ld, e, name, entry);
}

/* A list of named groups (classes, schedules), each read with key->sub and checked. */
static int list_load(struct load *ld, const config_setting_t *s, const char *name,
                     const struct key *key, struct cfg *cfg)
{
    const struct group_list *gl = key->list;
    int type = config_setting_type(s), n = config_setting_length(s), r = 0;
    char ename[CFG_MAX_NAME], buf[GOT_MAX];

    if (type != CONFIG_TYPE_LIST && type != CONFIG_TYPE_ARRAY)
        return fail_at(s, ld->err, -EINVAL, "%s must be a list of groups (got %s)", name,
                       got(s, buf, sizeof(buf)));
    if ((double)n > key->max)
        return fail_at(s, ld->err, -EINVAL, "%s must have at most %.0f entries (got %d)", name,
                       key->max, n);
    list_clear(key, cfg);
    if (n == 0)
        return 0;
    *list_array(gl, cfg) = calloc((size_t)n, gl->size);
    if (!*list_array(gl, cfg))
        return nomem(ld->err);
    *list_count(gl, cfg) = (size_t)n;
    for (int i = 0; i < n && r == 0; i++) {
        const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
        char *entry = list_entry(gl, cfg, (size_t)i);

        (void)snprintf(ename, sizeof(ename), "%s[%d]", name, i);
        if (config_setting_type(e) != CONFIG_TYPE_GROUP)
            return fail_at(e, ld->err, -EINVAL,
                           "%s must be a group { name = \"...\"; ... } (got %s)", ename,
                           got(e, buf, sizeof(buf)));
        *(int *)(entry + gl->line_at) = (int)config_setting_source_line(e);
        r = entry_load(ld, e, ename, key->sub, key->nsub, entry);
        if (r == 0 && gl->check)
            r = gl->check(ld, e, ename, entry);
        for (int k = 0; k < i && r == 0; k++) {
            const char *other = list_entry(gl, cfg, (size_t)k);
            if (strcmp(*(char *const *)(other + gl->name_at),
                       *(char *const *)(entry + gl->name_at)) == 0)
                r = fail_at(e, ld->err, -EINVAL, "duplicate %s '%s' in %s (first at line %d)",
                            gl->what, *(char *const *)(entry + gl->name_at), name,
                            *(const int *)(other + gl->line_at));
        }
    }
    return r;
}

static int value_load(struct load *ld, const config_setting_t *s, const char *name,
                      const struct key *key, void *base)
{
    switch (key->type) {
    case KEY_GROUP:
        return group_load(ld, s, name, key->sub, key->nsub, base);
    case KEY_UINT:
    case KEY_INT:
        return integer_load(ld, s, name, key, base);
    case KEY_DURATION:
        return duration_load(ld, s, name, key, base);
    case KEY_STRING:
    case KEY_NAME:
        return string_load(ld, s, name, key, base);
    case KEY_LEVEL:
    case KEY_ORDER:
        return word_load(ld, s, name, key, base);
    case KEY_BOOL:
        return bool_load(ld, s, name, key, base);
    case KEY_QUEUES:
        return queues_load(ld, s, name, key, base);
    case KEY_LIST:
        return list_load(ld, s, name, key, base);
    case KEY_STRINGS:
        return strings_load(ld, s, name, key, base);
    case KEY_ARGVS:
        return argvs_load(ld, s, name, key, base);
    }
    return -EINVAL;
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
    return fail_at(s, ld->err, -EINVAL,
                   "worker.process_ttl must be at least 2 * worker.heartbeat_interval = %s "
                   "(got %s)",
                   duration_fmt(2 * cfg->heartbeat_s, lo, sizeof(lo)),
                   duration_fmt(cfg->process_ttl_s, v, sizeof(v)));
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
        return fail_at(config_setting_get_elem(s, i), ld->err, -EINVAL,
                       "http.allowed_hosts[%u] must be a host name, '.' and a domain, an address "
                       "([IPv6] in brackets) or \"*\", without a port (got %s)",
                       i, quote(hosts[i], buf, sizeof(buf)));
    }
    if (parse_listen(ld->cfg->http_listen, &ss, &len) == 0)
        return 0;
    s = config_lookup(lc, "http.listen");
    assert(s); /* the default parses */
    return fail_at(s, ld->err, -EINVAL,
                   "http.listen must be IP:PORT, [IPv6]:PORT or unix:/absolute/path, with an "
                   "address rather than a host name (got %s)",
                   quote(ld->cfg->http_listen, buf, sizeof(buf)));
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
        return fail_at(s, ld->err, -EINVAL, "analytics.tz: %s", why.msg);
    s = config_lookup(lc, "analytics.sales_statuses");
    for (p = cfg->analytics_sales_statuses; s && *p; p++) {
        bool word = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                    (*p >= '0' && *p <= '9') || *p == '_' || *p == '-';
        if (!word && (*p != ',' || p[1] == ',' || p[1] == '\0' ||
                      p == cfg->analytics_sales_statuses))
            return fail_at(s, ld->err, -EINVAL,
                           "analytics.sales_statuses must be comma-separated words of letters, "
                           "digits, _ and - (got %s)",
                           quote(cfg->analytics_sales_statuses, buf, sizeof(buf)));
    }
    return 0;
}

/* "FILE:LINE" of `name` in *ret (owned), for the messages of cfg_load_secrets(); NULL when
 * the file does not set it. */
static int setting_where(struct load *ld, config_t *lc, const char *name, char **ret)
{
    const config_setting_t *s = config_lookup(lc, name);

    if (!s)
        return 0;
    if (asprintf(ret, "%s:%u", config_setting_source_file(s),
                 (unsigned)config_setting_source_line(s)) < 0) {
        *ret = NULL;
        return nomem(ld->err);
    }
    return 0;
}

static int emotion_check(struct load *ld, const config_t *lc);

static bool number_ok(const char *s, size_t n, uint32_t min, uint32_t max);

static const struct key *smtp_templates_key(void)
{
    return key_find(smtp_keys, NELEMS(smtp_keys), "templates");
}

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

    s = config_lookup(lc, "smtp.starttls");
    if (s && strcmp(cfg->smtp_starttls, "try") != 0 && strcmp(cfg->smtp_starttls, "always") != 0 &&
        strcmp(cfg->smtp_starttls, "never") != 0)
        return fail_at(s, ld->err, -EINVAL,
                       "smtp.starttls must be one of try|always|never (got %s)",
                       got(s, buf, sizeof(buf)));
    if (s)
        (void)snprintf(ld->starttls_where, sizeof(ld->starttls_where), "%s:%u",
                       config_setting_source_file(s), (unsigned)config_setting_source_line(s));
    s = config_lookup(lc, "smtp.from");
    if (s && mail_addr_parse(cfg->smtp_from, &addr, &why) < 0)
        return fail_at(s, ld->err, -EINVAL, "smtp.from: %s", why.msg);
    s = config_lookup(lc, "smtp.reply_to");
    if (s && *cfg->smtp_reply_to && mail_addr_parse(cfg->smtp_reply_to, &addr, &why) < 0)
        return fail_at(s, ld->err, -EINVAL, "smtp.reply_to: %s", why.msg);
    s = config_lookup(lc, "smtp.url");
    if (s && !smtp_url_ok(cfg->smtp_url))
        return fail_at(s, ld->err, -EINVAL,
                       "smtp.url must be smtp://[user:password@]host[:port] or smtps://... (got "
                       "%s)",
                       url_show(cfg->smtp_url, buf, sizeof(buf)));
    s = config_lookup(lc, "smtp.templates");
    r = s ? mail_tmpl_set_load(cfg->smtp_templates, &cfg->smtp_tmpls, &why) : 0;
    if (r == -ENOENT && strcmp(cfg->smtp_templates, smtp_templates_key()->def_str) == 0)
        r = 0; /* the default, written out: optional as when left out */
    if (r == -ENOMEM)
        return nomem(ld->err);
    if (r < 0)
        return fail_at(s, ld->err, -EINVAL, "smtp.templates: %s", why.msg);
    return 0;
}

/* starttls = "never" with credentials would send AUTH in clear text: refused unless
 * smtp.allow_plaintext_auth (with "try", jobs/smtp.c makes STARTTLS a must instead). */
static int smtp_plaintext_check(struct load *ld, cfg_getenv_fn *get_env)
{
    struct cfg *cfg = ld->cfg;
    char *password = NULL;
    bool creds;

    if (strcmp(cfg->smtp_starttls, "never") != 0 || cfg->smtp_allow_plaintext_auth ||
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
                       url_show(cfg->smtp_url, buf, sizeof(buf)));
    r = smtp_plaintext_check(ld, get_env);
    if (r < 0)
        return r;
    if (cfg->smtp_tmpls)
        return 0;
    r = mail_tmpl_set_load(cfg->smtp_templates, &cfg->smtp_tmpls, &why);
    if (r == -ENOENT)
        return 0; /* the default directory is optional: email classes then say what is missing */
    if (r == -ENOMEM)
        return nomem(ld->err);
    if (r < 0)
        return err_set(ld->err, r, "smtp.templates (default %s): %s", cfg->smtp_templates,
                       why.msg);
    return 0;
}

static int file_load(struct load *ld, const char *path)
{
    const config_setting_t *url;
    const char *file;
    config_t lc;
    int ok, errnum, r;

    config_init(&lc);
    errno = 0;
    ok = config_read_file(&lc, path);
    errnum = errno > 0 ? errno : EIO;
    file = config_error_file(&lc) ? config_error_file(&lc) : path;
    if (!ok && config_error_type(&lc) == CONFIG_ERR_FILE_IO) {
        r = err_set(ld->err, -errnum, "cannot read %s: %s", path, strerror(errnum));
        goto out;
    }
    if (!ok) {
        r = err_set(ld->err, -EINVAL, "%s:%d: syntax error (%s)", file, config_error_line(&lc),
                    config_error_text(&lc));
        goto out;
    }
    r = group_load(ld, config_root_setting(&lc), "", root_keys, NELEMS(root_keys), ld->cfg);
    if (r < 0)
        goto out;
    r = beat_check(ld, &lc);
    if (r < 0)
        goto out;
    r = listen_check(ld, &lc);
    if (r < 0)
        goto out;
    r = analytics_check(ld, &lc);
    if (r < 0)
        goto out;
    r = setting_where(ld, &lc, "http.token_file", &ld->cfg->http_token_where);
    if (r == 0)
        r = setting_where(ld, &lc, "emotion.token_file", &ld->cfg->emotion_token_where);
    if (r == 0)
        r = setting_where(ld, &lc, "smtp.password_file", &ld->cfg->smtp_password_where);
    if (r < 0)
        goto out;
    r = emotion_check(ld, &lc);
    if (r < 0)
        goto out;
    r = smtp_file_check(ld, &lc);
    if (r < 0)
        goto out;
    url = config_lookup(&lc, "redis.url");
    if (url)
        (void)snprintf(ld->url_where, sizeof(ld->url_where), "%s:%u",
                       config_setting_source_file(url), (unsigned)config_setting_source_line(url));
out:
    config_destroy(&lc);
    return r;
}

/* REDIS_URL, DATABASE_URL and SMTP_URL, when set and not empty (or given as systemd
 * credentials), win over the file. */
static int env_apply(struct load *ld, cfg_getenv_fn *get_env)
{
    static const struct {
        const char *name;
        const struct key *key;
    } vars[] = {{"REDIS_URL", &redis_keys[0]},
                {"DATABASE_URL", &database_keys[0]},
                {"SMTP_URL", &smtp_keys[0]}};
    int r;

    if (!get_env)
        return 0;
    for (size_t i = 0; i < NELEMS(vars); i++) {
        char *v = NULL;

        r = secret_env(get_env, vars[i].name, &v, ld->err); /* or systemd's credential */
        if (r < 0)
            return r == -ENOMEM ? nomem(ld->err) : r;
        if (!v)
            continue;
        r = string_set(vars[i].key, v, ld->cfg, ld->err);
        secret_free(v);
        if (r < 0)
            return r;
        if (vars[i].key == &redis_keys[0])
            (void)snprintf(ld->url_where, sizeof(ld->url_where), "%s", vars[i].name);
        if (vars[i].key == &smtp_keys[0])
            ld->smtp_url_env = true;
    }
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

/* The URL quoted for a message, its credentials hidden (url_mask()). */
static const char *url_show(const char *url, char *buf, size_t size)
{
    char masked[GOT_MAX];

    return quote(url_mask(url, masked, sizeof(masked)), buf, size);
}

static int url_check(struct load *ld)
{
    const char *url = ld->cfg->redis_url;
    const char *where = *ld->url_where ? ld->url_where : "default";
    struct raddr addr;
    char buf[GOT_MAX];
    int r;

    assert(url); /* the defaults set one */
    if (strncmp(url, "rediss://", 9) == 0)
        return err_set(ld->err, -EINVAL,
                       "%s: redis.url uses rediss:// but nexusd does not support TLS; use "
                       "redis:// or unix:// (got %s)",
                       where, url_show(url, buf, sizeof(buf)));
    r = raddr_parse(url, &addr, NULL); /* what the connections will make of it */
    if (r == -ENOMEM)
        return nomem(ld->err);
    if (r < 0)
        return err_set(ld->err, -EINVAL,
                       "%s: redis.url must be redis://[:password@]host[:port][/db] or "
                       "unix:///path[?db=N] (got %s)",
                       where, url_show(url, buf, sizeof(buf)));
    raddr_clear(&addr);
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
        return fail_at(s, ld->err, -EINVAL, "%s must be an http:// or https:// URL (got %s)",
                       names[i], url_show(values[i], buf, sizeof(buf)));
    }
    return 0;
}

/* Settings a class or schedule leaves out are the worker's or the class's. */
static int classes_inherit(struct cfg *cfg, struct err *err)
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

        if (!sc->queue && !(sc->queue = dup_str(cfg_class_queue(cfg, sc->class_name))))
            return nomem(err);
    }
    return 0;
}

int cfg_load(const char *path, cfg_getenv_fn *get_env, struct cfg **ret_cfg, struct err *err)
{
    struct load ld = {.err = err};
    int r;

    ld.cfg = calloc(1, sizeof(*ld.cfg));
    if (!ld.cfg)
        return nomem(err);
    r = defaults_apply(root_keys, NELEMS(root_keys), ld.cfg, err);
    if (r < 0)
        goto out_cfg;
    if (path) {
        ld.cfg->path = dup_str(path);
        if (!ld.cfg->path) {
            r = nomem(err);
            goto out_cfg;
        }
        r = file_load(&ld, path);
        if (r < 0)
            goto out_cfg;
    }
    r = env_apply(&ld, get_env);
    if (r < 0)
        goto out_cfg;
    r = url_check(&ld);
    if (r < 0)
        goto out_cfg;
    r = classes_inherit(ld.cfg, err);
    if (r == 0)
        r = env_pass_secret_check(ld.cfg, err);
    if (r < 0)
        goto out_cfg;
    r = smtp_finish(&ld, get_env);
    if (r < 0)
        goto out_cfg;
    if (!*ld.cfg->database_url) {
        free(ld.cfg->database_url);
        ld.cfg->database_url = NULL;
    }
    *ret_cfg = ld.cfg;
    return 0;
out_cfg:
    cfg_free(ld.cfg);
    return r;
}

/* A secret `src` names into *dst, which must be empty; src->env_name's value comes from
 * `get_env` or, when unset, from systemd's credential of that name (secret_env()). */
static int secret_load(struct secret_src src, cfg_getenv_fn *get_env, char **dst,
                       struct err *err)
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
        r = secret_load((struct secret_src){c->secret_env, NULL, c->secret_file, setting, where,
                                            1, CFG_MAX_SECRET, false},
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

void cfg_free(struct cfg *cfg)
{
    if (!cfg)
        return;
    free(cfg->http_token_where);
    free(cfg->emotion_token_where);
    secret_free(cfg->http_token);
    secret_free(cfg->emotion_token);
    keys_free(root_keys, NELEMS(root_keys), cfg);
    secret_free(cfg->smtp_password);
    free(cfg->smtp_password_where);
    mail_tmpl_set_free(cfg->smtp_tmpls);
    free(cfg->path);
    free(cfg);
}

const struct cfg_schedule *cfg_schedule_find(const struct cfg *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->nschedules; i++)
        if (strcmp(cfg->schedules[i].name, name) == 0)
            return &cfg->schedules[i];
    return NULL;
}

const char *cfg_class_queue(const struct cfg *cfg, const char *class_name)
{
    const struct cfg_class *c = cfg ? cfg_class_find(cfg, class_name) : NULL;

    return c && c->queue ? c->queue : "default";
}

const struct cfg_class *cfg_class_find(const struct cfg *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->nclasses; i++)
        if (strcmp(cfg->classes[i].name, name) == 0)
            return &cfg->classes[i];
    return NULL;
}
