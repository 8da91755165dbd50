/* rconn.c - a hiredis async connection with reconnect and backoff. */
#include "queue/rconn.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>
#include <hiredis/adapters/libev.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "lib/err.h"
#include "lib/log.h"
#include "lib/raddr.h"
#include "lib/xalloc.h"

#define BACKOFF_MIN_S 0.1
#define BACKOFF_MAX_S 1.0

struct rconn {
    struct ev_loop *loop;
    struct raddr addr;
    const char *name;
    double connect_timeout_s;
    rconn_state_fn *on_state;
    void *arg;
    redisAsyncContext *ac; /* NULL while down */
    bool up;               /* connected: commands may be sent */
    bool was_up;           /* for logging a state change once */
    bool told_down;        /* the current outage was logged */
    double backoff_s;
    double backoff_max_s; /* > 0 */
    double up_since;      /* ev_now() when it last came up */
    ev_timer reconnect;   /* waits backoff_s before the next attempt */
    ev_timer deadline;    /* connect timeout */
};

struct pending {
    rconn_reply_fn *done;
    void *arg;
};

static void connect_start(struct rconn *rc);

static void addr_copy(struct raddr *dst, const struct raddr *src)
{
    *dst = *src;
    dst->host = src->host ? xstrdup(src->host) : NULL;
    dst->path = src->path ? xstrdup(src->path) : NULL;
    dst->password = src->password ? xstrdup(src->password) : NULL;
}

static const char *addr_text(const struct rconn *rc, char *buf, size_t size)
{
    if (rc->addr.path)
        (void)snprintf(buf, size, "unix:%s", rc->addr.path);
    else
        (void)snprintf(buf, size, strchr(rc->addr.host, ':') ? "[%s]:%d" : "%s:%d", rc->addr.host,
                       rc->addr.port);
    return buf;
}

static void schedule_reconnect(struct rconn *rc)
{
    ev_timer_set(&rc->reconnect, rc->backoff_s, 0);
    ev_timer_start(rc->loop, &rc->reconnect);
    rc->backoff_s = rc->backoff_s * 2 > rc->backoff_max_s ? rc->backoff_max_s : rc->backoff_s * 2;
}

/* The connection is gone (failed to connect, lost, or timed out): tell the owner once. */
static void connection_lost(struct rconn *rc, const char *why)
{
    char where[256];
    bool was_up = rc->up;

    ev_timer_stop(rc->loop, &rc->deadline);
    rc->ac = NULL;
    rc->up = false;
    if (rc->was_up || !rc->told_down) {
        log_error("event=redis_down conn=%s addr=%s err=%s retry_in=%.1fs", rc->name,
                  addr_text(rc, where, sizeof(where)), log_q(why), rc->backoff_s);
        rc->was_up = false;
        rc->told_down = true;
    } else {
        log_debug("event=redis_connect_failed conn=%s addr=%s err=%s", rc->name,
                  addr_text(rc, where, sizeof(where)), log_q(why));
    }
    schedule_reconnect(rc);
    if (was_up && rc->on_state)
        rc->on_state(rc, false, rc->arg);
}

static void connect_on_done(const redisAsyncContext *ac, int status)
{
    struct rconn *rc = ac->data;
    char where[256];

    if (!rc)
        return;
    if (status != REDIS_OK) {
        connection_lost(rc, ac->errstr[0] ? ac->errstr : "connect failed");
        return;
    }
    ev_timer_stop(rc->loop, &rc->deadline);
    rc->up = true;
    rc->up_since = ev_now(rc->loop);
    rc->backoff_s = BACKOFF_MIN_S < rc->backoff_max_s ? BACKOFF_MIN_S : rc->backoff_max_s;
    rc->told_down = false;
    if (!rc->was_up) {
        log_info("event=redis_up conn=%s addr=%s db=%d", rc->name,
                 addr_text(rc, where, sizeof(where)), rc->addr.db);
        rc->was_up = true;
    }
    if (rc->on_state)
        rc->on_state(rc, true, rc->arg);
}

static void disconnect_on_done(const redisAsyncContext *ac, int status)
{
    struct rconn *rc = ac->data;

    if (!rc)
        return;
    connection_lost(rc, ac->errstr[0] ? ac->errstr : "connection closed");
}

static void setup_on_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    redisReply *reply = r;
    struct rconn *rc = ac->data;

    if (rc && reply && reply->type == REDIS_REPLY_ERROR) {
        log_error("event=redis_setup_failed conn=%s cmd=%s err=%s", rc->name,
                  (const char *)privdata, log_q(reply->str));
        redisAsyncDisconnect(ac);
    }
}

static void deadline_on_expire(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct rconn *rc = w->data;
    redisAsyncContext *ac = rc->ac;

    ac->data = NULL;
    connection_lost(rc, "connect timed out");
    redisAsyncFree(ac);
}

static void reconnect_on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    connect_start(w->data);
}

static void connect_start(struct rconn *rc)
{
    redisAsyncContext *ac;

    if (rc->addr.path)
        ac = redisAsyncConnectUnix(rc->addr.path);
    else
        ac = redisAsyncConnect(rc->addr.host, rc->addr.port);
    if (!ac || ac->err) {
        char why[128];
        (void)snprintf(why, sizeof(why), "%s", ac ? ac->errstr : "out of memory");
        if (ac)
            redisAsyncFree(ac);
        connection_lost(rc, why);
        return;
    }
    ac->data = rc;
    rc->ac = ac;
    (void)redisLibevAttach(rc->loop, ac);
    (void)redisAsyncSetConnectCallback(ac, connect_on_done);
    (void)redisAsyncSetDisconnectCallback(ac, disconnect_on_done);
    if (rc->addr.password)
        (void)redisAsyncCommand(ac, setup_on_reply, "AUTH", "AUTH %s", rc->addr.password);
    if (rc->addr.db)
        (void)redisAsyncCommand(ac, setup_on_reply, "SELECT", "SELECT %d", rc->addr.db);
    ev_timer_set(&rc->deadline, rc->connect_timeout_s, 0);
    ev_timer_start(rc->loop, &rc->deadline);
}

struct rconn *rconn_new(struct ev_loop *loop, const struct raddr *addr, const char *name,
                        double connect_timeout_s, rconn_state_fn *on_state, void *arg)
{
    struct rconn *rc = xcalloc(1, sizeof(*rc));

    addr_copy(&rc->addr, addr);
    rc->loop = loop;
    rc->name = name;
    rc->connect_timeout_s = connect_timeout_s;
    rc->on_state = on_state;
    rc->arg = arg;
    rc->backoff_s = BACKOFF_MIN_S;
    rc->backoff_max_s = BACKOFF_MAX_S;
    ev_timer_init(&rc->reconnect, reconnect_on_timer, 0, 0);
    rc->reconnect.data = rc;
    ev_timer_init(&rc->deadline, deadline_on_expire, 0, 0);
    rc->deadline.data = rc;
    connect_start(rc);
    return rc;
}

void rconn_free(struct rconn *rc)
{
    redisAsyncContext *ac;

    if (!rc)
        return;
    ev_timer_stop(rc->loop, &rc->reconnect);
    ev_timer_stop(rc->loop, &rc->deadline);
    ac = rc->ac;
    rc->up = false;
    if (ac) {
        ac->data = NULL;
        rc->ac = NULL;
        redisAsyncFree(ac);
    }
    raddr_clear(&rc->addr);
    free(rc);
}

bool rconn_is_up(const struct rconn *rc)
{
    return rc->up;
}

void rconn_set_backoff_max(struct rconn *rc, double max_s)
{
    rc->backoff_max_s = max_s;
    if (rc->backoff_s > max_s)
        rc->backoff_s = max_s;
}

double rconn_backoff_max(const struct rconn *rc)
{
    return rc->backoff_max_s;
}

double rconn_up_since(const struct rconn *rc)
{
    return rc->up_since;
}

static void command_on_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    struct pending p = *(struct pending *)privdata;

    free(privdata);
    p.done(reply, p.arg);
}

/* The callback record of one command, or NULL when the connection is down. */
static struct pending *pending_new(struct rconn *rc, rconn_reply_fn *done, void *arg)
{
    struct pending *p;

    if (!rc->up || !rc->ac)
        return NULL;
    p = xmalloc(sizeof(*p));
    p->done = done;
    p->arg = arg;
    return p;
}

int rconn_command(struct rconn *rc, rconn_reply_fn *done, void *arg, int argc, const char **argv,
                  const size_t *argvlen)
{
    struct pending *p = pending_new(rc, done, arg);

    if (!p)
        return -ENOTCONN;
    if (redisAsyncCommandArgv(rc->ac, command_on_reply, p, argc, argv, argvlen) != REDIS_OK) {
        free(p);
        return -ENOTCONN;
    }
    return 0;
}

int rconn_commandf(struct rconn *rc, rconn_reply_fn *done, void *arg, const char *fmt, ...)
{
    struct pending *p = pending_new(rc, done, arg);
    va_list ap;
    int r;

    if (!p)
        return -ENOTCONN;
    va_start(ap, fmt);
    r = redisvAsyncCommand(rc->ac, command_on_reply, p, fmt, ap);
    va_end(ap);
    if (r != REDIS_OK) {
        free(p);
        return -ENOTCONN;
    }
    return 0;
}

void rconn_eval_words_make(struct rconn_eval_words *w, const char *script, size_t nkeys,
                           const char *const *keys, size_t nargs, const char *const *args,
                           const size_t *arglens)
{
    size_t argc = 3 + nkeys + nargs, a = 0;

    assert(argc <= INT_MAX);
    w->argv = xreallocarray(NULL, argc, sizeof(*w->argv));
    w->lens = xreallocarray(NULL, argc, sizeof(*w->lens));
    (void)snprintf(w->nkeys, sizeof(w->nkeys), "%zu", nkeys);
#define PUT(s, l) (w->argv[a] = (s), w->lens[a] = (l), a++)
    PUT("EVAL", 4);
    PUT(script, strlen(script));
    PUT(w->nkeys, strlen(w->nkeys));
    for (size_t i = 0; i < nkeys; i++)
        PUT(keys[i], strlen(keys[i]));
    for (size_t i = 0; i < nargs; i++)
        PUT(args[i], arglens ? arglens[i] : strlen(args[i]));
#undef PUT
    w->argc = (int)a;
}

void rconn_eval_words_clear(struct rconn_eval_words *w)
{
    free(w->argv);
    free(w->lens);
    w->argv = NULL;
    w->lens = NULL;
    w->argc = 0;
}

int rconn_eval(struct rconn *rc, rconn_reply_fn *done, void *arg, const char *script, size_t nkeys,
               const char *const *keys, size_t nargs, const char *const *args,
               const size_t *arglens)
{
    struct rconn_eval_words w;
    int r;

    rconn_eval_words_make(&w, script, nkeys, keys, nargs, args, arglens);
    r = rconn_command(rc, done, arg, w.argc, w.argv, w.lens);
    rconn_eval_words_clear(&w);
    return r;
}

const char *rconn_reply_error(const struct redisReply *reply)
{
    if (!reply)
        return "connection lost";
    if (reply->type == REDIS_REPLY_ERROR)
        return reply->str;
    return NULL;
}
