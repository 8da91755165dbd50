/* cfg_keys.c - the table of settings: one row per setting (type, range, default, where it
 * goes, whether a reload can change it), the words of the enum settings. */
#include <stddef.h>

#include "conf/cfg_int.h"
#include "lib/cron.h"
#include "lib/job.h"
#include "lib/log.h"

#define WORDS(var, allowed_text, ...)                                                              \
    static const char *const var##_names[] = {__VA_ARGS__};                                        \
    static const struct key_words var = {var##_names, NELEMS(var##_names), allowed_text}

/* index = enum log_level (lib/log.h) */
WORDS(level_words, "one of error|warn|info|debug", "error", "warn", "info", "debug");
/* index = enum cfg_queue_order */
WORDS(order_words, "one of strict|weighted", "strict", "weighted");
/* index = enum cfg_starttls */
WORDS(starttls_words, "one of try|always|never", "try", "always", "never");
/* index = cfg_class.fail_level (jobs/npm_audit.h's severities) */
WORDS(severity_words, "one of none|info|low|moderate|high|critical", "none", "info", "low",
      "moderate", "high", "critical");
/* index = enum cfg_missed */
WORDS(missed_words, "skip or run_once", "skip", "run_once");
/* index = enum cfg_unique_until */
WORDS(unique_until_words, "start or success", "start", "success");

const char *cfg_missed_name(enum cfg_missed missed)
{
    return missed_words.names[missed];
}

/* A row of a scalar setting: name, type, min, max, def, def_str, destination, flags. */
#define ROW(name, type, min, max, def, def_str, at, flags)                                         \
    {                                                                                              \
        name, type, min, max, def, def_str, at, NULL, 0, NULL, NULL, flags                         \
    }
/* A row of an enum setting: name, default word, destination, words. */
#define ENUM(name, def_str, at, words)                                                             \
    {                                                                                              \
        name, KEY_ENUM, 0, 0, 0, def_str, at, NULL, 0, NULL, words, 0                              \
    }
/* A group of settings read into struct cfg itself. */
#define GROUP(name, keys)                                                                          \
    {                                                                                              \
        name, KEY_GROUP, 0, 0, 0, NULL, 0, keys, NELEMS(keys), NULL, NULL, 0                       \
    }

#define AT(field) offsetof(struct cfg, field)
#define QUEUE_AT(field) offsetof(struct cfg_queue, field)
#define CLASS_AT(field) offsetof(struct cfg_class, field)

static const struct key log_keys[] = {
    ENUM("level", "info", AT(log_level), &level_words),
};

static const struct key redis_keys[] = {
    ROW("url", KEY_STRING, 1, CFG_MAX_URL, 0, "redis://127.0.0.1:6379/0", AT(redis_url),
        KEY_RESTART),
    ROW("namespace", KEY_STRING, 0, CFG_MAX_NAMESPACE, 0, "", AT(redis_namespace), KEY_RESTART),
    ROW("connect_timeout", KEY_DURATION, 0.001, 300, 5, NULL, AT(redis_connect_timeout_s), 0),
    ROW("metered", KEY_BOOL, 0, 1, 0, NULL, AT(redis_metered), 0),
    ROW("metrics", KEY_BOOL, 0, 1, 1, NULL, AT(redis_metrics), 0),
    ROW("read_timeout", KEY_DURATION, 0.1, 3600, 30, NULL, AT(redis_read_timeout_s), KEY_RESTART),
    ROW("tls_ca_file", KEY_STRING, 0, CFG_MAX_PATH, 0, "", AT(redis_tls_ca_file), KEY_RESTART),
    ROW("tls_cert_file", KEY_STRING, 0, CFG_MAX_PATH, 0, "", AT(redis_tls_cert_file), KEY_RESTART),
    ROW("tls_key_file", KEY_STRING, 0, CFG_MAX_PATH, 0, "", AT(redis_tls_key_file), KEY_RESTART),
    ROW("tls_server_name", KEY_STRING, 0, 255, 0, "", AT(redis_tls_server_name), KEY_RESTART),
    ROW("tls_verify", KEY_BOOL, 0, 1, 1, NULL, AT(redis_tls_verify), KEY_RESTART),
    ROW("sentinels", KEY_STRINGS, 0, CFG_MAX_SENTINELS, 0, NULL, AT(redis_sentinels),
        KEY_RESTART),
    ROW("sentinel_master", KEY_NAME, 0, 255, 0, "", AT(redis_sentinel_master), KEY_RESTART),
    ROW("sentinel_username", KEY_NAME, 0, 255, 0, "", AT(redis_sentinel_username), KEY_RESTART),
    ROW("sentinel_password_file", KEY_STRING, 0, CFG_MAX_PATH, 0, "",
        AT(redis_sentinel_password_file), KEY_RESTART),
    ROW("wait_replicas", KEY_UINT, 0, 100, 0, NULL, AT(redis_wait_replicas), 0),
    ROW("wait_timeout", KEY_DURATION, 0.001, 60, 1, NULL, AT(redis_wait_timeout_s), 0),
};

static const struct key database_keys[] = {
    ROW("url", KEY_STRING, 0, CFG_MAX_URL, 0, "", AT(database_url), KEY_RESTART),
    ROW("pool_url", KEY_STRING, 0, CFG_MAX_URL, 0, "", AT(database_pool_url), KEY_RESTART),
    ROW("pool_size", KEY_UINT, 1, 100, 4, NULL, AT(database_pool_size), KEY_RESTART),
    ROW("max_waiting", KEY_UINT, 1, 1000000, 10000, NULL, AT(database_max_waiting), KEY_RESTART),
    ROW("group_commit", KEY_UINT, 1, 64, 16, NULL, AT(database_group_commit), KEY_RESTART),
    ROW("connect_timeout", KEY_DURATION, 0.001, 300, 5, NULL, AT(database_connect_timeout_s),
        KEY_RESTART),
    ROW("statement_timeout", KEY_DURATION, 0, DAY, 30, NULL, AT(database_statement_timeout_s),
        KEY_RESTART),
    ROW("prepared_statements", KEY_BOOL, 0, 1, 1, NULL, AT(database_prepared), KEY_RESTART),
    ROW("migrate", KEY_BOOL, 0, 1, 0, NULL, AT(database_migrate), 0),
    ROW("history", KEY_BOOL, 0, 1, 1, NULL, AT(database_history), KEY_RESTART),
    ROW("history_retention", KEY_DURATION, 0.001, 3650 * DAY, 30 * DAY, NULL,
        AT(database_history_retention_s), 0),
    ROW("outbox", KEY_BOOL, 0, 1, 1, NULL, AT(database_outbox), KEY_RESTART),
    ROW("outbox_interval", KEY_DURATION, 0.01, 60, 1, NULL, AT(database_outbox_interval_s), 0),
};

static const struct key queue_keys[] = {
    ROW("name", KEY_NAME, 1, JOB_MAX_QUEUE, 0, NULL, QUEUE_AT(name), 0),
    ROW("weight", KEY_UINT, 1, 1000, 1, NULL, QUEUE_AT(weight), 0),
};

static const struct key worker_keys[] = {
    ROW("concurrency", KEY_UINT, 1, 100000, 50, NULL, AT(concurrency), 0),
    {"queues", KEY_QUEUES, 1, CFG_MAX_QUEUES, 0, "default", AT(queues), queue_keys,
     NELEMS(queue_keys), NULL, NULL, 0},
    ENUM("queue_order", "strict", AT(queue_order), &order_words),
    ROW("shutdown_timeout", KEY_DURATION, 0, 3600, 25, NULL, AT(shutdown_timeout_s), 0),
    ROW("job_timeout", KEY_DURATION, 0.001, 7 * DAY, 30 * MIN, NULL, AT(job_timeout_s), 0),
    ROW("max_retries", KEY_INT, 0, 1000, 25, NULL, AT(max_retries), 0),
    ROW("heartbeat_interval", KEY_DURATION, 0.1, 3600, 10, NULL, AT(heartbeat_s), 0),
    ROW("process_ttl", KEY_DURATION, 0.2, DAY, 60, NULL, AT(process_ttl_s), 0),
    ROW("max_recoveries", KEY_UINT, 1, 1000, 3, NULL, AT(max_recoveries), 0),
    ROW("orphan_sweep_interval", KEY_DURATION, 1, DAY, 60, NULL, AT(orphan_sweep_s), 0),
    ROW("poll_interval", KEY_DURATION, 0.01, 3600, 5, NULL, AT(poll_interval_s), 0),
    ROW("block_timeout", KEY_DURATION, 0.1, 3600, 10, NULL, AT(block_timeout_s), 0),
    ROW("fetch_batch", KEY_UINT, 1, 1000, 250, NULL, AT(fetch_batch), 0),
    ROW("prefetch", KEY_UINT, 0, 100000, 500, NULL, AT(prefetch), 0),
    ROW("max_job_size", KEY_UINT, 1024, JOB_MAX_BYTES, 1048576, NULL, AT(max_job_size), 0),
    ROW("dead_keep_max", KEY_UINT, 0, JOB_MAX_BYTES, 65536, NULL, AT(dead_keep_max), 0),
    ROW("unknown_class_grace", KEY_DURATION, 0, 7 * DAY, 0, NULL, AT(unknown_class_grace_s), 0),
    ROW("tag", KEY_STRING, 0, CFG_MAX_TAG, 0, "", AT(tag), 0),
};

static const struct key dead_keys[] = {
    ROW("max_jobs", KEY_UINT, 1, 10000000, 10000, NULL, AT(dead_max_jobs), 0),
    ROW("max_age", KEY_DURATION, 0.001, 3650 * DAY, 180 * DAY, NULL, AT(dead_max_age_s), 0),
};

#define CFG_MAX_LISTEN 120              /* http.listen bytes: "unix:" + a socket path */
#define CFG_MAX_HTTP_CONNECTIONS 100000 /* http.max_connections */
#define CFG_MAX_ALLOWED_HOSTS 64        /* entries of http.allowed_hosts */

static const struct key http_keys[] = {
    ROW("enabled", KEY_BOOL, 0, 1, 1, NULL, AT(http_enabled), KEY_RESTART),
    ROW("listen", KEY_STRING, 1, CFG_MAX_LISTEN, 0, "127.0.0.1:7411", AT(http_listen), KEY_RESTART),
    ROW("max_connections", KEY_UINT, 1, CFG_MAX_HTTP_CONNECTIONS, 4096, NULL,
        AT(http_max_connections), KEY_RESTART),
    ROW("idle_timeout", KEY_DURATION, 1, 3600, 30, NULL, AT(http_idle_timeout_s), KEY_RESTART),
    ROW("header_timeout", KEY_DURATION, 0.1, 3600, 10, NULL, AT(http_header_timeout_s),
        KEY_RESTART),
    ROW("allowed_hosts", KEY_STRINGS, 0, CFG_MAX_ALLOWED_HOSTS, 0, NULL, AT(http_allowed_hosts),
        KEY_RESTART),
    ROW("max_body", KEY_UINT, 0, 16777216, 65536, NULL, AT(http_max_body), KEY_RESTART),
    ROW("max_header", KEY_UINT, 2048, 1048576, 16384, NULL, AT(http_max_header), KEY_RESTART),
    ROW("token_file", KEY_STRING, 0, CFG_MAX_URL, 0, "", AT(http_token_file), 0),
};

static const struct key analytics_keys[] = {
    ROW("funnel_prefix", KEY_STRING, 1, CFG_MAX_NAMESPACE, 0,
        "funnel:", AT(analytics_funnel_prefix), 0),
    ROW("tz", KEY_STRING, 1, 64, 0, "UTC", AT(analytics_tz), 0),
    ROW("sales_statuses", KEY_STRING, 1, 1024, 0, "paid", AT(analytics_sales_statuses), 0),
    ROW("max_days", KEY_UINT, 1, 3660, 366, NULL, AT(analytics_max_days), 0),
    ROW("scan_count", KEY_UINT, 10, 100000, 1000, NULL, AT(analytics_scan_count), 0),
    ROW("max_counters", KEY_UINT, 1, 10000000, 1000000, NULL, AT(analytics_max_counters), 0),
};

static const struct key emotion_keys[] = {
    ROW("url", KEY_NAME, 1, CFG_MAX_URL, 0, "https://router.huggingface.co/hf-inference/models",
        AT(emotion_url), 0),
    ROW("model", KEY_NAME, 1, 256, 0, "j-hartmann/emotion-english-distilroberta-base",
        AT(emotion_model), 0),
    ROW("endpoint", KEY_NAME, 0, CFG_MAX_URL, 0, "", AT(emotion_endpoint), 0),
    ROW("token_file", KEY_STRING, 0, 4096, 0, "", AT(emotion_token_file), 0),
    ROW("timeout", KEY_DURATION, 0.001, 10 * MIN, 30, NULL, AT(emotion_timeout_s), 0),
    ROW("cache_ttl", KEY_DURATION, 0, 30 * DAY, 3600, NULL, AT(emotion_cache_ttl_s), 0),
    ROW("cache_prefix", KEY_NAME, 0, CFG_MAX_NAMESPACE, 0, "emotion:", AT(emotion_cache_prefix), 0),
    ROW("max_text", KEY_UINT, 1, 1000000, 10000, NULL, AT(emotion_max_text), 0),
    ROW("max_response", KEY_UINT, 1024, 64 << 20, 1 << 20, NULL, AT(emotion_max_response), 0),
    ROW("top_k", KEY_UINT, 0, 1000, 0, NULL, AT(emotion_top_k), 0),
    ROW("max_defer", KEY_DURATION, 1, DAY, 3600, NULL, AT(emotion_max_defer_s), 0),
};

static const struct key smtp_keys[] = {
    ROW("url", KEY_STRING, 1, CFG_MAX_URL, 0, "smtp://127.0.0.1:25", AT(smtp_url), 0),
    ROW("username", KEY_STRING, 0, 256, 0, "", AT(smtp_username), 0),
    ROW("password_file", KEY_STRING, 0, CFG_MAX_PATH, 0, "", AT(smtp_password_file), 0),
    ROW("from", KEY_STRING, 1, 600, 0, "Nexus Sales <no-reply@example.com>", AT(smtp_from), 0),
    ROW("reply_to", KEY_STRING, 0, 600, 0, "", AT(smtp_reply_to), 0),
    ENUM("starttls", "try", AT(smtp_starttls), &starttls_words),
    ROW("allow_plaintext_auth", KEY_BOOL, 0, 1, 0, NULL, AT(smtp_allow_plaintext_auth), 0),
    ROW("ca_file", KEY_STRING, 0, CFG_MAX_PATH, 0, "", AT(smtp_ca_file), 0),
    ROW("connect_timeout", KEY_DURATION, 0.001, 300, 10, NULL, AT(smtp_connect_timeout_s), 0),
    ROW("timeout", KEY_DURATION, 0.001, 3600, 60, NULL, AT(smtp_timeout_s), 0),
    ROW("templates", KEY_STRING, 1, CFG_MAX_PATH, 0, CFG_TEMPLATES_DEFAULT, AT(smtp_templates), 0),
};

static const struct key class_keys[] = {
    ROW("name", KEY_STRING, 1, JOB_MAX_CLASS, 0, NULL, CLASS_AT(name), 0),
    ROW("timeout", KEY_DURATION, 0.001, 7 * DAY, INHERIT, NULL, CLASS_AT(timeout_s), 0),
    ROW("max_retries", KEY_INT, 0, 1000, INHERIT, NULL, CLASS_AT(max_retries), 0),
    ROW("concurrency", KEY_UINT, 0, 100000, 0, NULL, CLASS_AT(concurrency), 0),
    ROW("global_concurrency", KEY_UINT, 0, 100000, 0, NULL, CLASS_AT(global_concurrency), 0),
    ROW("rate_limit", KEY_UINT, 0, 1000000, 0, NULL, CLASS_AT(rate_limit), 0),
    ROW("rate_period", KEY_DURATION, 0.001, DAY, 1, NULL, CLASS_AT(rate_period_s), 0),
    ROW("sql", KEY_STRING, 1, CFG_MAX_SQL, 0, NULL, CLASS_AT(sql), 0),
    ROW("args", KEY_STRING, 0, 1024, 0, NULL, CLASS_AT(args), 0),
    ROW("queue", KEY_NAME, 1, JOB_MAX_QUEUE, 0, NULL, CLASS_AT(queue), 0),
    ROW("url", KEY_STRING, 1, CFG_MAX_URL, 0, NULL, CLASS_AT(url), 0),
    ROW("secret_file", KEY_STRING, 1, 4096, 0, NULL, CLASS_AT(secret_file), 0),
    ROW("secret_env", KEY_NAME, 1, 128, 0, NULL, CLASS_AT(secret_env), 0),
    ROW("command", KEY_ARGVS, 1, CFG_MAX_STEPS, 0, NULL, CLASS_AT(command), 0),
    ROW("shell", KEY_STRING, 1, CFG_MAX_ARG, 0, NULL, CLASS_AT(shell), 0),
    ROW("workdir", KEY_STRING, 1, 4096, 0, NULL, CLASS_AT(workdir), 0),
    ROW("env", KEY_STRINGS, 0, CFG_MAX_ARGV, 0, NULL, CLASS_AT(env), 0),
    ROW("env_pass", KEY_STRINGS, 0, CFG_MAX_ARGV, 0, NULL, CLASS_AT(env_pass), 0),
    ROW("output_limit", KEY_UINT, 1024, 16 << 20, 65536, NULL, CLASS_AT(output_limit), 0),
    ROW("kill_grace", KEY_DURATION, 0, 10 * MIN, 10, NULL, CLASS_AT(kill_grace_s), 0),
    ROW("args_append", KEY_BOOL, 0, 1, 0, NULL, CLASS_AT(args_append), 0),
    ROW("args_options", KEY_BOOL, 0, 1, 0, NULL, CLASS_AT(args_options), 0),
    ROW("user", KEY_NAME, 1, CFG_MAX_USER, 0, NULL, CLASS_AT(user), 0),
    ROW("group", KEY_NAME, 1, CFG_MAX_USER, 0, NULL, CLASS_AT(group), 0),
    ROW("parse", KEY_STRING, 0, 32, 0, "", CLASS_AT(parse), 0),
    ENUM("fail_on", "none", CLASS_AT(fail_level), &severity_words),
    ENUM("unique_until", "success", CLASS_AT(unique_until), &unique_until_words),
};

#define SCHED_AT(field) offsetof(struct cfg_schedule, field)

static const struct key schedule_keys[] = {
    ROW("name", KEY_STRING, 1, CFG_MAX_SCHEDULE_NAME, 0, NULL, SCHED_AT(name), 0),
    ROW("cron", KEY_STRING, 1, CRON_TEXT_MAX, 0, NULL, SCHED_AT(cron), 0),
    ROW("class", KEY_STRING, 1, JOB_MAX_CLASS, 0, NULL, SCHED_AT(class_name), 0),
    ROW("args", KEY_STRING, 2, CFG_MAX_SCHEDULE_ARGS, 0, "[]", SCHED_AT(args), 0),
    ROW("queue", KEY_NAME, 1, JOB_MAX_QUEUE, 0, NULL, SCHED_AT(queue), 0),
    ROW("tz", KEY_STRING, 1, 64, 0, "UTC", SCHED_AT(tz), 0),
    ENUM("missed", "skip", SCHED_AT(missed), &missed_words),
    ROW("unique_for", KEY_DURATION, 0, JOB_MAX_UNIQUE_FOR_S, 0, NULL, SCHED_AT(unique_for_s), 0),
};

static const struct group_list class_list = {
    "class",        sizeof(struct cfg_class), AT(classes),     AT(nclasses),
    CLASS_AT(name), CLASS_AT(line),           cfg_class_check, cfg_class_clear,
};

static const struct group_list schedule_list = {
    "schedule",     sizeof(struct cfg_schedule), AT(schedules), AT(nschedules), SCHED_AT(name),
    SCHED_AT(line), cfg_schedule_check,          NULL,
};

const struct key cfg_root_keys[] = {
    GROUP("log", log_keys),
    GROUP("redis", redis_keys),
    GROUP("database", database_keys),
    GROUP("worker", worker_keys),
    GROUP("dead", dead_keys),
    GROUP("http", http_keys),
    GROUP("analytics", analytics_keys),
    GROUP("emotion", emotion_keys),
    GROUP("smtp", smtp_keys),
    {"classes", KEY_LIST, 0, CFG_MAX_CLASSES, 0, NULL, 0, class_keys, NELEMS(class_keys),
     &class_list, NULL, 0},
    {"schedules", KEY_LIST, 0, CFG_MAX_SCHEDULES, 0, NULL, 0, schedule_keys, NELEMS(schedule_keys),
     &schedule_list, NULL, 0},
};

const size_t cfg_nroot_keys = NELEMS(cfg_root_keys);

const struct cfg_env_var cfg_env_vars[] = {
    {"REDIS_URL", &redis_keys[0]},
    {"DATABASE_URL", &database_keys[0]},
    {"DATABASE_POOL_URL", &database_keys[1]},
    {"SMTP_URL", &smtp_keys[0]},
};
const size_t cfg_nenv_vars = NELEMS(cfg_env_vars);