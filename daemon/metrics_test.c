/* metrics_test.c - job counters and their Prometheus text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "daemon/metrics.h"

static char *render(const struct metrics *m, const struct metrics_snapshot *snap)
{
    size_t len = 0;
    char *text = metrics_render(m, snap, &len);

    assert_non_null(text);
    assert_int_equal(strlen(text), len);
    return text;
}

static void assert_has(const char *text, const char *line)
{
    if (!strstr(text, line))
        fail_msg("no line '%s' in:\n%s", line, text);
}

static void test_render_counts_processed_failed_and_durations_by_class(void **state)
{
    struct metrics *m = metrics_new();
    struct metrics_snapshot snap = {.version = "1.2.3", .start_time_s = 1700000000.5,
                                    .concurrency = 10, .in_flight = 2, .redis_up = true,
                                    .redis_wait_short = 3, .postgresql_up = -1};
    char *text;

    metrics_job_end(m, "mail", false, 0.004);
    metrics_job_end(m, "mail", false, 0.3);
    metrics_job_end(m, "mail", true, 4000);
    metrics_job_end(m, "bad", true, -1);
    text = render(m, &snap);
    assert_has(text, "# TYPE nexus_jobs_processed_total counter\n");
    assert_has(text, "\nnexus_jobs_processed_total{class=\"mail\"} 3\n");
    assert_has(text, "\nnexus_jobs_failed_total{class=\"mail\"} 1\n");
    assert_has(text, "\nnexus_jobs_processed_total{class=\"bad\"} 1\n");
    assert_has(text, "\nnexus_jobs_failed_total{class=\"bad\"} 1\n");
    assert_has(text, "# TYPE nexus_job_duration_seconds histogram\n");
    assert_has(text, "\nnexus_job_duration_seconds_bucket{class=\"mail\",le=\"0.005\"} 1\n");
    assert_has(text, "\nnexus_job_duration_seconds_bucket{class=\"mail\",le=\"0.25\"} 1\n");
    assert_has(text, "\nnexus_job_duration_seconds_bucket{class=\"mail\",le=\"0.5\"} 2\n");
    assert_has(text, "\nnexus_job_duration_seconds_bucket{class=\"mail\",le=\"1800\"} 2\n");
    assert_has(text, "\nnexus_job_duration_seconds_bucket{class=\"mail\",le=\"+Inf\"} 3\n");
    assert_has(text, "\nnexus_job_duration_seconds_count{class=\"mail\"} 3\n");
    assert_has(text, "\nnexus_job_duration_seconds_sum{class=\"mail\"} 4000.304\n");
    /* a job that never ran is counted but not timed */
    assert_has(text, "\nnexus_job_duration_seconds_count{class=\"bad\"} 0\n");
    assert_has(text, "\nnexus_job_duration_seconds_bucket{class=\"bad\",le=\"+Inf\"} 0\n");
    assert_has(text, "\nnexus_build_info{version=\"1.2.3\"} 1\n");
    assert_has(text, "\nnexus_process_start_time_seconds 1700000000.5\n");
    assert_has(text, "\nnexus_jobs_in_flight 2\n");
    assert_has(text, "\nnexus_redis_up 1\n");
    assert_has(text, "\nnexus_redis_wait_short_total 3\n");
    assert_null(strstr(text, "nexus_postgresql_up"));
    assert_null(strstr(text, "nexus_queue_size"));
    free(text);
    metrics_free(m);
}

static void test_render_adds_the_fleet_when_read(void **state)
{
    struct metrics *m = metrics_new();
    const struct metrics_queue queues[] = {{"default", 12, 3.5}, {"low", 0, 0}};
    struct metrics_snapshot snap = {.version = "1", .postgresql_up = 0, .fleet = true,
                                    .queues = queues, .nqueues = 2, .scheduled = 4, .retry = 5,
                                    .dead = 6};
    char *text = render(m, &snap);

    assert_has(text, "\nnexus_postgresql_up 0\n");
    assert_has(text, "\nnexus_redis_up 0\n");
    assert_has(text, "\nnexus_queue_size{queue=\"default\"} 12\n");
    assert_has(text, "\nnexus_queue_size{queue=\"low\"} 0\n");
    assert_has(text, "\nnexus_queue_latency_seconds{queue=\"default\"} 3.5\n");
    assert_has(text, "\nnexus_scheduled_jobs 4\n");
    assert_has(text, "\nnexus_retry_jobs 5\n");
    assert_has(text, "\nnexus_dead_jobs 6\n");
    free(text);
    metrics_free(m);
}

static void test_render_escapes_label_values(void **state)
{
    struct metrics *m = metrics_new();
    const struct metrics_queue queues[] = {{"a\"b\\c\nd", 1, 0},
                                           {"bad\xff\xfe utf8 \xc3\xa9", 1, 0}};
    struct metrics_snapshot snap = {.version = "v\"1", .postgresql_up = -1, .fleet = true,
                                    .queues = queues, .nqueues = 2};
    char *text;

    metrics_job_end(m, "x\\y", false, 1);
    text = render(m, &snap);
    assert_has(text, "nexus_queue_size{queue=\"a\\\"b\\\\c\\nd\"} 1\n");
    assert_has(text, "nexus_queue_size{queue=\"bad\xef\xbf\xbd\xef\xbf\xbd utf8 \xc3\xa9\"} 1\n");
    assert_has(text, "nexus_build_info{version=\"v\\\"1\"} 1\n");
    assert_has(text, "nexus_jobs_processed_total{class=\"x\\\\y\"} 1\n");
    free(text);
    metrics_free(m);
}

static void test_classes_past_the_limit_count_as_other(void **state)
{
    struct metrics *m = metrics_new();
    struct metrics_snapshot snap = {.version = "1", .postgresql_up = -1};
    char name[32], *text;

    for (int i = 0; i < METRICS_MAX_CLASSES + 10; i++) {
        (void)snprintf(name, sizeof(name), "class%d", i);
        metrics_job_end(m, name, false, 0.01);
    }
    metrics_job_end(m, "class0", false, 0.01);
    text = render(m, &snap);
    assert_has(text, "\nnexus_jobs_processed_total{class=\"class0\"} 2\n");
    assert_has(text, "\nnexus_jobs_processed_total{class=\"(other)\"} 10\n");
    assert_null(strstr(text, "class=\"class505\""));
    free(text);
    metrics_free(m);
}

static void test_every_family_has_help_and_type_before_its_samples(void **state)
{
    struct metrics *m = metrics_new();
    const struct metrics_queue queues[] = {{"default", 1, 0}};
    struct metrics_snapshot snap = {.version = "1", .postgresql_up = 1, .fleet = true,
                                    .queues = queues, .nqueues = 1};
    char *text, *line, *save = NULL, typed[64] = "";

    metrics_job_end(m, "a", false, 0.2);
    text = render(m, &snap);
    for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char name[64];
        if (sscanf(line, "# TYPE %63s", name) == 1) {
            (void)snprintf(typed, sizeof(typed), "%s", name);
            continue;
        }
        if (line[0] == '#')
            continue;
        (void)sscanf(line, "%63[a-z_]", name);
        if (strncmp(name, typed, strlen(typed)) != 0 || !*typed)
            fail_msg("sample %s outside its family (last TYPE %s)", line, typed);
    }
    free(text);
    metrics_free(m);
}

static void test_render_counts_duplicates_apart_from_attempts(void **state)
{
    struct metrics *m = metrics_new();
    struct metrics_snapshot snap = {.version = "1", .postgresql_up = -1};
    char *text;

    metrics_job_duplicate(m, "mail");
    metrics_job_duplicate(m, "mail");
    metrics_job_end(m, "mail", false, 0.1);
    text = render(m, &snap);
    assert_has(text, "# TYPE nexus_jobs_duplicate_total counter\n");
    assert_has(text, "\nnexus_jobs_duplicate_total{class=\"mail\"} 2\n");
    assert_has(text, "\nnexus_jobs_processed_total{class=\"mail\"} 1\n");
    free(text);
    metrics_free(m);
}

static void test_render_counts_ignored_traceparents(void **state)
{
    struct metrics *m = metrics_new();
    struct metrics_snapshot snap = {.version = "1", .postgresql_up = -1};
    char *text;

    metrics_traceparent_invalid(m, "mail");
    metrics_job_end(m, "mail", false, 0.1);
    metrics_job_end(m, "sms", false, 0.1);
    text = render(m, &snap);
    assert_has(text, "# TYPE nexus_jobs_traceparent_invalid_total counter\n");
    assert_has(text, "\nnexus_jobs_traceparent_invalid_total{class=\"mail\"} 1\n");
    assert_has(text, "\nnexus_jobs_traceparent_invalid_total{class=\"sms\"} 0\n");
    free(text);
    metrics_free(m);
}

static void test_free_accepts_null(void **state)
{
    metrics_free(NULL);
    metrics_job_end(NULL, "a", false, 1);
    metrics_job_duplicate(NULL, "a");
    metrics_traceparent_invalid(NULL, "a");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render_counts_processed_failed_and_durations_by_class),
        cmocka_unit_test(test_render_adds_the_fleet_when_read),
        cmocka_unit_test(test_render_escapes_label_values),
        cmocka_unit_test(test_classes_past_the_limit_count_as_other),
        cmocka_unit_test(test_every_family_has_help_and_type_before_its_samples),
        cmocka_unit_test(test_render_counts_duplicates_apart_from_attempts),
        cmocka_unit_test(test_render_counts_ignored_traceparents),
        cmocka_unit_test(test_free_accepts_null),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
