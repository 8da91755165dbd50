/* emotion.c - the `emotion.analyze` class: Redis cache, then the Hugging Face endpoint, then
 * one row in PostgreSQL; every step a callback on the loop (contract in emotion.h). */
#include "jobs/emotion.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <hiredis/hiredis.h>

#include "conf/cfg.h"
#include "jobs/emotion_parse.h"
#include "jobs/registry.h"
#include "jobs/task.h"
#include "lib/err.h"
#include "lib/job.h"
#include "lib/log.h"
#include "lib/urlmask.h"
#include "lib/util.h"
#include "lib/xalloc.h"
#include "lib/xfer.h"
#include "queue/keys.h"
#include "queue/rconn.h"
#include "sql/db.h"

#define EMOTION_DEFAULT_WAIT_S 60.0 /* a 429 without a usable Retry-After */
#define EMOTION_MIN_WAIT_S 1.0      /* shortest deferral: never a busy loop on the endpoint */
#define EMOTION_EXCERPT 200         /* bytes of an answer quoted in an error */

/* No row when this job's row went in; otherwise the jid's row was there: one row saying
 * whether it is another job's (another text or source: the jid was reused). */
static const char insert_sql[] =
    "WITH ins AS (INSERT INTO nexus.emotion_results (jid, text_sha256, source, model, labels, "
    "top_label, top_score, cached) VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7::double precision, "
    "$8::boolean) ON CONFLICT (jid) DO NOTHING RETURNING 1) "
    "SELECT r.text_sha256 <> $2 OR r.source IS DISTINCT FROM $3 FROM nexus.emotion_results r "
    "WHERE r.jid = $1 AND NOT EXISTS (SELECT 1 FROM ins)";

enum emo_step { STEP_CACHE, STEP_HTTP, STEP_STORE };

/* One attempt. Owned by the handler: freed when it reports, or by cancel() during the
 * request, or by the Redis or PostgreSQL answer that comes after a cancel. */
struct emo {
    struct task *task;          /* NULL after a cancel while Redis or PostgreSQL owes an answer */
    enum emo_step step;
    struct xfer *xfer;          /* borrowed: the process's */
    CURL *easy;                 /* owned while the request runs */
    struct curl_slist *headers; /* owned */
    char *request;              /* owned: the request body */
    struct xfer_buf answer;     /* owned */
    char curl_err[CURL_ERROR_SIZE];
    struct emotion_input in;    /* text borrowed from the job's args */
    char sha[JOB_SHA256_HEX];
    char jid[JOB_MAX_JID + 1];
    /* copies of the configuration: a reload frees the cfg while an attempt waits */
    char *key;                  /* owned: cache_prefix + sha */
    char *model;                /* owned */
    char *url;                  /* owned: where the request goes */
    char shown[1024];           /* url through url_mask(), for messages */
    double cache_ttl_s;
    double max_defer_s;
    struct emotion_labels labels; /* owned once known */
    bool cached;
};

static void emo_free(struct emo *e)
{
    if (e->easy)
        curl_easy_cleanup(e->easy);
    curl_slist_free_all(e->headers);
    free(e->request);
    xfer_buf_clear(&e->answer);
    free(e->key);
    free(e->model);
    free(e->url);
    emotion_labels_clear(&e->labels);
    free(e);
}

/* Ends the attempt with a failure and frees `e`. */
static void emo_fail(struct emo *e, const char *error_class, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void emo_fail(struct emo *e, const char *error_class, const char *fmt, ...)
{
    struct task *task = e->task;
    char why[JOB_MAX_ERROR + 1];
    va_list ap;

    va_start(ap, fmt);
    (void)vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    task_set_state(task, NULL);
    emo_free(e);
    task_fail(task, error_class, "%s", why);
}

/* Ends the attempt without spending it: the endpoint asked to come back after `wait_s`. */
static void emo_defer(struct emo *e, double wait_s, const char *why)
{
    struct task *task = e->task;
    double s = wait_s;
    char msg[JOB_MAX_ERROR + 1];

    if (!(s >= EMOTION_MIN_WAIT_S))
        s = EMOTION_MIN_WAIT_S;
    if (s > e->max_defer_s)
        s = e->max_defer_s;
    (void)snprintf(msg, sizeof(msg), "%s; again in %.0fs", why, ceil(s));
    task_set_state(task, NULL);
    emo_free(e);
    task_defer(task, s, "%s", msg);
}

/* The attempt, with its copies of the configuration. NULL when OpenSSL cannot hash the text. */
static struct emo *emo_new(struct task *task, const struct cfg *cfg,
                           const struct emotion_input *in)
{
    struct emo *e = xcalloc(1, sizeof(*e));
    size_t ulen;

    e->task = task;
    e->xfer = task_env(task)->xfer;
    e->in = *in;
    (void)snprintf(e->jid, sizeof(e->jid), "%s", job_jid(task_job(task)));
    e->cache_ttl_s = cfg->emotion_cache_ttl_s;
    e->max_defer_s = cfg->emotion_max_defer_s;
    e->answer.max = cfg->emotion_max_response;
    e->answer.abort_over = true;
    if (job_sha256_hex(in->text, in->len, e->sha) < 0) {
        emo_free(e);
        return NULL;
    }
    e->model = xstrdup(cfg->emotion_model);
    e->key = keys_emotion_cache(cfg->emotion_cache_prefix, e->sha);
    ulen = strlen(cfg->emotion_url);
    while (ulen > 0 && cfg->emotion_url[ulen - 1] == '/')
        ulen--;
    if (*cfg->emotion_endpoint)
        e->url = xstrdup(cfg->emotion_endpoint);
    else
        e->url = xasprintf("%.*s/%s", (int)ulen, cfg->emotion_url, cfg->emotion_model);
    (void)url_mask(e->url, e->shown, sizeof(e->shown));
    return e;
}

/* ---- step 3: the row in PostgreSQL ---- */

static void store_on_done(const struct db_rows *rows, int err, void *arg)
{
    struct emo *e = arg;
    struct task *task = e->task;
    const char *why = db_rows_error(rows);

    if (!task) {
        emo_free(e);
        return;
    }
    if (err == -ENOTCONN || err == -ECANCELED)
        emo_fail(e, "NexusDatabaseDown", "PostgreSQL unreachable: %s", why);
    else if (err == -ETIMEDOUT)
        emo_fail(e, "NexusDatabaseTimeout", "statement timed out: %s", why);
    else if (err < 0)
        emo_fail(e, "PG::Error", "SQLSTATE %s: %s", db_rows_sqlstate(rows), why);
    if (err < 0)
        return;
    if (db_rows_count(rows) > 0 && strcmp(db_rows_get(rows, 0, 0), "t") == 0) {
        task_set_state(task, NULL);
        emo_free(e);
        task_refuse(task, "NexusJidReused",
                    "jid '%s' was already used by another job (another text or source); its "
                    "result was not stored: give this job a new jid",
                    job_jid(task_job(task)));
        return;
    }
    log_debug("event=emotion jid=%s model=%s top_label=%s top_score=%.3f cached=%s",
              log_q(e->jid), log_q(e->model), log_q(e->labels.v[0].name), e->labels.v[0].score,
              e->cached ? "true" : "false");
    task_set_state(task, NULL);
    emo_free(e);
    task_succeed(task);
}

static void store_start(struct emo *e)
{
    const struct task_env *env = task_env(e->task);
    char *labels = emotion_labels_json(&e->labels);
    char score[32];
    const char *params[8] = {e->jid, e->sha, *e->in.source ? e->in.source : NULL, e->model,
                             labels, e->labels.v[0].name, score, e->cached ? "true" : "false"};
    int r;

    (void)snprintf(score, sizeof(score), "%.15g", e->labels.v[0].score);
    e->step = STEP_STORE;
    r = db_query(env->db, insert_sql, params, 8, store_on_done, e);
    free(labels);
    if (r == -EAGAIN)
        emo_fail(e, "NexusDatabaseBusy", "too many queries waiting for a connection");
    else if (r < 0)
        emo_fail(e, "NexusDatabaseDown", "PostgreSQL unreachable");
}

/* ---- the cache in Redis ---- */

static void cache_on_stored(struct redisReply *reply, void *arg)
{
    const char *error = rconn_reply_error(reply);

    if (error)
        log_warn("event=emotion_cache op=write jid=%s err=%s", log_q(arg), log_q(error));
    free(arg);
}

/* SET, not waited for: a failed write costs one more request some day, nothing else. */
static void cache_write(struct emo *e)
{
    struct rconn *redis = task_env(e->task)->redis;
    char ms[32];
    char *value, *jid;
    const char *argv[5];
    size_t lens[5];

    if (e->cache_ttl_s <= 0 || !redis || !rconn_is_up(redis))
        return;
    value = emotion_cache_encode(e->model, &e->labels);
    jid = xstrdup(e->jid);
    (void)snprintf(ms, sizeof(ms), "%.0f", ceil(e->cache_ttl_s * 1000.0));
    argv[0] = "SET", argv[1] = e->key, argv[2] = value, argv[3] = "PX", argv[4] = ms;
    for (int i = 0; i < 5; i++)
        lens[i] = argv[i] ? strlen(argv[i]) : 0;
    if (!value || rconn_command(redis, cache_on_stored, jid, 5, argv, lens) < 0)
        free(jid);
    free(value);
}

/* ---- step 2: the request ---- */

static void http_start(struct emo *e);

/* A non-200 answer: defer (loading, rate limited) or fail with what the endpoint said. */
static void http_refused(struct emo *e, long status)
{
    struct emotion_hf_error hf;
    char excerpt[EMOTION_EXCERPT + 4], said[EMOTION_MAX_MESSAGE + 100];
    double wait_s = xfer_retry_after(e->easy, util_now());
    bool parsed = emotion_hf_error_parse(e->answer.data ? e->answer.data : "", e->answer.len,
                                         &hf) == 0;

    if (parsed)
        (void)snprintf(said, sizeof(said), "%s", hf.message);
    else
        (void)snprintf(said, sizeof(said), "%s",
                       xfer_buf_excerpt(&e->answer, EMOTION_EXCERPT, excerpt, sizeof(excerpt)));
    if (status == 503 && parsed && hf.estimated_time_s >= 0) {
        (void)snprintf(said, sizeof(said), "model loading (HTTP 503, estimated_time %.1fs): %s",
                       hf.estimated_time_s, hf.message);
        emo_defer(e, hf.estimated_time_s, said);
    } else if ((status == 503 && wait_s >= 0) || status == 429) {
        char why[EMOTION_MAX_MESSAGE + 200];
        (void)snprintf(why, sizeof(why), "HTTP %ld, Retry-After %s: %s", status,
                       wait_s >= 0 ? "honoured" : "absent", said);
        emo_defer(e, wait_s >= 0 ? wait_s : EMOTION_DEFAULT_WAIT_S, why);
    } else if (status == 401 || status == 403) {
        emo_fail(e, "NexusEmotionUnauthorized", "HTTP %ld from %s: the token was refused: %s",
                 status, e->shown, said);
    } else if (status == 503) {
        emo_fail(e, "NexusEmotionUnavailable", "HTTP 503 from %s: %s", e->shown, said);
    } else {
        emo_fail(e, "NexusEmotionHTTPError", "HTTP %ld from %s: %s", status, e->shown, said);
    }
}

static void http_on_done(CURL *easy, CURLcode result, void *arg)
{
    struct emo *e = arg;
    char excerpt[EMOTION_EXCERPT + 4];
    struct err err = {0};
    long status = 0;

    (void)curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    if (result == CURLE_WRITE_ERROR && e->answer.dropped > 0) {
        emo_fail(e, "NexusEmotionBadAnswer",
                 "answer from %s larger than emotion.max_response (%zu bytes; HTTP %ld)", e->shown,
                 e->answer.max, status);
        return;
    }
    if (result == CURLE_OPERATION_TIMEDOUT) {
        emo_fail(e, "NexusEmotionTimeout", "no complete answer from %s within emotion.timeout: %s",
                 e->shown, *e->curl_err ? e->curl_err : curl_easy_strerror(result));
        return;
    }
    if (result != CURLE_OK) {
        emo_fail(e, "NexusEmotionUnreachable", "%s: %s", e->shown,
                 *e->curl_err ? e->curl_err : curl_easy_strerror(result));
        return;
    }
    if (status != 200) {
        http_refused(e, status);
        return;
    }
    if (emotion_labels_parse(e->answer.data ? e->answer.data : "", e->answer.len, &e->labels,
                             &err) < 0) {
        emo_fail(e, "NexusEmotionBadAnswer", "garbage answer from %s (HTTP 200): %s; answer: %s", e->shown, err.msg,
                 xfer_buf_excerpt(&e->answer, EMOTION_EXCERPT, excerpt, sizeof(excerpt)));
        return;
    }
    curl_easy_cleanup(e->easy);
    e->easy = NULL;
    cache_write(e);
    store_start(e);
}

/* The request's handle: POST JSON, bounded answer, time limit, no redirects. Returns 0,
 * -EIO (no handle: xfer_easy_why() says why) or -ENOMEM. */
static int http_setup(struct emo *e, const struct cfg *cfg)
{
    char auth[4200];
    long timeout_ms = (long)ceil(cfg->emotion_timeout_s * 1000.0);
    CURL *c;

    c = e->easy = xfer_easy_new(); /* first: it loads libcurl */
    if (!c)
        return -EIO;
    e->request = emotion_request_json(e->in.text, e->in.len, cfg->emotion_top_k);
    (void)snprintf(auth, sizeof(auth), "Authorization: Bearer %s", cfg->emotion_token);
    e->headers = curl_slist_append(NULL, auth);
    explicit_bzero(auth, sizeof(auth));
    if (e->headers)
        e->headers = curl_slist_append(e->headers, "Content-Type: application/json");
    if (e->headers)
        e->headers = curl_slist_append(e->headers, "Accept: application/json");
    if (e->headers)
        e->headers = curl_slist_append(e->headers, "Expect:"); /* no 100-continue round trip */
    if (!e->headers) /* libcurl could not allocate */
        return -ENOMEM;
    (void)curl_easy_setopt(c, CURLOPT_URL, e->url);
    (void)curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    (void)curl_easy_setopt(c, CURLOPT_HTTPHEADER, e->headers);
    (void)curl_easy_setopt(c, CURLOPT_POSTFIELDS, e->request);
    (void)curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(e->request));
    (void)curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, xfer_buf_write);
    (void)curl_easy_setopt(c, CURLOPT_WRITEDATA, &e->answer);
    (void)curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, ""); /* max_response bounds the decoded */
    (void)curl_easy_setopt(c, CURLOPT_USERAGENT, "nexusd");
    (void)curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    (void)curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    (void)curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    (void)curl_easy_setopt(c, CURLOPT_ERRORBUFFER, e->curl_err);
    return 0;
}

static void http_start(struct emo *e)
{
    const struct cfg *cfg = task_env(e->task)->cfg;
    int r;

    if (!cfg->emotion_token) {
        emo_fail(e, "NexusEmotionNoToken",
                 "no Hugging Face token: set HF_API_TOKEN or emotion.token_file");
        return;
    }
    r = http_setup(e, cfg);
    if (r < 0) {
        emo_fail(e, r == -EIO ? "NexusTransferError" : "NoMemoryError", "%s",
                 r == -EIO ? xfer_easy_why() : "out of memory");
        return;
    }
    e->step = STEP_HTTP;
    r = xfer_start(e->xfer, e->easy, http_on_done, e);
    if (r < 0) /* libcurl refused the handle (xfer_start() fails for nothing else) */
        emo_fail(e, "NexusEmotionUnreachable", "cannot start the request to %s", e->shown);
}

/* ---- step 1: the cache ---- */

static void cache_on_reply(struct redisReply *reply, void *arg)
{
    struct emo *e = arg;
    const char *error = rconn_reply_error(reply);
    struct err err = {0};
    int r;

    if (!e->task) {
        emo_free(e);
        return;
    }
    if (error) {
        log_warn("event=emotion_cache op=read jid=%s err=%s action=skip_cache", log_q(e->jid),
                 log_q(error));
    } else if (reply->type == REDIS_REPLY_STRING) {
        r = emotion_cache_decode(reply->str, reply->len, e->model, &e->labels, &err);
        if (r == 0) {
            e->cached = true;
            store_start(e);
            return;
        }
        if (r != -ESTALE)
            log_warn("event=emotion_cache op=read jid=%s key=%s err=%s action=ask_endpoint",
                     log_q(e->jid), log_q(e->key), log_q(err.msg));
    }
    http_start(e);
}

static int emotion_args_check(json_t *args, const struct cfg *cfg, struct err *err)
{
    struct emotion_input in;

    return emotion_input_parse(args, cfg->emotion_max_text, &in, err);
}

static void emotion_start(struct task *task)
{
    const struct task_env *env = task_env(task);
    struct emotion_input in;
    struct err err = {0};
    const char *argv[2];
    size_t lens[2];
    struct emo *e;

    if (emotion_input_parse(task_args(task), env->cfg->emotion_max_text, &in, &err) < 0) {
        task_fail(task, "ArgumentError", "%s", err.msg);
        return;
    }
    if (!env->db) {
        task_fail(task, "NexusNoDatabase",
                  "emotion.analyze stores its results in PostgreSQL: set database.url");
        return;
    }
    e = emo_new(task, env->cfg, &in);
    if (!e) {
        task_fail(task, "NoMemoryError", "OpenSSL could not hash the text");
        return;
    }
    task_set_state(task, e);
    e->step = STEP_CACHE;
    argv[0] = "GET", argv[1] = e->key;
    lens[0] = 3, lens[1] = strlen(e->key);
    if (e->cache_ttl_s <= 0 || !env->redis ||
        rconn_command(env->redis, cache_on_reply, e, 2, argv, lens) < 0)
        http_start(e);
}

static void emotion_cancel(struct task *task)
{
    struct emo *e = task_state(task);

    if (!e)
        return;
    task_set_state(task, NULL);
    if (e->step == STEP_HTTP) {
        xfer_abort(e->xfer, e->easy);
        emo_free(e);
        return;
    }
    e->task = NULL; /* the Redis or PostgreSQL answer frees it */
}

/* The tuple form; [{"text": ..., "source": ...}] is accepted too. */
static const struct class_arg emotion_args[] = {
    {"text", CLASS_ARG_STRING, false, "\"What a lovely day\""},
    {"source", CLASS_ARG_REF, true, "\"review:17\""},
};

const struct handler handler_emotion = {
    .name = "emotion.analyze",
    .args = emotion_args,
    .nargs = 2,
    .args_check = emotion_args_check,
    .start = emotion_start,
    .cancel = emotion_cancel,
};
