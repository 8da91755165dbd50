/* rollup.c - analytics.rollup: SCANs the app's funnel counters day by day (MGET per page),
 * then in one PostgreSQL transaction upserts them and recomputes daily sales from orders. */
#include "jobs/rollup.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>
#include <hiredis/hiredis.h>

#include "conf/cfg.h"
#include "jobs/registry.h"
#include "jobs/rollup_parse.h"
#include "jobs/task.h"
#include "lib/err.h"
#include "lib/job.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "queue/keys.h"
#include "queue/rconn.h"
#include "sql/db.h"

#define ROLLUP_TIMEOUT_S 600.0 /* the class's default time limit */
#define WARN_MAX 5             /* lines about bad keys or values per run; the rest counted */
#define KEY_SHOWN_MAX 200      /* bytes of a key or value shown in a log line */
/* pg_advisory_xact_lock key ("nexusrol" as a number): one rollup writes at a time, so that
 * two runs over the same days never interleave their upserts and deletes. */
#define ROLLUP_LOCK "7954896762663235436"

static const char today_sql[] = "SELECT to_char((now() AT TIME ZONE $1::text)::date, 'YYYY-MM-DD')";

static const char lock_sql[] = "SELECT pg_advisory_xact_lock(" ROLLUP_LOCK ")";

/* $1..$4: the counters as arrays (days counted from 1970-01-01); $5, $6: the range; $7: the
 * zone that cuts days; $8: the statuses that count, comma-separated. Returns the rows of
 * funnel_daily changed, the (product, day) pairs with sales, the sales_daily rows changed,
 * and those deleted (days whose orders are gone). */
static const char write_sql[] =
    "WITH funnel AS ("
    " INSERT INTO nexus.funnel_daily AS f (funnel_id, step, day, count)"
    " SELECT i, s, date '1970-01-01' + d, c"
    " FROM unnest($1::text[], $2::int[], $3::int[], $4::int8[]) AS t (i, s, d, c)"
    " ON CONFLICT (funnel_id, step, day) DO UPDATE"
    " SET count = EXCLUDED.count, updated_at = now() WHERE f.count <> EXCLUDED.count"
    " RETURNING 1),"
    " fresh AS ("
    " SELECT o.product_id, (o.created_at AT TIME ZONE $7::text)::date AS day,"
    " count(*) AS orders, sum(o.amount)::bigint AS revenue"
    " FROM orders o"
    " WHERE o.created_at >= $5::date::timestamp AT TIME ZONE $7::text"
    " AND o.created_at < ($6::date + 1)::timestamp AT TIME ZONE $7::text"
    " AND o.status = ANY (string_to_array($8::text, ','))"
    " GROUP BY 1, 2),"
    " gone AS ("
    " DELETE FROM nexus.sales_daily s WHERE s.day BETWEEN $5::date AND $6::date"
    " AND NOT EXISTS (SELECT 1 FROM fresh WHERE fresh.product_id = s.product_id"
    " AND fresh.day = s.day)"
    " RETURNING 1),"
    " sales AS ("
    " INSERT INTO nexus.sales_daily AS s (product_id, day, orders, revenue_cents)"
    " SELECT product_id, day, orders, revenue FROM fresh ORDER BY 1, 2"
    " ON CONFLICT (product_id, day) DO UPDATE"
    " SET orders = EXCLUDED.orders, revenue_cents = EXCLUDED.revenue_cents, updated_at = now()"
    " WHERE (s.orders, s.revenue_cents) IS DISTINCT FROM (EXCLUDED.orders, EXCLUDED.revenue_cents)"
    " RETURNING 1)"
    " SELECT (SELECT count(*) FROM funnel), (SELECT count(*) FROM fresh),"
    " (SELECT count(*) FROM sales), (SELECT count(*) FROM gone)";

struct counter {
    char *id; /* owned, NUL-terminated */
    int32_t step, day;
    int64_t count;
    size_t seq; /* reading order: when SCAN returned a key twice, the later read wins */
};

/* One run. It lives until its last Redis reply or PostgreSQL answer: a cancel only cuts the
 * link to the task, and the last callback frees it. */
struct rollup {
    struct task *task; /* NULL after cancel */
    struct ev_loop *loop;
    struct rconn *redis; /* borrowed: the worker's, outlives every run */
    struct db_pool *db;  /* borrowed: idem */
    char jid[JOB_MAX_JID + 1];
    char *prefix, *tz, *statuses; /* owned copies: a reload may free the cfg meanwhile */
    unsigned scan_count, max_counters;
    struct rollup_range range;
    int32_t pass_last;                /* the last day of the SCAN pass under way */
    char pattern[ROLLUP_PATTERN_MAX]; /* its MATCH */
    bool scanned;                     /* every pass ended */
    unsigned pending;                 /* Redis replies and PostgreSQL answers still to come */
    const char *fail_class;           /* static; the first failure, NULL while none */
    char fail_msg[ERR_MSG_MAX];
    struct counter *counters; /* owned, in reading order, then sorted and deduplicated */
    size_t n, cap, seq;
    size_t keys, malformed, bad_values, missing, warned;
    ev_tstamp started, read_at; /* start, end of the Redis phase (ev_time()) */
};

/* The keys of one MGET, parsed, waiting for their values. */
struct batch {
    struct rollup *ru;
    struct counter *keys; /* owned; count unset */
    size_t n;
};

static void scan_send(struct rollup *ru, const char *cursor, size_t len);
static void write_begin(struct rollup *ru);

static void counters_clear(struct counter *c, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(c[i].id);
    free(c);
}

static void rollup_free(struct rollup *ru)
{
    counters_clear(ru->counters, ru->n);
    free(ru->prefix);
    free(ru->tz);
    free(ru->statuses);
    free(ru);
}

/* Records the run's first failure; the run ends with it once nothing is pending. */
static void rollup_failed(struct rollup *ru, const char *error_class, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void rollup_failed(struct rollup *ru, const char *error_class, const char *fmt, ...)
{
    va_list ap;

    if (ru->fail_class)
        return;
    ru->fail_class = error_class;
    va_start(ap, fmt);
    (void)vsnprintf(ru->fail_msg, sizeof(ru->fail_msg), fmt, ap);
    va_end(ap);
}

/* Where every callback ends: once nothing is pending, the run fails, writes, or (cancelled)
 * just frees itself. */
static void step_end(struct rollup *ru)
{
    struct task *task = ru->task;

    if (ru->pending > 0)
        return;
    if (task && !ru->fail_class && ru->scanned) {
        write_begin(ru);
        if (ru->pending > 0)
            return;
    }
    if (task) {
        task_set_state(task, NULL);
        task_fail(task, ru->fail_class ? ru->fail_class : "NexusRollupError", "%s",
                  ru->fail_class ? ru->fail_msg : "rollup ended without a result");
    }
    rollup_free(ru);
}

static void db_failed(struct rollup *ru, const struct db_rows *rows, int err, const char *what)
{
    if (err == -ENOTCONN || err == -ECANCELED)
        rollup_failed(ru, "NexusDatabaseDown", "PostgreSQL unreachable while %s: %s", what,
                      db_rows_error(rows));
    else if (err == -ETIMEDOUT)
        rollup_failed(ru, "NexusDatabaseTimeout", "statement timed out while %s: %s", what,
                      db_rows_error(rows));
    else
        rollup_failed(ru, "PG::Error", "SQLSTATE %s while %s: %s", db_rows_sqlstate(rows), what,
                      db_rows_error(rows));
}

static void db_refused(struct rollup *ru, int r)
{
    if (r == -EAGAIN)
        rollup_failed(ru, "NexusDatabaseBusy", "too many queries waiting for a connection");
    else
        rollup_failed(ru, "NexusDatabaseDown", "PostgreSQL unreachable");
}

/* `len` bytes of `s` for a log line: control characters become '?', cut after
 * KEY_SHOWN_MAX bytes. */
static const char *shown(const char *s, size_t len, char *buf, size_t size)
{
    size_t n = len < size - 4 ? len : size - 4;

    for (size_t i = 0; i < n; i++)
        buf[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
    memcpy(buf + n, n < len ? "..." : "", n < len ? 4 : 1);
    return buf;
}

/* The key of counter `c` for a log line. */
static const char *key_text(const struct rollup *ru, const struct counter *c, char *buf,
                            size_t size)
{
    char date[ROLLUP_DATE_LEN + 1], *key;

    rollup_day_format(c->day, date);
    key = keys_funnel_step(ru->prefix, c->id, c->step, date);
    (void)shown(key, strlen(key), buf, size);
    free(key);
    return buf;
}

/* --- Redis: SCAN pages, one MGET per page ------------------------------------------------ */

static void counter_add(struct rollup *ru, const struct counter *c)
{
    if (ru->n == ru->cap) {
        ru->cap = ru->cap ? 2 * ru->cap : 1024;
        ru->counters = xreallocarray(ru->counters, ru->cap, sizeof(*ru->counters));
    }
    ru->counters[ru->n++] = *c;
}

static void mget_on_reply(struct redisReply *reply, void *arg)
{
    struct batch *b = arg;
    struct rollup *ru = b->ru;
    const char *why = rconn_reply_error(reply);
    char kbuf[KEY_SHOWN_MAX + 4], vbuf[KEY_SHOWN_MAX + 4];
    size_t i;

    ru->pending--;
    if (why)
        rollup_failed(ru, reply ? "NexusRedisError" : "NexusRedisDown", "Redis MGET: %s", why);
    else if (reply->type != REDIS_REPLY_ARRAY || reply->elements != b->n)
        rollup_failed(ru, "NexusRedisError", "Redis MGET: unexpected reply");
    for (i = 0; i < b->n && ru->task && !ru->fail_class; i++) {
        const redisReply *v = reply->element[i];
        struct counter *c = &b->keys[i];

        if (v->type != REDIS_REPLY_STRING) { /* deleted since SCAN, or not a string */
            ru->missing++;
            continue;
        }
        if (rollup_count_parse(v->str, v->len, &c->count) < 0) {
            ru->bad_values++;
            if (ru->warned++ < WARN_MAX)
                log_warn("event=rollup_bad_value jid=%s key=%s value=%s err=%s", log_q(ru->jid),
                         log_q(key_text(ru, c, kbuf, sizeof(kbuf))),
                         log_q(shown(v->str, v->len, vbuf, sizeof(vbuf))),
                         log_q("not a whole number 0..9223372036854775807: skipped"));
            continue;
        }
        if (ru->n >= ru->max_counters) {
            rollup_failed(ru, "NexusTooManyCounters",
                          "more than analytics.max_counters = %u funnel counters in the range; "
                          "roll up a shorter range",
                          ru->max_counters);
            break;
        }
        c->seq = ru->seq++;
        counter_add(ru, c);
        c->id = NULL; /* moved */
    }
    counters_clear(b->keys, b->n);
    free(b);
    step_end(ru);
}

/* Parses the page's keys and sends one MGET for those of the pass's days. */
static void mget_send(struct rollup *ru, const redisReply *keys)
{
    char kbuf[KEY_SHOWN_MAX + 4];
    const char **argv = xreallocarray(NULL, keys->elements + 1, sizeof(*argv));
    size_t *argvlen = xreallocarray(NULL, keys->elements + 1, sizeof(*argvlen));
    struct batch *b = xcalloc(1, sizeof(*b));
    int argc = 1, r;

    b->ru = ru;
    b->keys = xcalloc(keys->elements, sizeof(*b->keys));
    argv[0] = "MGET";
    argvlen[0] = 4;
    for (size_t i = 0; i < keys->elements; i++) {
        const redisReply *k = keys->element[i];
        struct rollup_key key;
        struct err why = {0};

        if (k->type != REDIS_REPLY_STRING) {
            rollup_failed(ru, "NexusRedisError", "Redis SCAN: unexpected reply");
            goto out;
        }
        ru->keys++;
        if (rollup_key_parse(k->str, k->len, ru->prefix, &key, &why) < 0) {
            ru->malformed++;
            if (ru->warned++ < WARN_MAX)
                log_warn("event=rollup_bad_key jid=%s key=%s err=%s", log_q(ru->jid),
                         log_q(shown(k->str, k->len, kbuf, sizeof(kbuf))), log_q(why.msg));
            continue;
        }
        if (key.day < ru->range.from || key.day > ru->range.to)
            continue; /* a month's pass: another day of the month */
        b->keys[b->n++] =
            (struct counter){.id = xstrndup(key.id, key.id_len), .step = key.step, .day = key.day};
        argv[argc] = k->str;
        argvlen[argc++] = k->len;
    }
    if (b->n == 0)
        goto out;
    r = rconn_command(ru->redis, mget_on_reply, b, argc, argv, argvlen);
    if (r < 0) {
        rollup_failed(ru, "NexusRedisDown", "Redis unreachable");
        goto out;
    }
    ru->pending++;
    b = NULL;
out:
    if (b) {
        counters_clear(b->keys, b->n);
        free(b);
    }
    free(argv);
    free(argvlen);
}

/* Starts the pass that reads the days from `start` on. */
static void pass_begin(struct rollup *ru, int32_t start)
{
    if (rollup_pass(&ru->range, start, ru->prefix, ru->pattern, sizeof(ru->pattern),
                    &ru->pass_last) < 0) {
        rollup_failed(ru, "NexusRollupError", "analytics.funnel_prefix is too long for SCAN");
        return;
    }
    scan_send(ru, "0", 1);
}

static void scan_on_reply(struct redisReply *reply, void *arg)
{
    struct rollup *ru = arg;
    const char *why = rconn_reply_error(reply);
    const redisReply *cursor, *keys;

    ru->pending--;
    if (why) {
        rollup_failed(ru, reply ? "NexusRedisError" : "NexusRedisDown", "Redis SCAN: %s", why);
        step_end(ru);
        return;
    }
    if (!ru->task || ru->fail_class) {
        step_end(ru);
        return;
    }
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
        reply->element[0]->type != REDIS_REPLY_STRING ||
        reply->element[1]->type != REDIS_REPLY_ARRAY) {
        rollup_failed(ru, "NexusRedisError", "Redis SCAN: unexpected reply");
        step_end(ru);
        return;
    }
    cursor = reply->element[0];
    keys = reply->element[1];
    if (keys->elements > 0)
        mget_send(ru, keys);
    if (ru->fail_class)
        ;
    else if (cursor->len != 1 || cursor->str[0] != '0')
        scan_send(ru, cursor->str, cursor->len); /* FIFO: this page's MGET is answered first */
    else if (ru->pass_last < ru->range.to)
        pass_begin(ru, ru->pass_last + 1);
    else
        ru->scanned = true;
    step_end(ru);
}

static void scan_send(struct rollup *ru, const char *cursor, size_t len)
{
    char count[16];
    const char *argv[] = {"SCAN", cursor, "MATCH", ru->pattern, "COUNT", count};
    size_t argvlen[] = {4, len, 5, strlen(ru->pattern), 5, 0};

    argvlen[5] = (size_t)snprintf(count, sizeof(count), "%u", ru->scan_count);
    if (rconn_command(ru->redis, scan_on_reply, ru, 6, argv, argvlen) < 0) {
        rollup_failed(ru, "NexusRedisDown", "Redis unreachable");
        return;
    }
    ru->pending++;
}

/* --- PostgreSQL: yesterday and today, then one transaction ------------------------------- */

static void today_on_done(const struct db_rows *rows, int err, void *arg)
{
    struct rollup *ru = arg;
    const char *text = db_rows_get(rows, 0, 0);
    int32_t today = 0;

    ru->pending--;
    if (err < 0)
        db_failed(ru, rows, err, "reading today's date");
    else if (!text || rollup_day_parse(text, strlen(text), &today) < 0)
        rollup_failed(ru, "NexusRollupError", "PostgreSQL gave no date for today in %s", ru->tz);
    if (ru->task && !ru->fail_class) {
        rollup_range_today(&ru->range, today);
        pass_begin(ru, ru->range.from);
    }
    step_end(ru);
}

static int counter_cmp(const void *a, const void *b)
{
    const struct counter *x = a, *y = b;
    int c = strcmp(x->id, y->id);

    if (c != 0)
        return c;
    if (x->step != y->step)
        return x->step < y->step ? -1 : 1;
    if (x->day != y->day)
        return x->day < y->day ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Sorts the counters and keeps the last read of each (id, step, day): one row each, so that
 * the upsert never meets a row twice, in key order, so that row locks come in one order. */
static void counters_dedupe(struct rollup *ru)
{
    size_t out = 0;

    if (ru->n > 1)
        qsort(ru->counters, ru->n, sizeof(*ru->counters), counter_cmp);
    for (size_t i = 0; i < ru->n; i++) {
        const struct counter *c = &ru->counters[i], *next = &ru->counters[i + 1];
        if (i + 1 < ru->n && strcmp(c->id, next->id) == 0 && c->step == next->step &&
            c->day == next->day) {
            free(ru->counters[i].id);
            continue;
        }
        ru->counters[out++] = *c;
    }
    ru->n = out;
}

/* The PostgreSQL array literals of the counters' columns: ids ("..." with \ and " escaped),
 * steps, days, counts. Caller owns them, free(). */
static void columns(const struct rollup *ru, char *ret[4])
{
    size_t size[4] = {3, 12 * ru->n + 3, 12 * ru->n + 3, 21 * ru->n + 3};
    size_t pos[4] = {1, 1, 1, 1};
    char *col[4];

    for (size_t i = 0; i < ru->n; i++)
        size[0] += 2 * strlen(ru->counters[i].id) + 3;
    for (int k = 0; k < 4; k++)
        col[k] = xmalloc(size[k]);
    for (int k = 0; k < 4; k++)
        col[k][0] = '{';
    for (size_t i = 0; i < ru->n; i++) {
        const struct counter *c = &ru->counters[i];
        const char *sep = i ? "," : "";

        pos[0] += (size_t)snprintf(col[0] + pos[0], size[0] - pos[0], "%s\"", sep);
        for (const char *p = c->id; *p; p++) {
            if (*p == '"' || *p == '\\')
                col[0][pos[0]++] = '\\';
            col[0][pos[0]++] = *p;
        }
        col[0][pos[0]++] = '"';
        pos[1] += (size_t)snprintf(col[1] + pos[1], size[1] - pos[1], "%s%" PRId32, sep, c->step);
        pos[2] += (size_t)snprintf(col[2] + pos[2], size[2] - pos[2], "%s%" PRId32, sep, c->day);
        pos[3] += (size_t)snprintf(col[3] + pos[3], size[3] - pos[3], "%s%" PRId64, sep, c->count);
    }
    for (int k = 0; k < 4; k++) {
        col[k][pos[k]++] = '}';
        col[k][pos[k]] = '\0';
        ret[k] = col[k];
    }
}

static void write_on_done(const struct db_rows *rows, int err, int failed, void *arg)
{
    struct rollup *ru = arg;
    struct task *task = ru->task;
    char from[ROLLUP_DATE_LEN + 1], to[ROLLUP_DATE_LEN + 1];
    const char *v[4];

    ru->pending--;
    if (err < 0) {
        db_failed(ru, rows, err, "writing the rollup");
        step_end(ru);
        return;
    }
    (void)failed;
    if (task) {
        for (int k = 0; k < 4; k++)
            v[k] = db_rows_get(rows, 0, k) ? db_rows_get(rows, 0, k) : "?";
        rollup_day_format(ru->range.from, from);
        rollup_day_format(ru->range.to, to);
        log_info("event=rollup jid=%s from=%s to=%s keys=%zu counters=%zu malformed=%zu "
                 "bad_values=%zu missing=%zu funnel_changed=%s sales_rows=%s sales_changed=%s "
                 "sales_deleted=%s read_ms=%.3f duration_ms=%.3f",
                 log_q(ru->jid), from, to, ru->keys, ru->n, ru->malformed, ru->bad_values,
                 ru->missing, v[0], v[1], v[2], v[3], (ru->read_at - ru->started) * 1000.0,
                 (ev_time() - ru->started) * 1000.0);
        task_set_state(task, NULL);
        task_succeed(task);
    }
    rollup_free(ru);
}

/* One transaction: the rollup's lock, then every write in one statement. */
static void write_begin(struct rollup *ru)
{
    char from[ROLLUP_DATE_LEN + 1], to[ROLLUP_DATE_LEN + 1], *col[4];
    const char *params[8];
    struct db_stmt stmts[2];
    int r;

    ru->read_at = ev_time();
    counters_dedupe(ru);
    columns(ru, col);
    rollup_day_format(ru->range.from, from);
    rollup_day_format(ru->range.to, to);
    params[0] = col[0];
    params[1] = col[1];
    params[2] = col[2];
    params[3] = col[3];
    params[4] = from;
    params[5] = to;
    params[6] = ru->tz;
    params[7] = ru->statuses;
    stmts[0] = (struct db_stmt){.sql = lock_sql};
    stmts[1] = (struct db_stmt){.sql = write_sql, .params = params, .nparams = 8};
    r = db_atomic(ru->db, stmts, 2, write_on_done, ru);
    for (int k = 0; k < 4; k++)
        free(col[k]);
    if (r < 0) {
        db_refused(ru, r);
        return;
    }
    ru->pending++;
}

/* --- the handler ------------------------------------------------------------------------- */

static struct rollup *rollup_new(struct task *task, const struct rollup_range *range)
{
    const struct task_env *env = task_env(task);
    const struct cfg *cfg = env->cfg;
    struct rollup *ru = xcalloc(1, sizeof(*ru));

    ru->task = task;
    ru->loop = env->loop;
    ru->redis = env->redis;
    ru->db = env->db;
    (void)snprintf(ru->jid, sizeof(ru->jid), "%s", job_jid(task_job(task)));
    ru->prefix = xstrdup(cfg->analytics_funnel_prefix);
    ru->tz = xstrdup(cfg->analytics_tz);
    ru->statuses = xstrdup(cfg->analytics_sales_statuses);
    ru->scan_count = cfg->analytics_scan_count;
    ru->max_counters = cfg->analytics_max_counters;
    ru->range = *range;
    ru->started = ev_time();
    return ru;
}

static int rollup_args_check(json_t *args, const struct cfg *cfg, struct err *err)
{
    struct rollup_range range;

    return rollup_args_parse(args, cfg->analytics_max_days, &range, err);
}

static void rollup_start(struct task *task)
{
    const struct task_env *env = task_env(task);
    struct rollup_range range;
    struct err err = {0};
    struct rollup *ru;
    int r;

    if (rollup_args_parse(task_args(task), env->cfg->analytics_max_days, &range, &err) < 0) {
        task_fail(task, "ArgumentError", "%s", err.msg);
        return;
    }
    if (!env->db) {
        task_fail(task, "NexusNoDatabase", "class 'analytics.rollup' needs database.url");
        return;
    }
    ru = rollup_new(task, &range);
    task_set_state(task, ru);
    if (range.today) {
        const char *params[] = {ru->tz};
        r = db_query(ru->db, today_sql, params, 1, today_on_done, ru);
        if (r < 0)
            db_refused(ru, r);
        else
            ru->pending++;
    } else {
        pass_begin(ru, range.from);
    }
    step_end(ru);
}

static void rollup_cancel(struct task *task)
{
    struct rollup *ru = task_state(task);

    if (!ru)
        return;
    ru->task = NULL;
    if (ru->pending == 0)
        rollup_free(ru);
}

/* [] is yesterday and today, [day] that day, [from, to] the days between (inclusive). */
static const struct class_arg rollup_args[] = {
    {"from", CLASS_ARG_STRING, true, "\"2026-11-01\""},
    {"to", CLASS_ARG_STRING, true, "\"2026-11-02\""},
};

const struct handler handler_analytics_rollup = {
    .name = "analytics.rollup",
    .args = rollup_args,
    .nargs = 2,
    .args_check = rollup_args_check,
    .timeout_s = ROLLUP_TIMEOUT_S,
    .start = rollup_start,
    .cancel = rollup_cancel,
};
