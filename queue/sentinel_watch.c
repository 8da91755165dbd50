/* sentinel_watch.c - one +switch-master subscription per loop and master, shared by every
 * connection to that master: a failover is heard at once, not only when a connection fails. */
#include "queue/sentinel.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>
#include <hiredis/hiredis.h>

#include "lib/err.h"
#include "lib/log.h"
#include "lib/raddr.h"
#include "lib/xalloc.h"
#include "queue/rconn.h"

#define CHANNEL "+switch-master"

struct watch;

struct sentinel_watcher {
    struct sentinel_watcher *next;
    struct watch *w;
    sentinel_switch_fn *fn;
    void *arg;
};

/* The subscription: to one sentinel at a time, the next one when it cannot be reached. */
struct watch {
    struct watch *next;
    struct ev_loop *loop;
    struct raddr addr; /* a copy of the first member's: the sentinels and the master's name */
    double timeout_s;
    struct rconn *rc; /* to addr.sentinels[at] */
    size_t at;
    bool subscribed;
    ev_timer check; /* every timeout_s: a subscription that is not up moves on */
    struct sentinel_watcher *members;
};

static struct watch *watches; /* every loop's, matched by loop and master */

static void watch_connect(struct watch *w);

static void watch_on_message(struct redisReply *reply, void *arg)
{
    struct watch *w = arg;
    struct err err = {0};
    char *host = NULL;
    int port = 0;

    /* ["message", "+switch-master", "NAME OLD-IP OLD-PORT NEW-IP NEW-PORT"] */
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 3 ||
        reply->element[2]->type != REDIS_REPLY_STRING)
        return;
    if (sentinel_switch_parse(reply->element[2]->str, reply->element[2]->len,
                              w->addr.sentinel_master, &host, &port, &err) < 0) {
        if (err.msg[0])
            log_warn("event=sentinel_message_bad err=%s", log_q(err.msg));
        return;
    }
    log_info("event=sentinel_switch master=%s host=%s port=%d", log_q(w->addr.sentinel_master),
             log_q(host), port);
    for (struct sentinel_watcher *m = w->members; m; m = m->next)
        m->fn(host, port, m->arg); /* which must not join or leave from here */
    free(host);
}

static void watch_on_subscribed(struct redisReply *reply, void *arg)
{
    struct watch *w = arg;

    w->subscribed = reply && !rconn_reply_error(reply);
    if (reply && !w->subscribed)
        log_warn("event=sentinel_subscribe_failed err=%s", log_q(rconn_reply_error(reply)));
}

static void watch_on_state(struct rconn *rc, bool up, void *arg)
{
    struct watch *w = arg;

    w->subscribed = false; /* until SUBSCRIBE's reply; without it the check moves on */
    if (up)
        (void)rconn_command(rc, watch_on_subscribed, w, 2,
                            (const char *[]){"SUBSCRIBE", CHANNEL}, NULL);
}

/* A subscription not up by the next check moves to the next sentinel. */
static void watch_on_check(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct watch *w = t->data;

    if (w->rc && rconn_is_up(w->rc) && w->subscribed)
        return;
    rconn_free(w->rc);
    w->at = (w->at + 1) % w->addr.nsentinels;
    watch_connect(w);
}

static void watch_connect(struct watch *w)
{
    w->subscribed = false;
    w->rc = rconn_new(w->loop, &w->addr.sentinels[w->at], "sentinel-watch", w->timeout_s,
                      watch_on_state, w);
    rconn_set_push(w->rc, watch_on_message, w);
}

struct sentinel_watcher *sentinel_watch(struct ev_loop *loop, const struct raddr *addr,
                                        double timeout_s, sentinel_switch_fn *fn, void *arg)
{
    struct sentinel_watcher *m = xcalloc(1, sizeof(*m));
    struct watch *w;

    for (w = watches; w; w = w->next)
        if (w->loop == loop && strcmp(w->addr.sentinel_master, addr->sentinel_master) == 0)
            break;
    if (!w) {
        w = xcalloc(1, sizeof(*w));
        w->loop = loop;
        raddr_copy(&w->addr, addr);
        w->timeout_s = timeout_s;
        ev_timer_init(&w->check, watch_on_check, 2 * timeout_s, 2 * timeout_s);
        w->check.data = w;
        ev_timer_start(loop, &w->check);
        ev_unref(loop); /* the watch alone does not keep a loop running (nexusctl's) */
        watch_connect(w);
        w->next = watches;
        watches = w;
    }
    *m = (struct sentinel_watcher){w->members, w, fn, arg};
    w->members = m;
    return m;
}

void sentinel_unwatch(struct sentinel_watcher *m)
{
    struct watch *w, **pw;
    struct sentinel_watcher **pm;

    if (!m)
        return;
    w = m->w;
    for (pm = &w->members; *pm != m; pm = &(*pm)->next)
        ;
    *pm = m->next;
    free(m);
    if (w->members)
        return;
    for (pw = &watches; *pw != w; pw = &(*pw)->next)
        ;
    *pw = w->next;
    ev_ref(w->loop);
    ev_timer_stop(w->loop, &w->check);
    rconn_free(w->rc); /* safe from its callbacks: the memory goes once they return */
    raddr_clear(&w->addr);
    free(w);
}
