/* metrics.c - job counters per class and the Prometheus text exposition format. */
#include "daemon/metrics.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/xalloc.h"

#define NELEMS(a) (sizeof(a) / sizeof((a)[0]))
#define OTHER_CLASS "(other)"

/* Upper bounds of the duration buckets, seconds; +Inf is implied. */
static const double bounds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                1,     2.5,  5,     10,   30,  60,  300, 1800};
#define NBOUNDS NELEMS(bounds)

struct class_counts {
    char *name; /* owned */
    unsigned long long processed, failed;
    unsigned long long duplicates; /* unique jobs not run: another jid held their lock */
    unsigned long long bad_traces; /* attempts of jobs whose traceparent was ignored */
    unsigned long long buckets[NBOUNDS]; /* per bucket: bounds[i-1] < duration <= bounds[i] */
    unsigned long long timed;            /* jobs timed (the histogram's count) */
    double sum_s;
};

struct metrics {
    struct class_counts *classes; /* in order of first sight */
    size_t nclasses, cap;
    size_t last; /* index of the last class hit */
};

struct metrics *metrics_new(void)
{
    return xcalloc(1, sizeof(struct metrics));
}

void metrics_free(struct metrics *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->nclasses; i++)
        free(m->classes[i].name);
    free(m->classes);
    free(m);
}

static struct class_counts *class_get(struct metrics *m, const char *name)
{
    struct class_counts *c;

    if (m->last < m->nclasses && strcmp(m->classes[m->last].name, name) == 0)
        return &m->classes[m->last];
    for (size_t i = 0; i < m->nclasses; i++) {
        if (strcmp(m->classes[i].name, name) == 0) {
            m->last = i;
            return &m->classes[i];
        }
    }
    if (m->nclasses >= METRICS_MAX_CLASSES && strcmp(name, OTHER_CLASS) != 0)
        return class_get(m, OTHER_CLASS);
    if (m->nclasses == m->cap) {
        m->cap = m->cap ? 2 * m->cap : 16;
        m->classes = xreallocarray(m->classes, m->cap + 1, sizeof(*m->classes));
    }
    c = &m->classes[m->nclasses];
    memset(c, 0, sizeof(*c));
    c->name = xstrdup(name);
    m->last = m->nclasses++;
    return c;
}

void metrics_job_end(struct metrics *m, const char *class_name, bool failed, double duration_s)
{
    struct class_counts *c;
    size_t i;

    if (!m)
        return;
    c = class_get(m, class_name);
    c->processed++;
    if (failed)
        c->failed++;
    if (!(duration_s >= 0))
        return;
    for (i = 0; i < NBOUNDS && duration_s > bounds[i]; i++)
        ;
    if (i < NBOUNDS)
        c->buckets[i]++;
    c->timed++;
    c->sum_s += duration_s;
}

void metrics_job_duplicate(struct metrics *m, const char *class_name)
{
    if (m)
        class_get(m, class_name)->duplicates++;
}

void metrics_traceparent_invalid(struct metrics *m, const char *class_name)
{
    if (m)
        class_get(m, class_name)->bad_traces++;
}

/* ---- rendering ---- */

struct buf {
    char *s;
    size_t len, cap;
};

static void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    for (;;) {
        va_start(ap, fmt);
        n = vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0)
            return; /* an output error: not for these formats and values */
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        b->cap = 2 * b->cap + (size_t)n + 1;
        b->s = xreallocarray(b->s, b->cap, 1);
    }
}

/* Length of the valid UTF-8 sequence at `s`, or 0. */
static size_t utf8_len(const unsigned char *s)
{
    size_t n;
    unsigned cp;

    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        n = 2, cp = s[0] & 0x1f;
    else if (s[0] >= 0xe0 && s[0] <= 0xef)
        n = 3, cp = s[0] & 0x0f;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
        n = 4, cp = s[0] & 0x07;
    else
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if (n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff)))
        return 0;
    if (n == 4 && (cp < 0x10000 || cp > 0x10ffff))
        return 0;
    return n;
}

/* A label value: \, " and newline escaped; bytes that are not UTF-8 become U+FFFD. */
static void buf_label(struct buf *b, const char *value)
{
    const unsigned char *p = (const unsigned char *)value;

    while (*p) {
        size_t n = utf8_len(p);

        if (*p == '\\' || *p == '"')
            buf_printf(b, "\\%c", *p);
        else if (*p == '\n')
            buf_printf(b, "\\n");
        else if (n == 0)
            buf_printf(b, "\xef\xbf\xbd");
        else
            buf_printf(b, "%.*s", (int)n, (const char *)p);
        p += n ? n : 1;
    }
}

static void buf_family(struct buf *b, const char *name, const char *type, const char *help)
{
    buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void buf_value(struct buf *b, double v)
{
    if (isnan(v))
        buf_printf(b, " NaN\n");
    else if (isinf(v))
        buf_printf(b, v > 0 ? " +Inf\n" : " -Inf\n");
    else
        buf_printf(b, " %.15g\n", v);
}

/* name{label="value"} v; `label` NULL for none. */
static void buf_sample(struct buf *b, const char *name, const char *label, const char *value,
                       double v)
{
    buf_printf(b, "%s", name);
    if (label) {
        buf_printf(b, "{%s=\"", label);
        buf_label(b, value);
        buf_printf(b, "\"}");
    }
    buf_value(b, v);
}

static void render_classes(struct buf *b, const struct metrics *m)
{
    buf_family(b, "nexus_jobs_processed_total", "counter",
               "Job attempts this process ended (succeeded or failed), by class.");
    for (size_t i = 0; i < m->nclasses; i++)
        buf_sample(b, "nexus_jobs_processed_total", "class", m->classes[i].name,
                   (double)m->classes[i].processed);
    buf_family(b, "nexus_jobs_failed_total", "counter",
               "Job attempts this process ended in failure (retry or dead), by class.");
    for (size_t i = 0; i < m->nclasses; i++)
        buf_sample(b, "nexus_jobs_failed_total", "class", m->classes[i].name,
                   (double)m->classes[i].failed);
    buf_family(b, "nexus_jobs_duplicate_total", "counter",
               "Unique jobs this process did not run: another job held their lock, by class.");
    for (size_t i = 0; i < m->nclasses; i++)
        buf_sample(b, "nexus_jobs_duplicate_total", "class", m->classes[i].name,
                   (double)m->classes[i].duplicates);
    buf_family(b, "nexus_jobs_traceparent_invalid_total", "counter",
               "Job attempts whose traceparent was not W3C trace context (run untraced), by "
               "class.");
    for (size_t i = 0; i < m->nclasses; i++)
        buf_sample(b, "nexus_jobs_traceparent_invalid_total", "class", m->classes[i].name,
                   (double)m->classes[i].bad_traces);
    buf_family(b, "nexus_job_duration_seconds", "histogram",
               "Run time of job attempts in this process, by class.");
    for (size_t i = 0; i < m->nclasses; i++) {
        const struct class_counts *c = &m->classes[i];
        unsigned long long cum = 0;

        for (size_t k = 0; k <= NBOUNDS; k++) {
            cum += k < NBOUNDS ? c->buckets[k] : 0;
            buf_printf(b, "nexus_job_duration_seconds_bucket{class=\"");
            buf_label(b, c->name);
            if (k < NBOUNDS)
                buf_printf(b, "\",le=\"%g\"} %llu\n", bounds[k], cum);
            else
                buf_printf(b, "\",le=\"+Inf\"} %llu\n", c->timed);
        }
        buf_sample(b, "nexus_job_duration_seconds_sum", "class", c->name, c->sum_s);
        buf_sample(b, "nexus_job_duration_seconds_count", "class", c->name, (double)c->timed);
    }
}

static void render_fleet(struct buf *b, const struct metrics_snapshot *s)
{
    buf_family(b, "nexus_queue_size", "gauge", "Jobs waiting in the queue (Redis).");
    for (size_t i = 0; i < s->nqueues; i++)
        buf_sample(b, "nexus_queue_size", "queue", s->queues[i].name, (double)s->queues[i].size);
    buf_family(b, "nexus_queue_latency_seconds", "gauge",
               "Age of the oldest job waiting in the queue, 0 when empty (Redis).");
    for (size_t i = 0; i < s->nqueues; i++)
        buf_sample(b, "nexus_queue_latency_seconds", "queue", s->queues[i].name,
                   s->queues[i].latency_s);
    buf_family(b, "nexus_scheduled_jobs", "gauge", "Jobs in the schedule set (Redis).");
    buf_sample(b, "nexus_scheduled_jobs", NULL, NULL, (double)s->scheduled);
    buf_family(b, "nexus_retry_jobs", "gauge", "Jobs waiting for a retry (Redis).");
    buf_sample(b, "nexus_retry_jobs", NULL, NULL, (double)s->retry);
    buf_family(b, "nexus_dead_jobs", "gauge", "Jobs in the dead set (Redis).");
    buf_sample(b, "nexus_dead_jobs", NULL, NULL, (double)s->dead);
}

char *metrics_render(const struct metrics *m, const struct metrics_snapshot *s, size_t *ret_len)
{
    struct buf b = {.cap = 4096};

    b.s = xmalloc(b.cap);
    buf_family(&b, "nexus_build_info", "gauge", "Always 1; the labels say which nexusd runs.");
    buf_sample(&b, "nexus_build_info", "version", s->version, 1);
    buf_family(&b, "nexus_process_start_time_seconds", "gauge",
               "Start time of the process since the Unix epoch in seconds.");
    buf_sample(&b, "nexus_process_start_time_seconds", NULL, NULL, s->start_time_s);
    buf_family(&b, "nexus_redis_up", "gauge", "1 when the main Redis connection is up.");
    buf_sample(&b, "nexus_redis_up", NULL, NULL, s->redis_up ? 1 : 0);
    buf_family(&b, "nexus_redis_wait_short_total", "counter",
               "Writes whose WAIT found fewer replicas than redis.wait_replicas, or no answer.");
    buf_sample(&b, "nexus_redis_wait_short_total", NULL, NULL, (double)s->redis_wait_short);
    if (s->postgresql_up >= 0) {
        buf_family(&b, "nexus_postgresql_up", "gauge",
                   "1 when the PostgreSQL pool has a live connection.");
        buf_sample(&b, "nexus_postgresql_up", NULL, NULL, s->postgresql_up);
    }
    buf_family(&b, "nexus_concurrency", "gauge", "Jobs this process runs at once at most.");
    buf_sample(&b, "nexus_concurrency", NULL, NULL, s->concurrency);
    buf_family(&b, "nexus_jobs_in_flight", "gauge", "Jobs this process is running now.");
    buf_sample(&b, "nexus_jobs_in_flight", NULL, NULL, s->in_flight);
    render_classes(&b, m);
    if (s->fleet)
        render_fleet(&b, s);
    *ret_len = b.len;
    return b.s;
}
