/* ctl_redis.h - nexusctl's synchronous Redis: connect, run a command, check its reply. */
#ifndef CTL_REDIS_H
#define CTL_REDIS_H

#include <stddef.h>

struct cfg;
struct err;
struct redisContext;
struct redisReply;

/* Connects to cfg->redis_url, then AUTH and SELECT as it says. Caller owns the context,
 * release with redisFree(). Returns NULL and fills `err` on failure, e.g.
 * "cannot connect to Redis at 127.0.0.1:6379: Connection refused" (CTL_ECONFIG when the
 * URL itself is unusable). */
struct redisContext *ctl_redis_connect(const struct cfg *cfg, struct err *err);

/* Runs one command: argv[i] is lens[i] bytes (lens NULL: NUL-terminated words). On
 * success writes *ret_reply: caller owns it, release with freeReplyObject(). An error
 * reply or a lost connection is a failure (-EIO with a sentence naming the command). */
int ctl_redis_argv(struct redisContext *c, int argc, const char **argv, const size_t *lens,
                   struct redisReply **ret_reply, struct err *err);
/* The same with NUL-terminated words, the last followed by NULL. */
int ctl_redis_cmd(struct redisContext *c, struct redisReply **ret_reply, struct err *err, ...)
    __attribute__((sentinel));
/* A command replying with a count: an integer, an integer string (GET of a counter), or
 * nil (= 0). */
int ctl_redis_count(struct redisContext *c, long long *ret, struct err *err, ...)
    __attribute__((sentinel));
/* EXEC after MULTI and the queued commands: fails when the transaction was aborted or
 * one of its commands failed. Writes EXEC's array, caller owns it (freeReplyObject()). */
int ctl_redis_exec(struct redisContext *c, struct redisReply **ret_reply, struct err *err);

/* -EPROTO with a sentence when `reply` is not of `type` (REDIS_REPLY_*), else 0. */
int ctl_redis_expect(const struct redisReply *reply, int type, const char *command,
                     struct err *err);

#endif
