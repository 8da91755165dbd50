/* webhook.c - `http` classes: a class bound to a URL of the app. Each attempt POSTs the job's
 * JSON there, signed with HMAC-SHA256; a 2xx answer is success, anything else a failure that
 * names the status and the start of the body. nexusd keeps retries, schedules and limits. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "conf/cfg.h"
#include "jobs/registry.h"
#include "jobs/task.h"
#include "jobs/webhook.h"
#include "lib/digest.h"
#include "lib/job.h"
#include "lib/traceparent.h"
#include "lib/urlmask.h"
#include "lib/util.h"
#include "lib/xalloc.h"
#include "lib/xfer.h"

#define WEBHOOK_BODY_MAX 65536   /* bytes of the answer kept; the rest is read and dropped */
#define WEBHOOK_EXCERPT 256      /* bytes of the answer quoted in an error */
#define WEBHOOK_CONNECT_MS 10000 /* a peer that does not accept within this is down */
#define WEBHOOK_DEFER_MAX 3600.0 /* the longest Retry-After honoured, in seconds */
#define WEBHOOK_HEADER_MAX 1024  /* a header line: a tracestate's 512 bytes fit */

/* One POST in flight. */
struct webhook_state {
    struct task *task;
    CURL *easy;
    struct curl_slist *headers;
    struct xfer_buf answer;
    char errbuf[CURL_ERROR_SIZE];
};

int webhook_sign(const char *secret, long long t, const char *body, size_t len,
                 char ret_hex[WEBHOOK_SIG_HEX + 1])
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    size_t mac_len = 0;
    char prefix[32], digest[] = "SHA256";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", digest, 0),
                           OSSL_PARAM_construct_end()};
    EVP_MAC *hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = hmac ? EVP_MAC_CTX_new(hmac) : NULL;
    int n = snprintf(prefix, sizeof(prefix), "%lld.", t), ok;

    ok = ctx && EVP_MAC_init(ctx, (const unsigned char *)secret, strlen(secret), params) &&
         EVP_MAC_update(ctx, (const unsigned char *)prefix, (size_t)n) &&
         EVP_MAC_update(ctx, (const unsigned char *)body, len) &&
         EVP_MAC_final(ctx, mac, &mac_len, sizeof(mac));
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(hmac);
    if (!ok || mac_len * 2 != WEBHOOK_SIG_HEX)
        return -EINVAL;
    (void)hex_encode(mac, mac_len, ret_hex);
    return 0;
}

static void state_free(struct webhook_state *st)
{
    if (st->easy)
        curl_easy_cleanup(st->easy);
    curl_slist_free_all(st->headers);
    xfer_buf_clear(&st->answer);
    free(st);
}

/* Adds "Name: value" to the request's headers. */
static int header_add(struct webhook_state *st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int header_add(struct webhook_state *st, const char *fmt, ...)
{
    char line[WEBHOOK_HEADER_MAX];
    struct curl_slist *l;
    va_list ap;

    va_start(ap, fmt);
    (void)vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    l = curl_slist_append(st->headers, line);
    if (!l)
        return -ENOMEM;
    st->headers = l;
    return 0;
}

/* The answer came (any status) or the transfer failed. */
static void post_on_done(CURL *easy, CURLcode result, void *arg)
{
    struct webhook_state *st = arg;
    struct task *task = st->task;
    char excerpt[WEBHOOK_EXCERPT + 4];
    long status = 0;
    double wait;

    task_set_state(task, NULL);
    if (result != CURLE_OK) {
        task_fail(task,
                  result == CURLE_OPERATION_TIMEDOUT ? "NexusWebhookTimeout"
                                                     : "NexusWebhookUnreachable",
                  "POST failed: %s", st->errbuf[0] ? st->errbuf : curl_easy_strerror(result));
        state_free(st);
        return;
    }
    (void)curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    (void)xfer_buf_excerpt(&st->answer, WEBHOOK_EXCERPT, excerpt, sizeof(excerpt));
    wait = status == 429 || status == 503 ? xfer_retry_after(easy, util_now()) : -1;
    if (status >= 200 && status <= 299)
        task_succeed(task);
    else if (wait >= 0)
        task_defer(task, wait < WEBHOOK_DEFER_MAX ? wait : WEBHOOK_DEFER_MAX,
                   "HTTP %ld with Retry-After: %s", status, excerpt);
    else
        task_fail(task, "NexusWebhookFailed", "HTTP %ld: %s", status, excerpt);
    state_free(st);
}

/* The attempt's trace context (W3C): traceparent with the attempt's own parent-id, and the
 * job's tracestate as it came. */
static int trace_headers(struct webhook_state *st, const struct task *task)
{
    const struct traceparent *trace = task_trace(task);
    const char *state = job_tracestate(task_job(task));
    char value[TRACEPARENT_LEN + 1];

    if (!trace)
        return 0;
    if (header_add(st, "traceparent: %s", traceparent_format(trace, value)) < 0 ||
        (state && header_add(st, "tracestate: %s", state) < 0))
        return -ENOMEM;
    return 0;
}

/* The request: POST the job's JSON with its signature, identity and trace context in
 * headers. */
static int post_setup(struct webhook_state *st, const struct cfg_class *cls,
                      const struct task *task)
{
    const struct job *job = task_job(task);
    char sig[WEBHOOK_SIG_HEX + 1];
    long long t = (long long)util_now();
    size_t len;
    const char *body = job_raw(job, &len);
    int r;

    r = webhook_sign(cls->secret, t, body, len, sig);
    if (r < 0)
        return r;
    if (header_add(st, "Content-Type: application/json") < 0 ||
        header_add(st, "User-Agent: nexusd") < 0 || header_add(st, "Expect:") < 0 ||
        header_add(st, "X-Nexus-Signature: t=%lld,v1=%s", t, sig) < 0 ||
        header_add(st, "X-Nexus-Jid: %s", job_jid(job)) < 0 ||
        header_add(st, "X-Nexus-Class: %s", job_class(job)) < 0 ||
        header_add(st, "X-Nexus-Retry-Count: %d", job_retry_count(job)) < 0 ||
        header_add(st, "Idempotency-Key: %s", job_jid(job)) < 0 || trace_headers(st, task) < 0)
        return -ENOMEM;
    st->answer.max = WEBHOOK_BODY_MAX;
    if (curl_easy_setopt(st->easy, CURLOPT_URL, cls->url) != CURLE_OK ||
        curl_easy_setopt(st->easy, CURLOPT_POSTFIELDS, body) != CURLE_OK ||
        curl_easy_setopt(st->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len) != CURLE_OK ||
        curl_easy_setopt(st->easy, CURLOPT_HTTPHEADER, st->headers) != CURLE_OK ||
        curl_easy_setopt(st->easy, CURLOPT_WRITEFUNCTION, xfer_buf_write) != CURLE_OK ||
        curl_easy_setopt(st->easy, CURLOPT_WRITEDATA, &st->answer) != CURLE_OK ||
        curl_easy_setopt(st->easy, CURLOPT_ERRORBUFFER, st->errbuf) != CURLE_OK ||
        curl_easy_setopt(st->easy, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
        curl_easy_setopt(st->easy, CURLOPT_CONNECTTIMEOUT_MS, (long)WEBHOOK_CONNECT_MS) !=
            CURLE_OK ||
        curl_easy_setopt(st->easy, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK)
        return -EINVAL;
    return 0;
}

static void webhook_start(struct task *task)
{
    const struct task_env *env = task_env(task);
    const struct job *job = task_job(task);
    const struct cfg_class *cls = cfg_class_find(env->cfg, job_class(job));
    struct webhook_state *st;
    int r;

    if (!cls || !cls->url) {
        task_fail(task, "NexusUnknownClass", "class '%s' is no longer an http class",
                  job_class(job));
        return;
    }
    st = xcalloc(1, sizeof(*st));
    st->easy = xfer_easy_new();
    if (!st->easy) {
        free(st);
        task_fail(task, "NexusTransferError", "cannot make an HTTP transfer: %s",
                  xfer_easy_why());
        return;
    }
    st->task = task;
    r = post_setup(st, cls, task);
    if (r == 0)
        r = xfer_start(env->xfer, st->easy, post_on_done, st);
    if (r < 0) {
        char shown[1024];

        state_free(st);
        task_fail(task, "NexusWebhookFailed", "cannot set up the request to %s",
                  url_mask(cls->url, shown, sizeof(shown)));
        return;
    }
    task_set_state(task, st);
}

static void webhook_cancel(struct task *task)
{
    struct webhook_state *st = task_state(task);

    if (!st)
        return;
    xfer_abort(task_env(task)->xfer, st->easy);
    task_set_state(task, NULL);
    state_free(st);
}

static bool webhook_claims(const struct cfg_class *cls)
{
    return cls->url != NULL;
}

const struct handler handler_webhook = {
    .name = "(http class)",
    .claims = webhook_claims,
    .start = webhook_start,
    .cancel = webhook_cancel,
};
