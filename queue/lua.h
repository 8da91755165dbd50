/* lua.h - the Lua scripts of queue/lua/, compiled in as C strings (scripts/embed.cmake).
 *
 * lua_NAME is queue/lua/NAME.lua without its comment lines, static for the process's life;
 * each script's own opening comment says its KEYS, ARGV and reply. nexusd sends them as
 * EVALSHA, whole as EVAL when Redis lacks one (rconn_eval()); nexusctl sends them whole
 * (ctl_redis_argv()). */
#ifndef LUA_H
#define LUA_H

extern const char lua_beat[];      /* presence: one heartbeat */
extern const char lua_cron[];      /* sched: fires one cron tick once across processes */
extern const char lua_fetch[];     /* queue: reliable fetch into the in-flight lists */
extern const char lua_finish[];    /* queue: writes outcomes, removes from in-flight */
extern const char lua_fleet[];     /* status, metrics: one read of the whole fleet */
extern const char lua_lease[];     /* worker: renews or drops concurrency leases */
extern const char lua_limit[];     /* worker: may a limited class start now */
extern const char lua_list[];      /* dashboard: a page of dead, retry or schedule; a queue's
                                      next jobs (nexusctl queue peek) */
extern const char lua_metrics_read[]; /* dashboard: the metrics' slots of a window */
extern const char lua_move[];      /* move: jobs out of a sorted set into their queues */
extern const char lua_orphans[];   /* reaper: in-flight lists of no live process */
extern const char lua_outbox[];    /* outbox: pushes relayed jobs exactly once */
extern const char lua_push[];      /* push: one job onto its queue now */
extern const char lua_reap[];      /* reaper: recovers a dead process's jobs */
extern const char lua_reap_read[]; /* reaper: reads a dead process's in-flight lists */
extern const char lua_requeue[];   /* queue: in-flight jobs back to their queues */
extern const char lua_unique[];    /* worker: a unique job's lock as it starts */

#endif
