/* ctl_redis.c - nexusctl's synchronous Redis over rconn on a private loop, and reply checks. */
#include "ctl/ctl_redis.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>
#include <hiredis/hiredis.h>

#include "conf/cfg.h"
#include "ctl/ctl.h"
#include "lib/err.h"
#include "lib/parse.h"
#include "lib/raddr.h"
#include "lib/urlmask.h"
#include "lib/xalloc.h"
#include "queue/durable.h"
#include "queue/rconn.h"

/* The most words ctl_redis_cmd() and ctl_redis_count() take. */
#define CTL_WORDS_MAX 16

struct ctl_redis {
    struct ev_loop *loop; /* owned: runs only inside ctl_redis_*() */
    struct rconn *rc;     /* owned */
    struct durable *durable; /* owned: WAIT after pushes (redis.wait_replicas) */
    char where[512];      /* redis.url through url_mask(), for messages */
};

/* One command on its way: the loop runs until `done`. */
struct call {
    struct rconn *rc;
    bool done;
    struct redisReply *reply; /* owned once done; NULL: the connection was lost */
};

static void call_on_reply(struct redisReply *reply, void *arg)
{
    struct call *call = arg;

    call->done = true;
    call->reply = reply ? rconn_reply_keep(call->rc) : NULL;
}

struct ctl_redis *ctl_redis_connect(const struct cfg *cfg, struct err *err)
{
    struct raddr addr = {0};
    struct ctl_redis *c;

    if (cfg_redis_addr(cfg, &addr, err) < 0) {
        err->code = CTL_ECONFIG;
        return NULL;
    }
    c = xcalloc(1, sizeof(*c));
    (void)url_mask(cfg->redis_url, c->where, sizeof(c->where));
    if (addr.tls && !addr.tls_verify) /* as nexusd logs it at every start */
        (void)fprintf(stderr,
                      "nexusctl: warning: redis.tls_verify = false: the certificate of %s is "
                      "not checked\n",
                      c->where);
    c->loop = ev_loop_new(EVFLAG_AUTO);
    if (!c->loop) {
        (void)err_set(err, -EIO, "cannot make an event loop for Redis at %s", c->where);
        goto fail;
    }
    c->rc = rconn_new(c->loop, &addr, "nexusctl", cfg->redis_connect_timeout_s, NULL, NULL);
    /* rconn retries for ever: the first failed attempt (the connect timeout included) ends it */
    while (!rconn_is_up(c->rc) && !rconn_last_error(c->rc))
        (void)ev_run(c->loop, EVRUN_ONCE);
    if (!rconn_is_up(c->rc)) {
        (void)err_set(err, -EIO, "cannot connect to Redis at %s: %s", c->where,
                      rconn_last_error(c->rc));
        goto fail;
    }
    raddr_clear(&addr);
    c->durable = durable_new(c->loop, c->rc, cfg->redis_wait_replicas, cfg->redis_wait_timeout_s);
    return c;

fail:
    raddr_clear(&addr);
    ctl_redis_free(c);
    return NULL;
}

void ctl_redis_free(struct ctl_redis *c)
{
    if (!c)
        return;
    durable_free(c->durable);
    rconn_free(c->rc);
    if (c->loop)
        ev_loop_destroy(c->loop);
    free(c);
}

int ctl_redis_argv(struct ctl_redis *c, int argc, const char **argv, const size_t *lens,
                   struct redisReply **ret_reply, struct err *err)
{
    struct call call = {.rc = c->rc};
    const char *why;

    if (rconn_command(c->rc, call_on_reply, &call, argc, argv, lens) < 0)
        call.done = true;
    while (!call.done) /* the read timeout (redis.read_timeout) ends a stuck wait */
        (void)ev_run(c->loop, EVRUN_ONCE);
    if (!call.reply) {
        why = rconn_last_error(c->rc);
        return err_set(err, -EIO, "lost the connection to Redis at %s during %s: %s", c->where,
                       argv[0], why ? why : "no reply");
    }
    if (call.reply->type == REDIS_REPLY_ERROR) {
        (void)err_set(err, -EIO, "Redis refused %s: %.*s", argv[0], (int)call.reply->len,
                      call.reply->str);
        freeReplyObject(call.reply);
        return -EIO;
    }
    *ret_reply = call.reply;
    return 0;
}

/* What a WAIT answered. */
struct barrier {
    bool done;
    int acked;
};

static void barrier_on_done(int acked, unsigned want, void *arg)
{
    struct barrier *b = arg;

    b->done = true;
    b->acked = acked;
}

int ctl_redis_durable(struct ctl_redis *c, unsigned *ret_want)
{
    struct barrier b = {0};

    *ret_want = c->durable ? durable_replicas(c->durable) : 0;
    if (*ret_want == 0) /* nothing to send; a loop turn here would wait for nothing */
        return 0;
    durable_after(c->durable, "nexusctl", barrier_on_done, &b);
    while (!b.done) /* WAIT's timeout, then the read timeout, end the wait */
        (void)ev_run(c->loop, EVRUN_ONCE);
    return b.acked;
}

/* The NULL-terminated words of a command. Returns their number, or -E2BIG. */
static int words_collect(va_list ap, const char **words, struct err *err)
{
    int n = 0;

    for (const char *w = va_arg(ap, const char *); w; w = va_arg(ap, const char *)) {
        if (n == CTL_WORDS_MAX)
            return err_set(err, -E2BIG, "internal error: a Redis command of over %d words",
                           CTL_WORDS_MAX);
        words[n++] = w;
    }
    return n;
}

int ctl_redis_cmd(struct ctl_redis *c, struct redisReply **ret_reply, struct err *err, ...)
{
    const char *words[CTL_WORDS_MAX];
    va_list ap;
    int n;

    va_start(ap, err);
    n = words_collect(ap, words, err);
    va_end(ap);
    if (n < 0)
        return n;
    return ctl_redis_argv(c, n, words, NULL, ret_reply, err);
}

/* The count in a reply: integer, integer string or nil. */
static int reply_count(const redisReply *reply, const char *command, long long *ret,
                       struct err *err)
{
    int64_t v;

    switch (reply->type) {
    case REDIS_REPLY_INTEGER:
        *ret = reply->integer;
        return 0;
    case REDIS_REPLY_NIL:
        *ret = 0;
        return 0;
    case REDIS_REPLY_STRING:
        if (parse_i64(reply->str, INT64_MIN, INT64_MAX, &v) < 0)
            return err_set(err, -EPROTO, "Redis replied to %s with '%.40s', not a number", command,
                           reply->str);
        *ret = v;
        return 0;
    default:
        return ctl_redis_expect(reply, REDIS_REPLY_INTEGER, command, err);
    }
}

int ctl_redis_count(struct ctl_redis *c, long long *ret, struct err *err, ...)
{
    const char *words[CTL_WORDS_MAX];
    redisReply *reply = NULL;
    va_list ap;
    int n, r;

    va_start(ap, err);
    n = words_collect(ap, words, err);
    va_end(ap);
    if (n < 0)
        return n;
    r = ctl_redis_argv(c, n, words, NULL, &reply, err);
    if (r < 0)
        return r;
    r = reply_count(reply, words[0], ret, err);
    freeReplyObject(reply);
    return r;
}

int ctl_redis_exec(struct ctl_redis *c, struct redisReply **ret_reply, struct err *err)
{
    redisReply *reply = NULL;
    int r;

    r = ctl_redis_cmd(c, &reply, err, "EXEC", NULL);
    if (r < 0)
        return r;
    if (reply->type == REDIS_REPLY_NIL) {
        freeReplyObject(reply);
        return err_set(err, -EIO, "Redis aborted the transaction");
    }
    r = ctl_redis_expect(reply, REDIS_REPLY_ARRAY, "EXEC", err);
    for (size_t i = 0; r == 0 && i < reply->elements; i++)
        if (reply->element[i]->type == REDIS_REPLY_ERROR)
            r = err_set(err, -EIO, "Redis refused a command of the transaction: %.*s",
                        (int)reply->element[i]->len, reply->element[i]->str);
    if (r < 0) {
        freeReplyObject(reply);
        return r;
    }
    *ret_reply = reply;
    return 0;
}

int ctl_redis_take_all(struct ctl_redis *c, const char *count_command, const char *key,
                       long long *ret, struct err *err)
{
    redisReply *reply = NULL;
    int r;

    r = ctl_redis_cmd(c, &reply, err, "MULTI", NULL);
    freeReplyObject(reply);
    if (r == 0 && (r = ctl_redis_cmd(c, &reply, err, count_command, key, NULL)) == 0)
        freeReplyObject(reply);
    if (r == 0 && (r = ctl_redis_cmd(c, &reply, err, "DEL", key, NULL)) == 0)
        freeReplyObject(reply);
    if (r == 0)
        r = ctl_redis_exec(c, &reply, err);
    if (r < 0)
        return r;
    if (reply->elements == 2 && reply->element[0]->type == REDIS_REPLY_INTEGER)
        *ret = reply->element[0]->integer;
    else
        r = err_set(err, -EPROTO, "Redis replied to %s in a transaction unexpectedly",
                    count_command);
    freeReplyObject(reply);
    return r;
}

static const char *const reply_types[] = {
    [REDIS_REPLY_STRING] = "a string",    [REDIS_REPLY_ARRAY] = "an array",
    [REDIS_REPLY_INTEGER] = "an integer", [REDIS_REPLY_NIL] = "nil",
    [REDIS_REPLY_STATUS] = "a status",    [REDIS_REPLY_ERROR] = "an error",
};

static const char *reply_type_name(int type)
{
    if (type < 0 || (size_t)type >= sizeof(reply_types) / sizeof(reply_types[0]) ||
        !reply_types[type])
        return "an unknown reply";
    return reply_types[type];
}

int ctl_redis_expect(const struct redisReply *reply, int type, const char *command, struct err *err)
{
    if (reply->type == type)
        return 0;
    return err_set(err, -EPROTO, "Redis replied to %s with %s, expected %s", command,
                   reply_type_name(reply->type), reply_type_name(type));
}
