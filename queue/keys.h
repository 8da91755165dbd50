/* keys.h - every Redis key name nexusd and nexusctl use, under the configured namespace (pure).
 *
 * One builder per key; docs/PROTOCOL.md's key tables list exactly these (queue/keys_test.c
 * checks both ways). Each builder returns "<ns><key>": `ns` is redis.namespace ("" for none,
 * NULL taken as ""). Caller owns every result, release with free(); none returns NULL
 * (lib/xalloc.h). "Written by" names the code that changes the key. */
#ifndef KEYS_H
#define KEYS_H

/* Sidekiq's keys. */

/* `queues`, set of queue names: every push (queue/push.h, move.lua, reap.lua, clients). */
char *keys_queues(const char *ns);
/* `queue:NAME`, list of ready jobs: pushed on the left (queue/push.h, clients), taken from the
 * right by fetch.lua. */
char *keys_queue(const char *ns, const char *name);
/* `schedule`, sorted set by due time (epoch s): clients, queue_push(), finish.lua (deferred);
 * emptied into queues by the poller (move.lua). */
char *keys_schedule(const char *ns);
/* `retry`, sorted set by retry time: finish.lua; emptied by the poller, run or deleted by the
 * dashboard and nexusctl. */
char *keys_retry(const char *ns);
/* `dead`, sorted set by time of death: finish.lua, move.lua, reap.lua (capped there). */
char *keys_dead(const char *ns);
/* `stat:processed`, `stat:failed`, string counters: finish.lua. */
char *keys_stat_processed(const char *ns);
char *keys_stat_failed(const char *ns);
/* `stat:processed:YYYY-MM-DD`, `stat:failed:YYYY-MM-DD` (`day` from keys_day()), string
 * counters kept KEYS_STAT_TTL_S: finish.lua. */
char *keys_stat_processed_day(const char *ns, const char *day);
char *keys_stat_failed_day(const char *ns, const char *day);
/* `processes`, set of process identities: beat.lua (presence), reap.lua. */
char *keys_processes(const char *ns);
/* `IDENTITY`, hash of a process's info and heartbeat, expiring: beat.lua. */
char *keys_process(const char *ns, const char *identity);
/* `IDENTITY:work`, hash of that process's jobs in flight, same expiry: beat.lua. */
char *keys_process_work(const char *ns, const char *identity);
/* `IDENTITY-signals`, list of signal names ("TSTP", "TERM") for that process, expiring:
 * nexusctl quiet/stop and Sidekiq's API push, beat.lua pops one per beat. */
char *keys_process_signals(const char *ns, const char *identity);

/* `unique:DIGEST`, string (the jid holding it) with a time to live: a unique job's lock
 * (queue/unique.h): lib/push.lua's unique_take() (push.lua, outbox.lua, unique.lua),
 * finish.lua; `digest` is 64 hex digits. */
char *keys_unique(const char *ns, const char *digest);

/* nexusd's keys (prefix nexus:). */

/* `nexus:inflight:IDENTITY:QUEUE`, list of the jobs of QUEUE process IDENTITY has taken:
 * fetch.lua, finish.lua, requeue.lua, reap.lua. */
char *keys_inflight(const char *ns, const char *identity, const char *queue);
/* "<ns>nexus:inflight:", what every in-flight list's name starts with (the reaper's sweep). */
char *keys_inflight_prefix(const char *ns);
/* `nexus:order:IDENTITY`, string: the token of IDENTITY's in-flight lists, set by fetch.lua,
 * compared by finish.lua before it trims a list by a count, deleted by reap.lua. */
char *keys_order(const char *ns, const char *identity);
/* `nexus:procs`, hash identity -> JSON record of every process that may own in-flight
 * lists: beat.lua (presence), reap.lua. */
char *keys_procs(const char *ns);
/* `nexus:cron:NAME`, hash (last, last_jid, fired_at) of a cron schedule: cron.lua. */
char *keys_cron(const char *ns, const char *name);
/* `nexus:rate:CLASS`, sorted set of a class's starts within its rate_period: limit.lua. */
char *keys_rate(const char *ns, const char *job_class);
/* `nexus:conc:CLASS`, sorted set of a class's running attempts (leases): limit.lua,
 * lease.lua. */
char *keys_conc(const char *ns, const char *job_class);
/* `nexus:paused`, set of paused queue names: nexusctl pause/resume, the dashboard. */
char *keys_paused(const char *ns);
/* `nexus:outbox:relayed`, sorted set of outbox ids pushed (by time): outbox.lua. */
char *keys_outbox_relayed(const char *ns);
/* `nexus:metrics:WIDTH:SLOT`, hash of the attempts finished in the `width_s` seconds from
 * SLOT * WIDTH (epoch s), expiring (queue/tally.h): finish.lua; read by the dashboard. */
char *keys_metrics(const char *ns, unsigned width_s, long long slot);

/* Keys of job classes, under their own configured prefix (not the namespace). */

/* `emotion:SHA256`, string (JSON labels) expiring after emotion.cache_ttl: emotion.analyze,
 * under emotion.cache_prefix; `sha256_hex` is the text's digest. */
char *keys_emotion_cache(const char *prefix, const char *sha256_hex);
/* `funnel:ID:step:STEP:YYYY-MM-DD`, string counter: the application INCRs it, the
 * analytics.rollup class reads it (SCAN, MGET), under analytics.funnel_prefix. */
char *keys_funnel_step(const char *prefix, const char *id, int step, const char *day);

/* Writes "YYYY-MM-DD" (UTC) of `epoch_s` into buf (>= 11 bytes). Returns buf. */
char *keys_day(double epoch_s, char *buf);

/* Sidekiq's daily counters are kept this long (seconds), as Sidekiq does. */
#define KEYS_STAT_TTL_S 157680000

#endif
