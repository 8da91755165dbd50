/* xfer.h - libcurl's multi interface on the libev loop: HTTP and SMTP transfers that never
 * block the loop (sockets watched by ev_io, libcurl's timeouts by one ev_timer). */
#ifndef XFER_H
#define XFER_H

#include <stdbool.h>
#include <stddef.h>

#include <curl/curl.h>

struct ev_loop;
struct xfer; /* opaque: one multi handle */

/* `result` is libcurl's code for the whole transfer (CURLE_OK when a response came, whatever
 * its status: read it with curl_easy_getinfo(CURLINFO_RESPONSE_CODE)). `easy` is the
 * caller's again when this runs: free or reuse it. */
typedef void xfer_done_fn(CURL *easy, CURLcode result, void *arg);

/* A new easy handle, libcurl loaded and initialised first (once, on the first call: libcurl,
 * the libraries it pulls in, OpenSSL's configuration and its tables are loaded into memory
 * only by a process that makes a transfer). Caller owns it; release with
 * curl_easy_cleanup(). NULL when libcurl cannot be loaded, initialise or allocate:
 * xfer_easy_why() says which. */
CURL *xfer_easy_new(void);
/* Why the last xfer_easy_new() returned NULL, a sentence ("cannot load libcurl.so.4: ...");
 * static, valid until the next call. */
const char *xfer_easy_why(void);
/* At exit: libcurl's global state, when xfer_easy_new() made it. */
void xfer_global_cleanup(void);

/* Caller owns the xfer; release with xfer_free(), which accepts NULL. Touches no libcurl
 * state: the multi handle is made with the first transfer. */
struct xfer *xfer_new(struct ev_loop *loop);
/* Aborts every transfer still running; their `done` callbacks are not called, and their
 * easy handles stay their callers'. */
void xfer_free(struct xfer *x);

/* Starts `easy` (made by xfer_easy_new(), fully set up by the caller; CURLOPT_PRIVATE is
 * xfer's own). `done` runs exactly once, later, from the loop, unless xfer_abort() comes
 * first. The easy handle is borrowed until then. Returns 0, or -EINVAL (libcurl refused it
 * or could not make its multi handle). */
int xfer_start(struct xfer *x, CURL *easy, xfer_done_fn *done, void *arg);
/* As xfer_start(), for a transfer with CURLOPT_CONNECT_ONLY: after `done` (with CURLE_OK:
 * connected, protocol set-up included, e.g. SMTP's EHLO, STARTTLS and AUTH) the handle stays
 * in the multi, because removing it closes a CONNECT_ONLY connection; the caller talks over
 * it with curl_easy_send/recv on CURLINFO_ACTIVESOCKET, watching the socket itself, and ends
 * with xfer_abort(), also after `done`. For protocols whose libcurl 'done' step blocks (SMTP
 * waits for the reply to the end of DATA, curl issue 8555). */
int xfer_start_keep(struct xfer *x, CURL *easy, xfer_done_fn *done, void *arg);
/* Stops a started transfer at once; `done` is not called. `easy` is the caller's again. */
void xfer_abort(struct xfer *x, CURL *easy);

/* A response body collected up to a size bound: CURLOPT_WRITEFUNCTION xfer_buf_write with
 * CURLOPT_WRITEDATA the buffer. Bytes beyond `max` are counted in `dropped` and make the
 * transfer fail with CURLE_WRITE_ERROR when `abort_over` is set, else are thrown away. */
struct xfer_buf {
    char *data;      /* owned; NUL-terminated, NULL until the first byte */
    size_t len;      /* <= max */
    size_t max;      /* set by the caller */
    size_t dropped;  /* bytes over max */
    bool abort_over; /* set by the caller */
};
size_t xfer_buf_write(char *ptr, size_t size, size_t nmemb, void *userdata);
void xfer_buf_clear(struct xfer_buf *buf); /* frees data; keeps max and abort_over */

/* A printable excerpt of `buf` for error messages: at most `max` bytes, control characters
 * as '?', "..." when cut. Writes into `out` (size `size`) and returns it. */
const char *xfer_buf_excerpt(const struct xfer_buf *buf, size_t max, char *out, size_t size);

/* The delay a 429 or 503 answer asks for in its Retry-After header (delay-seconds or an
 * HTTP date, counted from `now`), in seconds >= 0; -1 when there is none or it is invalid. */
double xfer_retry_after(CURL *easy, double now);
/* Pure: a Retry-After value, delay seconds ("120") or an HTTP date ("Wed, 21 Oct 2015
 * 07:28:00 GMT", RFC 850 and asctime forms too), turned into seconds from `now` (epoch
 * seconds; a past date is 0). Returns 0, or -EINVAL. */
int xfer_retry_after_parse(const char *value, double now, double *ret_s);

#endif
