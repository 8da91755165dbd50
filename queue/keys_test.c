/* keys_test.c - every key builder, and docs/PROTOCOL.md's key tables naming exactly them. */
#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "queue/keys.h"

/* Each builder with the placeholders docs/PROTOCOL.md writes (NAME, IDENTITY, ...). */
struct built {
    const char *builder; /* its name in queue/keys.h */
    char *key;           /* what it builds with no namespace */
    bool own_prefix;     /* a job class's key: its configured prefix, not the namespace */
};

#define NBUILT 32

/* keys_funnel_step() takes the step as a number: the docs' STEP stands for 7 here. */
static char *step_named(char *key)
{
    char *at = strstr(key, ":step:7:"), *named;

    assert_non_null(at);
    named = calloc(1, strlen(key) + 8);
    assert_non_null(named);
    (void)sprintf(named, "%.*s:step:STEP:%s", (int)(at - key), key, at + strlen(":step:7:"));
    free(key);
    return named;
}

/* keys_metrics() takes numbers: the docs' WIDTH:SLOT stands for 60:7 here. */
static char *slot_named(char *key)
{
    char *at = strstr(key, ":60:7"), *named;

    assert_non_null(at);
    named = calloc(1, strlen(key) + 16);
    assert_non_null(named);
    (void)sprintf(named, "%.*s:WIDTH:SLOT", (int)(at - key), key);
    free(key);
    return named;
}

static size_t build_all(const char *ns, struct built *out)
{
    size_t n = 0;

#define B(fn, call) (out[n].builder = #fn, out[n].key = (call), out[n].own_prefix = false, n++)
#define P(fn, call) (out[n].builder = #fn, out[n].key = (call), out[n].own_prefix = true, n++)
    B(keys_queues, keys_queues(ns));
    B(keys_queue, keys_queue(ns, "NAME"));
    B(keys_schedule, keys_schedule(ns));
    B(keys_retry, keys_retry(ns));
    B(keys_dead, keys_dead(ns));
    B(keys_stat_processed, keys_stat_processed(ns));
    B(keys_stat_failed, keys_stat_failed(ns));
    B(keys_stat_processed_day, keys_stat_processed_day(ns, "YYYY-MM-DD"));
    B(keys_stat_failed_day, keys_stat_failed_day(ns, "YYYY-MM-DD"));
    B(keys_processes, keys_processes(ns));
    B(keys_process, keys_process(ns, "IDENTITY"));
    B(keys_process_work, keys_process_work(ns, "IDENTITY"));
    B(keys_process_signals, keys_process_signals(ns, "IDENTITY"));
    B(keys_unique, keys_unique(ns, "DIGEST"));
    B(keys_inflight, keys_inflight(ns, "IDENTITY", "QUEUE"));
    B(keys_procs, keys_procs(ns));
    B(keys_order, keys_order(ns, "IDENTITY"));
    B(keys_cron, keys_cron(ns, "NAME"));
    B(keys_rate, keys_rate(ns, "CLASS"));
    B(keys_conc, keys_conc(ns, "CLASS"));
    B(keys_paused, keys_paused(ns));
    B(keys_outbox_relayed, keys_outbox_relayed(ns));
    B(keys_metrics, slot_named(keys_metrics(ns, 60, 7)));
    P(keys_emotion_cache, keys_emotion_cache("emotion:", "SHA256"));
    P(keys_funnel_step, step_named(keys_funnel_step("funnel:", "ID", 7, "YYYY-MM-DD")));
#undef B
#undef P
    assert_true(n < NBUILT);
    return n;
}

static void built_clear(struct built *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(b[i].key);
}

/* The whole of a file under NEXUS_SOURCE_DIR (which ctest sets). */
static char *source_read(const char *rel)
{
    const char *dir = getenv("NEXUS_SOURCE_DIR");
    char path[4096];
    FILE *f;
    char *text;
    long size;

    if (!dir)
        fail_msg("NEXUS_SOURCE_DIR is not set (ctest sets it to the source tree)");
    (void)snprintf(path, sizeof(path), "%s/%s", dir, rel);
    f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s", path);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    size = ftell(f);
    assert_true(size >= 0);
    rewind(f);
    text = calloc(1, (size_t)size + 1);
    assert_non_null(text);
    assert_int_equal(fread(text, 1, (size_t)size, f), (size_t)size);
    (void)fclose(f);
    return text;
}

/* The names in the first column of the key tables (those whose header is "| key |"): each
 * `...` of that cell. Returns how many were written to names (each malloc'd). */
static size_t doc_keys(char **names, size_t max)
{
    char *doc = source_read("docs/PROTOCOL.md"), *line, *save = NULL;
    bool in_table = false;
    size_t n = 0;

    for (line = strtok_r(doc, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        const char *cell_end, *p;
        if (strncmp(line, "| key |", 7) == 0) {
            in_table = true;
            continue;
        }
        if (line[0] != '|') {
            in_table = false;
            continue;
        }
        if (!in_table || strncmp(line, "| ---", 5) == 0)
            continue;
        cell_end = strchr(line + 1, '|');
        assert_non_null(cell_end);
        for (p = strchr(line, '`'); p && p < cell_end; p = strchr(p, '`')) {
            const char *end = strchr(p + 1, '`');
            assert_non_null(end);
            assert_true(n < max);
            names[n++] = strndup(p + 1, (size_t)(end - p - 1));
            p = end + 1;
        }
    }
    free(doc);
    return n;
}

static void test_every_builder_puts_the_namespace_first(void **state)
{
    struct built plain[NBUILT], spaced[NBUILT];
    size_t n = build_all("", plain);

    (void)state;
    assert_int_equal(build_all("{app}:", spaced), n);
    for (size_t i = 0; i < n; i++) {
        if (plain[i].own_prefix) {
            assert_string_equal(spaced[i].key, plain[i].key);
            continue;
        }
        assert_string_equal(spaced[i].key + strlen("{app}:"), plain[i].key);
        assert_memory_equal(spaced[i].key, "{app}:", 6);
    }
    built_clear(plain, n);
    built_clear(spaced, n);
}

static void test_keys_are_sidekiqs_names(void **state)
{
    struct built b[NBUILT];
    size_t n = build_all(NULL, b);
    char day[11];
    char *k;

    (void)state;
    assert_string_equal(b[0].key, "queues");
    assert_string_equal(b[1].key, "queue:NAME");
    assert_string_equal(b[7].key, "stat:processed:YYYY-MM-DD");
    assert_string_equal(b[11].key, "IDENTITY:work");
    assert_string_equal(b[12].key, "IDENTITY-signals");
    built_clear(b, n);
    k = keys_stat_failed_day("app:", keys_day(86400.0 * 365, day));
    assert_string_equal(k, "app:stat:failed:1971-01-01");
    free(k);
}

static void test_inflight_prefix_starts_every_inflight_list(void **state)
{
    char *prefix = keys_inflight_prefix("ns:"), *key = keys_inflight("ns:", "h:1:ab", "q");

    (void)state;
    assert_memory_equal(key, prefix, strlen(prefix));
    assert_string_equal(key + strlen(prefix), "h:1:ab:q");
    free(prefix);
    free(key);
}

/* fleet.lua makes the keys of queues and processes it finds from these pieces. */
static void test_queue_and_process_keys_are_prefix_and_name(void **state)
{
    char *queue_prefix = keys_queue("ns:", ""), *process_prefix = keys_process("ns:", "");
    char *work_suffix = keys_process_work("", ""), *queue = keys_queue("ns:", "mail");
    char *process = keys_process("ns:", "h:1:ab"), *work = keys_process_work("ns:", "h:1:ab");
    char made[128];

    (void)state;
    (void)snprintf(made, sizeof(made), "%s%s", queue_prefix, "mail");
    assert_string_equal(made, queue);
    (void)snprintf(made, sizeof(made), "%s%s", process_prefix, "h:1:ab");
    assert_string_equal(made, process);
    (void)snprintf(made, sizeof(made), "%s%s%s", process_prefix, "h:1:ab", work_suffix);
    assert_string_equal(made, work);
    free(queue_prefix);
    free(process_prefix);
    free(work_suffix);
    free(queue);
    free(process);
    free(work);
}

/* Every builder declared in queue/keys.h is built above (so the check below sees it). */
static void test_every_declared_builder_is_checked(void **state)
{
    static const char *const not_keys[] = {"keys_day", "keys_inflight_prefix"};
    char *header = source_read("queue/keys.h"), *p = header;
    struct built b[NBUILT];
    size_t n = build_all("", b), declared = 0;

    (void)state;
    while ((p = strstr(p, "\nchar *keys_"))) {
        char name[64];
        size_t len = strcspn(p + 7, "(");
        bool known = false;
        assert_true(len < sizeof(name));
        memcpy(name, p + 7, len);
        name[len] = '\0';
        p += 7 + len;
        for (size_t i = 0; i < sizeof(not_keys) / sizeof(not_keys[0]); i++)
            known |= strcmp(name, not_keys[i]) == 0;
        if (known)
            continue;
        declared++;
        for (size_t i = 0; i < n && !known; i++)
            known = strcmp(name, b[i].builder) == 0;
        if (!known)
            fail_msg("%s in queue/keys.h is not in keys_test.c's build_all()", name);
    }
    assert_int_equal(declared, n);
    built_clear(b, n);
    free(header);
}

static void test_protocol_tables_list_exactly_the_builders_keys(void **state)
{
    char *names[64];
    size_t nnames = doc_keys(names, 64);
    struct built b[NBUILT];
    size_t n = build_all("", b);
    int missing = 0;

    (void)state;
    for (size_t i = 0; i < n; i++) {
        bool found = false;
        for (size_t k = 0; k < nnames && !found; k++)
            found = strcmp(names[k], b[i].key) == 0;
        if (!found) {
            print_error("%s builds `%s`, which docs/PROTOCOL.md's key tables do not list\n",
                        b[i].builder, b[i].key);
            missing++;
        }
    }
    for (size_t k = 0; k < nnames; k++) {
        bool found = false;
        for (size_t i = 0; i < n && !found; i++)
            found = strcmp(names[k], b[i].key) == 0;
        if (!found) {
            print_error("docs/PROTOCOL.md lists `%s`, which no builder of queue/keys.h makes\n",
                        names[k]);
            missing++;
        }
        free(names[k]);
    }
    built_clear(b, n);
    assert_int_equal(missing, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_builder_puts_the_namespace_first),
        cmocka_unit_test(test_keys_are_sidekiqs_names),
        cmocka_unit_test(test_inflight_prefix_starts_every_inflight_list),
        cmocka_unit_test(test_queue_and_process_keys_are_prefix_and_name),
        cmocka_unit_test(test_every_declared_builder_is_checked),
        cmocka_unit_test(test_protocol_tables_list_exactly_the_builders_keys),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
