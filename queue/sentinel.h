/* sentinel.h - the master of a Redis Sentinel group: asked of the sentinels in turn, with
 * the parsing of their answers (pure) apart from the asking (on the loop). */
#ifndef SENTINEL_H
#define SENTINEL_H

#include <stdbool.h>
#include <stddef.h>

struct ev_loop;
struct err;
struct raddr;
struct redisReply;
struct sentinel_ask; /* opaque */

/* The sentinels themselves are configured in the address: raddr_sentinels_set(). */

/* Pure. The reply to SENTINEL GET-MASTER-ADDR-BY-NAME: an array of two strings, the
 * master's address and port. Returns 0 with *ret_host (caller owns, free()) and *ret_port;
 * -ENOENT for a nil reply (this sentinel knows no such master); -EPROTO with a sentence for
 * anything else (an error reply is quoted). */
int sentinel_master_reply(const struct redisReply *reply, char **ret_host, int *ret_port,
                          struct err *err);

/* Pure. A +switch-master message's payload, "NAME OLD-IP OLD-PORT NEW-IP NEW-PORT" (`len`
 * bytes). For master `name`: 0 with the new address (*ret_host owned by the caller); -ENOENT
 * when it is about another master; -EPROTO with a sentence when malformed. */
int sentinel_switch_parse(const char *payload, size_t len, const char *name, char **ret_host,
                          int *ret_port, struct err *err);

/* Pure. Whether a reply to ROLE says "master" (a replica answers "slave", a sentinel
 * "sentinel"). */
bool sentinel_role_is_master(const struct redisReply *reply);

/* `host` and `port` are the master's (borrowed, valid during the call), or `host` is NULL and
 * `err` says why no sentinel could tell (each one's failure, the last one quoted). */
typedef void sentinel_found_fn(const char *host, int port, const struct err *err, void *arg);

/* Asks each of the `n` sentinels in turn, from `first` on, for master `name`, each within
 * `timeout_s` (connect and answer), until one knows it. `sentinels` and `name` are copied.
 * `done` runs exactly once, later, unless sentinel_ask_cancel() comes first. The ask frees
 * itself after `done`; do not use it then. */
struct sentinel_ask *sentinel_ask(struct ev_loop *loop, const struct raddr *sentinels, size_t n,
                                  size_t first, const char *name, double timeout_s,
                                  sentinel_found_fn *done, void *arg);
/* Stops an ask whose `done` has not run: `done` never runs. */
void sentinel_ask_cancel(struct sentinel_ask *a);

/* The master's new address from a +switch-master message (borrowed, valid during the call).
 * It must not call sentinel_watch() or sentinel_unwatch(): note it and act from the loop. */
typedef void sentinel_switch_fn(const char *host, int port, void *arg);
struct sentinel_watcher; /* opaque */

/* Tells `fn` of every failover of `addr`'s master (addr->sentinel_master, its sentinels)
 * as the sentinels publish it on +switch-master. One subscription serves every watcher of
 * the same master on `loop`: to one sentinel at a time, the next one when that one cannot
 * be reached within 2 x `timeout_s`. Caller owns the watcher, release with
 * sentinel_unwatch(); the last one out closes the subscription. */
struct sentinel_watcher *sentinel_watch(struct ev_loop *loop, const struct raddr *addr,
                                        double timeout_s, sentinel_switch_fn *fn, void *arg);
/* Accepts NULL. */
void sentinel_unwatch(struct sentinel_watcher *m);

#endif
