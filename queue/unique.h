/* unique.h - a unique job's lock (docs/PROTOCOL.md, "Unique jobs"): its key, its value and
 * its time to live, as every push (push.lua, outbox.lua) and the worker (unique.lua) take it,
 * and finish.lua lets it go (pure).
 *
 * A job carrying "unique_for" (seconds) is unique: `<ns>unique:` + the hex SHA-256 of its
 * "unique_key" when it has one, else of its class, "\n" and its args in canonical JSON
 * (job_args_canonical(): compact, keys sorted), holds the jid that owns it for unique_for
 * seconds (plus the time until due, for a job pushed for later). */
#ifndef UNIQUE_H
#define UNIQUE_H

#include "lib/job.h" /* JOB_SHA256_HEX */

/* The lock of one job; all empty (key NULL) for a job that is not unique. Fill with
 * unique_lock_make(), empty with unique_lock_clear(). */
struct unique_lock {
    char *key;       /* owned: "<ns>unique:DIGEST"; NULL when the job has no "unique_for" */
    const char *jid; /* borrowed from the job given to make(): the lock's value */
    char ttl_ms[24]; /* the lock's PX: unique_for plus `due_in_s`, in whole ms, >= 1 */
};

/* The lock digest of `job` (64 hex digits): of its unique_key, else of class and args.
 * Returns 0, or -ENOMEM when OpenSSL fails. */
int unique_digest(const struct job *job, char out[JOB_SHA256_HEX]);
/* The lock of `job` pushed under namespace `ns` and due in `due_in_s` seconds (0 for now).
 * `job` must outlive `l` (its jid is borrowed). Returns 0 (for a job that is not unique too:
 * l->key is then NULL), or -ENOMEM when OpenSSL fails (l empty). */
int unique_lock_make(struct unique_lock *l, const char *ns, const struct job *job,
                     double due_in_s);
void unique_lock_clear(struct unique_lock *l);

#endif
