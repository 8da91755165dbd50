/* smtp.c - one SMTP exchange as a libcurl easy handle run by xfer: the message is read
 * from memory, the server's reply lines are caught through the debug callback. */
#include "smtp.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "daemon/xfer.h"

struct smtp_send {
    struct xfer *x; /* borrowed */
    CURL *easy;
    struct curl_slist *rcpts;
    char *msg; /* owned */
    size_t len, sent;
    smtp_done_fn *done;
    void *arg;
    char reply[SMTP_REPLY_MAX]; /* the last reply line other than QUIT's */
    bool replied;               /* a reply line came */
    char curl_err[CURL_ERROR_SIZE];
};

static void send_free(struct smtp_send *s)
{
    if (s->easy)
        curl_easy_cleanup(s->easy);
    curl_slist_free_all(s->rcpts);
    free(s->msg);
    free(s);
}

static size_t msg_on_read(char *buf, size_t size, size_t nitems, void *arg)
{
    struct smtp_send *s = arg;
    size_t n = size * nitems, left = s->len - s->sent;

    if (n > left)
        n = left;
    memcpy(buf, s->msg + s->sent, n);
    s->sent += n;
    return n;
}

/* Server reply lines arrive as CURLINFO_HEADER_IN; the last one before QUIT's 221 is the
 * answer to the step that decided the outcome. */
static int reply_on_debug(CURL *easy, curl_infotype type, char *data, size_t size, void *arg)
{
    struct smtp_send *s = arg;
    size_t n = size;

    if (type != CURLINFO_HEADER_IN || size < 3)
        return 0;
    if (strncmp(data, "221", 3) == 0)
        return 0;
    while (n && (data[n - 1] == '\n' || data[n - 1] == '\r'))
        n--;
    if (n >= sizeof(s->reply))
        n = sizeof(s->reply) - 1;
    for (size_t i = 0; i < n; i++) /* one line: a multi-line reply keeps its last line */
        if (data[i] == '\n' && i + 1 < n)
            return reply_on_debug(easy, type, data + i + 1, size - i - 1, arg);
    for (size_t i = 0; i < n; i++)
        s->reply[i] = (unsigned char)data[i] < 0x20 || data[i] == 0x7f ? '?' : data[i];
    s->reply[n] = '\0';
    s->replied = true;
    return 0;
}

static bool tls_error(CURLcode c)
{
    switch (c) {
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_USE_SSL_FAILED:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
        return true;
    default:
        return false;
    }
}

/* The outcome and the error class, named as Ruby's Net::SMTP names them. */
static void result_classify(struct smtp_send *s, CURLcode c, long code, struct smtp_result *res)
{
    res->outcome = SMTP_FAILED;
    res->error_class = "Net::SMTPUnknownError";
    if (c == CURLE_OK && code >= 200 && code < 300) {
        res->outcome = SMTP_SENT;
        res->error_class = "";
    } else if (c == CURLE_LOGIN_DENIED) {
        res->outcome = SMTP_AUTH_FAILED;
        res->error_class = "Net::SMTPAuthenticationError";
    } else if (c == CURLE_OPERATION_TIMEDOUT) {
        res->outcome = SMTP_TIMEOUT;
        res->error_class = s->replied ? "Net::ReadTimeout" : "Net::OpenTimeout";
    } else if (c == CURLE_COULDNT_CONNECT) {
        res->outcome = SMTP_UNREACHABLE;
        res->error_class = "Errno::ECONNREFUSED";
    } else if (c == CURLE_COULDNT_RESOLVE_HOST) {
        res->outcome = SMTP_UNREACHABLE;
        res->error_class = "SocketError";
    } else if (tls_error(c)) {
        res->outcome = SMTP_TLS_FAILED;
        res->error_class = "OpenSSL::SSL::SSLError";
    } else if (code >= 500 && code < 600) {
        res->outcome = SMTP_REFUSED;
        res->error_class = "Net::SMTPFatalError";
    } else if (code >= 400 && code < 500) {
        res->outcome = SMTP_REFUSED;
        res->error_class = "Net::SMTPServerBusy";
    } else if (c == CURLE_GOT_NOTHING || c == CURLE_RECV_ERROR || c == CURLE_SEND_ERROR) {
        res->error_class = "EOFError";
    }
}

static void send_on_done(CURL *easy, CURLcode c, void *arg)
{
    struct smtp_send *s = arg;
    struct smtp_result res = {0};
    char error[SMTP_REPLY_MAX + CURL_ERROR_SIZE + 64];
    long code = 0;

    (void)curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
    if (s->replied && (c != CURLE_OK || code == 0))
        code = strtol(s->reply, NULL, 10); /* the reply that ended it, not an earlier one */
    result_classify(s, c, code, &res);
    res.code = (int)code;
    res.reply = s->reply;
    res.error = "";
    if (res.outcome != SMTP_SENT) {
        const char *why = *s->curl_err ? s->curl_err : curl_easy_strerror(c);

        if (s->replied && code >= 400)
            (void)snprintf(error, sizeof(error), "SMTP server replied \"%s\" (%s)", s->reply, why);
        else
            (void)snprintf(error, sizeof(error), "%s", why);
        res.error = error;
    }
    s->done(&res, s->arg);
    send_free(s);
}

static long ms(double s)
{
    return (long)(s * 1000.0 + 0.5);
}

int smtp_send(struct xfer *x, const struct smtp_server *srv, const char *mail_from,
              const char *const *rcpts, size_t nrcpts, char *msg, size_t len, smtp_done_fn *done,
              void *arg, struct smtp_send **ret_send)
{
    static const long tls[] = {[SMTP_TLS_TRY] = CURLUSESSL_TRY,
                               [SMTP_TLS_ALWAYS] = CURLUSESSL_ALL,
                               [SMTP_TLS_NEVER] = CURLUSESSL_NONE};
    struct smtp_send *s = calloc(1, sizeof(*s));
    char from[300];
    CURL *e;
    int r;

    if (!s) {
        free(msg);
        return -ENOMEM;
    }
    s->x = x;
    s->msg = msg;
    s->len = len;
    s->done = done;
    s->arg = arg;
    for (size_t i = 0; i < nrcpts; i++) {
        char rcpt[300];
        struct curl_slist *l;

        (void)snprintf(rcpt, sizeof(rcpt), "<%s>", rcpts[i]);
        l = curl_slist_append(s->rcpts, rcpt);
        if (!l) {
            send_free(s);
            return -ENOMEM;
        }
        s->rcpts = l;
    }
    e = s->easy = curl_easy_init();
    if (!e) {
        send_free(s);
        return -ENOMEM;
    }
    (void)snprintf(from, sizeof(from), "<%s>", mail_from);
    r = curl_easy_setopt(e, CURLOPT_URL, srv->url) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "smtp,smtps") != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_MAIL_FROM, from) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_MAIL_RCPT, s->rcpts) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_UPLOAD, 1L) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)len) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_READFUNCTION, msg_on_read) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_READDATA, s) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_USE_SSL, tls[srv->tls]) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, ms(srv->connect_timeout_s)) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, ms(srv->timeout_s)) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_ERRORBUFFER, s->curl_err) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_DEBUGFUNCTION, reply_on_debug) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_DEBUGDATA, s) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_VERBOSE, 1L) != CURLE_OK;
    if (r == 0 && srv->username && *srv->username)
        r = curl_easy_setopt(e, CURLOPT_USERNAME, srv->username) != CURLE_OK;
    if (r == 0 && srv->password && *srv->password)
        r = curl_easy_setopt(e, CURLOPT_PASSWORD, srv->password) != CURLE_OK;
    if (r == 0 && srv->ca_file && *srv->ca_file)
        r = curl_easy_setopt(e, CURLOPT_CAINFO, srv->ca_file) != CURLE_OK;
    if (r == 0)
        r = xfer_start(x, e, send_on_done, s);
    else
        r = -EINVAL;
    if (r < 0) {
        send_free(s);
        return r;
    }
    *ret_send = s;
    return 0;
}

void smtp_abort(struct smtp_send *s)
{
    xfer_abort(s->x, s->easy);
    send_free(s);
}
