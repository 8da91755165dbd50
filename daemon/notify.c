/* notify.c - systemd's notification messages (lib/sdnotify.h) and the watchdog timer on the
 * loop. */
#include "daemon/notify.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>

#include "daemon/worker.h"
#include "lib/log.h"
#include "lib/sdnotify.h"
#include "lib/xalloc.h"

struct notify {
    struct ev_loop *loop;
    struct worker *wk; /* borrowed */
    bool ready;        /* READY=1 was sent */
    bool stopping;
    ev_timer watchdog; /* watchdog.data = n; at half of WATCHDOG_USEC, when asked */
};

/* STATUS= in words, for `systemctl status`. */
static void status_send(struct notify *n, const char *extra)
{
    struct worker_stats ws;

    worker_stats(n->wk, &ws);
    (void)sdnotify_sendf("%sSTATUS=%s; %u of %u jobs running%s", extra,
                         ws.stopping    ? "draining"
                         : !ws.redis_up ? "redis unreachable"
                         : ws.quiet     ? "quiet"
                                        : "running",
                         ws.running, ws.concurrency,
                         ws.db_configured && !ws.db_up ? "; postgresql unreachable" : "");
}

static void watchdog_on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct notify *n = w->data;

    status_send(n, "WATCHDOG=1\n");
}

static void notify_on_change(struct worker *wk, void *arg)
{
    struct notify *n = arg;
    struct worker_stats ws;

    worker_stats(wk, &ws);
    if (ws.redis_up && !n->ready && !n->stopping) {
        n->ready = true;
        status_send(n, "READY=1\n");
        log_debug("event=notify state=ready");
        return;
    }
    status_send(n, "");
}

struct notify *notify_new(struct ev_loop *loop, struct worker *wk)
{
    struct notify *n = xcalloc(1, sizeof(*n));
    uint64_t usec = 0;

    n->loop = loop;
    n->wk = wk;
    worker_on_change(wk, notify_on_change, n);
    ev_timer_init(&n->watchdog, watchdog_on_timer, 0, 0);
    n->watchdog.data = n;
    if (sdnotify_watchdog(getenv("WATCHDOG_USEC"), getenv("WATCHDOG_PID"), getpid(), &usec) > 0) {
        double every = (double)usec / 2e6;
        ev_timer_set(&n->watchdog, 0, every);
        ev_timer_start(loop, &n->watchdog);
        log_info("event=watchdog interval=%.3fs", every);
    }
    return n;
}

void notify_free(struct notify *n)
{
    if (!n)
        return;
    worker_on_change(n->wk, NULL, NULL);
    ev_timer_stop(n->loop, &n->watchdog);
    free(n);
}

void notify_reloading(struct notify *n)
{
    struct timespec ts;
    unsigned long long usec;

    if (!n)
        return;
    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    usec = (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000;
    (void)sdnotify_sendf("RELOADING=1\nMONOTONIC_USEC=%llu", usec);
}

void notify_reloaded(struct notify *n)
{
    if (!n)
        return;
    status_send(n, n->ready ? "READY=1\n" : "");
}

void notify_stopping(struct notify *n)
{
    if (!n || n->stopping)
        return;
    n->stopping = true;
    status_send(n, "STOPPING=1\n");
}
