/* xfer.c - libcurl multi on libev: libcurl tells which sockets to watch and when to wake it
 * (CURLMOPT_SOCKETFUNCTION, CURLMOPT_TIMERFUNCTION); the loop tells libcurl what happened
 * (curl_multi_socket_action); finished transfers are handed back to their callers. */
#include "lib/xfer.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ev.h>

#include "lib/lazy_curl.h"
#include "lib/parse.h"
#include "lib/xalloc.h"

/* One transfer in flight: reached from its easy handle through CURLOPT_PRIVATE. */
struct xfer_op {
    CURL *easy;
    bool keep;        /* xfer_start_keep(): stays in the multi after `done`, until abort */
    xfer_done_fn *done;
    void *arg;
    struct xfer_op *prev, *next;
};

/* One socket libcurl asked us to watch: reached through curl_multi_assign(). */
struct xfer_sock {
    ev_io io;
    struct xfer *x;
    struct xfer_sock *prev, *next;
};

struct xfer {
    struct ev_loop *loop;
    CURLM *multi;          /* NULL until the first transfer */
    ev_timer timer;        /* libcurl's next timeout */
    struct xfer_op ops;    /* list head */
    struct xfer_sock socks;/* list head */
};

#define LIST_INIT(head) ((head)->prev = (head)->next = (head))
#define LIST_LINK(head, e) \
    ((e)->next = (head), (e)->prev = (head)->prev, (head)->prev->next = (e), (head)->prev = (e))
#define LIST_UNLINK(e) ((e)->prev->next = (e)->next, (e)->next->prev = (e)->prev)

static struct xfer_op *op_of(CURL *easy)
{
    char *p = NULL;

    (void)curl_easy_getinfo(easy, CURLINFO_PRIVATE, &p);
    return (struct xfer_op *)p;
}

/* Hands every finished transfer back. A `done` may start or abort other transfers. */
static void transfers_collect(struct xfer *x)
{
    CURLMsg *msg;
    int left;

    while ((msg = curl_multi_info_read(x->multi, &left))) {
        CURL *easy = msg->easy_handle;
        CURLcode result = msg->data.result;
        struct xfer_op *op;

        if (msg->msg != CURLMSG_DONE)
            continue;
        op = op_of(easy);
        if (op && op->keep) {
            xfer_done_fn *kept_done = op->done;

            op->done = NULL; /* once: the handle stays until xfer_abort() */
            if (kept_done)
                kept_done(easy, result, op->arg);
            continue;
        }
        (void)curl_multi_remove_handle(x->multi, easy);
        (void)curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
        if (!op)
            continue;
        LIST_UNLINK(op);
        xfer_done_fn *done = op->done;
        void *arg = op->arg;
        free(op);
        done(easy, result, arg);
    }
}

static void sock_on_ready(struct ev_loop *loop, ev_io *w, int revents)
{
    struct xfer_sock *s = (struct xfer_sock *)w;
    struct xfer *x = s->x;
    int action = 0, running;

    if (revents & EV_READ)
        action |= CURL_CSELECT_IN;
    if (revents & EV_WRITE)
        action |= CURL_CSELECT_OUT;
    (void)curl_multi_socket_action(x->multi, w->fd, action, &running);
    transfers_collect(x);
}

static void timer_on_expiry(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct xfer *x = w->data;
    int running;

    (void)curl_multi_socket_action(x->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    transfers_collect(x);
}

static void sock_free(struct xfer *x, struct xfer_sock *s)
{
    ev_io_stop(x->loop, &s->io);
    LIST_UNLINK(s);
    free(s);
}

/* libcurl: watch `fd` for `what` (CURL_POLL_IN/OUT/INOUT), or stop (CURL_POLL_REMOVE). */
static int sock_on_change(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    struct xfer *x = userp;
    struct xfer_sock *s = socketp;
    int events = 0;

    if (what == CURL_POLL_REMOVE) {
        if (s) {
            (void)curl_multi_assign(x->multi, fd, NULL);
            sock_free(x, s);
        }
        return 0;
    }
    if (!s) {
        s = xcalloc(1, sizeof(*s));
        s->x = x;
        LIST_LINK(&x->socks, s);
        ev_io_init(&s->io, sock_on_ready, fd, 0);
        (void)curl_multi_assign(x->multi, fd, s);
    }
    if (what & CURL_POLL_IN)
        events |= EV_READ;
    if (what & CURL_POLL_OUT)
        events |= EV_WRITE;
    ev_io_stop(x->loop, &s->io);
    ev_io_set(&s->io, fd, events);
    ev_io_start(x->loop, &s->io);
    return 0;
}

/* libcurl: wake me in `timeout_ms` (0: as soon as possible), or never (-1). Acting from
 * inside this callback is not allowed, so even 0 goes through the timer. */
static int timer_on_change(CURLM *multi, long timeout_ms, void *userp)
{
    struct xfer *x = userp;

    ev_timer_stop(x->loop, &x->timer);
    if (timeout_ms >= 0) {
        ev_timer_set(&x->timer, (double)timeout_ms / 1000.0, 0.0);
        ev_timer_start(x->loop, &x->timer);
    }
    return 0;
}

/* libcurl's global state: 0 not made yet, 1 made, -1 curl_global_init() failed. Only the
 * loop's thread makes transfers. */
static int global_state;
/* Why the last xfer_easy_new() returned NULL. */
static const char *easy_why = "";

/* libcurl loaded (lib/lazy_curl.h: a process that makes no transfer never maps it) and
 * initialised. A library that cannot be loaded is tried again at the next transfer. */
static bool global_ready(void)
{
    if (global_state == 0 && lazy_curl_load(&easy_why) == 0)
        global_state = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 1 : -1;
    if (global_state < 0)
        easy_why = "libcurl could not initialise (curl_global_init)";
    return global_state > 0;
}

CURL *xfer_easy_new(void)
{
    CURL *easy;

    if (!global_ready())
        return NULL;
    easy = curl_easy_init();
    if (!easy)
        easy_why = "out of memory (curl_easy_init)";
    return easy;
}

const char *xfer_easy_why(void)
{
    return easy_why;
}

void xfer_global_cleanup(void)
{
    if (global_state > 0)
        curl_global_cleanup();
    global_state = 0;
}

struct xfer *xfer_new(struct ev_loop *loop)
{
    struct xfer *x = xcalloc(1, sizeof(*x));

    x->loop = loop;
    LIST_INIT(&x->ops);
    LIST_INIT(&x->socks);
    ev_timer_init(&x->timer, timer_on_expiry, 0.0, 0.0);
    x->timer.data = x;
    return x;
}

/* The multi handle, made with the first transfer; NULL when libcurl cannot make it. */
static CURLM *multi_get(struct xfer *x)
{
    if (x->multi || !global_ready())
        return x->multi;
    x->multi = curl_multi_init();
    if (!x->multi)
        return NULL;
    (void)curl_multi_setopt(x->multi, CURLMOPT_SOCKETFUNCTION, sock_on_change);
    (void)curl_multi_setopt(x->multi, CURLMOPT_SOCKETDATA, x);
    (void)curl_multi_setopt(x->multi, CURLMOPT_TIMERFUNCTION, timer_on_change);
    (void)curl_multi_setopt(x->multi, CURLMOPT_TIMERDATA, x);
    return x->multi;
}

void xfer_free(struct xfer *x)
{
    if (!x)
        return;
    while (x->ops.next != &x->ops)
        xfer_abort(x, x->ops.next->easy);
    if (x->multi)
        (void)curl_multi_cleanup(x->multi); /* may report its cached sockets removed */
    while (x->socks.next != &x->socks)
        sock_free(x, x->socks.next);
    ev_timer_stop(x->loop, &x->timer);
    free(x);
}

static int op_start(struct xfer *x, CURL *easy, bool keep, xfer_done_fn *done, void *arg)
{
    struct xfer_op *op;

    if (!multi_get(x))
        return -EINVAL;
    op = xcalloc(1, sizeof(*op));
    op->easy = easy;
    op->keep = keep;
    op->done = done;
    op->arg = arg;
    (void)curl_easy_setopt(easy, CURLOPT_PRIVATE, (char *)op);
    if (curl_multi_add_handle(x->multi, easy) != CURLM_OK) {
        (void)curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
        free(op);
        return -EINVAL;
    }
    LIST_LINK(&x->ops, op);
    return 0;
}

int xfer_start(struct xfer *x, CURL *easy, xfer_done_fn *done, void *arg)
{
    return op_start(x, easy, false, done, arg);
}

int xfer_start_keep(struct xfer *x, CURL *easy, xfer_done_fn *done, void *arg)
{
    return op_start(x, easy, true, done, arg);
}

void xfer_abort(struct xfer *x, CURL *easy)
{
    struct xfer_op *op = op_of(easy);

    if (!op)
        return;
    (void)curl_multi_remove_handle(x->multi, easy);
    (void)curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
    LIST_UNLINK(op);
    free(op);
}

size_t xfer_buf_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct xfer_buf *buf = userdata;
    size_t n = size * nmemb, room = buf->max - buf->len, take = n < room ? n : room;

    if (take > 0) {
        buf->data = xreallocarray(buf->data, buf->len + take + 1, 1);
        memcpy(buf->data + buf->len, ptr, take);
        buf->len += take;
        buf->data[buf->len] = '\0';
    }
    buf->dropped += n - take;
    if (n > take && buf->abort_over)
        return CURL_WRITEFUNC_ERROR;
    return n;
}

void xfer_buf_clear(struct xfer_buf *buf)
{
    free(buf->data);
    buf->data = NULL;
    buf->len = 0;
    buf->dropped = 0;
}

const char *xfer_buf_excerpt(const struct xfer_buf *buf, size_t max, char *out, size_t size)
{
    size_t n = buf->len < max ? buf->len : max, i;
    bool cut = n < buf->len || buf->dropped > 0;

    if (size < 4) {
        if (size > 0)
            out[0] = '\0';
        return out;
    }
    if (n > size - 4)
        n = size - 4, cut = true;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)buf->data[i];
        out[i] = c < 0x20 || c == 0x7f ? '?' : (char)c;
    }
    if (cut)
        memcpy(out + i, "...", 3), i += 3;
    out[i] = '\0';
    return out;
}

double xfer_retry_after(CURL *easy, double now)
{
    struct curl_header *h = NULL;
    double s;

    if (curl_easy_header(easy, "Retry-After", 0, CURLH_HEADER, -1, &h) != CURLHE_OK || !h ||
        xfer_retry_after_parse(h->value, now, &s) < 0)
        return -1;
    return s;
}

int xfer_retry_after_parse(const char *value, double now, double *ret_s)
{
    char buf[64];
    size_t len;
    uint32_t secs;
    time_t when, at = (time_t)now;

    while (*value == ' ' || *value == '\t')
        value++;
    len = strlen(value);
    while (len > 0 && (value[len - 1] == ' ' || value[len - 1] == '\t'))
        len--;
    if (len == 0 || len >= sizeof(buf))
        return -EINVAL;
    memcpy(buf, value, len);
    buf[len] = '\0';
    if (buf[0] >= '0' && buf[0] <= '9') {
        if (parse_u32(buf, 0, UINT32_MAX, &secs) < 0)
            return -EINVAL;
        *ret_s = secs;
        return 0;
    }
    when = curl_getdate(buf, &at);
    if (when == -1)
        return -EINVAL;
    *ret_s = (double)when > now ? (double)when - now : 0;
    return 0;
}
