/* sentinel.c - asking the sentinels in turn for a master's address, on the loop. */
#include "queue/sentinel.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>
#include <hiredis/hiredis.h>

#include "lib/err.h"
#include "lib/raddr.h"
#include "lib/xalloc.h"
#include "queue/rconn.h"

/* One question sent: the answer counts only if it is still the current one. */
struct ask_call {
    struct sentinel_ask *a;
    unsigned gen;
};

struct sentinel_ask {
    struct ev_loop *loop;
    struct raddr *sentinels; /* owned copies */
    size_t n, at, tried;     /* asking sentinels[at]; `tried` of them so far */
    char *name;
    double timeout_s;
    sentinel_found_fn *done;
    void *arg;
    struct rconn *rc;  /* to sentinels[at], or NULL */
    ev_timer deadline; /* the current sentinel's time to answer */
    ev_timer start;    /* the first question, from the loop */
    ev_timer later;    /* frees what a callback on the stack still uses */
    struct rconn *old; /* closed, to be freed by `later` */
    unsigned gen;      /* counts the sentinels asked: tells a stale answer from this one's */
    bool over;         /* done ran, or the ask was cancelled: only freeing is left */
    struct err last;   /* the last sentinel's failure */
};

static void ask_next(struct sentinel_ask *a);

/* Frees the closed connection, and the ask itself once it is over: from its own timer, when
 * no callback of theirs is on the stack. */
static void ask_on_later(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct sentinel_ask *a = w->data;

    rconn_free(a->old); /* its pending callbacks see `over` or a changed `rc` */
    a->old = NULL;
    if (!a->over)
        return;
    rconn_free(a->rc);
    ev_timer_stop(a->loop, &a->deadline);
    ev_timer_stop(a->loop, &a->start);
    for (size_t i = 0; i < a->n; i++)
        raddr_clear(&a->sentinels[i]);
    free(a->sentinels);
    free(a->name);
    free(a);
}

static void ask_close(struct sentinel_ask *a)
{
    ev_timer_stop(a->loop, &a->deadline);
    if (a->rc) {
        rconn_free(a->old);
        a->old = a->rc;
        a->rc = NULL;
    }
    if (!ev_is_active(&a->later)) {
        ev_timer_set(&a->later, 0, 0);
        ev_timer_start(a->loop, &a->later);
    }
}

static void ask_finish(struct sentinel_ask *a, const char *host, int port)
{
    a->over = true;
    ask_close(a);
    a->done(host, port, host ? NULL : &a->last, a->arg);
}

/* The current sentinel failed: note why and ask the next. */
static void ask_failed(struct sentinel_ask *a, const char *why)
{
    const struct raddr *s = &a->sentinels[a->at];
    bool v6 = strchr(s->host, ':') != NULL;

    err_set(&a->last, -EHOSTUNREACH,
            "no sentinel told the address of master '%s' (%zu asked; the last, %s%s%s:%d: %s)",
            a->name, a->tried, v6 ? "[" : "", s->host, v6 ? "]" : "", s->port, why);
    ask_close(a);
    a->at = (a->at + 1) % a->n;
    ask_next(a);
}

static void ask_on_reply(struct redisReply *reply, void *arg)
{
    struct ask_call *call = arg;
    struct sentinel_ask *a = call->a;
    bool stale = call->gen != a->gen || a->over;
    struct err err = {0};
    char *host = NULL;
    int port = 0, r;

    free(call);
    if (stale) /* from a connection already given up on */
        return;
    if (!reply) {
        ask_failed(a, "the connection was lost before it answered");
        return;
    }
    r = sentinel_master_reply(reply, &host, &port, &err);
    if (r == -ENOENT) {
        ask_failed(a, "it knows no such master");
        return;
    }
    if (r < 0) {
        ask_failed(a, err.msg);
        return;
    }
    ask_finish(a, host, port);
    free(host);
}

static void ask_on_state(struct rconn *rc, bool up, void *arg)
{
    struct sentinel_ask *a = arg;
    struct ask_call *call;

    if (a->over || rc != a->rc)
        return;
    if (!up) {
        ask_failed(a, "the connection was lost");
        return;
    }
    call = xmalloc(sizeof(*call));
    *call = (struct ask_call){.a = a, .gen = a->gen};
    if (rconn_commandf(rc, ask_on_reply, call, "SENTINEL get-master-addr-by-name %s", a->name) <
        0) {
        free(call);
        ask_failed(a, "the connection was lost");
    }
}

static void ask_on_deadline(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct sentinel_ask *a = w->data;
    char why[64];

    (void)snprintf(why, sizeof(why), "no answer within %gs", a->timeout_s);
    ask_failed(a, why);
}

static void ask_next(struct sentinel_ask *a)
{
    if (a->tried == a->n) {
        ask_finish(a, NULL, 0);
        return;
    }
    a->tried++;
    a->gen++;
    a->rc = rconn_new(a->loop, &a->sentinels[a->at], "sentinel", a->timeout_s, ask_on_state, a);
    ev_timer_set(&a->deadline, a->timeout_s, 0);
    ev_timer_start(a->loop, &a->deadline);
}

static void ask_on_start(struct ev_loop *loop, ev_timer *w, int revents)
{
    ask_next(w->data);
}

struct sentinel_ask *sentinel_ask(struct ev_loop *loop, const struct raddr *sentinels, size_t n,
                                  size_t first, const char *name, double timeout_s,
                                  sentinel_found_fn *done, void *arg)
{
    struct sentinel_ask *a = xcalloc(1, sizeof(*a));

    a->loop = loop;
    a->sentinels = xcalloc(n, sizeof(*a->sentinels));
    for (size_t i = 0; i < n; i++)
        raddr_copy(&a->sentinels[i], &sentinels[i]);
    a->n = n;
    a->at = n ? first % n : 0;
    a->name = xstrdup(name);
    a->timeout_s = timeout_s;
    a->done = done;
    a->arg = arg;
    ev_timer_init(&a->deadline, ask_on_deadline, timeout_s, 0);
    a->deadline.data = a;
    ev_timer_init(&a->later, ask_on_later, 0, 0);
    a->later.data = a;
    err_set(&a->last, -EHOSTUNREACH, "no sentinel is configured");
    ev_timer_init(&a->start, ask_on_start, 0, 0); /* `done` never runs inside this call */
    a->start.data = a;
    ev_timer_start(loop, &a->start);
    return a;
}

void sentinel_ask_cancel(struct sentinel_ask *a)
{
    if (a->over)
        return;
    a->over = true;
    ev_timer_stop(a->loop, &a->start);
    ask_close(a);
}
