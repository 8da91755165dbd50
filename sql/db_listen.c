/* db_listen.c - LISTEN on a connection of the pool's own, never used for queries: notifications
 * to the owner, and a call after each (re)connect for what was missed while it was down. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>
#include <libpq-fe.h>

#include "lib/log.h"
#include "lib/xalloc.h"
#include "sql/db_int.h"

/* The listener is up and LISTENs: its owner looks for what it missed while it was down. */
void listen_up(struct conn *c)
{
    struct db_pool *pool = c->pool;

    ev_timer_stop(pool->loop, &c->timer);
    c->state = CONN_UP;
    c->backoff_s = BACKOFF_MIN_S;
    pool->listen_told_down = false;
    log_info("event=db_listen_up addr=%s channel=%s", log_q(pool->addr), pool->channel);
    if (conn_watch(c, EV_READ, false) < 0) {
        conn_break(c, "libpq has no socket");
        return;
    }
    pool->notify(pool->channel, NULL, pool->notify_arg);
}

/* One line per outage at warn; the attempts after it at debug. */
void listen_lost(struct conn *c, const char *why, double retry_s)
{
    struct db_pool *pool = c->pool;

    if (!pool->listen_told_down) {
        log_warn("event=db_listen_down addr=%s channel=%s err=%s retry_in=%.1fs", log_q(pool->addr),
                 pool->channel, log_q(why), retry_s);
        pool->listen_told_down = true;
    } else {
        log_debug("event=db_connect_failed conn=%u addr=%s err=%s retry_in=%.1fs", c->id,
                  log_q(pool->addr), log_q(why), retry_s);
    }
}

bool listen_notify(struct conn *c)
{
    struct db_pool *pool = c->pool;
    PGnotify *n;

    while ((n = PQnotifies(c->pg))) {
        if (c == pool->listener)
            pool->notify(n->relname, n->extra, pool->notify_arg);
        PQfreemem(n);
        if (pool->closing)
            return true;
    }
    return false;
}

void listen_close(struct db_pool *pool)
{
    if (!pool->listener)
        return;
    ev_io_stop(pool->loop, &pool->listener->io);
    ev_timer_stop(pool->loop, &pool->listener->timer);
    addr_cancel(pool->listener);
    PQfinish(pool->listener->pg);
    pool->listener->pg = NULL;
}

int db_pool_listen(struct db_pool *pool, const char *channel, db_notify_fn *fn, void *arg)
{
    size_t n = channel ? strspn(channel, "abcdefghijklmnopqrstuvwxyz0123456789_") : 0;

    if (pool->closing)
        return -ECANCELED;
    if (!fn || n == 0 || n > CHANNEL_MAX || channel[n] || (channel[0] >= '0' && channel[0] <= '9'))
        return -EINVAL;
    if (pool->listener)
        return -EBUSY;
    if (pool->cfg.pooled)
        return -EOPNOTSUPP; /* the pooler would lend the LISTEN's session to others */
    pool->listener = xcalloc(1, sizeof(*pool->listener));
    memcpy(pool->channel, channel, n + 1);
    (void)snprintf(pool->listen_sql, sizeof(pool->listen_sql), "%s; LISTEN \"%s\"", pool->setup_sql,
                   pool->channel);
    pool->notify = fn;
    pool->notify_arg = arg;
    conn_init(pool, pool->listener, pool->cfg.size + 1);
    ev_timer_start(pool->loop, &pool->listener->timer); /* connects from the loop */
    return 0;
}
