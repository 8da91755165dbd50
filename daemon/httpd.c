/* httpd.c - libmicrohttpd driven from the libev loop: its epoll fd and its timeout. */
#include "daemon/httpd.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <ev.h>
#include <jansson.h>
#include <microhttpd.h>

#include "lib/err.h"
#include "lib/httpd_host.h"
#include "lib/log.h"
#include "lib/parse.h"
#include "lib/util.h"
#include "lib/xalloc.h"

#define LISTEN_BACKLOG 1024 /* the kernel caps it at net.core.somaxconn */
#define WARN_INTERVAL_S 1.0 /* each kind of warning: at most one line per second */
#define FD_RESERVE 256      /* descriptors kept for the rest of nexusd beside connections */
/* httpd_respond_json()'s answer when it is given no JSON to send */
#define ANSWER_UNBUILT "{\"error\":\"the answer could not be built\"}"

struct route {
    char *method; /* owned */
    char *path;   /* owned; a prefix when it ends in '/' */
    size_t len;
    httpd_handler_fn *fn;
    void *arg;
};

/* One connection, from libmicrohttpd's start notice to its close notice (socket_context). */
struct conn {
    struct conn *prev, *next; /* in h->waiting while a request header is awaited */
    struct MHD_Connection *mc;
    double since;    /* ev_now() when the wait for the header began */
    bool nul_in_url; /* the request's URL holds %00: 400 */
};

/* A kind of warning logged at most once per WARN_INTERVAL_S; the rest are counted. */
struct ratelog {
    double at;
    unsigned suppressed;
};

struct httpd_req {
    struct httpd_req *prev, *next; /* in h->live while the handler owns it */
    struct httpd *h;               /* NULL once detached by httpd_free() */
    struct MHD_Connection *conn;   /* NULL once libmicrohttpd is done with it */
    char *method, *path;           /* owned */
    char peer[INET6_ADDRSTRLEN + 16];
    char *body; /* owned; NUL-terminated, len bytes */
    size_t len;
    double started_at;
    ev_timer deadline; /* deadline.data = req; while suspended */
    unsigned status;   /* of the answer queued, 0 before */
    bool too_large;    /* the body went past max_body */
    bool dispatched;   /* the handler was called */
    bool in_handler;   /* ... and is on the stack */
    bool handler_done; /* ... and answered */
    bool suspended;
    bool mhd_done;              /* libmicrohttpd reported the request complete */
    const char *const *headers; /* static: name, value, ..., NULL; added to the answer */
};

struct httpd {
    struct ev_loop *loop;
    struct MHD_Daemon *d;
    char *unix_path; /* owned; removed at free; NULL for TCP */
    char address[sizeof(((struct sockaddr_un *)0)->sun_path) + 8];
    struct route *routes;
    size_t nroutes;
    struct httpd_req live; /* list head: requests their handler owns */
    size_t max_body;
    double answer_timeout_s;
    ev_io io;              /* libmicrohttpd's epoll fd */
    ev_timer timer;        /* its next timeout */
    bool closed;           /* a connection closed during this MHD_run() */
    struct conn waiting;   /* list head: connections awaiting a header, oldest first */
    ev_timer header_timer; /* the oldest one's deadline */
    double header_timeout_s;
    unsigned nconns; /* open now */
    unsigned max_connections;
    bool full;            /* nconns reached max_connections */
    char *listen;         /* owned: as configured, for the Host check */
    char **allowed_hosts; /* owned, NULL-terminated; NULL when none */
    struct ratelog mhd_log, limit_log, header_log, refuse_log;
};

/* ---- the loop ---- */

static void mhd_drive(struct httpd *h)
{
    MHD_UNSIGNED_LONG_LONG ms;

    h->closed = false;
    (void)MHD_run(h->d);
    ev_timer_stop(h->loop, &h->timer);
    /* At its connection limit libmicrohttpd takes its listening socket out of its epoll set,
     * and puts it back only at the start of a later run: after a close, run again at once,
     * or the endpoint would stay deaf when no other event or timeout comes. */
    if (h->closed) {
        ev_timer_set(&h->timer, 0, 0);
        ev_timer_start(h->loop, &h->timer);
    } else if (MHD_get_timeout(h->d, &ms) == MHD_YES) {
        ev_timer_set(&h->timer, (double)ms / 1000.0, 0);
        ev_timer_start(h->loop, &h->timer);
    }
}

static void mhd_on_io(struct ev_loop *loop, ev_io *w, int revents)
{
    mhd_drive(w->data);
}

static void mhd_on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    mhd_drive(w->data);
}

/* A resumed connection is processed on the next loop iteration. */
static void mhd_kick(struct httpd *h)
{
    ev_timer_stop(h->loop, &h->timer);
    ev_timer_set(&h->timer, 0, 0);
    ev_timer_start(h->loop, &h->timer);
}

/* Whether a line of this kind may be logged now; if so, *ret_suppressed is how many were
 * not since the last one. */
static bool ratelog_allow(struct ratelog *rl, unsigned *ret_suppressed)
{
    double now = util_now();

    if (now - rl->at < WARN_INTERVAL_S) {
        rl->suppressed++;
        return false;
    }
    *ret_suppressed = rl->suppressed;
    rl->at = now;
    rl->suppressed = 0;
    return true;
}

static void mhd_on_log(void *cls, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void mhd_on_log(void *cls, const char *fmt, va_list ap)
{
    struct httpd *h = cls;
    unsigned suppressed;
    char msg[256];
    size_t n;

    if (!ratelog_allow(&h->mhd_log, &suppressed))
        return;
    (void)vsnprintf(msg, sizeof(msg), fmt, ap);
    n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
        msg[--n] = '\0';
    log_warn("event=http_warning msg=%s suppressed=%u", log_q(msg), suppressed);
}

/* ---- connections: the limit, and the deadline of each request header ---- */

static void peer_format(struct MHD_Connection *conn, char *buf, size_t size);

static struct conn *conn_of(struct MHD_Connection *mc)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(mc, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

    return ci ? ci->socket_context : NULL;
}

static void header_timer_arm(struct httpd *h)
{
    struct conn *c = h->waiting.next;

    ev_timer_stop(h->loop, &h->header_timer);
    if (c == &h->waiting)
        return;
    ev_timer_set(&h->header_timer, c->since + h->header_timeout_s - ev_now(h->loop) + 0.001, 0);
    ev_timer_start(h->loop, &h->header_timer);
}

/* The connection awaits a request header from now on. */
static void wait_start(struct httpd *h, struct conn *c)
{
    if (c->next != c)
        return;
    c->since = ev_now(h->loop);
    c->prev = h->waiting.prev;
    c->next = &h->waiting;
    h->waiting.prev->next = c;
    h->waiting.prev = c;
    if (!ev_is_active(&h->header_timer))
        header_timer_arm(h);
}

/* The header came whole, or the connection is gone; the timer may fire early, harmlessly. */
static void wait_stop(struct conn *c)
{
    c->prev->next = c->next;
    c->next->prev = c->prev;
    c->prev = c->next = c;
}

/* Closes connections whose header is late: libmicrohttpd then reads end of file. */
static void header_on_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct httpd *h = w->data;
    double now = ev_now(loop);
    unsigned closed = 0, suppressed;
    char peer[INET6_ADDRSTRLEN + 16] = "";
    struct conn *c;

    while ((c = h->waiting.next) != &h->waiting && c->since + h->header_timeout_s <= now) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(c->mc, MHD_CONNECTION_INFO_CONNECTION_FD);

        wait_stop(c);
        if (!closed)
            peer_format(c->mc, peer, sizeof(peer));
        if (ci)
            (void)shutdown(ci->connect_fd, SHUT_RDWR);
        closed++;
    }
    header_timer_arm(h);
    if (!closed)
        return;
    if (ratelog_allow(&h->header_log, &suppressed))
        log_warn("event=http_header_timeout closed=%u peer=%s after=%.1fs suppressed=%u", closed,
                 log_q(peer), h->header_timeout_s, suppressed);
    mhd_kick(h);
}

static void mhd_on_connection(void *cls, struct MHD_Connection *mc, void **socket_context,
                              enum MHD_ConnectionNotificationCode code)
{
    struct httpd *h = cls;
    struct conn *c = *socket_context;
    unsigned suppressed;

    if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        h->nconns--;
        h->closed = true;
        h->full = h->full && h->nconns >= h->max_connections;
        if (c)
            wait_stop(c);
        free(c);
        *socket_context = NULL;
        return;
    }
    h->nconns++;
    if (h->nconns >= h->max_connections && !h->full) {
        h->full = true;
        if (ratelog_allow(&h->limit_log, &suppressed))
            log_warn("event=http_limit_reached connections=%u max_connections=%u "
                     "why=\"more wait in the listen queue until one closes\" suppressed=%u",
                     h->nconns, h->max_connections, suppressed);
    }
    c = xcalloc(1, sizeof(*c));
    c->mc = mc;
    c->prev = c->next = c;
    *socket_context = c;
    wait_start(h, c);
}

/* libmicrohttpd's unescaping, noting %00, which would cut the path or a query value short. */
static size_t mhd_on_unescape(void *cls, struct MHD_Connection *mc, char *s)
{
    struct conn *c = conn_of(mc);

    if (c && strstr(s, "%00"))
        c->nul_in_url = true;
    return MHD_http_unescape(s);
}

/* ---- requests ---- */

static void live_add(struct httpd *h, struct httpd_req *req)
{
    req->prev = h->live.prev;
    req->next = &h->live;
    h->live.prev->next = req;
    h->live.prev = req;
}

static void live_del(struct httpd_req *req)
{
    req->prev->next = req->next;
    req->next->prev = req->prev;
    req->prev = req->next = req;
}

static void peer_format(struct MHD_Connection *conn, char *buf, size_t size)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = ci ? ci->client_addr : NULL;
    char ip[INET6_ADDRSTRLEN];

    if (sa && sa->sa_family == AF_INET &&
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, ip, sizeof(ip)))
        (void)snprintf(buf, size, "%s:%u", ip, ntohs(((const struct sockaddr_in *)sa)->sin_port));
    else if (sa && sa->sa_family == AF_INET6 &&
             inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, ip, sizeof(ip)))
        (void)snprintf(buf, size, "[%s]:%u", ip,
                       ntohs(((const struct sockaddr_in6 *)sa)->sin6_port));
    else
        (void)snprintf(buf, size, "unix");
}

static void req_free(struct httpd_req *req)
{
    free(req->method);
    free(req->path);
    free(req->body);
    free(req);
}

static struct httpd_req *req_new(struct httpd *h, struct MHD_Connection *conn, const char *method,
                                 const char *url)
{
    struct httpd_req *req = xcalloc(1, sizeof(*req));

    req->prev = req->next = req;
    req->h = h;
    req->conn = conn;
    req->method = xstrdup(method);
    req->path = xstrndup(url, strcspn(url, "?"));
    req->body = xstrdup("");
    req->started_at = util_now();
    peer_format(conn, req->peer, sizeof(req->peer));
    return req;
}

/* Queues the answer on the connection; resumes it when suspended. */
static void req_send(struct httpd_req *req, unsigned status, const char *content_type,
                     const char *body, size_t len, const char *allow)
{
    struct MHD_Response *resp;

    if (!req->h || !req->conn || req->status)
        return;
    req->status = status;
    resp = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (resp) {
        (void)MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
        (void)MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
        (void)MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
        if (allow)
            (void)MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
        for (const char *const *hp = req->headers; hp && hp[0] && hp[1]; hp += 2)
            (void)MHD_add_response_header(resp, hp[0], hp[1]);
        (void)MHD_queue_response(req->conn, status, resp);
        MHD_destroy_response(resp);
    }
    log_debug("event=http method=%s path=%s status=%u peer=%s duration_ms=%.3f", log_q(req->method),
              log_q(req->path), status, log_q(req->peer), (util_now() - req->started_at) * 1000.0);
    if (req->suspended) {
        req->suspended = false;
        ev_timer_stop(req->h->loop, &req->deadline);
        MHD_resume_connection(req->conn);
        mhd_kick(req->h);
    }
}

/* `message` is one of ours, ASCII: json_pack() and json_dumps() cannot fail on it. */
static void send_error(struct httpd_req *req, unsigned status, const char *message,
                       const char *allow)
{
    json_t *body = json_pack("{s:s}", "error", message);
    char *text = json_dumps(body, JSON_COMPACT);

    req_send(req, status, "application/json", text, strlen(text), allow);
    free(text);
    json_decref(body);
}

static void req_on_deadline(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct httpd_req *req = w->data;

    log_warn("event=http_timeout method=%s path=%s peer=%s after=%.1fs", log_q(req->method),
             log_q(req->path), log_q(req->peer), req->h->answer_timeout_s);
    send_error(req, MHD_HTTP_GATEWAY_TIMEOUT, "no answer in time", NULL);
}

/* The route for the request, or NULL with 404/405 answered. */
static const struct route *route_find(struct httpd_req *req)
{
    struct httpd *h = req->h;
    const char *method = strcmp(req->method, "HEAD") == 0 ? "GET" : req->method;
    char allow[128] = "";
    bool known = false;

    for (size_t i = 0; i < h->nroutes; i++) {
        const struct route *rt = &h->routes[i];
        bool prefix = rt->path[rt->len - 1] == '/';

        if (prefix ? strncmp(req->path, rt->path, rt->len) != 0 : strcmp(req->path, rt->path) != 0)
            continue;
        if (strcmp(rt->method, method) == 0)
            return rt;
        known = true;
        if (!strstr(allow, rt->method) && strlen(allow) + strlen(rt->method) + 8 < sizeof(allow))
            (void)snprintf(allow + strlen(allow), sizeof(allow) - strlen(allow), "%s%s%s",
                           *allow ? ", " : "", rt->method,
                           strcmp(rt->method, "GET") == 0 ? ", HEAD" : "");
    }
    if (known)
        send_error(req, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed", allow);
    else
        send_error(req, MHD_HTTP_NOT_FOUND, "not found", NULL);
    return NULL;
}

static void req_dispatch(struct httpd_req *req)
{
    struct httpd *h = req->h;
    const struct route *rt;

    if (req->too_large) {
        send_error(req, MHD_HTTP_CONTENT_TOO_LARGE, "request body too large", NULL);
        return;
    }
    rt = route_find(req);
    if (!rt)
        return;
    req->dispatched = true;
    live_add(h, req);
    req->in_handler = true;
    rt->fn(req, rt->arg);
    req->in_handler = false;
    if (req->handler_done)
        return;
    MHD_suspend_connection(req->conn);
    req->suspended = true;
    ev_timer_init(&req->deadline, req_on_deadline, h->answer_timeout_s, 0);
    req->deadline.data = req;
    ev_timer_start(h->loop, &req->deadline);
}

/* Content-Length above the limit: refused before the body is read. */
static bool length_too_large(struct httpd_req *req)
{
    const char *cl =
        MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    int64_t n;

    return cl && parse_i64(cl, 0, INT64_MAX, &n) == 0 && (uint64_t)n > req->h->max_body;
}

struct header_count {
    unsigned host, content_length, transfer_encoding;
};

static enum MHD_Result header_on_each(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value)
{
    struct header_count *n = cls;

    if (strcasecmp(key, MHD_HTTP_HEADER_HOST) == 0)
        n->host++;
    else if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0)
        n->content_length++;
    else if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0)
        n->transfer_encoding++;
    return MHD_YES;
}

/* Answers 400 a request that peers could read in two ways (as nginx does), 421 one for a
 * host this server does not answer for (DNS rebinding); returns whether it did. */
static bool req_refuse(struct httpd_req *req, struct conn *c)
{
    struct httpd *h = req->h;
    struct header_count n = {0};
    const char *host, *why = NULL;
    unsigned status = MHD_HTTP_BAD_REQUEST, suppressed;

    (void)MHD_get_connection_values(req->conn, MHD_HEADER_KIND, header_on_each, &n);
    host = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
    if (c && c->nul_in_url)
        why = "%00 in the URL";
    else if (n.host > 1)
        why = "more than one Host header";
    else if (n.content_length > 1)
        why = "more than one Content-Length header";
    else if (n.content_length && n.transfer_encoding)
        why = "both Content-Length and Transfer-Encoding";
    else if (!httpd_host_allowed(host, h->listen, (const char *const *)h->allowed_hosts)) {
        status = MHD_HTTP_MISDIRECTED_REQUEST;
        why = "unknown host (see http.allowed_hosts)";
    }
    if (c)
        c->nul_in_url = false;
    if (!why)
        return false;
    if (ratelog_allow(&h->refuse_log, &suppressed))
        log_warn("event=http_refused status=%u err=%s method=%s path=%s host=%s peer=%s "
                 "suppressed=%u",
                 status, log_q(why), log_q(req->method), log_q(req->path), log_q(host),
                 log_q(req->peer), suppressed);
    send_error(req, status, why, NULL);
    return true;
}

static enum MHD_Result mhd_on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                      const char *method, const char *version,
                                      const char *upload_data, size_t *upload_data_size,
                                      void **con_cls)
{
    struct httpd *h = cls;
    struct httpd_req *req = *con_cls;

    if (!req) {
        struct conn *c = conn_of(conn);

        if (c)
            wait_stop(c); /* the header is whole */
        req = req_new(h, conn, method, url);
        *con_cls = req;
        if (req_refuse(req, c))
            return MHD_YES;
        if (length_too_large(req))
            send_error(req, MHD_HTTP_CONTENT_TOO_LARGE, "request body too large", NULL);
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;

        *upload_data_size = 0;
        if (req->status || req->too_large)
            return MHD_YES;
        if (n > h->max_body - req->len) {
            req->too_large = true;
            return MHD_YES;
        }
        req->body = xreallocarray(req->body, req->len + n + 1, 1);
        memcpy(req->body + req->len, upload_data, n);
        req->len += n;
        req->body[req->len] = '\0';
        return MHD_YES;
    }
    if (!req->status && !req->dispatched)
        req_dispatch(req);
    return MHD_YES;
}

static void mhd_on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                             enum MHD_RequestTerminationCode toe)
{
    struct httpd_req *req = *con_cls;
    struct httpd *h = cls;
    struct conn *c = conn_of(conn);

    /* kept alive, the connection awaits its next request's header from now on */
    if (c && toe == MHD_REQUEST_TERMINATED_COMPLETED_OK)
        wait_start(h, c);
    if (!req)
        return;
    *con_cls = NULL;
    req->conn = NULL;
    req->mhd_done = true;
    if (req->suspended && req->h)
        ev_timer_stop(req->h->loop, &req->deadline);
    req->suspended = false;
    if (!req->dispatched || req->handler_done)
        req_free(req);
}

/* ---- the handler's side ---- */

const char *httpd_req_method(const struct httpd_req *req)
{
    return req->method;
}

const char *httpd_req_path(const struct httpd_req *req)
{
    return req->path;
}

const char *httpd_req_header(const struct httpd_req *req, const char *name)
{
    return req->conn && !req->status ? MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name)
                                     : NULL;
}

const char *httpd_req_query(const struct httpd_req *req, const char *name)
{
    return req->conn && !req->status
               ? MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name)
               : NULL;
}

const char *httpd_req_body(const struct httpd_req *req, size_t *len)
{
    if (len)
        *len = req->len;
    return req->body;
}

const char *httpd_req_peer(const struct httpd_req *req)
{
    return req->peer;
}

void httpd_req_set_headers(struct httpd_req *req, const char *const *headers)
{
    req->headers = headers;
}

void httpd_respond(struct httpd_req *req, unsigned status, const char *content_type,
                   const char *body, size_t len)
{
    if (req->handler_done) {
        log_error("event=http_bug err=\"request answered twice\" path=%s", log_q(req->path));
        return;
    }
    req->handler_done = true;
    live_del(req);
    req_send(req, status, content_type, body, len, NULL);
    if (req->mhd_done)
        req_free(req);
}

void httpd_respond_json(struct httpd_req *req, unsigned status, json_t *body)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;

    json_decref(body);
    if (text)
        httpd_respond(req, status, "application/json", text, strlen(text));
    else
        httpd_respond(req, 500, "application/json", ANSWER_UNBUILT, sizeof(ANSWER_UNBUILT) - 1);
    free(text);
}

void httpd_respond_error(struct httpd_req *req, unsigned status, const char *message)
{
    httpd_respond_json(req, status, json_pack("{s:s}", "error", message));
}

/* ---- the server ---- */

void httpd_route(struct httpd *h, const char *method, const char *path, httpd_handler_fn *fn,
                 void *arg)
{
    struct route *rt;

    assert(*path); /* route_find() reads its last byte */
    h->routes = xreallocarray(h->routes, h->nroutes + 1, sizeof(*h->routes));
    rt = &h->routes[h->nroutes++];
    rt->method = xstrdup(method);
    rt->path = xstrdup(path);
    rt->len = strlen(path);
    rt->fn = fn;
    rt->arg = arg;
}

/* A listening socket on `listen` (see parse_listen()); writes the address bound. */
static int listen_open(struct httpd *h, const char *listen_at, struct err *err)
{
    struct sockaddr_storage ss, bound = {0}; /* read below even when getsockname() fails */
    socklen_t blen = sizeof(bound);
    unsigned len;
    struct stat st;
    char ip[INET6_ADDRSTRLEN];
    int fd, one = 1, r;

    if (parse_listen(listen_at, &ss, &len) < 0)
        return err_set(err, -EINVAL, "http.listen: cannot use '%s'", listen_at);
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return err_set(err, -errno, "http: socket(): %s", strerror(errno));
    if (ss.ss_family == AF_UNIX) {
        const char *path = ((struct sockaddr_un *)&ss)->sun_path;
        /* a socket file left by a process that is gone; anything else is refused by bind */
        if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
            (void)unlink(path);
        h->unix_path = xstrdup(path);
    } else {
        (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    }
    if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, LISTEN_BACKLOG) < 0) {
        r = -errno;
        close(fd);
        free(h->unix_path);
        h->unix_path = NULL;
        return err_set(err, r,
                       "http: cannot listen on %s: %s (set http.listen, or "
                       "http.enabled = false)",
                       listen_at, strerror(-r));
    }
    if (h->unix_path) {
        (void)chmod(h->unix_path, 0660);
        (void)snprintf(h->address, sizeof(h->address), "unix:%s", h->unix_path);
    } else if (getsockname(fd, (struct sockaddr *)&bound, &blen) == 0 &&
               bound.ss_family == AF_INET &&
               inet_ntop(AF_INET, &((struct sockaddr_in *)&bound)->sin_addr, ip, sizeof(ip))) {
        (void)snprintf(h->address, sizeof(h->address), "%s:%u", ip,
                       ntohs(((struct sockaddr_in *)&bound)->sin_port));
    } else if (bound.ss_family == AF_INET6 &&
               inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&bound)->sin6_addr, ip, sizeof(ip))) {
        (void)snprintf(h->address, sizeof(h->address), "[%s]:%u", ip,
                       ntohs(((struct sockaddr_in6 *)&bound)->sin6_port));
    }
    return fd;
}

/* How many connections fit in RLIMIT_NOFILE beside FD_RESERVE other descriptors, after
 * raising the soft limit (up to the hard one) to fit `want` when needed. */
static unsigned fd_room(unsigned want)
{
    rlim_t need = (rlim_t)want + FD_RESERVE;
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= need)
        return want;
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > need ? need : rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
        log_info("event=http_nofile_raised nofile=%llu max_connections=%u",
                 (unsigned long long)rl.rlim_cur, want);
    else if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return want;
    if (rl.rlim_cur >= need)
        return want;
    return rl.rlim_cur > 2 * FD_RESERVE ? (unsigned)(rl.rlim_cur - FD_RESERVE)
                                        : (unsigned)(rl.rlim_cur / 2 + 1);
}

static char **strv_copy(const char *const *v)
{
    size_t n = 0;
    char **copy;

    while (v && v[n])
        n++;
    copy = xcalloc(n + 1, sizeof(*copy));
    for (size_t i = 0; i < n; i++)
        copy[i] = xstrdup(v[i]);
    return copy;
}

struct httpd *httpd_new(struct ev_loop *loop, const struct httpd_cfg *cfg, struct err *err)
{
    struct httpd *h = xcalloc(1, sizeof(*h));
    const union MHD_DaemonInfo *info;
    int fd;

    h->loop = loop;
    h->live.prev = h->live.next = &h->live;
    h->waiting.prev = h->waiting.next = &h->waiting;
    h->max_body = cfg->max_body;
    h->answer_timeout_s = cfg->answer_timeout_s;
    h->header_timeout_s = cfg->header_timeout_s;
    ev_io_init(&h->io, mhd_on_io, -1, EV_READ);
    ev_timer_init(&h->timer, mhd_on_timer, 0, 0);
    ev_timer_init(&h->header_timer, header_on_timeout, 0, 0);
    h->io.data = h->timer.data = h->header_timer.data = h;
    h->listen = xstrdup(cfg->listen);
    h->allowed_hosts = strv_copy(cfg->allowed_hosts);
    h->max_connections = fd_room(cfg->max_connections);
    if (h->max_connections < cfg->max_connections)
        log_warn("event=http_nofile_low max_connections=%u using=%u "
                 "why=\"RLIMIT_NOFILE cannot fit http.max_connections: raise LimitNOFILE\"",
                 cfg->max_connections, h->max_connections);
    fd = listen_open(h, cfg->listen, err);
    if (fd < 0)
        goto fail;
    h->d = MHD_start_daemon(
        MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG, 0, NULL, NULL, mhd_on_request,
        h, MHD_OPTION_EXTERNAL_LOGGER, mhd_on_log, h, MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
        MHD_OPTION_CONNECTION_LIMIT, h->max_connections, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)(cfg->idle_timeout_s + 0.999), MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        cfg->max_header, MHD_OPTION_CONNECTION_MEMORY_INCREMENT, (size_t)1024,
        MHD_OPTION_NOTIFY_COMPLETED, mhd_on_completed, h, MHD_OPTION_NOTIFY_CONNECTION,
        mhd_on_connection, h, MHD_OPTION_UNESCAPE_CALLBACK, mhd_on_unescape, h,
        MHD_OPTION_STRICT_FOR_CLIENT, (int)1, MHD_OPTION_END);
    if (!h->d) {
        close(fd);
        err_set(err, -EIO, "http: libmicrohttpd could not start on %s", h->address);
        goto fail;
    }
    info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_EPOLL_FD);
    if (!info || info->epoll_fd < 0) {
        err_set(err, -EIO, "http: libmicrohttpd gave no epoll fd");
        goto fail;
    }
    ev_io_set(&h->io, info->epoll_fd, EV_READ);
    ev_io_start(loop, &h->io);
    mhd_kick(h);
    log_info("event=http_listen address=%s", log_q(h->address));
    return h;
fail:
    httpd_free(h);
    return NULL;
}

void httpd_free(struct httpd *h)
{
    struct httpd_req *req;

    if (!h)
        return;
    /* answer what handlers still hold, then detach it: their late answer only frees it */
    while ((req = h->live.next) != &h->live) {
        send_error(req, MHD_HTTP_SERVICE_UNAVAILABLE, "shutting down", NULL);
        ev_timer_stop(h->loop, &req->deadline);
        live_del(req);
        req->h = NULL;
    }
    ev_io_stop(h->loop, &h->io);
    ev_timer_stop(h->loop, &h->timer);
    if (h->d) {
        (void)MHD_run(h->d); /* takes in the resumed connections */
        MHD_stop_daemon(h->d);
    }
    ev_timer_stop(h->loop, &h->header_timer); /* after the last completion notice */
    if (h->unix_path)
        (void)unlink(h->unix_path);
    for (size_t i = 0; i < h->nroutes; i++) {
        free(h->routes[i].method);
        free(h->routes[i].path);
    }
    free(h->routes);
    free(h->unix_path);
    free(h->listen);
    for (size_t i = 0; h->allowed_hosts && h->allowed_hosts[i]; i++)
        free(h->allowed_hosts[i]);
    free(h->allowed_hosts);
    free(h);
}

const char *httpd_address(const struct httpd *h)
{
    return h->address;
}
