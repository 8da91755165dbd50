/* presence.h - this process in Redis: Sidekiq's process hash and heartbeat, plus the
 * durable record (nexus:procs) that lets survivors recover its in-flight jobs. */
#ifndef PRESENCE_H
#define PRESENCE_H

#include <stdbool.h>
#include <sys/types.h>

struct rconn;
struct presence; /* opaque */
typedef struct json_t json_t;

struct presence_info {
    const char *hostname;
    const char *host_id;   /* util_host_id(): processes with the same one share pids */
    pid_t pid;
    long long pid_start;   /* util_pid_start(pid) */
    const char *tag;
    const char *version;
    double started_at;     /* epoch s */
};

/* Identity is "hostname:pid:12 hex". `conn` is borrowed and must outlive the presence;
 * strings of `info` are copied. Caller owns it, release with presence_free(). */
struct presence *presence_new(struct rconn *conn, const char *ns, const struct presence_info *info,
                              unsigned long long rnd);
void presence_free(struct presence *p);
const char *presence_identity(const struct presence *p); /* borrowed */

typedef void presence_signal_fn(const char *signal, void *arg);
/* `fn` runs from a beat's reply with each signal name an operator pushed to this process's
 * IDENTITY-signals list (nexusctl quiet/stop, Sidekiq's API: "TSTP", "TERM", or anything a
 * client wrote; borrowed, valid during the call), one per beat, oldest first. */
void presence_on_signal(struct presence *p, presence_signal_fn *fn, void *arg);

/* The classes this process runs (a JSON array of names, borrowed: copied), written into the
 * IDENTITY hash's "classes" field by the next beat, and again by the beat after the hash
 * expired: at start and after a reload, not with every beat. */
void presence_set_classes(struct presence *p, json_t *classes);

/* One heartbeat, in one call (beat.lua): SADD processes, the IDENTITY hash (info, busy,
 * beat, quiet, and classes when due) and IDENTITY:work (`work`: an object slot -> {"queue","payload","run_at"}), all
 * expiring after `ttl_s`, and the durable nexus:procs record naming `inflight_queues`, every
 * queue whose in-flight list this process may hold jobs in. `concurrency` and `queues` go
 * into info. When the record was gone although an earlier beat wrote it, a peer judged this
 * process dead: that is logged (event=declared_dead) and the beat registers it again. It
 * also pops the next signal of IDENTITY-signals for presence_on_signal()'s callback.
 * JSON arguments are borrowed. Returns 0, -ENOTCONN, or -EINVAL when the hostname or tag is
 * not UTF-8 (no beat is sent). */
int presence_beat(struct presence *p, unsigned concurrency, json_t *queues,
                  json_t *inflight_queues, unsigned busy, bool quiet, json_t *work, double ttl_s);

typedef void presence_done_fn(int err, void *arg);
/* Removes this process from Redis (after a clean shutdown emptied its in-flight lists).
 * `done` runs once, unless -ENOTCONN is returned. */
int presence_remove(struct presence *p, presence_done_fn *done, void *arg);

/* A durable record as stored in nexus:procs: parsed by reapers. */
struct presence_record {
    char identity[256];
    char host_id[128];
    pid_t pid;
    long long pid_start;
    json_t *queues; /* owned array of names; release with presence_record_clear() */
};
/* Pure. Returns 0, or -EINVAL when `text` is not a record. */
int presence_record_parse(const char *text, size_t len, struct presence_record *ret);
void presence_record_clear(struct presence_record *rec);

#endif
