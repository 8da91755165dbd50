/* sched.h - cron schedules: each tick fired exactly once across every process. */
#ifndef SCHED_H
#define SCHED_H

struct ev_loop;
struct cfg;
struct rconn;
struct durable;
struct sched; /* opaque */

/* Fires the schedules of `cfg` (copied): at each tick
 * of a schedule, every process tries cron.lua, which pushes the job only if the tick is later
 * than the schedule's last fired one (nexus:cron:NAME). A schedule whose policy is run_once
 * fires, at start-up or when Redis comes back, the latest tick it missed while no process
 * ran (once, however many were missed); skip fires only ticks from now on. Due ticks are
 * looked for every 0.25 s while there are schedules; without any, no timer runs. `conn` is
 * borrowed and must outlive it. Caller owns it, release with sched_free(). */
struct sched *sched_new(struct ev_loop *loop, struct rconn *conn, const struct cfg *cfg);
void sched_free(struct sched *s);
/* Each tick this process fired is followed by durable_after() on `d` (borrowed, outliving the
 * sched; NULL: none, the default): a tick a failover could lose is logged and counted. */
void sched_set_durable(struct sched *s, struct durable *d);
/* Takes the schedules of a new configuration (copied; schedules come and go with SIGHUP: the
 * timer starts with the first and stops with the last). Not from inside a tick. */
void sched_reload(struct sched *s, const struct cfg *cfg);
/* Redis is (back) up: catch up on missed ticks of run_once schedules. */
void sched_kick(struct sched *s);
void sched_stop(struct sched *s);

#endif
