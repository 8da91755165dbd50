/* rerun.h - jobs an operator pushes again (pure): a set's job back to its queue, a
 * schedule's job now. Shared by nexusctl and the daemon's dashboard actions. */
#ifndef RERUN_H
#define RERUN_H

#include <stdbool.h>
#include <stddef.h>

struct job;
struct cfg_schedule;

/* Makes `job` (taken from retry, dead or schedule) the job to push to its queue: "at"
 * removed, enqueued_at = now (in the job's own units). With `again` (dead, retry)
 * retry_count goes down by one, as Sidekiq's "retry now" does, so the job gets one more
 * attempt; at 0 the field is removed (nexusd refuses -1). */
void rerun_prepare(struct job *job, bool again, double now);

/* The job schedule `sc` pushes, as a client would, marked with "nexus_schedule" (and with
 * "unique_for" when the schedule sets it); `rnd` draws its jid. `sc` is from a checked configuration (its args a JSON array, its names
 * valid), so there is always a job. Caller owns the job, release with job_free(). */
struct job *rerun_schedule_job(const struct cfg_schedule *sc, double now, unsigned long long rnd);

/* The `rnd` to give job_decode() for a member of a set (FNV-1a of its text): a text that
 * is not a job gets the same wrapper jid in every reader, so that listing, showing and
 * deleting it agree across nexusctl and the dashboard. */
unsigned long long rerun_member_seed(const char *text, size_t len);

#endif
