/* outbox.h - relays jobs the app enqueued inside its own PostgreSQL transactions
 * (nexus.enqueue() into nexus.outbox) to Redis, each exactly once, in commit order per
 * queue. */
#ifndef OUTBOX_H
#define OUTBOX_H

struct ev_loop;
struct db_pool;
struct rconn;
struct durable;
struct outbox; /* opaque */

/* One round at once when a commit inserted into nexus.outbox (NOTIFY nexus_outbox, migration
 * 003, on the listener of `listen`: `pool` itself, or a pool of size 0 on a direct URL when
 * `pool` goes through a transaction-mode pooler; NULL: none, the outbox is only polled),
 * when the listener (re)connects, and every `interval_s` as the safety net (and at once
 * again while rows remain): in a transaction holding an advisory lock (one relay at a time
 * across processes, so the order holds), read up to 500 rows in commit order (migration 004
 * numbers rows as their transactions commit), push them to Redis with outbox.lua (which skips ids an interrupted earlier round already
 * pushed), delete them, commit. A crash at any point leaves each job either still in the
 * outbox (pushed later) or pushed and marked (deleted later, not pushed again). `pool`,
 * `listen` and `redis` are borrowed and must outlive it, or the pools are freed first
 * (db_pool_free() ends their calls into the relay). Takes the one listener of `listen`.
 * Caller owns it, outbox_free(); NULL when `listen` refuses the listener (it already
 * listens, goes through a pooler, or is being freed). */
struct outbox *outbox_new(struct ev_loop *loop, struct db_pool *pool, struct db_pool *listen,
                          struct rconn *redis, const char *ns, double interval_s);
void outbox_free(struct outbox *ob);
/* From now on a round deletes its rows only after durable_after() on `d` (borrowed, outliving
 * the relay; NULL: none, the default) answered that enough replicas have the push; on a
 * shortfall they stay for the next round, as after a crash between push and DELETE. */
void outbox_set_durable(struct outbox *ob, struct durable *d);
void outbox_set_interval(struct outbox *ob, double interval_s);
void outbox_stop(struct outbox *ob);

#endif
