/* periodic.c - the timer, kick and round-trip bookkeeping every periodic task shares. */
#include "lib/periodic.h"

#include <assert.h>
#include <stdlib.h>

#include <ev.h>

#include "lib/util.h"
#include "lib/xalloc.h"

struct periodic {
    struct ev_loop *loop;
    double interval_s; /* > 0 */
    double jitter;     /* 0..1 */
    periodic_tick_fn *tick;
    void *arg;
    bool busy;    /* a round trip is out: periodic_done() will come */
    bool stopped; /* for good */
    ev_timer timer;
};

double periodic_delay(double interval_s, double jitter, unsigned long long random)
{
    return interval_s * (1.0 - jitter + 2.0 * jitter * (double)(random % 1000) / 1000.0);
}

/* A round unless one is out. `busy` is set first: a tick whose round trip ends before it
 * returns (a synchronous failure) has already cleared it, and a `more` ran the next. */
static void periodic_run(struct periodic *p)
{
    if (p->busy || p->stopped)
        return;
    p->busy = true;
    if (!p->tick(p->arg))
        p->busy = false;
}

static void periodic_on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct periodic *p = w->data;

    (void)revents;
    ev_timer_set(&p->timer, periodic_delay(p->interval_s, p->jitter, util_random()), 0);
    ev_timer_start(loop, &p->timer);
    periodic_run(p);
}

struct periodic *periodic_new(struct ev_loop *loop, double interval_s, double jitter,
                              periodic_tick_fn *tick, void *arg)
{
    struct periodic *p = xcalloc(1, sizeof(*p));

    assert(interval_s > 0 && jitter >= 0 && jitter <= 1);
    p->loop = loop;
    p->interval_s = interval_s;
    p->jitter = jitter;
    p->tick = tick;
    p->arg = arg;
    ev_timer_init(&p->timer, periodic_on_timer, interval_s, 0);
    p->timer.data = p;
    ev_timer_start(loop, &p->timer);
    return p;
}

void periodic_free(struct periodic *p)
{
    if (!p)
        return;
    ev_timer_stop(p->loop, &p->timer);
    free(p);
}

void periodic_set_interval(struct periodic *p, double interval_s)
{
    if (interval_s == p->interval_s)
        return;
    p->interval_s = interval_s;
    ev_timer_stop(p->loop, &p->timer);
    ev_timer_set(&p->timer, interval_s, 0);
    if (!p->stopped)
        ev_timer_start(p->loop, &p->timer);
}

void periodic_kick(struct periodic *p)
{
    periodic_run(p);
}

void periodic_done(struct periodic *p, bool more)
{
    assert(p->busy);
    p->busy = false;
    if (more)
        periodic_run(p);
}

void periodic_stop(struct periodic *p)
{
    p->stopped = true;
    ev_timer_stop(p->loop, &p->timer);
}

bool periodic_stopped(const struct periodic *p)
{
    return p->stopped;
}
