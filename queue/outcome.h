/* outcome.h - what becomes of a job after an attempt (pure): done, retry, dead, discarded,
 * deferred, or requeued after its process died. The one place these rules live; the worker
 * and the reaper write what it decides. */
#ifndef OUTCOME_H
#define OUTCOME_H

#include <stdbool.h>

/* What happened to the attempt. */
enum outcome_cause {
    OUTCOME_CAUSE_OK,        /* the handler succeeded */
    OUTCOME_CAUSE_FAILED,    /* it failed or ran out of time: counts as an attempt */
    OUTCOME_CAUSE_REFUSED,   /* the job itself is wrong (its args): no retry can help */
    OUTCOME_CAUSE_DEFERRED,  /* not run (a limit, the peer asked to wait): not counted */
    OUTCOME_CAUSE_RECOVERED, /* the process running it died; another process found it */
};

/* Where the job goes; queue_finish() writes all but REQUEUE. */
enum outcome_kind {
    OUTCOME_DONE,    /* removed from in flight, counted processed */
    OUTCOME_RETRY,   /* into `retry`, due at `at` */
    OUTCOME_DEAD,    /* into `dead` */
    OUTCOME_DISCARD, /* failed for good and the job said "dead": false: removed */
    OUTCOME_DEFER,   /* into `schedule`, due at `at`, the attempt not counted */
    OUTCOME_REQUEUE, /* recovered: back to its queue to run again */
    OUTCOME_DUPLICATE, /* a unique job whose lock another jid holds: removed, not run, not
                          counted (docs/PROTOCOL.md, "Unique jobs") */
};

struct outcome_input {
    enum outcome_cause cause;
    int retry_count;         /* FAILED, REFUSED: failures recorded, this one included */
    int max_retries;         /* retries the job may have (its "retry", or its class's) */
    bool dead_allowed;       /* the job's "dead" (true unless it says false) */
    double defer_s;          /* DEFERRED: how long to wait, >= 0 */
    int recoveries;          /* RECOVERED: times its process died with it, this one included */
    unsigned max_recoveries; /* RECOVERED: a crash loop at this many; >= 1 */
    double now;              /* epoch seconds */
    unsigned long long rnd;  /* a random number, for the retry's jitter */
};

struct outcome {
    enum outcome_kind kind;
    double at;   /* RETRY, DEFER: when it is due (epoch s); else `now` */
    int retries; /* FAILED, REFUSED: retries allowed, for the log ("retries=3/25") */
};

void outcome_decide(const struct outcome_input *in, struct outcome *ret);
/* "ok", "retry", "dead", "discarded", "deferred", "requeued", "duplicate": the word the logs and the
 * job history use. Static. */
const char *outcome_name(enum outcome_kind kind);

#endif
