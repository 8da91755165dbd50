/* cfg_test.c - the configuration loader: defaults, the example file, every bad input. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "conf/cfg.h"
#include "conf/cfg_int.h"
#include "lib/err.h"
#include "lib/mail_tmpl.h"
#include "lib/raddr.h"

/* The environment the loader sees. */
static const char *env_redis_url;
static const char *env_database_url;
static const char *env_database_pool_url;
static const char *env_http_token;
static const char *env_hf_token;
static const char *env_smtp_url;
static const char *env_smtp_password;
static const char *env_credentials_dir;

static const char *fake_env(const char *name)
{
    if (strcmp(name, "CREDENTIALS_DIRECTORY") == 0)
        return env_credentials_dir;
    if (strcmp(name, "HOOK_SECRET") == 0)
        return "from-env";
    if (strcmp(name, "REDIS_URL") == 0)
        return env_redis_url;
    if (strcmp(name, "DATABASE_URL") == 0)
        return env_database_url;
    if (strcmp(name, "DATABASE_POOL_URL") == 0)
        return env_database_pool_url;
    if (strcmp(name, "NEXUS_HTTP_TOKEN") == 0)
        return env_http_token;
    if (strcmp(name, "HF_API_TOKEN") == 0)
        return env_hf_token;
    if (strcmp(name, "SMTP_URL") == 0)
        return env_smtp_url;
    if (strcmp(name, "SMTP_PASSWORD") == 0)
        return env_smtp_password;
    return NULL;
}

static int setup(void **state)
{
    env_redis_url = NULL;
    env_database_url = NULL;
    env_database_pool_url = NULL;
    env_http_token = NULL;
    env_hf_token = NULL;
    env_smtp_url = NULL;
    env_smtp_password = NULL;
    env_credentials_dir = NULL;
    return 0;
}

/* Writes `text` to a new temporary file; its name goes to `path` (PATH_MAX-ish buffer). */
static void conf_write(const char *text, char *path, size_t size)
{
    size_t len = strlen(text);
    int fd;

    assert_true(size > sizeof("/tmp/cfg_test_XXXXXX"));
    strcpy(path, "/tmp/cfg_test_XXXXXX");
    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    assert_int_equal(close(fd), 0);
}

/* Loads `text` from a temporary file; `path` receives the file's name for messages. */
static int load_text(const char *text, struct cfg **ret_cfg, struct err *err, char *path,
                     size_t size)
{
    int r;

    conf_write(text, path, size);
    r = cfg_load(path, fake_env, ret_cfg, err);
    (void)unlink(path);
    return r;
}

/* Loads `text` as nexusd does: the file, then the secrets it names. On failure *ret_cfg is
 * NULL. */
static int load_secrets_text(const char *text, struct cfg **ret_cfg, struct err *err, char *path,
                             size_t size)
{
    int r = load_text(text, ret_cfg, err, path, size);

    if (r == 0 && (r = cfg_load_secrets(*ret_cfg, fake_env, err)) < 0) {
        cfg_free(*ret_cfg);
        *ret_cfg = NULL;
    }
    return r;
}

static struct cfg *load_secrets_ok(const char *text)
{
    struct err err = {0};
    struct cfg *cfg = NULL;
    char path[64];
    int r = load_secrets_text(text, &cfg, &err, path, sizeof(path));

    if (r != 0)
        fail_msg("unexpected error %d: %s", r, err.msg);
    return cfg;
}

static struct cfg *load_ok(const char *text)
{
    struct err err = {0};
    struct cfg *cfg = NULL;
    char path[64];
    int r;

    r = load_text(text, &cfg, &err, path, sizeof(path));
    if (r != 0)
        fail_msg("unexpected error %d: %s", r, err.msg);
    return cfg;
}

static void assert_defaults(const struct cfg *cfg)
{
    assert_int_equal(cfg->log_level, LOG_LEVEL_INFO);
    assert_string_equal(cfg->redis_url, "redis://127.0.0.1:6379/0");
    assert_string_equal(cfg->redis_namespace, "");
    assert_true(cfg->redis_connect_timeout_s == 5.0);
    assert_null(cfg->database_url);
    assert_int_equal(cfg->database_pool_size, 4);
    assert_int_equal(cfg->database_max_waiting, 10000);
    assert_true(cfg->database_statement_timeout_s == 30.0);
    assert_true(cfg->database_prepared);
    assert_false(cfg->database_migrate);
    assert_true(cfg->database_history);
    assert_true(cfg->database_history_retention_s == 30 * 86400.0);
    assert_int_equal(cfg->concurrency, 50);
    assert_int_equal(cfg->nqueues, 1);
    assert_string_equal(cfg->queues[0].name, "default");
    assert_int_equal(cfg->queues[0].weight, 1);
    assert_int_equal(cfg->queue_order, CFG_QUEUES_STRICT);
    assert_true(cfg->shutdown_timeout_s == 25.0);
    assert_true(cfg->job_timeout_s == 1800.0);
    assert_int_equal(cfg->max_retries, 25);
    assert_true(cfg->heartbeat_s == 10.0);
    assert_true(cfg->process_ttl_s == 60.0);
    assert_int_equal(cfg->max_recoveries, 3);
    assert_true(cfg->orphan_sweep_s == 60.0);
    assert_true(cfg->poll_interval_s == 5.0);
    assert_true(cfg->block_timeout_s == 10.0);
    assert_false(cfg->redis_metered);
    assert_int_equal(cfg->fetch_batch, 250);
    assert_string_equal(cfg->tag, "");
    assert_int_equal(cfg->dead_max_jobs, 10000);
    assert_true(cfg->dead_max_age_s == 180 * 86400.0);
    assert_true(cfg->http_enabled);
    assert_string_equal(cfg->http_listen, "127.0.0.1:7411");
    assert_int_equal(cfg->http_max_connections, 4096);
    assert_true(cfg->http_idle_timeout_s == 30.0);
    assert_true(cfg->http_header_timeout_s == 10.0);
    assert_null(cfg->http_allowed_hosts);
    assert_int_equal(cfg->http_max_body, 65536);
    assert_int_equal(cfg->http_max_header, 16384);
    assert_string_equal(cfg->smtp_url, "smtp://127.0.0.1:25");
    assert_string_equal(cfg->smtp_username, "");
    assert_null(cfg->smtp_password);
    assert_string_equal(cfg->smtp_from, "Nexus Sales <no-reply@example.com>");
    assert_string_equal(cfg->smtp_reply_to, "");
    assert_int_equal(cfg->smtp_starttls, CFG_STARTTLS_TRY);
    assert_string_equal(cfg->smtp_ca_file, "");
    assert_true(cfg->smtp_connect_timeout_s == 10.0);
    assert_true(cfg->smtp_timeout_s == 60.0);
    assert_string_equal(cfg->smtp_templates, CFG_TEMPLATES_DEFAULT);
}

static void test_load_without_path_gives_defaults(void **state)
{
    struct err err = {0};
    struct cfg *cfg = NULL;

    assert_int_equal(cfg_load(NULL, NULL, &cfg, &err), 0);
    assert_null(cfg->path);
    assert_defaults(cfg);
    assert_int_equal(cfg->nclasses, 0);
    assert_null(cfg->classes);
    cfg_free(cfg);
}

static void test_load_of_empty_file_gives_defaults(void **state)
{
    struct cfg *cfg = load_ok("");

    assert_non_null(cfg->path);
    assert_defaults(cfg);
    assert_int_equal(cfg->nclasses, 0);
    cfg_free(cfg);
}

/* conf/NAME of the source tree, loaded; the test is skipped without NEXUS_SOURCE_DIR. */
static struct cfg *load_source_file(const char *name)
{
    const char *dir = getenv("NEXUS_SOURCE_DIR");
    struct err err = {0};
    struct cfg *cfg = NULL;
    char path[4096];

    if (!dir) {
        print_message("NEXUS_SOURCE_DIR is not set: skipping conf/%s\n", name);
        skip();
    }
    (void)snprintf(path, sizeof(path), "%s/conf/%s", dir, name);
    if (cfg_load(path, NULL, &cfg, &err) != 0)
        fail_msg("%s", err.msg);
    assert_string_equal(cfg->path, path);
    return cfg;
}

static void test_load_reads_the_example_file_with_every_default(void **state)
{
    struct cfg *cfg = load_source_file("nexusd.conf");

    assert_defaults(cfg);
    /* the reference runs nothing of the app's: no class, no schedule failing without it */
    assert_int_equal(cfg->nclasses, 0);
    assert_int_equal(cfg->nschedules, 0);
    cfg_free(cfg);
}

static void test_load_reads_the_app_file_with_its_classes_and_schedules(void **state)
{
    struct cfg *cfg = load_source_file("nexus-sales.conf");

    assert_defaults(cfg);
    /* the app's classes: its order update (sql), its tests, bench and audit */
    assert_int_equal(cfg->nclasses, 4);
    assert_string_equal(cfg->classes[0].name, "orders.mark_paid");
    assert_int_equal(cfg->classes[0].nargs, 1);
    assert_int_equal(cfg->classes[0].arg_types[0], CFG_ARG_UUID);
    assert_null(cfg->classes[0].command);
    assert_string_equal(cfg->classes[1].name, "tests.nightly");
    assert_int_equal(cfg->classes[1].nsteps, 2);
    assert_string_equal(cfg->classes[1].command[1][2], "test:e2e");
    assert_string_equal(cfg->classes[1].workdir, "/srv/nexus-sales");
    assert_true(cfg->classes[1].timeout_s == 7200);
    assert_string_equal(cfg->classes[2].command[0][2], "bench");
    assert_string_equal(cfg->classes[3].parse, "npm-audit");
    assert_int_equal(cfg->classes[3].fail_level, 4);
    /* the app's recurring tasks, each bound to a class of the file (or the built-in rollup) */
    assert_int_equal(cfg->nschedules, 4);
    assert_string_equal(cfg_schedule_find(cfg, "analytics.hourly")->class_name, "analytics.rollup");
    assert_int_equal(cfg_schedule_find(cfg, "tests.nightly")->expr.hours, 1u << 3);
    assert_int_equal(cfg_schedule_find(cfg, "bench.weekly")->expr.wdays, 1u << 0);
    assert_int_equal(cfg_schedule_find(cfg, "audit.monthly")->missed, CFG_MISSED_RUN_ONCE);
    for (size_t i = 1; i < cfg->nschedules; i++)
        assert_non_null(cfg_class_find(cfg, cfg->schedules[i].class_name));
    cfg_free(cfg);
}

static void test_load_reads_every_setting(void **state)
{
    struct cfg *cfg = load_ok("log = { level = \"debug\"; };\n"
                              "redis = {\n"
                              "  url = \"unix:///run/redis.sock?db=2\";\n"
                              "  namespace = \"{app}:\";\n"
                              "  connect_timeout = \"250ms\";\n"
                              "};\n"
                              "database = { url = \"postgresql://u@db/app\"; };\n"
                              "worker = {\n"
                              "  concurrency = 7;\n"
                              "  queues = [ \"a\", \"b\" ];\n"
                              "  queue_order = \"strict\";\n"
                              "  shutdown_timeout = 0;\n"
                              "  job_timeout = 2.5;\n"
                              "  max_retries = 0;\n"
                              "  heartbeat_interval = \"2s\";\n"
                              "  process_ttl = \"4s\";\n"
                              "  max_recoveries = 1000;\n"
                              "  poll_interval = \"10ms\";\n"
                              "  fetch_batch = 1;\n"
                              "  tag = \"blue canary\";\n"
                              "};\n"
                              "dead = { max_jobs = 10000000; max_age = \"3650d\"; };\n"
                              "http = {\n"
                              "  enabled = false;\n"
                              "  listen = \"unix:/run/nexusd/http.sock\";\n"
                              "  max_connections = 100000;\n"
                              "  idle_timeout = \"1h\";\n"
                              "  header_timeout = \"250ms\";\n"
                              "  allowed_hosts = [\"nexus.example\", \".ops.example\"];\n"
                              "  max_body = 0;\n"
                              "  max_header = 2048;\n"
                              "};\n");

    assert_int_equal(cfg->log_level, LOG_LEVEL_DEBUG);
    assert_string_equal(cfg->redis_url, "unix:///run/redis.sock?db=2");
    assert_string_equal(cfg->redis_namespace, "{app}:");
    assert_true(cfg->redis_connect_timeout_s == 0.25);
    assert_string_equal(cfg->database_url, "postgresql://u@db/app");
    assert_int_equal(cfg->concurrency, 7);
    assert_int_equal(cfg->nqueues, 2);
    assert_string_equal(cfg->queues[0].name, "a");
    assert_string_equal(cfg->queues[1].name, "b");
    assert_int_equal(cfg->queue_order, CFG_QUEUES_STRICT);
    assert_true(cfg->shutdown_timeout_s == 0);
    assert_true(cfg->job_timeout_s == 2.5);
    assert_int_equal(cfg->max_retries, 0);
    assert_true(cfg->heartbeat_s == 2);
    assert_true(cfg->process_ttl_s == 4);
    assert_int_equal(cfg->max_recoveries, 1000);
    assert_true(cfg->poll_interval_s == 0.01);
    assert_int_equal(cfg->fetch_batch, 1);
    assert_string_equal(cfg->tag, "blue canary");
    assert_int_equal(cfg->dead_max_jobs, 10000000);
    assert_true(cfg->dead_max_age_s == 3650 * 86400.0);
    assert_false(cfg->http_enabled);
    assert_string_equal(cfg->http_listen, "unix:/run/nexusd/http.sock");
    assert_int_equal(cfg->http_max_connections, 100000);
    assert_true(cfg->http_idle_timeout_s == 3600);
    assert_true(cfg->http_header_timeout_s == 0.25);
    assert_string_equal(cfg->http_allowed_hosts[0], "nexus.example");
    assert_string_equal(cfg->http_allowed_hosts[1], ".ops.example");
    assert_null(cfg->http_allowed_hosts[2]);
    assert_int_equal(cfg->http_max_body, 0);
    assert_int_equal(cfg->http_max_header, 2048);
    cfg_free(cfg);
}

static void test_load_takes_queues_as_strings_and_groups(void **state)
{
    struct cfg *cfg = load_ok("worker = {\n"
                              "  queues = ( \"critical\", { name = \"default\"; weight = 3; },\n"
                              "             { name = \"low\"; } );\n"
                              "  queue_order = \"weighted\";\n"
                              "};\n");

    assert_int_equal(cfg->queue_order, CFG_QUEUES_WEIGHTED);
    assert_int_equal(cfg->nqueues, 3);
    assert_string_equal(cfg->queues[0].name, "critical");
    assert_int_equal(cfg->queues[0].weight, 1);
    assert_string_equal(cfg->queues[1].name, "default");
    assert_int_equal(cfg->queues[1].weight, 3);
    assert_string_equal(cfg->queues[2].name, "low");
    assert_int_equal(cfg->queues[2].weight, 1);
    cfg_free(cfg);
}

static void test_load_gives_classes_the_worker_defaults_they_leave_out(void **state)
{
    const struct cfg_class *c;
    struct cfg *cfg = load_ok("worker = { job_timeout = \"1h\"; max_retries = 7; };\n"
                              "classes = (\n"
                              "  { name = \"sleep\"; timeout = \"10s\"; max_retries = 3;\n"
                              "    concurrency = 2; },\n"
                              "  { name = \"email.welcome\"; }\n"
                              ");\n");

    assert_int_equal(cfg->nclasses, 2);
    c = cfg_class_find(cfg, "sleep");
    assert_non_null(c);
    assert_true(c->timeout_s == 10);
    assert_int_equal(c->max_retries, 3);
    assert_int_equal(c->concurrency, 2);
    assert_int_equal(c->line, 3);
    c = cfg_class_find(cfg, "email.welcome");
    assert_non_null(c);
    assert_true(c->timeout_s == 3600);
    assert_int_equal(c->max_retries, 7);
    assert_int_equal(c->concurrency, 0);
    assert_int_equal(c->line, 5);
    assert_null(cfg_class_find(cfg, "email"));
    cfg_free(cfg);
}

static void test_metered_redis_lengthens_the_intervals_the_file_leaves_out(void **state)
{
    struct cfg *cfg = load_ok("redis = { metered = true; };\n"
                              "worker = { poll_interval = \"30s\"; };");

    assert_true(cfg->redis_metered);
    assert_true(cfg->heartbeat_s == 300.0);
    assert_true(cfg->process_ttl_s == 900.0);
    assert_true(cfg->block_timeout_s == 300.0);
    assert_true(cfg->orphan_sweep_s == 3600.0);
    assert_true(cfg->poll_interval_s == 30.0); /* given: kept */
    assert_false(cfg->redis_metrics);
    cfg_free(cfg);
    cfg = load_ok("redis = { metered = true; metrics = true; };");
    assert_true(cfg->redis_metrics); /* given: kept */
    cfg_free(cfg);
    cfg = load_ok("");
    assert_true(cfg->redis_metrics);
    cfg_free(cfg);
}

static void test_load_reads_durations_as_numbers_and_units(void **state)
{
    static const struct {
        const char *text;
        double seconds;
    } cases[] = {
        {"5", 5},         {"2.5", 2.5},        {"\"250ms\"", 0.25},  {"\"30s\"", 30},
        {"\"5m\"", 300},  {"\"2h\"", 7200},    {"\"1d\"", 86400},    {"\"90\"", 90},
        {"\"1.5m\"", 90}, {"604800L", 604800}, {"\"0.001\"", 0.001},
    };
    char text[128];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct cfg *cfg;

        (void)snprintf(text, sizeof(text), "worker = { job_timeout = %s; };", cases[i].text);
        cfg = load_ok(text);
        if (cfg->job_timeout_s != cases[i].seconds)
            fail_msg("%s: got %g, want %g", cases[i].text, cfg->job_timeout_s, cases[i].seconds);
        cfg_free(cfg);
    }
}

/* A file, and the message after its name: ":LINE: ...". */
static const struct bad {
    const char *text;
    const char *want;
} bad_inputs[] = {
    /* unknown settings at every level */
    {"foo = 1;", ":1: unknown setting 'foo'"},
    {"worker = {\n  concurrency = 5;\n  concurency = 5;\n};",
     ":3: unknown setting 'worker.concurency'"},
    {"log = { level = \"info\"; file = \"x\"; };", ":1: unknown setting 'log.file'"},
    {"classes = ( { name = \"a\"; retries = 3; } );", ":1: unknown setting 'classes[0].retries'"},
    {"worker = { queues = ( \"a\", { name = \"b\"; wieght = 2; } ); };",
     ":1: unknown setting 'worker.queues[1].wieght'"},
    /* groups */
    {"log = 1;", ":1: log must be a group (got 1)"},
    {"worker = ( 1 );", ":1: worker must be a group (got a list)"},
    /* integers */
    {"worker = { concurrency = \"50\"; };",
     ":1: worker.concurrency must be an integer 1..100000 (got \"50\")"},
    {"worker = { concurrency = 1.5; };",
     ":1: worker.concurrency must be an integer 1..100000 (got 1.5)"},
    {"worker = { concurrency = 0; };", ":1: worker.concurrency must be 1..100000 (got 0)"},
    {"\n\nworker = {\n  concurrency = 100001;\n};",
     ":4: worker.concurrency must be 1..100000 (got 100001)"},
    {"worker = { max_retries = -1; };", ":1: worker.max_retries must be 0..1000 (got -1)"},
    {"worker = { max_retries = 1001L; };", ":1: worker.max_retries must be 0..1000 (got 1001)"},
    {"worker = { fetch_batch = true; };",
     ":1: worker.fetch_batch must be an integer 1..1000 (got true)"},
    {"worker = { max_recoveries = 0; };", ":1: worker.max_recoveries must be 1..1000 (got 0)"},
    {"worker = { orphan_sweep_interval = \"500ms\"; };",
     ":1: worker.orphan_sweep_interval must be 1s..1d (got \"500ms\")"},
    {"dead = { max_jobs = 10000001; };", ":1: dead.max_jobs must be 1..10000000 (got 10000001)"},
    /* durations */
    {"worker = { job_timeout = \"abc\"; };",
     ":1: worker.job_timeout must be a duration 1ms..7d, in seconds or with a unit ms|s|m|h|d "
     "(got \"abc\")"},
    {"worker = { job_timeout = \"30 s\"; };",
     ":1: worker.job_timeout must be a duration 1ms..7d, in seconds or with a unit ms|s|m|h|d "
     "(got \"30 s\")"},
    {"worker = { job_timeout = \"-5s\"; };",
     ":1: worker.job_timeout must be a duration 1ms..7d, in seconds or with a unit ms|s|m|h|d "
     "(got \"-5s\")"},
    {"worker = { job_timeout = \"5w\"; };",
     ":1: worker.job_timeout must be a duration 1ms..7d, in seconds or with a unit ms|s|m|h|d "
     "(got \"5w\")"},
    {"worker = { poll_interval = ( 1 ); };",
     ":1: worker.poll_interval must be a duration 10ms..1h, in seconds or with a unit "
     "ms|s|m|h|d (got a list)"},
    {"worker = { job_timeout = 0; };", ":1: worker.job_timeout must be 1ms..7d (got 0)"},
    {"worker = { job_timeout = \"8d\"; };", ":1: worker.job_timeout must be 1ms..7d (got \"8d\")"},
    {"worker = { heartbeat_interval = \"50ms\"; };",
     ":1: worker.heartbeat_interval must be 100ms..1h (got \"50ms\")"},
    {"worker = { shutdown_timeout = -1.0; };",
     ":1: worker.shutdown_timeout must be 0s..1h (got -1)"},
    {"worker = { process_ttl = \"2d\"; };",
     ":1: worker.process_ttl must be 200ms..1d (got \"2d\")"},
    {"redis = { connect_timeout = 0.0; };", ":1: redis.connect_timeout must be 1ms..5m (got 0)"},
    {"redis = { connect_timeout = 301; };", ":1: redis.connect_timeout must be 1ms..5m (got 301)"},
    {"dead = { max_age = \"3651d\"; };", ":1: dead.max_age must be 1ms..3650d (got \"3651d\")"},
    /* process_ttl against heartbeat_interval */
    {"worker = { heartbeat_interval = \"10s\"; process_ttl = \"15s\"; };",
     ":1: worker.process_ttl must be at least 2 * worker.heartbeat_interval = 20s (got 15s)"},
    {"worker = {\n  heartbeat_interval = \"40s\";\n};",
     ":2: worker.process_ttl must be at least 2 * worker.heartbeat_interval = 80s (got 1m)"},
    /* words */
    {"log = { level = \"verbose\"; };",
     ":1: log.level must be one of error|warn|info|debug (got \"verbose\")"},
    {"log = { level = 3; };", ":1: log.level must be one of error|warn|info|debug (got 3)"},
    {"worker = { queue_order = \"random\"; };",
     ":1: worker.queue_order must be one of strict|weighted (got \"random\")"},
    {"database = { migrate = \"yes\"; };",
     ":1: database.migrate must be true or false (got \"yes\")"},
    {"database = {\n  prepared_statements = 1; };",
     ":2: database.prepared_statements must be true or false (got 1)"},
    {"database = { pool_size = 0; };", ":1: database.pool_size must be 1..100 (got 0)"},
    {"schedules = ( { name = \"a\"; class = \"noop\"; } );", ":1: schedules[0] must have a cron"},
    {"schedules = ( { name = \"a\"; cron = \"61 * * * *\"; class = \"noop\"; } );",
     ":1: schedules[0].cron: minute: '61' is out of range 0-59"},
    {"schedules = ( { name = \"a\"; cron = \"@daily\"; class = \"noop\"; tz = \"Mars/Base\"; } );",
     ":1: schedules[0].tz: unknown time zone 'Mars/Base'"},
    {"schedules = ( { name = \"a\"; cron = \"@daily\"; class = \"noop\"; missed = \"often\"; } );",
     ":1: schedules[0].missed must be skip or run_once (got \"often\")"},
    {"schedules = ( { name = \"a\"; cron = \"@daily\"; class = \"noop\"; args = \"{}\"; } );",
     ":1: schedules[0].args must be a JSON array as text, e.g. \"[1, \\\"x\\\"]\" (got {})"},
    {"schedules = ( { name = \"a\"; cron = \"@daily\"; class = \"noop\"; },\n"
     "  { name = \"a\"; cron = \"@hourly\"; class = \"noop\"; } );",
     ":2: duplicate schedule 'a' in schedules (first at line 1)"},
    {"classes = ( { name = \"a\"; args = \"int\"; } );",
     ":1: classes[0].args needs classes[0].sql"},
    {"classes = ( { name = \"a\"; sql = \" COMMIT\"; } );",
     ":1: classes[0].sql must be one statement that reads or writes data: transaction control "
     "and COPY would break its exactly-once transaction"},
    {"classes = ( { name = \"a\"; sql = \"SELECT $1, $2\"; args = \"int\"; } );",
     ":1: classes[0].sql uses parameters up to $2 but classes[0].args names 1 type"},
    {"classes = ( { name = \"a\"; sql = \"SELECT $1\"; args = \"integer\"; } );",
     ":1: classes[0].args: unknown type 'integer' (text, int, float, bool, json, uuid, "
     "timestamptz)"},
    /* command classes */
    {"classes = ( { name = \"a\";\n sql = \"SELECT 1\"; command = [\"true\"]; } );",
     ":2: classes[0] has both sql and command: a class is a sql class or a command class"},
    {"classes = ( { name = \"a\"; command = [\"true\"];\n shell = \"true\"; } );",
     ":2: classes[0] has both command and shell: a class runs an argv or a shell line, not both"},
    {"classes = ( { name = \"a\"; command = \"npm test\"; } );",
     ":1: classes[0].command must be an argv array such as [\"npm\", \"test\"] or a list of "
     "them (got \"npm test\"; for a shell line use `shell`)"},
    {"classes = ( { name = \"a\"; command = []; } );",
     ":1: classes[0].command must be an argv array such as [\"npm\", \"test\"] or a list of "
     "them (got nothing; for a shell line use `shell`)"},
    {"classes = ( { name = \"a\"; command = ( \"npm\", 5 ); } );",
     ":1: classes[0].command[1] must be a string (got 5)"},
    {"classes = ( { name = \"a\"; command = ( [\"npm\"], \"x\" ); } );",
     ":1: classes[0].command[1] must be an argv array such as [\"npm\", \"test\"] (got \"x\")"},
    {"classes = ( { name = \"a\"; command = ( [\"npm\"], [] ); } );",
     ":1: classes[0].command[1] must have 1..256 items (got 0)"},
    {"classes = ( { name = \"a\"; command = [\"\", \"x\"]; } );",
     ":1: classes[0].command: argv[0] of step 1 is empty: it names the program to run"},
    {"classes = ( { name = \"a\"; command = [\"a\\tb\"]; } );",
     ":1: classes[0].command[0] must not contain control characters (got 0x09 at byte 1)"},
    {"classes = ( { name = \"a\"; command = ([\"a\"],[\"a\"],[\"a\"],[\"a\"],[\"a\"],[\"a\"],"
     "[\"a\"],[\"a\"],[\"a\"],[\"a\"],[\"a\"],[\"a\"],[\"a\"],[\"a\"],[\"a\"],[\"a\"],"
     "[\"a\"]); } );",
     ":1: classes[0].command must have at most 16 steps (got 17)"},
    {"classes = ( { name = \"a\";\n workdir = \"/srv\"; } );",
     ":2: classes[0].workdir needs classes[0].command or classes[0].shell"},
    {"classes = ( { name = \"a\"; output_limit = 100000; } );",
     ":1: classes[0].output_limit needs classes[0].command or classes[0].shell"},
    {"classes = ( { name = \"a\"; shell = \"true\";\n workdir = \"srv/app\"; } );",
     ":2: classes[0].workdir must be an absolute path (got \"srv/app\")"},
    {"classes = ( { name = \"a\"; shell = \"true\"; env = [\"CI\"]; } );",
     ":1: classes[0].env[0] must be NAME=value (got \"CI\")"},
    {"classes = ( { name = \"a\"; shell = \"true\"; env = [\"1X=1\"]; } );",
     ":1: classes[0].env[0]: a variable name is letters, digits and _, not starting with a "
     "digit (got \"1X=1\")"},
    {"classes = ( { name = \"a\"; shell = \"true\"; env = [\"NEXUS_JID=x\"]; } );",
     ":1: classes[0].env[0]: NEXUS_ variables are set by nexusd (got NEXUS_JID)"},
    {"classes = ( { name = \"a\"; shell = \"true\"; env = [\"A=1\", \"A=2\"]; } );",
     ":1: classes[0].env[1] sets A twice (first at classes[0].env[0])"},
    {"classes = ( { name = \"a\"; shell = \"true\"; env = \"A=1\"; } );",
     ":1: classes[0].env must be an array of strings such as [\"a\", \"b\"] (got \"A=1\")"},
    {"classes = ( { name = \"a\"; shell = \"true\"; env_pass = [\"NPM-TOKEN\"]; } );",
     ":1: classes[0].env_pass[0]: a variable name is letters, digits and _, not starting with "
     "a digit (got \"NPM-TOKEN\")"},
    {"classes = ( { name = \"a\"; shell = \"true\";\n env_pass = [\"CI\", \"DATABASE_URL\"]; } );",
     ":2: classes[0].env_pass[1]: DATABASE_URL is one of nexusd's own secrets and is never "
     "passed to a child; give the program its own (in a file it reads, or in env)"},
    {"classes = ( { name = \"a\"; shell = \"true\"; env_pass = [\"REDIS_URL\"]; } );",
     ":1: classes[0].env_pass[0]: REDIS_URL is one of nexusd's own secrets and is never "
     "passed to a child; give the program its own (in a file it reads, or in env)"},
    {"classes = ( { name = \"a\"; shell = \"true\"; env_pass = [\"NEXUS_HTTP_TOKEN\"]; } );",
     ":1: classes[0].env_pass[0]: NEXUS_ variables are set by nexusd (got NEXUS_HTTP_TOKEN)"},
    {"classes = ( { name = \"a\"; shell = \"true\"; env_pass = [\"HOOK_KEY\"]; },\n"
     "  { name = \"b\"; url = \"http://h/\"; secret_env = \"HOOK_KEY\"; } );",
     ":1: classes[0].env_pass[0]: HOOK_KEY is the secret_env of class b and is never passed to "
     "a child"},
    {"classes = ( { name = \"a\"; shell = \"true\";\n user = \"no-such-user-here\"; } );",
     ":2: classes[0].user: \"no-such-user-here\" is no user of this system"},
    {"classes = ( { name = \"a\"; shell = \"true\";\n user = \"root\"; } );",
     ":2: classes[0].user must not be root (uid 0): a child running as root can read nexusd's "
     "memory (got \"root\")"},
    {"classes = ( { name = \"a\"; shell = \"true\";\n group = \"nogroup\"; } );",
     ":2: classes[0].group needs classes[0].user: alone it would leave the child nexusd's user"},
    {"classes = ( { name = \"a\"; shell = \"true\"; user = \"nobody\";\n"
     " group = \"no-such-group-here\"; } );",
     ":2: classes[0].group: \"no-such-group-here\" is no group of this system"},
    {"classes = ( { name = \"a\"; user = \"nobody\"; } );",
     ":1: classes[0].user needs classes[0].command or classes[0].shell"},
    {"classes = ( { name = \"a\"; shell = \"true\";\n args_options = true; } );",
     ":2: classes[0].args_options needs classes[0].args_append = true"},
    {"classes = ( { name = \"a\"; shell = \"true\"; output_limit = 100; } );",
     ":1: classes[0].output_limit must be 1024..16777216 (got 100)"},
    {"classes = ( { name = \"a\"; shell = \"true\"; kill_grace = \"1h\"; } );",
     ":1: classes[0].kill_grace must be 0s..10m (got \"1h\")"},
    {"classes = ( { name = \"a\"; shell = \"true\"; parse = \"junit\"; } );",
     ":1: classes[0].parse must be \"npm-audit\" or \"\" for none (got \"junit\")"},
    {"classes = ( { name = \"a\"; shell = \"true\"; parse = \"npm-audit\";\n"
     "  fail_on = \"severe\"; } );",
     ":2: classes[0].fail_on must be one of none|info|low|moderate|high|critical (got "
     "\"severe\")"},
    {"classes = ( { name = \"a\"; shell = \"true\"; fail_on = \"high\"; } );",
     ":1: classes[0].fail_on needs classes[0].parse"},
    /* strings */
    {"worker = { tag = 5; };", ":1: worker.tag must be a string of at most 64 bytes (got 5)"},
    {"worker = { tag = \"0123456789012345678901234567890123456789012345678901234567890123x\"; };",
     ":1: worker.tag must be at most 64 bytes (got 65 bytes)"},
    {"worker = { tag = \"a\\nb\"; };",
     ":1: worker.tag must not contain control characters (got 0x0a at byte 1)"},
    {"redis = { namespace = [ 1 ]; };",
     ":1: redis.namespace must be a string of at most 128 bytes (got an array)"},
    {"redis = { url = \"\"; };", ":1: redis.url must be 1..4096 bytes (got 0 bytes)"},
    {"database = { url = 5; };", ":1: database.url must be a string of at most 4096 bytes (got 5)"},
    /* queues */
    {"worker = { queues = (); };", ":1: worker.queues must name 1..1000 queues (got 0)"},
    {"worker = { queues = \"default\"; };",
     ":1: worker.queues must be a list of queue names (got \"default\")"},
    {"worker = { queues = ( \"a\", \"b\", \"a\" ); };", ":1: duplicate queue 'a' in worker.queues"},
    {"worker = { queues = ( \"a\",\n { name = \"a\"; weight = 2; } ); };",
     ":2: duplicate queue 'a' in worker.queues"},
    {"worker = { queues = ( \"a b\" ); };",
     ":1: worker.queues[0] must not contain spaces or control characters (got \"a b\")"},
    {"worker = { queues = ( \"\" ); };", ":1: worker.queues[0] must be 1..128 bytes (got 0 bytes)"},
    {"worker = { queues = ( { name = \"a\\tb\"; } ); };",
     ":1: worker.queues[0].name must not contain control characters (got 0x09 at byte 1)"},
    {"worker = { queues = ( 5 ); };",
     ":1: worker.queues[0] must be a queue name or a group { name = \"...\"; weight = N; } "
     "(got 5)"},
    {"worker = { queues = ( { weight = 2; } ); };", ":1: worker.queues[0] must have a name"},
    {"worker = { queues = ( { name = \"a\"; weight = 0; } ); };",
     ":1: worker.queues[0].weight must be 1..1000 (got 0)"},
    {"worker = { queues = ( { name = \"a\"; weight = 1001; } ); };",
     ":1: worker.queues[0].weight must be 1..1000 (got 1001)"},
    {"worker = { queues = ( { name = \"a\"; weight = \"3\"; } ); };",
     ":1: worker.queues[0].weight must be an integer 1..1000 (got \"3\")"},
    /* classes */
    {"classes = 5;", ":1: classes must be a list of groups (got 5)"},
    {"classes = ( \"sleep\" );",
     ":1: classes[0] must be a group { name = \"...\"; ... } (got \"sleep\")"},
    {"classes = ( { timeout = 5; } );", ":1: classes[0] must have a name"},
    {"classes = ( { name = \"\"; } );", ":1: classes[0].name must be 1..128 bytes (got 0 bytes)"},
    {"classes = ( { name = 5; } );",
     ":1: classes[0].name must be a string of 1..128 bytes (got 5)"},
    {"classes = (\n  { name = \"a\"; },\n  { name = \"a\"; }\n);",
     ":3: duplicate class 'a' in classes (first at line 2)"},
    {"classes = ( { name = \"a\"; timeout = 0; } );",
     ":1: classes[0].timeout must be 1ms..7d (got 0)"},
    {"classes = ( { name = \"a\"; concurrency = -1; } );",
     ":1: classes[0].concurrency must be 0..100000 (got -1)"},
    {"classes = ( { name = \"a\"; max_retries = 1001; } );",
     ":1: classes[0].max_retries must be 0..1000 (got 1001)"},
    /* redis.url shape */
    {"redis = {\n  url = \"rediss://h:0\";\n};",
     ":2: redis.url must be redis[s]://[[user]:password@]host[:port][/db] or "
     "unix:///path[?db=N] (got \"rediss://h:0\"): port must be 1..65535"},
    {"redis = {\n  tls_ca_file = \"/nonexistent/ca.pem\";\n};",
     ":2: redis.tls_ca_file: cannot read '/nonexistent/ca.pem': No such file or directory"},
    {"redis = {\n  tls_key_file = \"/dev/null\";\n};",
     ":2: redis.tls_cert_file and redis.tls_key_file go together (got only "
     "redis.tls_key_file)"},
    {"redis = { url = \"http://h\"; };",
     ":1: redis.url must be redis[s]://[[user]:password@]host[:port][/db] or "
     "unix:///path[?db=N] (got \"http://h\"): must start with redis://, rediss:// or unix://"},
    /* a database the connection refuses: `nexusd -t` used to pass it */
    {"redis = {\n  url = \"redis://h/5000\";\n};",
     ":2: redis.url must be redis[s]://[[user]:password@]host[:port][/db] or "
     "unix:///path[?db=N] (got \"redis://h/5000\"): database must be a number 0..1000"},
    /* http */
    {"http = {\n  listen = \"localhost:7411\";\n};",
     ":2: http.listen must be IP:PORT, [IPv6]:PORT or unix:/absolute/path, with an address "
     "rather than a host name (got \"localhost:7411\")"},
    {"http = { listen = \"unix:run/x.sock\"; };",
     ":1: http.listen must be IP:PORT, [IPv6]:PORT or unix:/absolute/path, with an address "
     "rather than a host name (got \"unix:run/x.sock\")"},
    {"http = { max_connections = 0; };", ":1: http.max_connections must be 1..100000 (got 0)"},
    {"http = { header_timeout = \"50ms\"; };", ":1: http.header_timeout must be 100ms..1h (got \"50ms\")"},
    {"http = { allowed_hosts = \"nexus.example\"; };",
     ":1: http.allowed_hosts must be an array of strings such as [\"a\", \"b\"] (got \"nexus.example\")"},
    {"http = {\n  allowed_hosts = [\"nexus.example\",\n  \"nexus.example:7411\"];\n};",
     ":3: http.allowed_hosts[1] must be a host name, '.' and a domain, an address ([IPv6] in "
     "brackets) or \"*\", without a port (got \"nexus.example:7411\")"},
    {"http = { allowed_hosts = [\"*.example\"]; };",
     ":1: http.allowed_hosts[0] must be a host name, '.' and a domain, an address ([IPv6] in "
     "brackets) or \"*\", without a port (got \"*.example\")"},
    {"http = { idle_timeout = \"500ms\"; };",
     ":1: http.idle_timeout must be 1s..1h (got \"500ms\")"},
    {"http = { max_header = 100; };", ":1: http.max_header must be 2048..1048576 (got 100)"},
    {"http = { port = 80; };", ":1: unknown setting 'http.port'"},
    /* emotion */
    {"emotion = { url = \"ftp://h/models\"; };",
     ":1: emotion.url must be an http:// or https:// URL (got \"ftp://h/models\")"},
    {"emotion = {\n  endpoint = \"https://u:secret@h/x\";\n  endpoint2 = 1; };",
     ":3: unknown setting 'emotion.endpoint2'"},
    {"emotion = {\n  endpoint = \"h.example/x\"; };",
     ":2: emotion.endpoint must be an http:// or https:// URL (got \"h.example/x\")"},
    {"emotion = { model = \"a b\"; };",
     ":1: emotion.model must not contain spaces or control characters (got \"a b\")"},
    {"emotion = { model = \"\"; };", ":1: emotion.model must be 1..256 bytes (got 0 bytes)"},
    {"emotion = { timeout = 0; };", ":1: emotion.timeout must be 1ms..10m (got 0)"},
    {"emotion = { cache_ttl = \"31d\"; };",
     ":1: emotion.cache_ttl must be 0s..30d (got \"31d\")"},
    {"emotion = { max_text = 0; };", ":1: emotion.max_text must be 1..1000000 (got 0)"},
    {"emotion = { max_response = 100; };",
     ":1: emotion.max_response must be 1024..67108864 (got 100)"},
    {"emotion = { top_k = 1001; };", ":1: emotion.top_k must be 0..1000 (got 1001)"},
    {"emotion = { max_defer = 0.5; };", ":1: emotion.max_defer must be 1s..1d (got 0.5)"},
    /* smtp */
    {"smtp = {\n  starttls = \"yes\";\n};",
     ":2: smtp.starttls must be one of try|always|never (got \"yes\")"},
    {"smtp = { from = \"Nexus <no-reply@example.com>\\r\\nBcc: x@y.z\"; };",
     ":1: smtp.from must not contain control characters (got 0x0d at byte 28)"},
    {"smtp = { from = \"no-reply\"; };",
     ":1: smtp.from: \"no-reply\" is not an email address: it has no @"},
    {"smtp = { reply_to = \"a@\"; };",
     ":1: smtp.reply_to: \"a@\" is not an email address: the domain is empty"},
    {"smtp = { url = \"http://mail:25\"; };",
     ":1: smtp.url must be smtp://[user:password@]host[:port] or smtps://... (got "
     "\"http://mail:25\")"},
    {"smtp = { url = \"smtp://u:hunter2@mail:0\"; };",
     ":1: smtp.url must be smtp://[user:password@]host[:port] or smtps://... (got "
     "\"smtp://***@mail:0\")"},
    {"smtp = { templates = \"/nonexistent/t\"; };",
     ":1: smtp.templates: cannot open the template directory /nonexistent/t: No such file or "
     "directory"},
    {"smtp = { timeout = 0; };", ":1: smtp.timeout must be 1ms..1h (got 0)"},
    /* syntax */
    {"worker = {\n  concurrency = ;\n};", ":2: syntax error (syntax error)"},
    {"a = 1;\na = 2;\n", ":2: syntax error (duplicate setting name)"},
    {"worker = { concurrency = 5; };\nworker = { tag = \"x\"; };",
     ":2: syntax error (duplicate setting name)"},
    /* analytics */
    {"analytics = {\n  tz = \"Mars/Base\"; };", ":2: analytics.tz: unknown time zone 'Mars/Base'"},
    {"analytics = { funnel_prefix = \"\"; };",
     ":1: analytics.funnel_prefix must be 1..128 bytes (got 0 bytes)"},
    {"analytics = { max_days = 0; };", ":1: analytics.max_days must be 1..3660 (got 0)"},
    {"analytics = { scan_count = 5; };", ":1: analytics.scan_count must be 10..100000 (got 5)"},
    {"analytics = { max_counters = 10000001; };",
     ":1: analytics.max_counters must be 1..10000000 (got 10000001)"},
    {"analytics = { sales_statuses = \"paid,,shipped\"; };",
     ":1: analytics.sales_statuses must be comma-separated words of letters, digits, _ and - "
     "(got \"paid,,shipped\")"},
    {"analytics = { sales_statuses = \"paid, shipped\"; };",
     ":1: analytics.sales_statuses must be comma-separated words of letters, digits, _ and - "
     "(got \"paid, shipped\")"},
    {"analytics = { sales_statuses = \"paid,\"; };",
     ":1: analytics.sales_statuses must be comma-separated words of letters, digits, _ and - "
     "(got \"paid,\")"},
    {"analytics = { sales_statuses = \",paid\"; };",
     ":1: analytics.sales_statuses must be comma-separated words of letters, digits, _ and - "
     "(got \",paid\")"},
    {"analytics = { sales_statuses = \"\"; };",
     ":1: analytics.sales_statuses must be 1..1024 bytes (got 0 bytes)"},
    {"analytics = { window = 3; };", ":1: unknown setting 'analytics.window'"},
};

static void test_load_rejects_bad_input_with_file_line_and_value(void **state)
{
    char path[64], want[ERR_MSG_MAX];

    for (size_t i = 0; i < sizeof(bad_inputs) / sizeof(bad_inputs[0]); i++) {
        struct err err = {0};
        struct cfg *cfg = NULL;
        int r;

        r = load_text(bad_inputs[i].text, &cfg, &err, path, sizeof(path));
        (void)snprintf(want, sizeof(want), "%s%s", path, bad_inputs[i].want);
        if (r != -EINVAL || strcmp(err.msg, want) != 0)
            fail_msg("case %zu: %s\n  got  %d %s\n  want %s", i, bad_inputs[i].text, r, err.msg,
                     want);
        assert_int_equal(err.code, -EINVAL);
        assert_null(cfg);
    }
}

static void test_load_rejects_missing_file(void **state)
{
    struct err err = {0};
    struct cfg *cfg = NULL;

    assert_int_equal(cfg_load("/nonexistent/nexusd.conf", NULL, &cfg, &err), -ENOENT);
    assert_string_equal(err.msg, "cannot read /nonexistent/nexusd.conf: No such file or directory");
    assert_null(cfg);
}

static void test_env_redis_url_wins_over_file(void **state)
{
    struct cfg *cfg;

    env_redis_url = "redis://:secret@cache.internal:6380/3";
    cfg = load_ok("redis = { url = \"redis://127.0.0.1:6379/0\"; };");
    assert_string_equal(cfg->redis_url, "redis://:secret@cache.internal:6380/3");
    cfg_free(cfg);
}

static void test_env_redis_url_is_checked_and_named(void **state)
{
    struct err err = {0};
    struct cfg *cfg = NULL;

    env_redis_url = "rediss://:secret@cache.internal:6380/3000";
    assert_int_equal(cfg_load(NULL, fake_env, &cfg, &err), -EINVAL);
    assert_string_equal(err.msg, "REDIS_URL: redis.url must be redis[s]://[[user]:password@]"
                                 "host[:port][/db] or unix:///path[?db=N] (got "
                                 "\"rediss://***@cache.internal:6380/3000\"): database must be a "
                                 "number 0..1000");
    assert_null(cfg);
}

/* cfg_redis_addr(): the URL with the TLS settings (only for rediss://) and the read timeout. */
static void test_redis_addr_carries_the_tls_settings(void **state)
{
    struct raddr a;
    struct err err = {0};
    struct cfg *cfg;

    cfg = load_ok("redis = { url = \"rediss://app:s%40cret@r.example:6390/2\"; "
                  "tls_ca_file = \"/dev/null\"; tls_server_name = \"redis.internal\"; "
                  "read_timeout = \"2s\"; };");
    assert_int_equal(cfg_redis_addr(cfg, &a, &err), 0);
    assert_true(a.tls);
    assert_true(a.tls_verify);
    assert_string_equal(a.username, "app");
    assert_string_equal(a.password, "s@cret");
    assert_string_equal(a.tls_ca_file, "/dev/null");
    assert_string_equal(a.tls_server_name, "redis.internal");
    assert_null(a.tls_cert_file);
    assert_true(a.read_timeout_s == 2.0);
    raddr_clear(&a);
    cfg_free(cfg);
    cfg = load_ok("redis = { url = \"redis://h\"; tls_ca_file = \"/dev/null\"; "
                  "tls_verify = false; };");
    assert_int_equal(cfg_redis_addr(cfg, &a, &err), 0);
    assert_false(a.tls);
    assert_null(a.tls_ca_file); /* plain: the TLS settings do not apply */
    assert_true(a.read_timeout_s == 30.0);
    raddr_clear(&a);
    cfg_free(cfg);
}

static void test_env_redis_url_overrides_a_bad_file_url(void **state)
{
    struct cfg *cfg;

    env_redis_url = "redis://cache:6379";
    cfg = load_ok("redis = { url = \"http://old:6380\"; };");
    assert_string_equal(cfg->redis_url, "redis://cache:6379");
    cfg_free(cfg);
}

static void test_env_empty_values_are_ignored(void **state)
{
    struct cfg *cfg;

    env_redis_url = "";
    env_database_url = "";
    cfg = load_ok("redis = { url = \"redis://file:6379\"; };\n"
                  "database = { url = \"dbname=file\"; };");
    assert_string_equal(cfg->redis_url, "redis://file:6379");
    assert_string_equal(cfg->database_url, "dbname=file");
    cfg_free(cfg);
}

/* AUTH in clear text needs smtp.allow_plaintext_auth. */
static void test_starttls_never_with_credentials_needs_plaintext_allowed(void **state)
{
    static const char *const creds[] = {
        "username = \"u\";",
        "password_file = \"/etc/nexusd/smtp-password\";",
        "url = \"smtp://u:p@mail:25\";",
    };
    char text[256], path[64], want[ERR_MSG_MAX];
    struct cfg *cfg;

    for (size_t i = 0; i < sizeof(creds) / sizeof(creds[0]); i++) {
        struct err err = {0};

        cfg = NULL;
        (void)snprintf(text, sizeof(text), "smtp = {\n  starttls = \"never\";\n  %s\n};", creds[i]);
        assert_int_equal(load_text(text, &cfg, &err, path, sizeof(path)), -EINVAL);
        (void)snprintf(want, sizeof(want),
                       "%s:2: smtp.starttls = \"never\" would send the SMTP credentials in clear "
                       "text; use \"try\" or \"always\", or smtps://, or set "
                       "smtp.allow_plaintext_auth = true",
                       path);
        assert_string_equal(err.msg, want);
        (void)snprintf(text, sizeof(text),
                       "smtp = { starttls = \"never\"; allow_plaintext_auth = true; %s };",
                       creds[i]);
        cfg = load_ok(text);
        assert_true(cfg->smtp_allow_plaintext_auth);
        cfg_free(cfg);
    }
    env_smtp_password = "from-env";
    cfg = NULL;
    assert_int_equal(load_text("smtp = { starttls = \"never\"; };", &cfg, &(struct err){0}, path,
                               sizeof(path)),
                     -EINVAL);
    env_smtp_password = NULL;
    cfg = load_ok("smtp = { starttls = \"never\"; };"); /* no credentials: plain text is fine */
    assert_false(cfg->smtp_allow_plaintext_auth);
    cfg_free(cfg);
}

/* A '/', '?', '#' or '@' in a password used to end the part shown as "***". */
static void test_refused_urls_never_show_their_password(void **state)
{
    static const struct {
        const char **var, *url, *shown;
    } cases[] = {
        {&env_redis_url, "redis://:Pw/Xq@cache:6379/0", "\"redis://***@cache:6379/0\""},
        {&env_redis_url, "redis://:Pw?Xq@cache:6379/x", "\"redis://***@cache:6379/x\""},
        {&env_redis_url, "rediss://u:Pw#Xq@cache:x", "\"rediss://***@cache:x\""},
        {&env_smtp_url, "smtp://user:Pw/Xq@mail:25", "\"smtp://***@mail:25\""},
        {&env_smtp_url, "smtp://user:Pw?Xq@mail:25", "\"smtp://***@mail:25\""},
        {&env_smtp_url, "smtp://user:Pw@Xq@mail:x", "\"smtp://***@mail:x\""},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct err err = {0};
        struct cfg *cfg = NULL;

        env_redis_url = env_smtp_url = NULL;
        *cases[i].var = cases[i].url;
        assert_int_equal(cfg_load(NULL, fake_env, &cfg, &err), -EINVAL);
        if (!strstr(err.msg, cases[i].shown) || strstr(err.msg, "Pw") || strstr(err.msg, "Xq"))
            fail_msg("%s: %s", cases[i].url, err.msg);
    }
    /* an http class's url, which was shown whole */
    {
        struct err err = {0};
        struct cfg *cfg = NULL;
        char path[64];

        env_redis_url = env_smtp_url = NULL;
        assert_int_equal(load_text("classes = ( { name = \"a\"; url = \"ftp://u:Pw/Xq@h/y\"; "
                                   "secret_env = \"HOOK_SECRET\"; } );",
                                   &cfg, &err, path, sizeof(path)),
                         -EINVAL);
        if (!strstr(err.msg, "must start with http:// or https:// (got \"ftp://***@h/y\")") ||
            strstr(err.msg, "Pw") || strstr(err.msg, "Xq"))
            fail_msg("%s", err.msg);
    }
}

static void test_env_database_url_wins_over_file(void **state)
{
    struct cfg *cfg;

    env_database_url = "postgresql://app@db/app";
    cfg = load_ok("database = { url = \"dbname=file\"; };");
    assert_string_equal(cfg->database_url, "postgresql://app@db/app");
    cfg_free(cfg);
}

static void test_env_database_pool_url_wins_over_file_and_empty_is_unset(void **state)
{
    struct cfg *cfg;

    cfg = load_ok("database = { pool_url = \"\"; };");
    assert_null(cfg->database_pool_url);
    cfg_free(cfg);
    env_database_pool_url = "postgresql://app@pooler:6543/app?pgbouncer=true";
    cfg = load_ok("database = { pool_url = \"dbname=file\"; };");
    assert_string_equal(cfg->database_pool_url, "postgresql://app@pooler:6543/app?pgbouncer=true");
    assert_null(cfg->database_url);
    cfg_free(cfg);
}

static void test_smtp_settings_password_file_templates_and_env(void **state)
{
    const char *src = getenv("NEXUS_SOURCE_DIR");
    char pw[64], text[8192];
    struct cfg *cfg;
    struct err err = {0};

    conf_write("hunter2\nignored\n", pw, sizeof(pw));
    (void)snprintf(
        text, sizeof(text),
        "smtp = { url = \"smtps://mail.example.com:465\"; username = \"app\";\n"
        "password_file = \"%s\"; from = \"\\\"Shop, Inc.\\\" <shop@example.com>\";\n"
        "reply_to = \"help@example.com\"; starttls = \"always\"; timeout = \"5s\";\n"
        "connect_timeout = 2; ca_file = \"/etc/ssl/ca.pem\"; templates = \"%s/conf/templates\"; };",
        pw, src ? src : "..");
    cfg = load_ok(text);
    assert_null(cfg->smtp_password); /* nexusctl's view: secrets are not read */
    cfg_free(cfg);
    cfg = load_secrets_ok(text);
    assert_string_equal(cfg->smtp_url, "smtps://mail.example.com:465");
    assert_string_equal(cfg->smtp_username, "app");
    assert_string_equal(cfg->smtp_password, "hunter2");
    assert_string_equal(cfg->smtp_from, "\"Shop, Inc.\" <shop@example.com>");
    assert_int_equal(cfg->smtp_starttls, CFG_STARTTLS_ALWAYS);
    assert_true(cfg->smtp_timeout_s == 5.0 && cfg->smtp_connect_timeout_s == 2.0);
    assert_int_equal(mail_tmpl_count(cfg->smtp_tmpls), 2);
    assert_non_null(mail_tmpl_find(cfg->smtp_tmpls, "order_receipt"));
    cfg_free(cfg);

    env_smtp_url = "smtp://user:pw@127.0.0.1:2525";
    env_smtp_password = "from env";
    cfg = load_secrets_ok(text);
    assert_string_equal(cfg->smtp_url, "smtp://user:pw@127.0.0.1:2525");
    assert_string_equal(cfg->smtp_password, "from env"); /* a password may hold spaces */
    cfg_free(cfg);
    env_smtp_password = NULL;
    (void)unlink(pw);
    assert_int_equal(load_secrets_text(text, &cfg, &err, pw, sizeof(pw)), -ENOENT);
    assert_non_null(strstr(err.msg, ":2: smtp.password_file cannot be read: "));

    env_smtp_url = "ftp://user:secret@host";
    assert_int_equal(cfg_load(NULL, fake_env, &cfg, &err), -EINVAL);
    assert_string_equal(err.msg, "SMTP_URL: smtp.url must be smtp://[user:password@]host[:port] "
                                 "or smtps://... (got \"ftp://***@host\")");
}

static void test_load_accepts_redis_url_shapes(void **state)
{
    static const char *const good[] = {
        "redis://127.0.0.1:6379/0",    "redis://localhost",     "redis://localhost/",
        "redis://cache.internal:6380", "redis://:pa:ss@h:1/15", "redis://user:pass@h:65535/0",
        "redis://[::1]:6379/2",        "redis://[::1]",         "unix:///run/redis.sock",
        "unix:///run/redis.sock?db=3", "redis://h/1000",        "unix:///s?db=1000",
        "redis://:p@ss@h:6379/1",
    };

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        struct err err = {0};
        struct cfg *cfg = NULL;

        env_redis_url = good[i];
        if (cfg_load(NULL, fake_env, &cfg, &err) != 0)
            fail_msg("%s: %s", good[i], err.msg);
        assert_string_equal(cfg->redis_url, good[i]);
        cfg_free(cfg);
    }
}

static void test_load_rejects_bad_redis_url_shapes(void **state)
{
    static const char *const bad[] = {
        "redis://",
        "redis://:6379",
        "redis://h:0",
        "redis://h:65536",
        "redis://h:",
        "redis://h:port",
        "redis://h/db",
        "redis://h/0?timeout=1",
        "redis://h/-1",
        "redis://h/1001",
        "redis://h/5000",
        "redis://h/2147483647",
        "redis://::1:6379",
        "redis://[]:6379",
        "redis://[::1:6379",
        "redis://h x",
        "unix://",
        "unix://relative.sock",
        "unix:///",
        "unix:///run/redis.sock?db=",
        "unix:///run/redis.sock?database=1",
        "unix:///run/redis.sock?db=1001",
        "tcp://h:6379",
        "h:6379",
    };
    char want[ERR_MSG_MAX];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct err err = {0};
        struct cfg *cfg = NULL;

        env_redis_url = bad[i];
        assert_int_equal(cfg_load(NULL, fake_env, &cfg, &err), -EINVAL);
        (void)snprintf(want, sizeof(want),
                       "REDIS_URL: redis.url must be redis[s]://[[user]:password@]host[:port][/db] "
                       "or "
                       "unix:///path[?db=N] (got \"%s\"): ",
                       bad[i]);
        /* then raddr's reason, checked in raddr_test */
        assert_memory_equal(err.msg, want, strlen(want));
        assert_true(strlen(err.msg) > strlen(want));
        assert_null(cfg);
    }
}

static void test_url_errors_hide_the_password(void **state)
{
    struct err err = {0};
    struct cfg *cfg = NULL;
    char path[64], want[ERR_MSG_MAX];

    assert_int_equal(load_text("redis = { url = \"redis://:hunter2@h:port/0\"; };", &cfg, &err,
                               path, sizeof(path)),
                     -EINVAL);
    (void)snprintf(want, sizeof(want),
                   "%s:1: redis.url must be redis[s]://[[user]:password@]host[:port][/db] or "
                   "unix:///path[?db=N] (got \"redis://***@h:port/0\"): port must be 1..65535",
                   path);
    assert_string_equal(err.msg, want);
    assert_null(strstr(err.msg, "hunter2"));
}

static void test_load_without_err_still_returns_the_code(void **state)
{
    struct cfg *cfg = NULL;
    char path[64];

    assert_int_equal(load_text("worker = { concurrency = 0; };", &cfg, NULL, path, sizeof(path)),
                     -EINVAL);
    assert_null(cfg);
}

static void test_sql_class_gets_its_argument_types(void **state)
{
    struct cfg *cfg = load_ok("classes = ( { name = \"rows.add\"; "
                              "sql = \"INSERT INTO t (a, b, c) VALUES ($1, $2::uuid, $3)\"; "
                              "args = \"int, uuid,json\"; } );\n");

    assert_int_equal(cfg->classes[0].nargs, 3);
    assert_int_equal(cfg->classes[0].arg_types[0], CFG_ARG_INT);
    assert_int_equal(cfg->classes[0].arg_types[1], CFG_ARG_UUID);
    assert_int_equal(cfg->classes[0].arg_types[2], CFG_ARG_JSON);
    cfg_free(cfg);
}

static void test_command_classes_get_their_steps_and_defaults(void **state)
{
    struct cfg *cfg =
        load_ok("classes = (\n"
                "  { name = \"tests.nightly\"; command = ([\"npm\", \"run\", \"test:ci\"],\n"
                "      (\"npm\", \"run\", \"test:e2e\")); env = [\"CI=true\"]; },\n"
                "  { name = \"bench.weekly\"; command = ( \"npm\", \"run\", \"bench\" );\n"
                "      args_append = true; kill_grace = 0; output_limit = 1024; },\n"
                "  { name = \"deploy\"; shell = \"npm ci && npm run build\";\n"
                "      env_pass = [\"NPM_TOKEN\"]; }\n"
                ");\n");
    const struct cfg_class *c = cfg_class_find(cfg, "tests.nightly");

    assert_int_equal(c->nsteps, 2);
    assert_string_equal(c->command[0][2], "test:ci");
    assert_string_equal(c->command[1][2], "test:e2e");
    assert_null(c->command[1][3]);
    assert_null(c->command[2]);
    assert_string_equal(c->env[0], "CI=true");
    assert_null(c->env[1]);
    assert_null(c->workdir);
    assert_int_equal(c->output_limit, 65536);
    assert_true(c->kill_grace_s == 10);
    assert_false(c->args_append);
    assert_string_equal(c->parse, "");
    assert_int_equal(c->fail_level, 0);
    c = cfg_class_find(cfg, "bench.weekly");
    assert_int_equal(c->nsteps, 1);
    assert_string_equal(c->command[0][0], "npm");
    assert_true(c->args_append);
    assert_true(c->kill_grace_s == 0);
    assert_int_equal(c->output_limit, 1024);
    c = cfg_class_find(cfg, "deploy");
    assert_int_equal(c->nsteps, 1);
    assert_string_equal(c->command[0][0], "/bin/sh");
    assert_string_equal(c->command[0][1], "-c");
    assert_string_equal(c->command[0][2], "npm ci && npm run build");
    assert_string_equal(c->command[0][3], "deploy"); /* $0 */
    assert_null(c->command[0][4]);
    assert_string_equal(c->env_pass[0], "NPM_TOKEN");
    cfg_free(cfg);
}

static void test_command_class_users_are_resolved_at_load(void **state)
{
    struct cfg *cfg = load_ok("classes = (\n"
                              "  { name = \"a\"; shell = \"id\"; user = \"nobody\"; },\n"
                              "  { name = \"b\"; command = [\"tar\"]; user = \"nobody\";\n"
                              "    group = \"daemon\"; args_append = true; args_options = true; },\n"
                              "  { name = \"c\"; shell = \"id\"; }\n"
                              ");\n");
    const struct cfg_class *c = cfg_class_find(cfg, "a");
    struct err err = {0};

    assert_string_equal(c->user, "nobody");
    assert_int_equal(c->uid, 65534);
    assert_int_equal(c->gid, 65534); /* the user's own group */
    assert_int_equal(c->ngroups, 1);
    assert_int_equal(c->groups[0], 65534);
    assert_string_equal(c->home, "/nonexistent");
    assert_false(c->args_options);
    c = cfg_class_find(cfg, "b");
    assert_int_equal(c->uid, 65534);
    assert_int_equal(c->gid, 1); /* daemon */
    assert_int_equal(c->groups[0], 1);
    assert_true(c->args_options);
    assert_null(cfg_class_find(cfg, "c")->user);
    assert_int_equal(cfg_check_run_as(cfg, 0, &err), 0);
    assert_int_equal(cfg_check_run_as(cfg, 1000, &err), -EPERM);
    assert_non_null(strstr(err.msg, ":2: class a has user = \"nobody\": nexusd must run as root "
                                    "to start its children as another user (it runs as uid "
                                    "1000)"));
    cfg_free(cfg);
    cfg = load_ok("classes = ( { name = \"c\"; shell = \"id\"; } );\n");
    assert_int_equal(cfg_check_run_as(cfg, 1000, &err), 0);
    cfg_free(cfg);
}

static void test_schedules_are_parsed_with_their_defaults(void **state)
{
    struct cfg *cfg = load_ok("schedules = ( { name = \"nightly\"; cron = \"0 3 * * MON-FRI\";\n"
                              "  class = \"tests.nightly\"; tz = \"Europe/Paris\";\n"
                              "  missed = \"run_once\"; } );\n");
    const struct cfg_schedule *sc = cfg_schedule_find(cfg, "nightly");

    assert_non_null(sc);
    assert_int_equal(sc->line, 1);
    assert_string_equal(sc->args, "[]");
    assert_string_equal(sc->queue, "default");
    assert_string_equal(sc->tz, "Europe/Paris");
    assert_int_equal(sc->missed, CFG_MISSED_RUN_ONCE);
    assert_int_equal(sc->expr.hours, 1u << 3);
    assert_int_equal(sc->expr.wdays, 0x3e);
    assert_null(cfg_schedule_find(cfg, "weekly"));
    cfg_free(cfg);
}

static void test_class_queue_serves_schedules_and_lookups(void **state)
{
    struct cfg *cfg = load_ok("classes = ( { name = \"tests.nightly\"; queue = \"low\"; } );\n"
                              "schedules = ( { name = \"a\"; cron = \"@daily\"; "
                              "class = \"tests.nightly\"; },\n"
                              "  { name = \"b\"; cron = \"@daily\"; class = \"tests.nightly\"; "
                              "queue = \"critical\"; },\n"
                              "  { name = \"c\"; cron = \"@daily\"; class = \"other\"; } );\n");

    assert_string_equal(cfg_schedule_find(cfg, "a")->queue, "low");
    assert_string_equal(cfg_schedule_find(cfg, "b")->queue, "critical");
    assert_string_equal(cfg_schedule_find(cfg, "c")->queue, "default");
    assert_string_equal(cfg_class_queue(cfg, "tests.nightly"), "low");
    assert_string_equal(cfg_class_queue(cfg, "other"), "default");
    assert_string_equal(cfg_class_queue(NULL, "other"), "default");
    cfg_free(cfg);
}

static void test_webhook_class_reads_its_secret(void **state)
{
    char secret_path[64], text[320], path[64];
    struct err err = {0};
    struct cfg *cfg;

    conf_write("from-file\n", secret_path, sizeof(secret_path));
    (void)snprintf(text, sizeof(text),
                   "classes = ( { name = \"a\"; url = \"https://app/x\"; secret_env = "
                   "\"HOOK_SECRET\"; },\n  { name = \"b\"; url = \"http://app/y\"; "
                   "secret_file = \"%s\"; } );\n",
                   secret_path);
    cfg = load_ok(text);
    assert_null(cfg_class_find(cfg, "a")->secret);
    cfg_free(cfg);
    cfg = load_secrets_ok(text);
    assert_string_equal(cfg_class_find(cfg, "a")->secret, "from-env");
    assert_string_equal(cfg_class_find(cfg, "b")->secret, "from-file");
    assert_string_equal(cfg_class_find(cfg, "b")->url, "http://app/y");
    cfg_free(cfg);
    (void)unlink(secret_path);
    assert_int_equal(load_secrets_text(text, &cfg, &err, path, sizeof(path)), -ENOENT);
    assert_non_null(strstr(err.msg, ":2: class b's secret_file cannot be read: "));
    assert_int_equal(load_secrets_text("classes = ( { name = \"a\"; url = \"https://app/x\";\n"
                                       "  secret_env = \"UNSET_ONE\"; } );",
                                       &cfg, &err, path, sizeof(path)),
                     -EINVAL);
    assert_non_null(strstr(err.msg, ":1: class a's secret_env names UNSET_ONE, which is not set"));
}

static void test_analytics_settings_have_defaults_and_are_read(void **state)
{
    struct cfg *cfg = load_ok("");

    assert_string_equal(cfg->analytics_funnel_prefix, "funnel:");
    assert_string_equal(cfg->analytics_tz, "UTC");
    assert_string_equal(cfg->analytics_sales_statuses, "paid");
    assert_int_equal(cfg->analytics_max_days, 366);
    assert_int_equal(cfg->analytics_scan_count, 1000);
    assert_int_equal(cfg->analytics_max_counters, 1000000);
    cfg_free(cfg);
    cfg = load_ok("analytics = { funnel_prefix = \"app:funnel:\"; tz = \"Europe/Paris\";\n"
                  "  sales_statuses = \"paid,shipped,fulfilled_2\"; max_days = 3660;\n"
                  "  scan_count = 10; max_counters = 1; };");
    assert_string_equal(cfg->analytics_funnel_prefix, "app:funnel:");
    assert_string_equal(cfg->analytics_tz, "Europe/Paris");
    assert_string_equal(cfg->analytics_sales_statuses, "paid,shipped,fulfilled_2");
    assert_int_equal(cfg->analytics_max_days, 3660);
    assert_int_equal(cfg->analytics_scan_count, 10);
    assert_int_equal(cfg->analytics_max_counters, 1);
    cfg_free(cfg);
}

static void test_free_accepts_null(void **state)
{
    cfg_free(NULL);
}

/* Loads `text` as the configuration a reload would bring, and compares it with `old`. */
static int restart_changes(const struct cfg *old, const char *text, const char *section,
                           struct err *err)
{
    struct cfg *new = load_ok(text);
    int r = cfg_restart_changes(old, new, section, err);

    cfg_free(new);
    return r;
}

static void test_restart_changes_name_each_restart_only_setting(void **state)
{
    static const struct {
        const char *text, *setting;
    } cases[] = {
        {"redis = { url = \"redis://127.0.0.1:6380/0\"; };", "redis.url"},
        {"redis = { namespace = \"other\"; };", "redis.namespace"},
        {"database = { url = \"dbname=other\"; };", "database.url"},
        {"database = { pool_size = 5; };", "database.pool_size"},
        {"database = { prepared_statements = false; };", "database.prepared_statements"},
        {"database = { history = false; };", "database.history"},
        {"database = { outbox = false; };", "database.outbox"},
        {"database = { max_waiting = 5; };", "database.max_waiting"},
        {"database = { group_commit = 1; };", "database.group_commit"},
        {"database = { connect_timeout = 2; };", "database.connect_timeout"},
        {"database = { statement_timeout = 3; };", "database.statement_timeout"},
        {"http = { enabled = false; };", "http.enabled"},
        {"http = { listen = \"127.0.0.1:7412\"; };", "http.listen"},
        {"http = { max_connections = 10; };", "http.max_connections"},
        {"http = { idle_timeout = \"1m\"; };", "http.idle_timeout"},
        {"http = { header_timeout = \"1m\"; };", "http.header_timeout"},
        {"http = { allowed_hosts = [\"nexus.example\"]; };", "http.allowed_hosts"},
        {"http = { max_body = 1024; };", "http.max_body"},
        {"http = { max_header = 4096; };", "http.max_header"},
    };
    struct cfg *old = load_ok("");
    char want[ERR_MSG_MAX], section[32];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *text = cases[i].text;
        struct err err = {0};

        (void)snprintf(want, sizeof(want), "%s changed: restart nexusd to apply it",
                       cases[i].setting);
        assert_int_equal(restart_changes(old, text, NULL, &err), -EINVAL);
        assert_string_equal(err.msg, want);
        (void)snprintf(section, sizeof(section), "%.*s",
                       (int)(strchr(cases[i].setting, '.') - cases[i].setting), cases[i].setting);
        err = (struct err){0};
        assert_int_equal(restart_changes(old, text, section, &err), -EINVAL);
        assert_string_equal(err.msg, want);
        assert_int_equal(restart_changes(old, text, "worker", &err), 0);
    }
    cfg_free(old);
}

static void test_restart_changes_ignore_reloadable_settings(void **state)
{
    static const char *const reloadable[] = {
        "database = { url = \"dbname=x\"; migrate = true; history_retention = \"1d\"; };",
        "database = { url = \"dbname=x\"; outbox_interval = 2; };",
        "database = { url = \"dbname=x\"; };\nredis = { connect_timeout = 2; };",
        "database = { url = \"dbname=x\"; };\nhttp = { token_file = \"/etc/t\"; };",
        "database = { url = \"dbname=x\"; };\nworker = { concurrency = 3; };",
        "database = { url = \"dbname=x\"; };\nsmtp = { starttls = \"always\"; };",
    };
    struct cfg *old = load_ok("database = { url = \"dbname=x\"; };");

    for (size_t i = 0; i < sizeof(reloadable) / sizeof(reloadable[0]); i++) {
        struct err err = {0};

        assert_int_equal(restart_changes(old, reloadable[i], NULL, &err), 0);
        assert_int_equal(err.code, 0);
    }
    cfg_free(old);
}

static void test_restart_changes_compare_an_unset_database_url(void **state)
{
    struct cfg *old = load_ok("");
    struct err err = {0};

    assert_null(old->database_url);
    assert_int_equal(restart_changes(old, "", NULL, &err), 0);
    assert_int_equal(restart_changes(old, "database = { url = \"dbname=x\"; };", NULL, &err),
                     -EINVAL);
    assert_string_equal(err.msg, "database.url changed: restart nexusd to apply it");
    assert_int_equal(
        restart_changes(old, "database = { pool_url = \"dbname=x\"; };", NULL, &err), -EINVAL);
    assert_string_equal(err.msg, "database.pool_url changed: restart nexusd to apply it");
    cfg_free(old);
}

static void test_ref_keeps_the_configuration_until_the_last_free(void **state)
{
    struct cfg *cfg = load_ok("worker = { tag = \"kept\"; };");
    const struct cfg *held = cfg_ref(cfg);

    assert_ptr_equal(held, cfg);
    assert_int_equal(cfg->refs, 2);
    cfg_free(cfg); /* the loader's reference */
    assert_string_equal(held->tag, "kept"); /* ASan: still allocated */
    cfg_free(held);
    assert_null(cfg_ref(NULL));
}

/* A config naming a token file that holds `content`; the token as cfg_load_secrets() gives
 * it, or the error. */
static int token_load(const char *content, struct cfg **ret_cfg, char *tpath, struct err *err)
{
    char text[256], cpath[64];
    int r;

    conf_write(content, tpath, 64);
    (void)snprintf(text, sizeof(text),
                   "log = { level = \"info\"; };\nhttp = { token_file = \"%s\"; };\n", tpath);
    *ret_cfg = NULL;
    r = load_text(text, ret_cfg, err, cpath, sizeof(cpath));
    assert_int_equal(r, 0);
    r = cfg_load_secrets(*ret_cfg, fake_env, err);
    (void)unlink(tpath);
    return r;
}

static void test_token_is_read_from_the_file_or_the_environment(void **state)
{
    struct err err = {0};
    struct cfg *cfg = load_ok("");
    char tpath[64];

    assert_string_equal(cfg->http_token_file, "");
    assert_int_equal(cfg_load_secrets(cfg, fake_env, &err), 0);
    assert_null(cfg->http_token); /* read-only */
    cfg_free(cfg);

    assert_int_equal(token_load("0123456789abcdef-xyz\nsecond line\n", &cfg, tpath, &err), 0);
    assert_string_equal(cfg->http_token, "0123456789abcdef-xyz");
    cfg_free(cfg);
    assert_int_equal(token_load("0123456789abcdef\r\n", &cfg, tpath, &err), 0);
    assert_string_equal(cfg->http_token, "0123456789abcdef");
    cfg_free(cfg);

    env_http_token = "from-env-0123456789";
    assert_int_equal(token_load("0123456789abcdef-xyz\n", &cfg, tpath, &err), 0);
    assert_string_equal(cfg->http_token, "from-env-0123456789");
    cfg_free(cfg);
    env_http_token = ""; /* empty: as if unset */
    assert_int_equal(token_load("0123456789abcdef-xyz\n", &cfg, tpath, &err), 0);
    assert_string_equal(cfg->http_token, "0123456789abcdef-xyz");
    cfg_free(cfg);
}

static void test_token_errors_name_the_setting_and_its_line(void **state)
{
    static const struct {
        const char *content, *env, *want;
    } cases[] = {
        {"abc\n", NULL, ":2: the secret in http.token_file must be 16..4096 bytes (got 3)"},
        {"\n", NULL, ":2: the secret in http.token_file must be 16..4096 bytes (got 0)"},
        {"0123456789 abcdef\n", NULL,
         ":2: the secret in http.token_file must be printable ASCII without spaces (byte 11 is "
         "0x20)"},
        {"0123456789abcdef\n", "short", "NEXUS_HTTP_TOKEN must be 16..4096 bytes (got 5)"},
    };
    struct err err = {0};
    struct cfg *cfg;
    char tpath[64];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        env_http_token = cases[i].env;
        assert_int_equal(token_load(cases[i].content, &cfg, tpath, &err), -EINVAL);
        if (!strstr(err.msg, cases[i].want))
            fail_msg("case %zu: got '%s', want '%s'", i, err.msg, cases[i].want);
        assert_null(cfg->http_token);
        cfg_free(cfg);
    }
    env_http_token = NULL;
    cfg = load_ok("http = { token_file = \"/nonexistent/nexusd-token\"; };");
    assert_int_equal(cfg_load_secrets(cfg, fake_env, &err), -ENOENT);
    assert_non_null(strstr(err.msg,
                           ":1: http.token_file cannot be read: /nonexistent/nexusd-token: "
                           "No such file or directory"));
    cfg_free(cfg);
}

/* The token file at `tpath`, given `mode` (and `uid` unless -1), loaded as http.token_file. */
static int token_load_mode(unsigned mode, int uid, struct cfg **ret_cfg, char *tpath,
                           struct err *err)
{
    char text[256], cpath[64];
    int r;

    conf_write("0123456789abcdef-xyz\n", tpath, 64);
    assert_int_equal(chmod(tpath, mode), 0);
    if (uid >= 0)
        assert_int_equal(chown(tpath, (uid_t)uid, (gid_t)-1), 0);
    (void)snprintf(text, sizeof(text), "http = { token_file = \"%s\"; };\n", tpath);
    *ret_cfg = NULL;
    assert_int_equal(load_text(text, ret_cfg, err, cpath, sizeof(cpath)), 0);
    r = cfg_load_secrets(*ret_cfg, fake_env, err);
    (void)unlink(tpath);
    cfg_free(*ret_cfg);
    return r;
}

/* As libpq's key files: nothing for group or others, but root may let its group read. */
static void test_secret_files_open_to_others_are_refused(void **state)
{
    static const struct {
        unsigned mode;
        const char *what; /* NULL: accepted */
    } cases[] = {
        {0600, NULL},
        {0400, NULL},
        {0644, "mode 0644 allows group/other read; chmod 600"},
        {0604, "mode 0604 allows group/other read; chmod 600"},
        {0620, "mode 0620 allows group/other access; chmod 600"},
        {0601, "mode 0601 allows group/other access; chmod 600"},
    };
    struct err err = {0};
    struct cfg *cfg;
    char tpath[64], want[256];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int r = token_load_mode(cases[i].mode, -1, &cfg, tpath, &err);

        if (!cases[i].what) {
            if (r != 0)
                fail_msg("mode %04o: %s", cases[i].mode, err.msg);
            continue;
        }
        (void)snprintf(want, sizeof(want), ":1: http.token_file: %s: %s", tpath, cases[i].what);
        assert_int_equal(r, -EPERM);
        if (!strstr(err.msg, want))
            fail_msg("mode %04o: got '%s', want '%s'", cases[i].mode, err.msg, want);
    }
    if (geteuid() != 0)
        return; /* the owner cases need root */
    assert_int_equal(token_load_mode(0640, 0, &cfg, tpath, &err), 0);
    assert_int_equal(token_load_mode(0640, 65534, &cfg, tpath, &err), -EPERM);
    assert_non_null(strstr(err.msg, "mode 0640 allows group/other read; chmod 600"));
    assert_int_equal(token_load_mode(0660, 0, &cfg, tpath, &err), -EPERM);
}

/* Writes `content` to `dir`/`name`. */
static void credential_write(const char *dir, const char *name, const char *content)
{
    char path[256];
    FILE *f;

    (void)snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(content, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

static void credential_remove(const char *dir, const char *name)
{
    char path[256];

    (void)snprintf(path, sizeof(path), "%s/%s", dir, name);
    (void)unlink(path);
    (void)rmdir(path);
}

/* systemd's LoadCredential=NAME:/path: $CREDENTIALS_DIRECTORY/NAME stands in for an unset
 * variable. */
static void test_credentials_stand_in_for_unset_variables(void **state)
{
    static const char *const names[] = {"REDIS_URL", "DATABASE_URL", "SMTP_URL",
                                        "SMTP_PASSWORD", "NEXUS_HTTP_TOKEN", "HF_API_TOKEN",
                                        "CRED_HOOK"};
    char dir[] = "/tmp/cfg_test_cred_XXXXXX", path[256];
    struct err err = {0};
    struct cfg *cfg = NULL;

    assert_non_null(mkdtemp(dir));
    env_credentials_dir = dir;
    credential_write(dir, "REDIS_URL", "redis://:pw@cache:6380/2\n");
    credential_write(dir, "DATABASE_URL", "postgresql://app@db/app\r\n");
    credential_write(dir, "SMTP_URL", "smtp://mail:587\n");
    credential_write(dir, "SMTP_PASSWORD", "pass with spaces\n");
    credential_write(dir, "NEXUS_HTTP_TOKEN", "0123456789abcdef-cred");
    credential_write(dir, "HF_API_TOKEN", "");
    credential_write(dir, "CRED_HOOK", "hook-secret\n\n");
    cfg = load_secrets_ok("classes = ( { name = \"a\"; url = \"http://h/\"; "
                          "secret_env = \"CRED_HOOK\"; } );");
    assert_string_equal(cfg->redis_url, "redis://:pw@cache:6380/2");
    assert_string_equal(cfg->database_url, "postgresql://app@db/app");
    assert_string_equal(cfg->smtp_url, "smtp://mail:587");
    assert_string_equal(cfg->smtp_password, "pass with spaces");
    assert_string_equal(cfg->http_token, "0123456789abcdef-cred");
    assert_null(cfg->emotion_token); /* an empty credential counts as unset */
    assert_string_equal(cfg->classes[0].secret, "hook-secret");
    cfg_free(cfg);

    /* a variable that is set wins */
    env_redis_url = "redis://env:6379/0";
    env_smtp_password = "from-env";
    cfg = load_secrets_ok("");
    assert_string_equal(cfg->redis_url, "redis://env:6379/0");
    assert_string_equal(cfg->smtp_password, "from-env");
    cfg_free(cfg);

    /* a credential that cannot be read stops the load, naming it */
    credential_remove(dir, "DATABASE_URL");
    (void)snprintf(path, sizeof(path), "%s/DATABASE_URL", dir);
    assert_int_equal(mkdir(path, 0700), 0);
    cfg = NULL;
    assert_int_equal(cfg_load(NULL, fake_env, &cfg, &err), -EIO);
    assert_null(cfg);
    (void)snprintf(path, sizeof(path),
                   "DATABASE_URL cannot be read from the credential %s/DATABASE_URL", dir);
    assert_non_null(strstr(err.msg, path));

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        credential_remove(dir, names[i]);
    assert_int_equal(rmdir(dir), 0);
}

static void test_emotion_has_defaults_and_no_token(void **state)
{
    struct err err = {0};
    struct cfg *cfg = NULL;

    assert_int_equal(cfg_load(NULL, fake_env, &cfg, &err), 0);
    assert_string_equal(cfg->emotion_url, "https://router.huggingface.co/hf-inference/models");
    assert_string_equal(cfg->emotion_model, "j-hartmann/emotion-english-distilroberta-base");
    assert_string_equal(cfg->emotion_endpoint, "");
    assert_string_equal(cfg->emotion_token_file, "");
    assert_null(cfg->emotion_token);
    assert_true(cfg->emotion_timeout_s == 30.0);
    assert_true(cfg->emotion_cache_ttl_s == 3600.0);
    assert_string_equal(cfg->emotion_cache_prefix, "emotion:");
    assert_int_equal(cfg->emotion_max_text, 10000);
    assert_int_equal(cfg->emotion_max_response, 1048576);
    assert_int_equal(cfg->emotion_top_k, 0);
    assert_true(cfg->emotion_max_defer_s == 3600.0);
    cfg_free(cfg);
}

/* Writes `text` to a new token file; its name goes to `path`. */
static const char *token_file(const char *text, char *path, size_t size)
{
    conf_write(text, path, size);
    return path;
}

static void test_emotion_token_comes_from_env_or_file(void **state)
{
    char conf[256], tok[64], path[64];
    struct err err = {0};
    struct cfg *cfg;

    (void)snprintf(conf, sizeof(conf), "emotion = {\n  token_file = \"%s\";\n};",
                   token_file("hf_from_file\r\n", tok, sizeof(tok)));
    cfg = load_ok(conf);
    assert_null(cfg->emotion_token); /* nexusctl's view: secrets are not read */
    cfg_free(cfg);
    cfg = load_secrets_ok(conf);
    assert_string_equal(cfg->emotion_token, "hf_from_file");
    cfg_free(cfg);
    env_hf_token = "hf_from_env"; /* wins over the file */
    cfg = load_secrets_ok(conf);
    assert_string_equal(cfg->emotion_token, "hf_from_env");
    cfg_free(cfg);
    env_hf_token = "";            /* empty: as if unset */
    cfg = load_secrets_ok(conf);
    assert_string_equal(cfg->emotion_token, "hf_from_file");
    cfg_free(cfg);
    (void)unlink(tok);

    cfg = NULL;
    assert_int_equal(load_secrets_text(conf, &cfg, &err, path, sizeof(path)), -ENOENT);
    (void)snprintf(conf, sizeof(conf), "%s:2: emotion.token_file cannot be read: %s: No such "
                   "file or directory", path, tok);
    assert_string_equal(err.msg, conf);
    assert_null(cfg);

    env_hf_token = "hf with space";
    assert_int_equal(load_secrets_text("", &cfg, &err, path, sizeof(path)), -EINVAL);
    assert_string_equal(err.msg, "HF_API_TOKEN must be printable ASCII without spaces (byte 3 is "
                                 "0x20)");
    env_hf_token = NULL;
    (void)snprintf(conf, sizeof(conf), "emotion = { token_file = \"%s\"; };",
                   token_file("tw\to\n", tok, sizeof(tok)));
    assert_int_equal(load_secrets_text(conf, &cfg, &err, path, sizeof(path)), -EINVAL);
    assert_non_null(strstr(err.msg, ":1: the secret in emotion.token_file must be printable "
                                    "ASCII without spaces (byte 3 is 0x09)"));
    (void)unlink(tok);
    (void)snprintf(conf, sizeof(conf), "emotion = { token_file = \"%s\"; };",
                   token_file("\n", tok, sizeof(tok)));
    assert_int_equal(load_secrets_text(conf, &cfg, &err, path, sizeof(path)), -EINVAL);
    assert_non_null(strstr(err.msg, ":1: the secret in emotion.token_file must be 1..4096 bytes "
                                    "(got 0)"));
    (void)unlink(tok);
}

/* Whether `text` shows `key`: set somewhere, commented out or not ("key = ..." after the
 * start of a line, a space, '#', '{' or ';', as list entries are written "{ name = ...; }"),
 * or described in a comment that opens with it ("#   key   what it does"). */
static bool example_sets(const char *text, size_t len, const char *key)
{
    size_t klen = strlen(key);

    for (const char *p = text; (p = memmem(p, len - (size_t)(p - text), key, klen)); p += klen) {
        const char *after = p + klen + strspn(p + klen, " "), *line = p;
        if ((p == text || strchr("\n #{;(", p[-1])) && *after == '=')
            return true;
        while (line > text && line[-1] == ' ')
            line--;
        if (line > text && line[-1] == '#' && (line - 1 == text || line[-2] == '\n') &&
            p[klen] == ' ')
            return true;
    }
    return false;
}

/* conf/nexusd.conf shows every setting of every group of the table, with its group. */
static void test_example_file_shows_every_setting(void **state)
{
    const char *dir = getenv("NEXUS_SOURCE_DIR");
    char path[4096], *text;
    size_t missing = 0;
    FILE *f;
    long n;

    if (!dir) {
        print_message("NEXUS_SOURCE_DIR is not set: skipping the example file\n");
        skip();
    }
    (void)snprintf(path, sizeof(path), "%s/conf/nexusd.conf", dir);
    f = fopen(path, "re");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    rewind(f);
    text = calloc(1, (size_t)n + 1);
    assert_non_null(text);
    assert_int_equal(fread(text, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    for (size_t i = 0; i < cfg_nroot_keys; i++) {
        const struct key *g = &cfg_root_keys[i];
        char open[64];
        const char *start, *end;
        if (g->type != KEY_GROUP && g->type != KEY_LIST)
            continue;
        (void)snprintf(open, sizeof(open), "\n%s = %c", g->name, g->type == KEY_GROUP ? '{' : '(');
        start = strstr(text, open);
        if (!start) {
            print_error("conf/nexusd.conf has no group '%s'\n", g->name);
            missing++;
            continue;
        }
        end = strstr(start, g->type == KEY_GROUP ? "\n};" : "\n);");
        if (!end)
            end = text + n;
        if (g->type == KEY_LIST) /* its entries, or the commented template above it */
            start = text;
        for (size_t k = 0; k < g->nsub; k++) {
            if (!example_sets(start, (size_t)(end - start), g->sub[k].name)) {
                print_error("conf/nexusd.conf does not show %s.%s\n", g->name, g->sub[k].name);
                missing++;
            }
        }
    }
    free(text);
    assert_int_equal(missing, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_load_without_path_gives_defaults, setup),
        cmocka_unit_test_setup(test_load_of_empty_file_gives_defaults, setup),
        cmocka_unit_test_setup(test_load_reads_the_example_file_with_every_default, setup),
        cmocka_unit_test_setup(test_load_reads_the_app_file_with_its_classes_and_schedules, setup),
        cmocka_unit_test(test_example_file_shows_every_setting),
        cmocka_unit_test_setup(test_load_reads_every_setting, setup),
        cmocka_unit_test_setup(test_load_takes_queues_as_strings_and_groups, setup),
        cmocka_unit_test_setup(test_load_gives_classes_the_worker_defaults_they_leave_out, setup),
        cmocka_unit_test_setup(test_metered_redis_lengthens_the_intervals_the_file_leaves_out,
                               setup),
        cmocka_unit_test_setup(test_load_reads_durations_as_numbers_and_units, setup),
        cmocka_unit_test_setup(test_load_rejects_bad_input_with_file_line_and_value, setup),
        cmocka_unit_test_setup(test_analytics_settings_have_defaults_and_are_read, setup),
        cmocka_unit_test_setup(test_load_rejects_missing_file, setup),
        cmocka_unit_test_setup(test_env_redis_url_wins_over_file, setup),
        cmocka_unit_test_setup(test_env_redis_url_is_checked_and_named, setup),
        cmocka_unit_test_setup(test_redis_addr_carries_the_tls_settings, setup),
        cmocka_unit_test_setup(test_env_redis_url_overrides_a_bad_file_url, setup),
        cmocka_unit_test_setup(test_env_empty_values_are_ignored, setup),
        cmocka_unit_test_setup(test_env_database_url_wins_over_file, setup),
        cmocka_unit_test_setup(test_env_database_pool_url_wins_over_file_and_empty_is_unset, setup),
        cmocka_unit_test_setup(test_refused_urls_never_show_their_password, setup),
        cmocka_unit_test_setup(test_starttls_never_with_credentials_needs_plaintext_allowed,
                               setup),
        cmocka_unit_test_setup(test_smtp_settings_password_file_templates_and_env, setup),
        cmocka_unit_test_setup(test_load_accepts_redis_url_shapes, setup),
        cmocka_unit_test_setup(test_load_rejects_bad_redis_url_shapes, setup),
        cmocka_unit_test_setup(test_url_errors_hide_the_password, setup),
        cmocka_unit_test_setup(test_load_without_err_still_returns_the_code, setup),
        cmocka_unit_test_setup(test_sql_class_gets_its_argument_types, setup),
        cmocka_unit_test_setup(test_command_classes_get_their_steps_and_defaults, setup),
        cmocka_unit_test_setup(test_command_class_users_are_resolved_at_load, setup),
        cmocka_unit_test_setup(test_schedules_are_parsed_with_their_defaults, setup),
        cmocka_unit_test_setup(test_class_queue_serves_schedules_and_lookups, setup),
        cmocka_unit_test_setup(test_webhook_class_reads_its_secret, setup),
        cmocka_unit_test_setup(test_free_accepts_null, setup),
        cmocka_unit_test_setup(test_token_is_read_from_the_file_or_the_environment, setup),
        cmocka_unit_test_setup(test_token_errors_name_the_setting_and_its_line, setup),
        cmocka_unit_test_setup(test_secret_files_open_to_others_are_refused, setup),
        cmocka_unit_test_setup(test_credentials_stand_in_for_unset_variables, setup),
        cmocka_unit_test_setup(test_emotion_has_defaults_and_no_token, setup),
        cmocka_unit_test_setup(test_emotion_token_comes_from_env_or_file, setup),
        cmocka_unit_test_setup(test_restart_changes_name_each_restart_only_setting, setup),
        cmocka_unit_test_setup(test_restart_changes_ignore_reloadable_settings, setup),
        cmocka_unit_test_setup(test_restart_changes_compare_an_unset_database_url, setup),
        cmocka_unit_test_setup(test_ref_keeps_the_configuration_until_the_last_free, setup),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
