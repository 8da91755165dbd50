/* ctl_redis.h - nexusctl's synchronous Redis: the daemon's transport (queue/rconn.h, TLS and
 * ACL users included) run on a private loop until each reply comes; reply checks. */
#ifndef CTL_REDIS_H
#define CTL_REDIS_H

#include <stddef.h>

struct cfg;
struct err;
struct redisReply;
struct ctl_redis; /* opaque */

/* Connects as the configuration says (cfg_redis_addr(): redis.url with AUTH and SELECT, the
 * redis.tls_* settings, the connect and read timeouts). Caller owns the connection, release
 * with ctl_redis_free(). Returns NULL and fills `err` on failure, e.g. "cannot connect to
 * Redis at redis://127.0.0.1:6379/0: connect: Connection refused" (CTL_ECONFIG when the URL
 * itself is unusable). */
struct ctl_redis *ctl_redis_connect(const struct cfg *cfg, struct err *err);
/* Closes the connection. Accepts NULL. */
void ctl_redis_free(struct ctl_redis *c);

/* Runs one command: argv[i] is lens[i] bytes (lens NULL: NUL-terminated words). On
 * success writes *ret_reply: caller owns it, release with freeReplyObject(). An error
 * reply or a lost connection is a failure (-EIO with a sentence naming the command). */
int ctl_redis_argv(struct ctl_redis *c, int argc, const char **argv, const size_t *lens,
                   struct redisReply **ret_reply, struct err *err);
/* The same with NUL-terminated words, the last followed by NULL. */
int ctl_redis_cmd(struct ctl_redis *c, struct redisReply **ret_reply, struct err *err, ...)
    __attribute__((sentinel));
/* A command replying with a count: an integer, an integer string (GET of a counter), or
 * nil (= 0). */
int ctl_redis_count(struct ctl_redis *c, long long *ret, struct err *err, ...)
    __attribute__((sentinel));
/* EXEC after MULTI and the queued commands: fails when the transaction was aborted or
 * one of its commands failed. Writes EXEC's array, caller owns it (freeReplyObject()). */
int ctl_redis_exec(struct ctl_redis *c, struct redisReply **ret_reply, struct err *err);

/* MULTI; COUNT_COMMAND KEY (ZCARD, LLEN); DEL KEY; EXEC: deletes KEY and writes how many
 * members it held when deleted, exactly. */
int ctl_redis_take_all(struct ctl_redis *c, const char *count_command, const char *key,
                       long long *ret, struct err *err);

/* After writes that must survive a failover: WAIT for redis.wait_replicas replicas
 * (queue/durable.h), writing that number to *ret_want; nothing is sent when it is 0. Returns
 * the replicas that confirmed, or a negative errno when WAIT got no answer (-ENOTCONN) or was
 * refused (-EIO). */
int ctl_redis_durable(struct ctl_redis *c, unsigned *ret_want);

/* -EPROTO with a sentence when `reply` is not of `type` (REDIS_REPLY_*), else 0. */
int ctl_redis_expect(const struct redisReply *reply, int type, const char *command,
                     struct err *err);

#endif
