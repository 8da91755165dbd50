/* outcome.c - what becomes of a job after an attempt (pure). */
#include "queue/outcome.h"

#include "queue/backoff.h"

static const char *const names[] = {
    [OUTCOME_DONE] = "ok",         [OUTCOME_RETRY] = "retry",    [OUTCOME_DEAD] = "dead",
    [OUTCOME_DISCARD] = "discarded", [OUTCOME_DEFER] = "deferred", [OUTCOME_REQUEUE] = "requeued",
    [OUTCOME_DUPLICATE] = "duplicate",
};

const char *outcome_name(enum outcome_kind kind)
{
    return names[kind];
}

/* A failure: retried with Sidekiq's backoff while retries are left, then dead (or dropped,
 * for a job that asked not to be kept). A refused job has no retries left. */
static void decide_failure(const struct outcome_input *in, struct outcome *out)
{
    int max = in->cause == OUTCOME_CAUSE_REFUSED ? in->retry_count : in->max_retries;

    out->retries = max;
    if (in->retry_count < max) {
        out->kind = OUTCOME_RETRY;
        out->at = in->now + backoff_delay_s(in->retry_count, in->rnd);
    } else {
        out->kind = in->dead_allowed ? OUTCOME_DEAD : OUTCOME_DISCARD;
    }
}

void outcome_decide(const struct outcome_input *in, struct outcome *ret)
{
    struct outcome out = {.kind = OUTCOME_DONE, .at = in->now};

    switch (in->cause) {
    case OUTCOME_CAUSE_OK:
        break;
    case OUTCOME_CAUSE_FAILED:
    case OUTCOME_CAUSE_REFUSED:
        decide_failure(in, &out);
        break;
    case OUTCOME_CAUSE_DEFERRED:
        out.kind = OUTCOME_DEFER;
        out.at = in->now + in->defer_s;
        break;
    case OUTCOME_CAUSE_RECOVERED: /* a crash loop goes to dead whatever the job says */
        out.kind = in->recoveries >= (int)in->max_recoveries ? OUTCOME_DEAD : OUTCOME_REQUEUE;
        break;
    }
    *ret = out;
}
