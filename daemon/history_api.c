/* history_api.c - GET /api/metrics: the last hour or day per class and queue, read from Redis,
 * with the classes' counts and exact duration percentiles from nexus.job_history when
 * PostgreSQL is configured. */
#include "daemon/history_api.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>
#include <hiredis/hiredis.h>
#include <jansson.h>

#include "daemon/httpd.h"
#include "lib/xalloc.h"
#include "queue/keys.h"
#include "queue/lua.h"
#include "queue/rconn.h"
#include "queue/tally.h"
#include "sql/history_read.h"

#define CLASSES_MAX 50 /* classes an answer lists (those with the most attempts) */
#define QUEUES_MAX 20  /* queues an answer lists (by name) */
#define WAITING_MAX 32 /* requests waiting for a read; more get 503 */

/* A window the page may ask for: its slots end with the current one. */
struct window {
    const char *name;
    unsigned width_s; /* TALLY_MINUTE_S or TALLY_QUARTER_S */
    unsigned nslots;  /* slots within the keys' time to live */
    double sql_fresh_s; /* nexus.job_history's answer is read again after this: a day of a
                           million attempts takes PostgreSQL 0.65 s (docs/dashboard.md) */
};

static const struct window windows[] = {
    {"hour", TALLY_MINUTE_S, 60, HISTORY_API_FRESH_S},
    {"day", TALLY_QUARTER_S, 96, 60.0},
};
#define NWINDOWS (sizeof(windows) / sizeof(windows[0]))

struct waiter {
    struct httpd_req *req; /* answered exactly once */
    struct waiter *next;
};

/* What a window's answers share: the last one read, and the requests waiting for the next. */
struct shared {
    json_t *answer;         /* owned, or NULL before the first read */
    double read_at;         /* ev_now() when `answer` was read */
    double first_slot_s;    /* of the read under way */
    bool reading;
    struct waiter *waiting; /* owned */
    json_t *sql_classes;    /* owned: nexus.job_history's last answer, or NULL */
    long sql_total;
    double sql_read_at;     /* ev_now() when it was read */
};

struct history_api {
    struct ev_loop *loop; /* borrowed */
    struct rconn *conn;   /* borrowed: the dashboard's */
    struct db_pool *pool; /* borrowed, or NULL: nexus.job_history's */
    char *ns;             /* owned */
    struct shared shared[NWINDOWS];
    size_t nwaiting;
};

/* A read under way: names its window; holds Redis's answer while PostgreSQL's is read. */
struct read {
    struct history_api *ha;
    size_t window;
    json_t *answer; /* owned, or NULL */
};

static void shared_answer(struct history_api *ha, struct shared *s, unsigned status,
                          const char *why)
{
    struct waiter *w;

    while ((w = s->waiting)) {
        s->waiting = w->next;
        ha->nwaiting--;
        if (status == 200)
            httpd_respond_json(w->req, 200, json_incref(s->answer));
        else
            httpd_respond_error(w->req, status, why);
        free(w);
    }
}

/* The answer of one window from the reply's slots (oldest first). */
static json_t *answer_make(const struct window *win, double first_slot_s,
                           const struct redisReply *reply)
{
    struct tally_view *v = tally_view_new(win->width_s, win->nslots, first_slot_s);
    json_t *answer;

    for (size_t i = 0; i < reply->elements && i < win->nslots; i++) {
        const struct redisReply *h = reply->element[i];
        for (size_t f = 0; h->type == REDIS_REPLY_ARRAY && f + 1 < h->elements; f += 2) {
            const struct redisReply *k = h->element[f], *n = h->element[f + 1];
            if (k->type == REDIS_REPLY_STRING && n->type == REDIS_REPLY_STRING)
                tally_view_add(v, (unsigned)i, k->str, k->len, strtoll(n->str, NULL, 10));
        }
    }
    answer = tally_view_json(v, CLASSES_MAX, QUEUES_MAX);
    tally_view_free(v);
    json_object_set_new(answer, "window", json_string(win->name));
    json_object_set_new(answer, "source", json_string("redis"));
    return answer;
}

/* The read's answer is complete: kept for HISTORY_API_FRESH_S and sent to those waiting. */
static void read_end(struct read *rd)
{
    struct history_api *ha = rd->ha;
    struct shared *s = &ha->shared[rd->window];

    s->reading = false;
    json_decref(s->answer);
    s->answer = rd->answer;
    s->read_at = ev_now(ha->loop);
    shared_answer(ha, s, 200, NULL);
    free(rd);
}

static json_t *class_find(json_t *classes, const char *name)
{
    size_t i;
    json_t *c;

    json_array_foreach(classes, i, c)
        if (strcmp(json_string_value(json_object_get(c, "class")), name) == 0)
            return c;
    return NULL;
}

/* PostgreSQL's classes (taken) replace Redis's in `answer`, keeping Redis's latency and
 * attempts per slot (the history has no enqueued_at). */
static void answer_merge(json_t *answer, json_t *classes, long total)
{
    json_t *c, *same;
    size_t i;

    json_array_foreach(classes, i, c) {
        same = class_find(json_object_get(answer, "classes"),
                          json_string_value(json_object_get(c, "class")));
        json_object_set(c, "latency_ms", same ? json_object_get(same, "latency_ms") : json_null());
        json_object_set(c, "series", same ? json_object_get(same, "series") : json_null());
    }
    json_object_set_new(answer, "classes", classes);
    json_object_set_new(answer, "classes_total", json_integer(total));
    json_object_set_new(answer, "classes_truncated", json_boolean(total > CLASSES_MAX));
    json_object_set_new(answer, "source", json_string("postgresql"));
}

/* A failed read leaves Redis's classes, saying why. */
static void history_on_read(json_t *classes, long total, int err, const char *why, void *arg)
{
    struct read *rd = arg;
    struct shared *s = &rd->ha->shared[rd->window];

    if (err < 0) {
        json_object_set_new(rd->answer, "postgresql_error", json_string(why));
    } else {
        json_decref(s->sql_classes);
        s->sql_classes = json_deep_copy(classes);
        s->sql_total = total;
        s->sql_read_at = ev_now(rd->ha->loop);
        answer_merge(rd->answer, classes, total);
    }
    read_end(rd);
}

static void read_on_reply(struct redisReply *reply, void *arg)
{
    struct read *rd = arg;
    struct history_api *ha = rd->ha;
    struct shared *s = &ha->shared[rd->window];
    const struct window *win = &windows[rd->window];
    const char *error = rconn_reply_error(reply);

    if (!error && reply->type != REDIS_REPLY_ARRAY)
        error = "unexpected reply";
    if (error) {
        s->reading = false;
        shared_answer(ha, s, 503, error);
        free(rd);
        return;
    }
    rd->answer = answer_make(win, s->first_slot_s, reply);
    if (ha->pool && s->sql_classes && ev_now(ha->loop) - s->sql_read_at < win->sql_fresh_s) {
        answer_merge(rd->answer, json_deep_copy(s->sql_classes), s->sql_total);
        read_end(rd);
    } else if (!ha->pool || history_read(ha->pool, (double)win->width_s * win->nslots,
                                         CLASSES_MAX, history_on_read, rd) < 0) {
        read_end(rd);
    }
}

static void read_start(struct history_api *ha, size_t window)
{
    const struct window *win = &windows[window];
    struct shared *s = &ha->shared[window];
    long long last = (long long)ev_now(ha->loop) / win->width_s;
    char **keys = xcalloc(win->nslots, sizeof(*keys));
    struct read *rd = xcalloc(1, sizeof(*rd));
    int r;

    for (unsigned i = 0; i < win->nslots; i++)
        keys[i] = keys_metrics(ha->ns, win->width_s, last - win->nslots + 1 + i);
    rd->ha = ha;
    rd->window = window;
    s->first_slot_s = (double)((last - win->nslots + 1) * win->width_s);
    r = rconn_eval(ha->conn, read_on_reply, rd, lua_metrics_read, win->nslots,
                   (const char *const *)keys, 0, NULL, NULL);
    for (unsigned i = 0; i < win->nslots; i++)
        free(keys[i]);
    free(keys);
    if (r < 0) {
        free(rd);
        shared_answer(ha, s, 503, "Redis is not connected");
        return;
    }
    s->reading = true;
}

struct history_api *history_api_new(struct ev_loop *loop, struct rconn *conn, const char *ns)
{
    struct history_api *ha = xcalloc(1, sizeof(*ha));

    ha->loop = loop;
    ha->conn = conn;
    ha->ns = xstrdup(ns);
    return ha;
}

void history_api_set_pool(struct history_api *ha, struct db_pool *pool)
{
    ha->pool = pool;
}

void history_api_free(struct history_api *ha)
{
    if (!ha)
        return;
    for (size_t i = 0; i < NWINDOWS; i++) {
        shared_answer(ha, &ha->shared[i], 503, "nexusd is stopping");
        json_decref(ha->shared[i].answer);
        json_decref(ha->shared[i].sql_classes);
    }
    free(ha->ns);
    free(ha);
}

void history_api_serve(struct history_api *ha, struct httpd_req *req)
{
    static const char *const busy_headers[] = {"Retry-After", "1", NULL};
    const char *name = httpd_req_query(req, "window");
    struct shared *s = NULL;
    struct waiter *w;
    size_t i;

    for (i = 0; i < NWINDOWS && !s; i++)
        if (strcmp(name ? name : "hour", windows[i].name) == 0)
            s = &ha->shared[i];
    if (!s) {
        httpd_respond_error(req, 400, "window must be hour or day");
        return;
    }
    i--;
    if (s->answer && ev_now(ha->loop) - s->read_at < HISTORY_API_FRESH_S) {
        httpd_respond_json(req, 200, json_incref(s->answer));
        return;
    }
    if (ha->nwaiting >= WAITING_MAX) {
        httpd_req_set_headers(req, busy_headers);
        httpd_respond_error(req, 503, "too many metrics requests waiting; try again");
        return;
    }
    w = xcalloc(1, sizeof(*w));
    w->req = req;
    w->next = s->waiting;
    s->waiting = w;
    ha->nwaiting++;
    if (!s->reading)
        read_start(ha, i);
}
