/* durable.c - WAIT after writes that must survive a failover, one per turn of the loop. */
#include "queue/durable.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <ev.h>
#include <hiredis/hiredis.h>

#include "lib/log.h"
#include "lib/xalloc.h"
#include "queue/rconn.h"

#define SHORT_LOG_INTERVAL_S 1.0 /* shortfall lines: at most one a second per kind of write */
#define SHORT_KINDS 8            /* kinds of writes (`what`) one durable tells apart */

/* One durable_after() waiting for its WAIT's answer. */
struct waiter {
    struct waiter *next;
    const char *what; /* static */
    durable_done_fn *done;
    void *arg;
};

/* One WAIT sent: rconn answers it exactly once, also after durable_free(). */
struct batch {
    struct durable *d; /* NULL once durable_free() let go of it */
    struct batch *prev, *next; /* in d->sent */
    struct waiter *waiters;
    unsigned want;
};

struct durable {
    struct ev_loop *loop;
    struct rconn *rc;
    unsigned replicas;
    double timeout_s;
    struct waiter *head, **tail; /* durable_after() since the last prepare, in order */
    struct batch *sent;          /* WAITs out */
    ev_prepare prepare; /* lowest priority, always active (unreferenced: keeps no loop alive) */
    struct {
        const char *what;    /* static, compared by address; NULL: a free slot */
        double logged_at;    /* ev_now() of its last shortfall line */
        unsigned suppressed; /* its shortfall lines not written since */
    } kinds[SHORT_KINDS];    /* one line a second per kind: a flood of one hides no other */
};

static unsigned long long short_total;

bool durable_short(int acked, unsigned want)
{
    return want > 0 && (acked < 0 || (unsigned)acked < want);
}

long long durable_wait_ms(double timeout_s)
{
    long long ms = (long long)ceil(timeout_s * 1000.0 - 1e-6);

    return ms < 1 ? 1 : ms;
}

unsigned long long durable_short_total(void)
{
    return short_total;
}

static const char *acked_error(int acked)
{
    switch (acked) {
    case -ENOTCONN:
        return "the connection was lost before WAIT answered";
    case -EIO:
        return "Redis refused WAIT";
    default:
        return "no answer";
    }
}

/* Logs (at most once a second for each kind of write) and counts a shortfall of `w`'s
 * writes. */
static void short_note(struct durable *d, const struct waiter *w, int acked, unsigned want)
{
    double now = ev_now(d->loop);
    size_t k = 0;

    short_total++;
    while (k < SHORT_KINDS - 1 && d->kinds[k].what && d->kinds[k].what != w->what)
        k++; /* the last slot is shared by any kinds past the table */
    if (!d->kinds[k].what)
        d->kinds[k].what = w->what;
    if (d->kinds[k].logged_at > 0 && now - d->kinds[k].logged_at < SHORT_LOG_INTERVAL_S) {
        d->kinds[k].suppressed++;
        return;
    }
    if (acked >= 0)
        log_warn("event=redis_wait_short what=%s acked=%d want=%u timeout=%.3fs suppressed=%u",
                 w->what, acked, want, d->timeout_s, d->kinds[k].suppressed);
    else
        log_warn("event=redis_wait_short what=%s acked=none want=%u err=%s suppressed=%u",
                 w->what, want, log_q(acked_error(acked)), d->kinds[k].suppressed);
    d->kinds[k].logged_at = now;
    d->kinds[k].suppressed = 0;
}

/* Runs the callbacks of `list` with the answer, noting shortfalls while `d` is there. */
static void waiters_end(struct durable *d, struct waiter *list, int acked, unsigned want)
{
    struct waiter *w, *next;

    for (w = list; w; w = next) {
        next = w->next;
        if (d && durable_short(acked, want))
            short_note(d, w, acked, want);
        if (w->done)
            w->done(d ? acked : -ECANCELED, want, w->arg);
        free(w);
    }
}

static void batch_on_reply(struct redisReply *reply, void *arg)
{
    struct batch *b = arg;
    struct durable *d = b->d;
    int acked;

    if (!reply)
        acked = -ENOTCONN;
    else if (reply->type != REDIS_REPLY_INTEGER)
        acked = -EIO;
    else
        acked = reply->integer > 100 ? 100 : (int)reply->integer;
    if (acked == -EIO && d)
        log_warn("event=redis_wait_failed err=%s", log_q(rconn_reply_error(reply)));
    if (d) {
        if (b->prev)
            b->prev->next = b->next;
        else
            d->sent = b->next;
        if (b->next)
            b->next->prev = b->prev;
    }
    waiters_end(d, b->waiters, acked, b->want);
    free(b);
}

/* Sends one WAIT for the waiters of `list`, or ends them at once when none is needed or the
 * connection is down. */
static void batch_send(struct durable *d, struct waiter *list)
{
    struct batch *b;
    char n[16], ms[24];
    const char *argv[] = {"WAIT", n, ms};

    if (d->replicas == 0) {
        waiters_end(d, list, 0, 0);
        return;
    }
    b = xcalloc(1, sizeof(*b));
    b->d = d;
    b->waiters = list;
    b->want = d->replicas;
    (void)snprintf(n, sizeof(n), "%u", d->replicas);
    (void)snprintf(ms, sizeof(ms), "%lld", durable_wait_ms(d->timeout_s));
    if (rconn_command_blocking(d->rc, d->timeout_s, batch_on_reply, b, 3, argv, NULL) < 0) {
        waiters_end(d, list, -ENOTCONN, b->want);
        free(b);
        return;
    }
    b->next = d->sent;
    if (b->next)
        b->next->prev = b;
    d->sent = b;
}

/* Runs after every other prepare watcher of the turn: the writes they queued leave before the
 * WAIT, in the same write (rconn's own writing watcher has this priority too; made before this
 * one, libev runs it after; were it to run first, the WAIT would leave in a write of its own,
 * still behind them). Callbacks may add waiters: they get a WAIT of their own. */
static void batch_on_prepare(struct ev_loop *loop, ev_prepare *w, int revents)
{
    struct durable *d = w->data;
    struct waiter *list;

    while ((list = d->head)) {
        d->head = NULL;
        d->tail = &d->head;
        batch_send(d, list);
    }
}

struct durable *durable_new(struct ev_loop *loop, struct rconn *rc, unsigned replicas,
                            double timeout_s)
{
    struct durable *d = xcalloc(1, sizeof(*d));

    d->loop = loop;
    d->rc = rc;
    d->tail = &d->head;
    durable_set(d, replicas, timeout_s);
    ev_prepare_init(&d->prepare, batch_on_prepare);
    ev_set_priority(&d->prepare, EV_MINPRI);
    d->prepare.data = d;
    ev_prepare_start(loop, &d->prepare);
    ev_unref(loop);
    return d;
}

void durable_free(struct durable *d)
{
    struct waiter *list;

    if (!d)
        return;
    ev_ref(d->loop);
    ev_prepare_stop(d->loop, &d->prepare);
    for (struct batch *b = d->sent; b; b = b->next)
        b->d = NULL; /* answered -ECANCELED when rconn lets go of it */
    list = d->head;
    d->head = NULL;
    waiters_end(NULL, list, -ECANCELED, d->replicas);
    free(d);
}

void durable_set(struct durable *d, unsigned replicas, double timeout_s)
{
    d->replicas = replicas;
    d->timeout_s = timeout_s;
}

unsigned durable_replicas(const struct durable *d)
{
    return d->replicas;
}

void durable_after(struct durable *d, const char *what, durable_done_fn *done, void *arg)
{
    struct waiter *w;

    if (d->replicas == 0 && !done)
        return; /* nothing to wait for, nobody to tell */
    w = xcalloc(1, sizeof(*w));
    w->what = what;
    w->done = done;
    w->arg = arg;
    *d->tail = w;
    d->tail = &w->next;
}
