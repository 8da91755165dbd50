/* httpd.h - a small HTTP server on the libev loop (libmicrohttpd, no threads): routes,
 * bounded requests, answers now or later from any loop callback. */
#ifndef HTTPD_H
#define HTTPD_H

#include <stddef.h>

struct ev_loop;
struct err;
struct httpd;     /* opaque */
struct httpd_req; /* opaque: one request, valid until answered (see httpd_respond) */
typedef struct json_t json_t;

/* Limits of what one client may hold; every value > 0 except max_body. */
struct httpd_cfg {
    const char *listen;       /* "IP:PORT", "[IPv6]:PORT" or "unix:/path" (parse_listen) */
    unsigned max_connections; /* open at once; more wait in the listen queue until one closes
                                 (lowered when RLIMIT_NOFILE cannot fit it, see httpd_new) */
    double idle_timeout_s;    /* a silent connection is closed (whole seconds, >= 1) */
    double header_timeout_s;  /* a request's line and headers must be whole this long after
                                 the connection opened or its previous answer; else closed */
    const char *const *allowed_hosts; /* NULL-terminated, may be NULL: Host names answered
                                         besides loopback's (see httpd_host_allowed()) */
    size_t max_body;                  /* request body bytes; a larger one gets 413 */
    size_t max_header;                /* request line + header bytes; larger gets 431 */
    double answer_timeout_s;          /* a handler that has not answered by then: 504 for it */
};

/* Binds and listens at once (a unix socket's stale file is replaced; the file is removed
 * again by httpd_free()). Raises the process's soft RLIMIT_NOFILE when max_connections needs
 * it (logged), or lowers max_connections with a warning when the hard limit cannot fit it.
 * Every request is refused before its handler when it is ambiguous (400: both Content-Length
 * and Transfer-Encoding, more than one Content-Length or Host, %00 in the URL) or names a
 * host this server does not answer for (421, see httpd_host_allowed()). Strings of `cfg` are
 * copied. Caller owns the server, release with httpd_free(). Returns NULL and fills `err`
 * (e.g. the address is in use). */
struct httpd *httpd_new(struct ev_loop *loop, const struct httpd_cfg *cfg, struct err *err);
/* Closes every connection. Requests whose handler has not answered yet are detached: their
 * later httpd_respond() frees them and sends nothing. Accepts NULL. */
void httpd_free(struct httpd *h);
/* The address bound, e.g. "127.0.0.1:40123" (the real port when 0 was asked) or
 * "unix:/run/nexusd/http.sock". Borrowed, valid until httpd_free(). */
const char *httpd_address(const struct httpd *h);

/* Called once per request whose method and path match a route; must lead to exactly one
 * httpd_respond(), now or later. */
typedef void httpd_handler_fn(struct httpd_req *req, void *arg);
/* `path` is exact ("/metrics"), or a prefix when it ends in '/' ("/api/dead/"); the first
 * matching route wins. `method` is "GET", "POST", "DELETE", ...; a GET route also answers
 * HEAD. Unknown paths get 404, known paths with another method 405 (with Allow), both as
 * JSON. `method`, `path` (not empty) are copied; `arg` is borrowed. */
void httpd_route(struct httpd *h, const char *method, const char *path, httpd_handler_fn *fn,
                 void *arg);

/* The request's parts. Method, path (without the query), body and peer are borrowed, valid
 * until httpd_respond(); header and query values only until the handler returns (copy them
 * to use them later). NULL when absent. */
const char *httpd_req_method(const struct httpd_req *req);
const char *httpd_req_path(const struct httpd_req *req);
const char *httpd_req_header(const struct httpd_req *req, const char *name);
const char *httpd_req_query(const struct httpd_req *req, const char *name);
/* The whole body (at most max_body bytes, NUL-terminated after `len`); "" when none. */
const char *httpd_req_body(const struct httpd_req *req, size_t *len);
/* "127.0.0.1:53422", "[::1]:53422" or "unix", for logs. */
const char *httpd_req_peer(const struct httpd_req *req);

/* Headers for the answer beyond those below (e.g. Content-Security-Policy): `headers` is
 * name, value, name, value, ..., NULL, static (borrowed for the program's life). */
void httpd_req_set_headers(struct httpd_req *req, const char *const *headers);

/* Answers and releases the request: exactly once per request, inside the handler or later
 * from any loop callback. `body` is copied. Every response also carries Cache-Control:
 * no-store and X-Content-Type-Options: nosniff. Safe when the client went away or the
 * server answered 504 meanwhile: the answer is then dropped. */
void httpd_respond(struct httpd_req *req, unsigned status, const char *content_type,
                   const char *body, size_t len);
/* The same with `body` as JSON text (application/json); takes ownership of `body`. NULL
 * (a json_pack() that failed on text not UTF-8) answers 500. */
void httpd_respond_json(struct httpd_req *req, unsigned status, json_t *body);
/* {"error": message} with `status`. */
void httpd_respond_error(struct httpd_req *req, unsigned status, const char *message);

#endif
