/* durable.h - a durability barrier on one Redis connection: WAIT N T after writes that must
 * survive a failover, one WAIT for all the writes sent during the same turn of the loop.
 *
 * Redis replicates asynchronously: a write the master acknowledged is lost if the master dies
 * before a replica has it and that replica is promoted. WAIT N T, sent on the connection that
 * wrote, answers how many replicas have every write that connection sent before it, once N
 * have or after T. Since rconn sends all the commands queued during one turn in one write, the
 * WAIT queued last in the turn (from an ev_prepare watcher of the lowest priority, after every
 * other prepare watcher has queued its writes) is pipelined behind them: one round trip for
 * them all. With N = 0 nothing is sent at all. A WAIT blocks the connection on the server
 * until it answers: commands sent behind it wait too (up to T when replicas lag). */
#ifndef DURABLE_H
#define DURABLE_H

#include <stdbool.h>

struct ev_loop;
struct rconn;
struct durable; /* opaque */

/* `want`: the replicas asked for when the WAIT was sent (0: none was sent). `acked`: how many
 * replicas confirmed (0 when want is 0), or a negative errno: -ENOTCONN (the connection was
 * down, or lost before WAIT answered: whether replicas have the writes is unknown), -EIO
 * (Redis refused WAIT: a replica, or an ACL user without it), -ECANCELED (durable_free()). A
 * shortfall (durable_short()) was logged and counted before the call, except -ECANCELED. */
typedef void durable_done_fn(int acked, unsigned want, void *arg);

/* Writes on `rc` (borrowed; must outlive the durable) are confirmed by `replicas` replicas
 * (0..100, 0: off), waiting up to `timeout_s` (> 0). Caller owns it, release with
 * durable_free(). */
struct durable *durable_new(struct ev_loop *loop, struct rconn *rc, unsigned replicas,
                            double timeout_s);
/* Runs every `done` not run yet with -ECANCELED, now or (a WAIT already sent) when rconn
 * gives up its reply. Accepts NULL; not from a durable_done_fn. */
void durable_free(struct durable *d);
/* New settings (a reload), for the WAITs sent from now on. */
void durable_set(struct durable *d, unsigned replicas, double timeout_s);
unsigned durable_replicas(const struct durable *d);

/* Call right after sending one or more writes on the connection: `done` (may be NULL: the
 * shortfall is only logged and counted) runs exactly once, from the loop, never from inside
 * this call, with the answer of the WAIT that covers them; with 0 replicas, with (0, 0) and
 * no command sent. `what` (static string) names the writes in the log line of a shortfall:
 * `event=redis_wait_short what=WHAT acked=K want=N`, at most one a second per `what` (the others
 * counted in its `suppressed=`). */
void durable_after(struct durable *d, const char *what, durable_done_fn *done, void *arg);

/* Pure. Whether an answer falls short: fewer replicas than wanted, or no answer at all. */
bool durable_short(int acked, unsigned want);
/* Pure. WAIT's timeout argument for `timeout_s`: milliseconds rounded up, at least 1 (WAIT's
 * 0 would wait for ever). */
long long durable_wait_ms(double timeout_s);
/* Shortfalls since the process started, across every durable (nexus_redis_wait_short_total). */
unsigned long long durable_short_total(void);

#endif
