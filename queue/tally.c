/* tally.c - per-class counts and duration histograms, noted and read back (pure). */
#include "queue/tally.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "lib/strbuf.h"
#include "lib/xalloc.h"

#define BUCKET_OFFSET 8     /* bucket 0 starts at 2^(-8/4) = 0.25 ms */
#define VIEW_NAMES_MAX 1024 /* classes or queues a view keeps; more are ignored */
#define NOTE_NAMES_MAX 64   /* classes or queues one tally keeps; more are not counted */

/* The index of the entry named `name` (`len` bytes) among the `*n` entries of `size` bytes at
 * `base`, each starting with its name (char *). When there is none and `*n` is below `max`,
 * one is added (its name copied, the rest as it was: zero) and `*ret_added` set; -1 when full. */
static long name_slot(void *base, size_t size, size_t *n, size_t max, const char *name,
                      size_t len, bool *ret_added)
{
    char **slot;

    *ret_added = false;
    for (size_t i = 0; i < *n; i++) {
        const char *x = *(char *const *)(const void *)((const char *)base + i * size);
        if (strlen(x) == len && memcmp(x, name, len) == 0)
            return (long)i;
    }
    if (*n == max)
        return -1;
    slot = (char **)(void *)((char *)base + *n * size);
    *slot = xstrndup(name, len);
    *ret_added = true;
    return (long)(*n)++;
}

/* A class's attempts since the last flush; its fields are written out only by tally_text(),
 * so that noting an attempt is a lookup and a few increments. */
struct tclass {
    char *name; /* owned; first member (name_slot()) */
    long long n, failed;
    long long dur[TALLY_BUCKETS], lat[TALLY_BUCKETS];
};

struct tqueue {
    char *name; /* owned; first member */
    long long sum_ms, count;
};

struct tally {
    struct tclass *classes; /* NOTE_NAMES_MAX */
    size_t nclasses;
    struct tqueue *queues; /* NOTE_NAMES_MAX */
    size_t nqueues;
};

struct tally *tally_new(void)
{
    struct tally *t = xcalloc(1, sizeof(*t));

    t->classes = xcalloc(NOTE_NAMES_MAX, sizeof(*t->classes));
    t->queues = xcalloc(NOTE_NAMES_MAX, sizeof(*t->queues));
    return t;
}

void tally_clear(struct tally *t)
{
    for (size_t i = 0; i < t->nclasses; i++)
        free(t->classes[i].name);
    for (size_t i = 0; i < t->nqueues; i++)
        free(t->queues[i].name);
    memset(t->classes, 0, t->nclasses * sizeof(*t->classes));
    memset(t->queues, 0, t->nqueues * sizeof(*t->queues));
    t->nclasses = t->nqueues = 0;
}

void tally_free(struct tally *t)
{
    if (!t)
        return;
    tally_clear(t);
    free(t->classes);
    free(t->queues);
    free(t);
}

unsigned tally_bucket(double ms)
{
    double b;

    if (!(ms > 0))
        return 0;
    b = floor(4 * log2(ms)) + BUCKET_OFFSET;
    if (b < 0)
        return 0;
    return b >= TALLY_BUCKETS ? TALLY_BUCKETS - 1 : (unsigned)b;
}

double tally_bucket_ms(unsigned bucket)
{
    return exp2(((double)bucket - BUCKET_OFFSET + 0.5) / 4);
}

/* Names become fields of lines "FIELD\tCOUNT\n": one holding a line break is not counted. */
static bool name_fits(const char *name)
{
    return strlen(name) < 256 && !strpbrk(name, "\t\n");
}

void tally_note(struct tally *t, const char *job_class, const char *queue, bool failed,
                double duration_s, double latency_s)
{
    struct tclass *c;
    struct tqueue *q;
    bool added;
    long i;

    if (!name_fits(job_class))
        return;
    i = name_slot(t->classes, sizeof(*t->classes), &t->nclasses, NOTE_NAMES_MAX, job_class,
                  strlen(job_class), &added);
    if (i < 0)
        return;
    c = &t->classes[i];
    c->n++;
    c->failed += failed;
    if (duration_s >= 0)
        c->dur[tally_bucket(duration_s * 1000)]++;
    if (latency_s < 0)
        return;
    c->lat[tally_bucket(latency_s * 1000)]++;
    if (!name_fits(queue))
        return;
    i = name_slot(t->queues, sizeof(*t->queues), &t->nqueues, NOTE_NAMES_MAX, queue,
                  strlen(queue), &added);
    if (i < 0)
        return;
    q = &t->queues[i];
    q->sum_ms += llround(latency_s * 1000);
    q->count++;
}

/* Appends the line "KIND|[BUCKET|]NAME\tCOUNT\n". */
static void line_add(struct strbuf *b, char kind, int bucket, const char *name, long long n)
{
    char head[16], tail[32];
    int hl = bucket < 0 ? snprintf(head, sizeof(head), "%c|", kind)
                        : snprintf(head, sizeof(head), "%c|%d|", kind, bucket);
    int tl = snprintf(tail, sizeof(tail), "\t%lld\n", n);

    strbuf_add(b, head, (size_t)hl);
    strbuf_add(b, name, strlen(name));
    strbuf_add(b, tail, (size_t)tl);
}

static void histogram_add(struct strbuf *b, char kind, const long long *h, const char *name)
{
    for (int k = 0; k < TALLY_BUCKETS; k++)
        if (h[k])
            line_add(b, kind, k, name, h[k]);
}

char *tally_text(const struct tally *t, size_t *ret_len)
{
    struct strbuf b = {0};

    for (size_t i = 0; i < t->nclasses; i++) {
        const struct tclass *c = &t->classes[i];
        line_add(&b, 'n', -1, c->name, c->n);
        if (c->failed)
            line_add(&b, 'f', -1, c->name, c->failed);
        histogram_add(&b, 'd', c->dur, c->name);
        histogram_add(&b, 'l', c->lat, c->name);
    }
    for (size_t i = 0; i < t->nqueues; i++) {
        line_add(&b, 'q', -1, t->queues[i].name, t->queues[i].sum_ms);
        line_add(&b, 'k', -1, t->queues[i].name, t->queues[i].count);
    }
    *ret_len = b.len;
    return b.p;
}

/* --- reading back ----------------------------------------------------------------------- */

struct vclass {
    char *name; /* owned */
    long long n, failed;
    long long dur[TALLY_BUCKETS], lat[TALLY_BUCKETS];
    long long *per_slot; /* owned: attempts per slot */
};

struct vqueue {
    char *name;          /* owned */
    long long *sum_ms;   /* owned: per slot */
    long long *count;    /* owned: per slot */
};

struct tally_view {
    unsigned width_s, nslots;
    double first_slot_s;
    long long *processed, *failed; /* owned: per slot */
    struct vclass *classes;
    size_t nclasses;
    struct vqueue *queues;
    size_t nqueues;
};

struct tally_view *tally_view_new(unsigned width_s, unsigned nslots, double first_slot_s)
{
    struct tally_view *v = xcalloc(1, sizeof(*v));

    v->width_s = width_s;
    v->nslots = nslots;
    v->first_slot_s = first_slot_s;
    v->processed = xcalloc(nslots, sizeof(long long));
    v->failed = xcalloc(nslots, sizeof(long long));
    v->classes = xcalloc(VIEW_NAMES_MAX, sizeof(*v->classes));
    v->queues = xcalloc(VIEW_NAMES_MAX, sizeof(*v->queues));
    return v;
}

void tally_view_free(struct tally_view *v)
{
    if (!v)
        return;
    for (size_t i = 0; i < v->nclasses; i++) {
        free(v->classes[i].name);
        free(v->classes[i].per_slot);
    }
    for (size_t i = 0; i < v->nqueues; i++) {
        free(v->queues[i].name);
        free(v->queues[i].sum_ms);
        free(v->queues[i].count);
    }
    free(v->classes);
    free(v->queues);
    free(v->processed);
    free(v->failed);
    free(v);
}

static struct vclass *view_class(struct tally_view *v, const char *name, size_t len)
{
    bool added;
    long i = name_slot(v->classes, sizeof(*v->classes), &v->nclasses, VIEW_NAMES_MAX, name, len,
                       &added);

    if (i < 0)
        return NULL;
    if (added)
        v->classes[i].per_slot = xcalloc(v->nslots, sizeof(long long));
    return &v->classes[i];
}

static struct vqueue *view_queue(struct tally_view *v, const char *name, size_t len)
{
    bool added;
    long i = name_slot(v->queues, sizeof(*v->queues), &v->nqueues, VIEW_NAMES_MAX, name, len,
                       &added);

    if (i < 0)
        return NULL;
    if (added) {
        v->queues[i].sum_ms = xcalloc(v->nslots, sizeof(long long));
        v->queues[i].count = xcalloc(v->nslots, sizeof(long long));
    }
    return &v->queues[i];
}

/* "B|NAME" of `len` bytes: the bucket, and where the name starts; -1 for another shape. */
static int bucket_split(const char *s, size_t len, const char **ret_name)
{
    unsigned b = 0;
    size_t i;

    for (i = 0; i < len && i < 4 && s[i] >= '0' && s[i] <= '9'; i++)
        b = b * 10 + (unsigned)(s[i] - '0');
    if (i == 0 || i >= len || s[i] != '|' || b >= TALLY_BUCKETS)
        return -1;
    *ret_name = s + i + 1;
    return (int)b;
}

void tally_view_add(struct tally_view *v, unsigned slot, const char *field, size_t len,
                    long long count)
{
    const char *name = field + 2;
    size_t nlen = len - 2;
    struct vclass *c;
    struct vqueue *q;
    int b = 0;

    if (slot >= v->nslots || len < 3 || field[1] != '|' || count <= 0)
        return;
    if (field[0] == 'd' || field[0] == 'l') {
        b = bucket_split(name, nlen, &name);
        if (b < 0)
            return;
        nlen = len - (size_t)(name - field);
    }
    switch (field[0]) {
    case 'n':
    case 'f':
    case 'd':
    case 'l':
        c = view_class(v, name, nlen);
        if (!c)
            return;
        if (field[0] == 'n') {
            c->n += count;
            c->per_slot[slot] += count;
            v->processed[slot] += count;
        } else if (field[0] == 'f') {
            c->failed += count;
            v->failed[slot] += count;
        } else {
            (field[0] == 'd' ? c->dur : c->lat)[b] += count;
        }
        return;
    case 'q':
    case 'k':
        q = view_queue(v, name, nlen);
        if (q)
            (field[0] == 'q' ? q->sum_ms : q->count)[slot] += count;
        return;
    default:
        return;
    }
}

/* The p-quantile of histogram `h` (ms, the bucket's middle), or null when empty. */
static json_t *quantile(const long long *h, double p)
{
    long long total = 0, seen = 0, rank;

    for (unsigned b = 0; b < TALLY_BUCKETS; b++)
        total += h[b];
    if (total == 0)
        return json_null();
    rank = (long long)ceil(p * (double)total);
    for (unsigned b = 0; b < TALLY_BUCKETS; b++) {
        seen += h[b];
        if (seen >= rank)
            return json_real(round(tally_bucket_ms(b) * 1000) / 1000);
    }
    return json_null();
}

static json_t *quantiles(const long long *h)
{
    return json_pack("{s:o, s:o, s:o}", "p50", quantile(h, 0.50), "p95", quantile(h, 0.95),
                     "p99", quantile(h, 0.99));
}

static json_t *series(const long long *a, unsigned n)
{
    json_t *arr = json_array();

    for (unsigned i = 0; i < n; i++)
        json_array_append_new(arr, json_integer(a[i]));
    return arr;
}

static int by_attempts(const void *a, const void *b)
{
    const struct vclass *x = *(struct vclass *const *)a, *y = *(struct vclass *const *)b;

    if (x->n != y->n)
        return x->n < y->n ? 1 : -1;
    return strcmp(x->name, y->name);
}

static int by_name(const void *a, const void *b)
{
    return strcmp((*(struct vqueue *const *)a)->name, (*(struct vqueue *const *)b)->name);
}

static json_t *classes_json(const struct tally_view *v, unsigned max)
{
    const struct vclass **order = xcalloc(v->nclasses + 1, sizeof(*order));
    json_t *arr = json_array();

    for (size_t i = 0; i < v->nclasses; i++)
        order[i] = &v->classes[i];
    qsort(order, v->nclasses, sizeof(*order), by_attempts);
    for (size_t i = 0; i < v->nclasses && i < max; i++) {
        const struct vclass *c = order[i];
        double rate = c->n ? (double)c->failed / (double)c->n : 0;
        json_array_append_new(
            arr, json_pack("{s:s, s:I, s:I, s:f, s:o, s:o, s:o}", "class", c->name, "jobs",
                           (json_int_t)c->n, "failed", (json_int_t)c->failed, "failure_rate",
                           round(rate * 10000) / 10000, "duration_ms", quantiles(c->dur),
                           "latency_ms", quantiles(c->lat), "series",
                           series(c->per_slot, v->nslots)));
    }
    free(order);
    return arr;
}

static json_t *queues_json(const struct tally_view *v, unsigned max)
{
    const struct vqueue **order = xcalloc(v->nqueues + 1, sizeof(*order));
    json_t *arr = json_array();

    for (size_t i = 0; i < v->nqueues; i++)
        order[i] = &v->queues[i];
    qsort(order, v->nqueues, sizeof(*order), by_name);
    for (size_t i = 0; i < v->nqueues && i < max; i++) {
        const struct vqueue *q = order[i];
        json_t *mean = json_array();
        for (unsigned s = 0; s < v->nslots; s++)
            json_array_append_new(mean, q->count[s] ? json_real(round((double)q->sum_ms[s] /
                                                                      (double)q->count[s]))
                                                    : json_null());
        json_array_append_new(arr, json_pack("{s:s, s:o}", "queue", q->name, "latency_ms", mean));
    }
    free(order);
    return arr;
}

json_t *tally_view_json(const struct tally_view *v, unsigned max_classes, unsigned max_queues)
{
    return json_pack("{s:i, s:i, s:f, s:o, s:i, s:b, s:o, s:o, s:i, s:b}", "width_s",
                     (int)v->width_s, "slots", (int)v->nslots, "from", v->first_slot_s,
                     "throughput",
                     json_pack("{s:o, s:o}", "processed", series(v->processed, v->nslots),
                               "failed", series(v->failed, v->nslots)),
                     "classes_total", (int)v->nclasses, "classes_truncated",
                     v->nclasses > max_classes, "classes", classes_json(v, max_classes),
                     "queues", queues_json(v, max_queues), "queues_total", (int)v->nqueues,
                     "queues_truncated", v->nqueues > max_queues);
}
