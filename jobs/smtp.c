/* smtp.c - one SMTP exchange. libcurl's SMTP waits for the reply to the end of DATA inside
 * its blocking 'done' step (curl issue 8555), so libcurl only connects (CONNECT_ONLY: TCP,
 * TLS, EHLO, STARTTLS, AUTH, all on the loop through xfer) and this module then speaks
 * MAIL, RCPT, DATA and QUIT itself with curl_easy_send/recv, watching the socket with ev_io. */
#include "jobs/smtp.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <ev.h>

#include "lib/xalloc.h"
#include "lib/xfer.h"

#define IN_MAX 8192 /* bytes of one reply kept while it arrives; more is cut */

enum phase {
    PHASE_CONNECT, /* libcurl: connection, TLS, EHLO, STARTTLS, AUTH */
    PHASE_MAIL,    /* waiting for the reply to MAIL FROM */
    PHASE_RCPT,    /* ... to RCPT TO of rcpts[next_rcpt - 1] */
    PHASE_DATA,    /* ... to DATA */
    PHASE_BODY,    /* ... to the end of the message */
};

struct smtp_send {
    struct ev_loop *loop;
    struct xfer *x; /* borrowed */
    CURL *easy;
    char **rcpts; /* owned */
    size_t nrcpts, next_rcpt;
    char *from; /* owned */
    char *body; /* owned: the message dot-stuffed, ending in CRLF.CRLF */
    size_t body_len;
    enum phase phase;
    curl_socket_t fd;
    ev_io io;        /* io.data = this */
    ev_timer timer;  /* the rest of timeout_s after connecting; timer.data = this */
    double deadline; /* ev_now() + timeout_s at the start */
    char *out;       /* the command or body being sent: borrowed from body or owned in cmd */
    size_t out_len, out_off;
    char cmd[600];
    char in[IN_MAX + 1];
    size_t in_len;
    smtp_done_fn *done;
    void *arg;
    char reply[SMTP_REPLY_MAX]; /* the last reply line other than QUIT's */
    bool replied;               /* a reply line came */
    bool tls_for_auth;          /* STARTTLS was made a must because credentials are set */
    char curl_err[CURL_ERROR_SIZE];
};

static void send_free(struct smtp_send *s)
{
    ev_io_stop(s->loop, &s->io);
    ev_timer_stop(s->loop, &s->timer);
    if (s->easy) {
        xfer_abort(s->x, s->easy); /* removing a CONNECT_ONLY handle closes its connection */
        curl_easy_cleanup(s->easy);
    }
    for (size_t i = 0; i < s->nrcpts; i++)
        free(s->rcpts[i]);
    free(s->rcpts);
    free(s->from);
    free(s->body);
    free(s);
}

/* Keeps `line` (n bytes, no line end) as the last reply line, control characters as '?'. */
static void reply_keep(struct smtp_send *s, const char *line, size_t n)
{
    if (n >= sizeof(s->reply))
        n = sizeof(s->reply) - 1;
    for (size_t i = 0; i < n; i++)
        s->reply[i] = (unsigned char)line[i] < 0x20 || line[i] == 0x7f ? '?' : line[i];
    s->reply[n] = '\0';
    s->replied = true;
}

/* During libcurl's part, server lines arrive as CURLINFO_HEADER_IN. */
static int reply_on_debug(CURL *easy, curl_infotype type, char *data, size_t size, void *arg)
{
    struct smtp_send *s = arg;
    size_t n = size;

    if (type != CURLINFO_HEADER_IN || size < 3 || strncmp(data, "221", 3) == 0)
        return 0;
    while (n && (data[n - 1] == '\n' || data[n - 1] == '\r'))
        n--;
    for (size_t i = 0; i < n; i++) /* a multi-line reply keeps its last line */
        if (data[i] == '\n' && i + 1 < n)
            return reply_on_debug(easy, type, data + i + 1, size - i - 1, arg);
    reply_keep(s, data, n);
    return 0;
}

/* ---- ending ------------------------------------------------------------------------- */

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
    case CURLE_SSL_ENGINE_INITFAILED:
        return true;
    default:
        return false;
    }
}

/* libcurl's part failed: the outcome and the error class, as Ruby's Net::SMTP names them. */
static void connect_classify(struct smtp_send *s, CURLcode c, long code, struct smtp_result *res)
{
    res->outcome = SMTP_FAILED;
    res->error_class = "Net::SMTPUnknownError";
    if (c == CURLE_USE_SSL_FAILED && s->tls_for_auth) {
        res->outcome = SMTP_TLS_FAILED;
        res->error_class = "Net::SMTPUnsupportedCommand"; /* Net::SMTP's "STARTTLS is not
                                                             supported on this server" */
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

/* Reports and frees. `error` is a sentence for failures, NULL when sent. */
static void send_end(struct smtp_send *s, enum smtp_outcome outcome, const char *error_class,
                     int code, const char *error)
{
    struct smtp_result res = {outcome, code, s->reply, error_class, error ? error : ""};

    s->done(&res, s->arg);
    send_free(s);
}

static const char *phase_name(const struct smtp_send *s)
{
    static const char *const names[] = {"connecting", "MAIL FROM", "RCPT TO", "DATA",
                                        "the end of the message"};
    return names[s->phase];
}

/* The server answered `code` where another code was needed. */
static void send_refused(struct smtp_send *s, int code)
{
    char error[SMTP_REPLY_MAX + 128];

    (void)snprintf(error, sizeof(error), "SMTP server replied \"%s\" to %s", s->reply,
                   phase_name(s));
    send_end(s, SMTP_REFUSED,
             code >= 500   ? "Net::SMTPFatalError"
             : code >= 400 ? "Net::SMTPServerBusy"
                           : "Net::SMTPUnknownError",
             code, error);
}

static void send_broken(struct smtp_send *s, const char *why)
{
    char error[256];

    (void)snprintf(error, sizeof(error), "the SMTP connection failed during %s: %s", phase_name(s),
                   why);
    send_end(s, SMTP_FAILED, "EOFError", 0, error);
}

/* ---- talking ------------------------------------------------------------------------ */

static void io_want(struct smtp_send *s, int events)
{
    ev_io_stop(s->loop, &s->io);
    ev_io_set(&s->io, s->fd, events);
    ev_io_start(s->loop, &s->io);
}

/* Starts sending `text` (a command, or the body); then a reply is awaited. */
static void out_start(struct smtp_send *s, char *text, size_t len)
{
    s->out = text;
    s->out_len = len;
    s->out_off = 0;
    s->in_len = 0;
    io_want(s, EV_WRITE);
}

/* "VERB\r\n", or "VERB:<addr>\r\n" when `addr` is given. */
static void cmd_send(struct smtp_send *s, const char *verb, const char *addr)
{
    int n = addr ? snprintf(s->cmd, sizeof(s->cmd), "%s:<%s>\r\n", verb, addr)
                 : snprintf(s->cmd, sizeof(s->cmd), "%s\r\n", verb);

    out_start(s, s->cmd, (size_t)n < sizeof(s->cmd) ? (size_t)n : sizeof(s->cmd) - 1);
}

/* A complete reply came: the last line is "NNN text". */
static void reply_on_complete(struct smtp_send *s, int code)
{
    switch (s->phase) {
    case PHASE_MAIL:
    case PHASE_RCPT:
        if (code != 250 && code != 251) {
            send_refused(s, code);
            return;
        }
        if (s->next_rcpt < s->nrcpts) {
            s->phase = PHASE_RCPT;
            cmd_send(s, "RCPT TO", s->rcpts[s->next_rcpt++]);
            return;
        }
        s->phase = PHASE_DATA;
        cmd_send(s, "DATA", NULL);
        return;
    case PHASE_DATA:
        if (code != 354) {
            send_refused(s, code);
            return;
        }
        s->phase = PHASE_BODY;
        out_start(s, s->body, s->body_len);
        return;
    case PHASE_BODY:
        if (code < 200 || code > 299) {
            send_refused(s, code);
            return;
        }
        /* QUIT without waiting for its answer: the message is the server's already */
        (void)curl_easy_send(s->easy, "QUIT\r\n", 6, &(size_t){0});
        send_end(s, SMTP_SENT, "", code, NULL);
        return;
    case PHASE_CONNECT:
        break;
    }
}

/* Reads what came; returns the code once a whole reply is in, 0 while it is not, -1 after
 * reporting a failure. */
static int reply_read(struct smtp_send *s)
{
    for (;;) {
        char buf[1024];
        size_t got = 0;
        CURLcode c = curl_easy_recv(s->easy, buf, sizeof(buf), &got);

        if (c == CURLE_AGAIN)
            break;
        if (c != CURLE_OK || got == 0) {
            send_broken(s,
                        c == CURLE_OK ? "the server closed the connection" : curl_easy_strerror(c));
            return -1;
        }
        if (got > IN_MAX - s->in_len)
            got = IN_MAX - s->in_len; /* a reply this long is cut; its last line still counts */
        memcpy(s->in + s->in_len, buf, got);
        s->in_len += got;
    }
    s->in[s->in_len] = '\0';
    /* complete when the buffer ends a line that reads "NNN " or "NNN" alone */
    if (s->in_len < 2 || memcmp(s->in + s->in_len - 2, "\r\n", 2) != 0)
        return 0;
    const char *last = s->in + s->in_len - 2;
    while (last > s->in && last[-1] != '\n')
        last--;
    if (strlen(last) < 5 || (last[3] != ' ' && last[3] != '\r'))
        return 0;
    reply_keep(s, last, (size_t)(s->in + s->in_len - 2 - last));
    return (int)strtol(last, NULL, 10) > 0 ? (int)strtol(last, NULL, 10) : 1;
}

static void io_on_ready(struct ev_loop *loop, ev_io *w, int revents)
{
    struct smtp_send *s = w->data;
    int code;

    if (s->out_off < s->out_len) {
        while (s->out_off < s->out_len) {
            size_t sent = 0;
            CURLcode c =
                curl_easy_send(s->easy, s->out + s->out_off, s->out_len - s->out_off, &sent);

            if (c == CURLE_AGAIN)
                return; /* still EV_WRITE */
            if (c != CURLE_OK) {
                send_broken(s, curl_easy_strerror(c));
                return;
            }
            s->out_off += sent;
        }
        io_want(s, EV_READ);
        return;
    }
    code = reply_read(s);
    if (code > 0)
        reply_on_complete(s, code);
}

static void timer_on_expiry(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct smtp_send *s = w->data;
    char error[128];

    (void)snprintf(error, sizeof(error), "the SMTP server did not answer %s in time",
                   phase_name(s));
    send_end(s, SMTP_TIMEOUT, "Net::ReadTimeout", 0, error);
}

/* libcurl connected, with TLS and AUTH as asked: the envelope is ours from here. */
static void connect_on_done(CURL *easy, CURLcode c, void *arg)
{
    struct smtp_send *s = arg;
    struct smtp_result res = {0};
    char error[SMTP_REPLY_MAX + CURL_ERROR_SIZE + 64];
    curl_socket_t fd = CURL_SOCKET_BAD;
    long code = 0;
    double left;

    if (c == CURLE_OK && curl_easy_getinfo(easy, CURLINFO_ACTIVESOCKET, &fd) == CURLE_OK &&
        fd != CURL_SOCKET_BAD) {
        s->fd = fd;
        s->phase = PHASE_MAIL;
        left = s->deadline - ev_now(s->loop);
        ev_timer_set(&s->timer, left > 0.001 ? left : 0.001, 0.0);
        ev_timer_start(s->loop, &s->timer);
        ev_io_init(&s->io, io_on_ready, fd, EV_WRITE);
        s->io.data = s;
        cmd_send(s, "MAIL FROM", s->from);
        return;
    }
    (void)curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
    if (s->replied)
        code = strtol(s->reply, NULL, 10); /* the reply that ended it, not an earlier one */
    connect_classify(s, c, code, &res);
    if (c == CURLE_USE_SSL_FAILED && s->tls_for_auth)
        (void)snprintf(error, sizeof(error),
                       "the SMTP server offers no STARTTLS and AUTH is never sent in clear "
                       "text; use a server with STARTTLS or smtps://, or set "
                       "smtp.allow_plaintext_auth = true");
    else if (s->replied && code >= 400)
        (void)snprintf(error, sizeof(error), "SMTP server replied \"%s\" (%s)", s->reply,
                       *s->curl_err ? s->curl_err : curl_easy_strerror(c));
    else
        (void)snprintf(error, sizeof(error), "%s",
                       *s->curl_err ? s->curl_err : curl_easy_strerror(c));
    send_end(s, res.outcome, res.error_class, (int)code, error);
}

/* ---- set-up ------------------------------------------------------------------------- */

/* `msg` with every line starting with '.' given another, ending in CRLF.CRLF (RFC 5321
 * 4.5.2). */
static char *body_stuff(const char *msg, size_t len, size_t *ret_len)
{
    size_t dots = 0, n = 0;
    bool at_start = true;
    char *out;

    for (size_t i = 0; i < len; i++) {
        dots += at_start && msg[i] == '.';
        at_start = msg[i] == '\n';
    }
    out = xmalloc(len + dots + 6);
    at_start = true;
    for (size_t i = 0; i < len; i++) {
        if (at_start && msg[i] == '.')
            out[n++] = '.';
        out[n++] = msg[i];
        at_start = msg[i] == '\n';
    }
    if (n < 2 || memcmp(out + n - 2, "\r\n", 2) != 0)
        memcpy(out + n, "\r\n", 2), n += 2;
    memcpy(out + n, ".\r\n", 3);
    *ret_len = n + 3;
    return out;
}

static long ms(double s)
{
    return (long)(s * 1000.0 + 0.5);
}

/* AUTH would be sent: a user or password is set, in the fields or in the URL's userinfo. */
static bool credentials_set(const struct smtp_server *srv)
{
    const char *rest = strstr(srv->url, "://");

    return (srv->username && *srv->username) || (srv->password && *srv->password) ||
           (rest && strchr(rest + 3, '@'));
}

static int easy_setup(struct smtp_send *s, const struct smtp_server *srv)
{
    static const long tls[] = {[SMTP_TLS_TRY] = CURLUSESSL_TRY,
                               [SMTP_TLS_ALWAYS] = CURLUSESSL_ALL,
                               [SMTP_TLS_NEVER] = CURLUSESSL_NONE};
    long use_ssl = tls[srv->tls];
    CURL *e = s->easy;
    bool bad;

    /* with "try", a server without STARTTLS would get AUTH PLAIN in clear text */
    if (use_ssl != CURLUSESSL_ALL && !srv->allow_plaintext_auth &&
        strncmp(srv->url, "smtps://", 8) != 0 && credentials_set(srv)) {
        use_ssl = CURLUSESSL_ALL;
        s->tls_for_auth = true;
    }

    bad = curl_easy_setopt(e, CURLOPT_URL, srv->url) != CURLE_OK ||
          curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "smtp,smtps") != CURLE_OK ||
          curl_easy_setopt(e, CURLOPT_CONNECT_ONLY, 1L) != CURLE_OK ||
          curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
          curl_easy_setopt(e, CURLOPT_USE_SSL, use_ssl) != CURLE_OK ||
          curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, ms(srv->connect_timeout_s)) != CURLE_OK ||
          curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, ms(srv->timeout_s)) != CURLE_OK ||
          curl_easy_setopt(e, CURLOPT_ERRORBUFFER, s->curl_err) != CURLE_OK ||
          curl_easy_setopt(e, CURLOPT_DEBUGFUNCTION, reply_on_debug) != CURLE_OK ||
          curl_easy_setopt(e, CURLOPT_DEBUGDATA, s) != CURLE_OK ||
          curl_easy_setopt(e, CURLOPT_VERBOSE, 1L) != CURLE_OK;
    if (!bad && srv->username && *srv->username)
        bad = curl_easy_setopt(e, CURLOPT_USERNAME, srv->username) != CURLE_OK;
    if (!bad && srv->password && *srv->password)
        bad = curl_easy_setopt(e, CURLOPT_PASSWORD, srv->password) != CURLE_OK;
    if (!bad && srv->ca_file && *srv->ca_file)
        bad = curl_easy_setopt(e, CURLOPT_CAINFO, srv->ca_file) != CURLE_OK;
    return bad ? -EINVAL : 0;
}

int smtp_send(struct ev_loop *loop, struct xfer *x, const struct smtp_server *srv,
              const char *mail_from, const char *const *rcpts, size_t nrcpts, char *msg, size_t len,
              smtp_done_fn *done, void *arg, struct smtp_send **ret_send)
{
    struct smtp_send *s;
    int r;

    if (nrcpts == 0) {
        free(msg);
        return -EINVAL;
    }
    s = xcalloc(1, sizeof(*s));
    s->loop = loop;
    s->x = x;
    s->done = done;
    s->arg = arg;
    s->fd = CURL_SOCKET_BAD;
    ev_io_init(&s->io, io_on_ready, 0, 0);
    ev_timer_init(&s->timer, timer_on_expiry, 0.0, 0.0);
    s->io.data = s->timer.data = s;
    s->deadline = ev_now(loop) + srv->timeout_s;
    s->body = body_stuff(msg, len, &s->body_len);
    free(msg);
    s->from = xstrdup(mail_from);
    s->rcpts = xcalloc(nrcpts, sizeof(*s->rcpts));
    s->nrcpts = nrcpts;
    for (size_t i = 0; i < nrcpts; i++)
        s->rcpts[i] = xstrdup(rcpts[i]);
    s->easy = xfer_easy_new();
    r = s->easy ? easy_setup(s, srv) : -EIO; /* xfer_easy_why() says why */
    if (r == 0)
        r = xfer_start_keep(x, s->easy, connect_on_done, s);
    if (r < 0)
        goto fail;
    *ret_send = s;
    return 0;
fail:
    send_free(s); /* xfer_abort() ignores a handle it never started */
    return r;
}

void smtp_abort(struct smtp_send *s)
{
    send_free(s);
}
