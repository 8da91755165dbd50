/* rconn.h - one Redis connection on the libev loop (hiredis async), reconnecting by itself. */
#ifndef RCONN_H
#define RCONN_H

#include <stdbool.h>
#include <stddef.h>

struct ev_loop;
struct err;
struct raddr; /* where Redis is: lib/raddr.h */
struct redisReply;
struct rconn; /* opaque */

/* `up` is true once connected (AUTH and SELECT are queued first), false when the connection
 * is lost; never called from inside rconn_new() or rconn_free(). */
typedef void rconn_state_fn(struct rconn *rc, bool up, void *arg);
/* `reply` is NULL when the connection was lost before the reply came (the command may or
 * may not have run); otherwise borrowed, valid during the call only. Error replies come
 * as they are (reply->type == REDIS_REPLY_ERROR). */
typedef void rconn_reply_fn(struct redisReply *reply, void *arg);

/* Starts connecting at once and reconnects with backoff (0.1 s doubling to 1 s, or to the
 * cap of rconn_set_backoff_max()) after a loss, logging each change of state once. `name`
 * (borrowed, static) names the connection in logs. Caller owns the rconn; release with
 * rconn_free(). `addr` is copied. */
struct rconn *rconn_new(struct ev_loop *loop, const struct raddr *addr, const char *name,
                        double connect_timeout_s, rconn_state_fn *on_state, void *arg);
/* Closes the connection: pending callbacks run with reply NULL before this returns, and
 * `on_state` is not called. Accepts NULL. */
void rconn_free(struct rconn *rc);

bool rconn_is_up(const struct rconn *rc);
/* Lowers (or raises) the longest wait between two connection attempts, > 0: a process must
 * be back well within its process_ttl after a short outage. */
void rconn_set_backoff_max(struct rconn *rc, double max_s);
double rconn_backoff_max(const struct rconn *rc);
/* ev_now() of the last time the connection came up (0 before the first). */
double rconn_up_since(const struct rconn *rc);
/* Sends a command. `done` runs exactly once, later, when 0 is returned; when the connection
 * is down returns -ENOTCONN and never calls `done`. argv is copied before return. */
int rconn_command(struct rconn *rc, rconn_reply_fn *done, void *arg, int argc,
                  const char **argv, const size_t *argvlen);
/* The same with printf-style hiredis format ("%s", "%b"). */
int rconn_commandf(struct rconn *rc, rconn_reply_fn *done, void *arg, const char *fmt, ...);

/* One EVAL spelled out for redis*CommandArgv(): "EVAL", the script, the number of keys, the
 * keys, then the arguments. Fill with rconn_eval_words_make(), empty with
 * rconn_eval_words_clear(); not to be copied (argv[2] points into it). */
struct rconn_eval_words {
    int argc;
    const char **argv; /* owned array; the words are borrowed from make()'s arguments */
    size_t *lens;      /* owned: argc byte counts */
    char nkeys[24];    /* argv[2] */
};
/* Pure. `script` is Lua source (an embedded queue/lua/NAME.lua: lua_NAME); KEYS are
 * keys[0..nkeys), ARGV args[0..nargs), each NUL-terminated, or arglens[i] bytes long when
 * `arglens` is not NULL. Everything is borrowed until rconn_eval_words_clear(). */
void rconn_eval_words_make(struct rconn_eval_words *w, const char *script, size_t nkeys,
                           const char *const *keys, size_t nargs, const char *const *args,
                           const size_t *arglens);
void rconn_eval_words_clear(struct rconn_eval_words *w);
/* Sends that EVAL with rconn_command(). Scripts are sent whole each time:
 * there is no script cache to lose when Redis restarts. */
int rconn_eval(struct rconn *rc, rconn_reply_fn *done, void *arg, const char *script, size_t nkeys,
               const char *const *keys, size_t nargs, const char *const *args,
               const size_t *arglens);

/* The error text of an error reply or a lost connection, or NULL when `reply` is a
 * normal reply. Borrowed, valid as `reply`. */
const char *rconn_reply_error(const struct redisReply *reply);

#endif
