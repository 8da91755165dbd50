/* history.c - batched job history rows, as PostgreSQL arrays unnested in one INSERT. */
#include "sql/history.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>

#include "lib/log.h"
#include "lib/xalloc.h"
#include "sql/db.h"

#define BATCH_MAX 1000
#define PRUNE_EVERY_S 600.0
#define NCOLS 9

static const char insert_sql[] =
    "INSERT INTO nexus.job_history (jid, class, queue, attempt, outcome, started_at, "
    "finished_at, duration_ms, error_class, error, process) "
    "SELECT j, c, q, a, o, to_timestamp(s), to_timestamp(f), (f - s) * 1000.0, ec, e, $10 "
    "FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::text[], $6::float8[], "
    "$7::float8[], $8::text[], $9::text[]) AS t (j, c, q, a, o, s, f, ec, e)";

static const char prune_sql[] =
    "DELETE FROM nexus.job_history WHERE ctid = ANY(ARRAY(SELECT ctid FROM nexus.job_history "
    "WHERE finished_at < now() - make_interval(secs => $1::float8) LIMIT 10000))";

struct row {
    char *jid, *class_name, *queue, *outcome, *error_class, *error;
    int attempt;
    double started_at, finished_at;
};

struct history {
    struct ev_loop *loop;
    struct db_pool *pool;
    char *process;
    double retention_s;
    size_t max_pending;
    struct row *rows; /* waiting, oldest first */
    size_t n, cap;
    size_t in_flight; /* rows in the INSERT under way */
    bool busy;        /* an INSERT is under way */
    size_t dropped;   /* since the last log line about it */
    ev_timer flush;
    ev_timer prune;
};

/* One INSERT under way with the rows it carries (taken out of h->rows). */
struct batch {
    struct history *h;
    struct row *rows;
    size_t n;
};

static void row_clear(struct row *r)
{
    free(r->jid);
    free(r->class_name);
    free(r->queue);
    free(r->outcome);
    free(r->error_class);
    free(r->error);
}

/* Appends `s` as an element of a PostgreSQL array literal: "..." with \ and " escaped, or
 * NULL. Returns the new end, or NULL when out of room. */
static char *array_put(char *p, char *end, const char *s, bool first)
{
    if (!first) {
        if (p >= end)
            return NULL;
        *p++ = ',';
    }
    if (!s) {
        if (end - p < 4)
            return NULL;
        memcpy(p, "NULL", 4);
        return p + 4;
    }
    if (p >= end)
        return NULL;
    *p++ = '"';
    for (; *s; s++) {
        if (end - p < 3)
            return NULL;
        if (*s == '"' || *s == '\\')
            *p++ = '\\';
        *p++ = *s;
    }
    if (p >= end)
        return NULL;
    *p++ = '"';
    return p;
}

/* The array literal of one column of `rows`, or NULL when it outgrew its room (it cannot: the
 * size counts every byte array_put() may write). Caller owns it, free(). */
static char *column(const struct row *rows, size_t n, int col)
{
    size_t size = 16;
    char num[64], *buf, *p, *end;

    for (size_t i = 0; i < n; i++) {
        const struct row *r = &rows[i];
        const char *s[] = {r->jid, r->class_name, r->queue,       NULL,    r->outcome,
                           NULL,   NULL,          r->error_class, r->error};
        size_t len = s[col] ? strlen(s[col]) : 0;
        size += 2 * len + 72;
    }
    buf = xmalloc(size);
    p = buf;
    end = buf + size - 2;
    *p++ = '{';
    for (size_t i = 0; i < n && p; i++) {
        const struct row *r = &rows[i];
        const char *v;
        switch (col) {
        case 0:
            v = r->jid;
            break;
        case 1:
            v = r->class_name;
            break;
        case 2:
            v = r->queue;
            break;
        case 3:
            (void)snprintf(num, sizeof(num), "%d", r->attempt);
            v = num;
            break;
        case 4:
            v = r->outcome;
            break;
        case 5:
            (void)snprintf(num, sizeof(num), "%.6f", r->started_at);
            v = num;
            break;
        case 6:
            (void)snprintf(num, sizeof(num), "%.6f", r->finished_at);
            v = num;
            break;
        case 7:
            v = r->error_class;
            break;
        default:
            v = r->error;
            break;
        }
        p = array_put(p, end, v, i == 0);
    }
    if (!p) {
        free(buf);
        return NULL;
    }
    *p++ = '}';
    *p = '\0';
    return buf;
}

static void batch_free(struct batch *b)
{
    for (size_t i = 0; i < b->n; i++)
        row_clear(&b->rows[i]);
    free(b->rows);
    free(b);
}

static void write_batch(struct history *h);

static void batch_on_done(const struct db_rows *rows, int err, void *arg)
{
    struct batch *b = arg;
    struct history *h = b->h;

    h->busy = false;
    h->in_flight = 0;
    if (err < 0 && err != -ECANCELED) {
        log_warn("event=history_not_written rows=%zu err=%s", b->n, log_q(db_rows_error(rows)));
        /* put them back in front, unless the rows waiting now fill the bound */
        if (h->n + b->n <= h->max_pending) {
            struct row *merged = xreallocarray(NULL, h->n + b->n + 1, sizeof(*merged));
            memcpy(merged, b->rows, b->n * sizeof(*merged));
            memcpy(merged + b->n, h->rows, h->n * sizeof(*merged));
            free(h->rows);
            h->rows = merged;
            h->n += b->n;
            h->cap = h->n + 1;
            free(b->rows);
            free(b);
            return; /* the flush timer tries again */
        }
        h->dropped += b->n;
    }
    batch_free(b);
    if (err == 0 && h->n >= BATCH_MAX)
        write_batch(h);
}

static void write_batch(struct history *h)
{
    size_t n = h->n < BATCH_MAX ? h->n : BATCH_MAX;
    char *cols[NCOLS] = {0};
    const char *params[NCOLS + 1];
    struct batch *b;

    if (h->busy || n == 0 || !db_pool_up(h->pool))
        return; /* rows wait; building the arrays for a refused call would be wasted work */
    if (h->dropped > 0) {
        log_warn("event=history_dropped rows=%zu why=\"PostgreSQL away and the bound reached\"",
                 h->dropped);
        h->dropped = 0;
    }
    for (int c = 0; c < NCOLS; c++)
        if (!(cols[c] = column(h->rows, n, c)))
            goto out_cols;
    for (int c = 0; c < NCOLS; c++)
        params[c] = cols[c];
    params[NCOLS] = h->process;
    b = xcalloc(1, sizeof(*b));
    b->h = h;
    b->n = n;
    b->rows = xreallocarray(NULL, n, sizeof(*b->rows));
    if (db_query(h->pool, insert_sql, params, NCOLS + 1, batch_on_done, b) < 0) {
        free(b->rows);
        free(b);
        goto out_cols;
    }
    memcpy(b->rows, h->rows, n * sizeof(*b->rows));
    memmove(h->rows, h->rows + n, (h->n - n) * sizeof(*h->rows));
    h->n -= n;
    h->busy = true;
    h->in_flight = n;
out_cols:
    for (int c = 0; c < NCOLS; c++)
        free(cols[c]);
}

static void flush_on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    write_batch(w->data);
}

static void prune_on_done(const struct db_rows *rows, int err, void *arg)
{
    if (err < 0 && err != -ECANCELED && err != -ENOTCONN)
        log_warn("event=history_prune_failed err=%s", log_q(db_rows_error(rows)));
    else if (err == 0 && db_rows_affected(rows) > 0)
        log_info("event=history_pruned rows=%lld", db_rows_affected(rows));
}

static void prune_on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct history *h = w->data;
    char secs[32];
    const char *params[] = {secs};

    (void)snprintf(secs, sizeof(secs), "%.3f", h->retention_s);
    (void)db_query(h->pool, prune_sql, params, 1, prune_on_done, NULL);
}

struct history *history_new(struct ev_loop *loop, struct db_pool *pool, const char *process,
                            double flush_s, double retention_s, size_t max_pending)
{
    struct history *h = xcalloc(1, sizeof(*h));

    h->process = xstrdup(process);
    h->loop = loop;
    h->pool = pool;
    h->retention_s = retention_s;
    h->max_pending = max_pending ? max_pending : 1;
    ev_timer_init(&h->flush, flush_on_timer, flush_s, flush_s);
    h->flush.data = h;
    ev_timer_start(loop, &h->flush);
    ev_timer_init(&h->prune, prune_on_timer, 5.0, PRUNE_EVERY_S);
    h->prune.data = h;
    ev_timer_start(loop, &h->prune);
    return h;
}

void history_free(struct history *h)
{
    if (!h)
        return;
    ev_timer_stop(h->loop, &h->flush);
    ev_timer_stop(h->loop, &h->prune);
    for (size_t i = 0; i < h->n; i++)
        row_clear(&h->rows[i]);
    free(h->rows);
    free(h->process);
    free(h);
}

void history_set_retention(struct history *h, double retention_s)
{
    h->retention_s = retention_s;
}

static char *dup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

void history_add(struct history *h, const struct history_entry *e)
{
    struct row r = {0};

    if (h->n >= h->max_pending) { /* PostgreSQL away too long: drop the oldest */
        row_clear(&h->rows[0]);
        memmove(h->rows, h->rows + 1, (h->n - 1) * sizeof(*h->rows));
        h->n--;
        h->dropped++;
    }
    if (h->n == h->cap) {
        size_t cap = h->cap ? 2 * h->cap : 256;
        h->rows = xreallocarray(h->rows, cap, sizeof(*h->rows));
        h->cap = cap;
    }
    r.jid = xstrdup(e->jid);
    r.class_name = xstrdup(e->class_name);
    r.queue = xstrdup(e->queue);
    r.outcome = xstrdup(e->outcome);
    r.error_class = dup_or_null(e->error_class && *e->error_class ? e->error_class : NULL);
    r.error = dup_or_null(e->error_class && *e->error_class ? e->error : NULL);
    r.attempt = e->attempt;
    r.started_at = e->started_at;
    r.finished_at = e->finished_at;
    h->rows[h->n++] = r;
    if (h->n >= BATCH_MAX)
        write_batch(h);
}

void history_flush(struct history *h)
{
    write_batch(h);
}

size_t history_unwritten(const struct history *h)
{
    return h->n + h->in_flight;
}
