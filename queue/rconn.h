/* rconn.h - one Redis connection on the libev loop, reconnecting by itself: nexusd's own
 * transport (TCP, unix socket, or TLS through OpenSSL), hiredis only formatting commands and
 * parsing replies. Used by every connection of nexusd and, run on a private loop, by nexusctl.
 *
 * The contract:
 * - Connecting: TCP (a name looked up off the loop, lib/resolve.h; every address in turn,
 *   IPv6 too; TCP_NODELAY, keepalive probes after 60 s of silence, every 10 s, 3 unanswered
 *   end it), a unix socket, or for
 *   rediss:// TLS 1.2+ with the server's certificate and name checked as the address says
 *   (lib/raddr.h). Then AUTH [user] password and SELECT db when the address names them (on
 *   TLS with neither, a PING): `up` only once those replied OK. The connect timeout covers
 *   all of it; a refusal (WRONGPASS, NOPERM) is a failed attempt like a refused connection.
 * - Sentinel (the address has sentinels): before each attempt the sentinels are asked in
 *   turn where the master is (queue/sentinel.h; each has the connect timeout to answer), and
 *   after AUTH/SELECT a ROLE must say "master", else the attempt failed. A -READONLY reply is
 *   delivered, then the connection is dropped and made again (with Sentinel: asked again),
 *   with or without Sentinel: a managed Redis that swapped its nodes behind a name answers so.
 * - Replies come in the order the commands were sent; every `done` accepted runs exactly once:
 *   with the reply, or with NULL when the connection is lost first or on rconn_free().
 * - Commands sent during one turn of the loop leave together (one write for a pipeline).
 * - Read timeout (the address's read_timeout_s, default 30 s): when the oldest command has
 *   waited that long with no byte coming (or going), the connection is dropped and made
 *   again; a blocking command (rconn_command_blocking()) waits its block time on top.
 * - A server that closes the connection (an idle one, as hosted Redis does) is logged as such
 *   and the connection made again: after a loss, attempts follow with backoff from 0.1 s
 *   doubling to 1 s (or rconn_set_backoff_max()), each change of state logged once, with
 *   the address shown without its password.
 */
#ifndef RCONN_H
#define RCONN_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/decimal.h"

struct ev_loop;
struct err;
struct raddr; /* where Redis is and how to reach it: lib/raddr.h */
struct redisReply;
struct rconn; /* opaque */

/* `up` is true once connected and set up (AUTH and SELECT replied), false when the
 * connection is lost; never called from inside rconn_new() or rconn_free(). */
typedef void rconn_state_fn(struct rconn *rc, bool up, void *arg);
/* `reply` is NULL when the connection was lost before the reply came (the command may or
 * may not have run); otherwise borrowed, valid during the call only (or kept with
 * rconn_reply_keep()). Error replies come as they are (reply->type == REDIS_REPLY_ERROR). */
typedef void rconn_reply_fn(struct redisReply *reply, void *arg);

/* Starts connecting at once and reconnects with backoff after a loss. `name` (borrowed,
 * static) names the connection in logs. Caller owns the rconn; release with rconn_free().
 * `addr` is copied. */
struct rconn *rconn_new(struct ev_loop *loop, const struct raddr *addr, const char *name,
                        double connect_timeout_s, rconn_state_fn *on_state, void *arg);
/* Closes the connection: pending callbacks run with reply NULL before this returns, and
 * `on_state` is not called. Accepts NULL; may be called from any of its callbacks (the
 * memory goes once they return). */
void rconn_free(struct rconn *rc);

bool rconn_is_up(const struct rconn *rc);
/* Lowers (or raises) the longest wait between two connection attempts, > 0: a process must
 * be back well within its process_ttl after a short outage. */
void rconn_set_backoff_max(struct rconn *rc, double max_s);
double rconn_backoff_max(const struct rconn *rc);
/* ev_now() of the last time the connection came up (0 before the first). */
double rconn_up_since(const struct rconn *rc);
/* Why the last attempt failed or the connection was lost ("TLS handshake failed: certificate
 * verify failed: ...", "AUTH failed: WRONGPASS ..."), or NULL when it is up or has not failed
 * yet. Borrowed, valid until the next call into the loop. */
const char *rconn_last_error(const struct rconn *rc);

/* Sends a command. `done` runs exactly once, later, when 0 is returned; when the connection
 * is down returns -ENOTCONN and never calls `done`. argv is copied before return. */
int rconn_command(struct rconn *rc, rconn_reply_fn *done, void *arg, int argc, const char **argv,
                  const size_t *argvlen);
/* The same for a command that blocks on the server up to `block_s` seconds (BLMOVE's
 * timeout; 0 for ever): the read timeout counts from there. */
int rconn_command_blocking(struct rconn *rc, double block_s, rconn_reply_fn *done, void *arg,
                           int argc, const char **argv, const size_t *argvlen);
/* For a connection that SUBSCRIBEs: a reply no command awaits (a published message) goes to
 * `fn` (reply borrowed, valid during the call) instead of ending the connection. */
void rconn_set_push(struct rconn *rc, rconn_reply_fn *fn, void *arg);
/* The same as rconn_command() with printf-style hiredis format ("%s", "%b"). */
int rconn_commandf(struct rconn *rc, rconn_reply_fn *done, void *arg, const char *fmt, ...);
/* From inside an rconn_reply_fn of `rc` only: takes the reply being delivered (non-NULL)
 * out of rconn's hands. Caller owns it, release with freeReplyObject(). */
struct redisReply *rconn_reply_keep(struct rconn *rc);

/* One EVAL spelled out for redis*CommandArgv(): "EVAL", the script, the number of keys, the
 * keys, then the arguments. Fill with rconn_eval_words_make(), empty with
 * rconn_eval_words_clear(); not to be copied (argv[2] points into it). */
struct rconn_eval_words {
    int argc;
    const char **argv; /* owned array; the words are borrowed from make()'s arguments */
    size_t *lens;      /* owned: argc byte counts */
    char nkeys[DECIMAL_MAX]; /* argv[2] */
};
/* Pure. `script` is Lua source (an embedded queue/lua/NAME.lua: lua_NAME); KEYS are
 * keys[0..nkeys), ARGV args[0..nargs), each NUL-terminated, or arglens[i] bytes long when
 * `arglens` is not NULL. Everything is borrowed until rconn_eval_words_clear(). */
void rconn_eval_words_make(struct rconn_eval_words *w, const char *script, size_t nkeys,
                           const char *const *keys, size_t nargs, const char *const *args,
                           const size_t *arglens);
void rconn_eval_words_clear(struct rconn_eval_words *w);
/* Sends that script as EVALSHA (its SHA-1 computed once per script), and when Redis answers
 * NOSCRIPT (a new or restarted server, SCRIPT FLUSH) sends it again whole as EVAL before
 * `done` hears anything, which also loads it; a user who may not run EVALSHA (NOPERM) gets
 * EVAL from then on, with one warning. `done` sees only the script's own reply. */
int rconn_eval(struct rconn *rc, rconn_reply_fn *done, void *arg, const char *script, size_t nkeys,
               const char *const *keys, size_t nargs, const char *const *args,
               const size_t *arglens);

/* The error text of an error reply or a lost connection, or NULL when `reply` is a
 * normal reply. Borrowed, valid as `reply`. */
const char *rconn_reply_error(const struct redisReply *reply);

#endif
