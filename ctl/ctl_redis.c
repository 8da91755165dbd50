/* ctl_redis.c - nexusctl's synchronous Redis connection and reply checks. */
#include "ctl/ctl_redis.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#include <hiredis/hiredis.h>

#include "conf/cfg.h"
#include "ctl/ctl.h"
#include "lib/err.h"
#include "lib/parse.h"
#include "lib/raddr.h"
#include "queue/rconn.h"

/* A command taking longer than this means Redis is stuck: give up rather than hang. */
#define CTL_COMMAND_TIMEOUT_S 30.0
/* The most words ctl_redis_cmd() and ctl_redis_count() take. */
#define CTL_WORDS_MAX 16

static struct timeval timeval_of(double s)
{
    struct timeval tv = {.tv_sec = (time_t)s};

    tv.tv_usec = (suseconds_t)((s - (double)tv.tv_sec) * 1e6);
    return tv;
}

/* Sends AUTH and SELECT when the address asks for them. */
static int session_setup(redisContext *c, const struct raddr *addr, const char *where,
                         struct err *err)
{
    redisReply *reply = NULL;
    char db[16];
    int r = 0;

    if (addr->password) {
        r = ctl_redis_cmd(c, &reply, err, "AUTH", addr->password, NULL);
        freeReplyObject(reply);
        reply = NULL;
        if (r < 0)
            return err_prefix(err, "cannot log in to Redis at %s", where);
    }
    if (addr->db != 0) {
        (void)snprintf(db, sizeof(db), "%d", addr->db);
        r = ctl_redis_cmd(c, &reply, err, "SELECT", db, NULL);
        freeReplyObject(reply);
        if (r < 0)
            return err_prefix(err, "cannot select database %d at %s", addr->db, where);
    }
    return 0;
}

struct redisContext *ctl_redis_connect(const struct cfg *cfg, struct err *err)
{
    struct timeval connect_tv = timeval_of(cfg->redis_connect_timeout_s);
    struct raddr addr = {0};
    redisContext *c = NULL;
    char where[512];

    if (raddr_parse(cfg->redis_url, &addr, err) < 0) {
        err->code = CTL_ECONFIG;
        return NULL;
    }
    if (addr.path) {
        (void)snprintf(where, sizeof(where), "%s", addr.path);
        c = redisConnectUnixWithTimeout(addr.path, connect_tv);
    } else {
        (void)snprintf(where, sizeof(where), strchr(addr.host, ':') ? "[%s]:%d" : "%s:%d",
                       addr.host, addr.port);
        c = redisConnectWithTimeout(addr.host, addr.port, connect_tv);
    }
    if (!c) { /* hiredis 0.14 allocates with plain malloc: NULL is its out of memory */
        (void)err_set(err, -ENOMEM, "out of memory connecting to Redis at %s", where);
        goto out;
    }
    if (c->err) {
        (void)err_set(err, -EIO, "cannot connect to Redis at %s: %s", where, c->errstr);
        goto out_free;
    }
    if (redisSetTimeout(c, timeval_of(CTL_COMMAND_TIMEOUT_S)) != REDIS_OK) {
        (void)err_set(err, -EIO, "cannot set a timeout on the connection to Redis at %s: %s", where,
                      c->errstr);
        goto out_free;
    }
    if (session_setup(c, &addr, where, err) < 0)
        goto out_free;
    goto out;

out_free:
    redisFree(c);
    c = NULL;
out:
    raddr_clear(&addr);
    return c;
}

int ctl_redis_argv(struct redisContext *c, int argc, const char **argv, const size_t *lens,
                   struct redisReply **ret_reply, struct err *err)
{
    redisReply *reply = redisCommandArgv(c, argc, argv, lens);

    if (!reply)
        return err_set(err, -EIO, "lost the connection to Redis during %s: %s", argv[0],
                       c->errstr[0] ? c->errstr : "no reply");
    if (reply->type == REDIS_REPLY_ERROR) {
        (void)err_set(err, -EIO, "Redis refused %s: %.*s", argv[0], (int)reply->len, reply->str);
        freeReplyObject(reply);
        return -EIO;
    }
    *ret_reply = reply;
    return 0;
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

int ctl_redis_cmd(struct redisContext *c, struct redisReply **ret_reply, struct err *err, ...)
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

int ctl_redis_count(struct redisContext *c, long long *ret, struct err *err, ...)
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

int ctl_redis_exec(struct redisContext *c, struct redisReply **ret_reply, struct err *err)
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
