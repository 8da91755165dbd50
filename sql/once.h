/* once.h - exactly-once effects: a job's writes and its "jid done" marker commit together. */
#ifndef ONCE_H
#define ONCE_H

#include <stdbool.h>

struct db_pool;
struct db_stmt;

/* `err` is 0 when the writes committed now, or were committed before by an earlier delivery
 * of the same job (`already` true: nothing was written this time); -EEXIST when the jid's
 * marker belongs to another job (another class, or args with another hash): the jid was
 * reused, nothing was written, and `why` says so; otherwise a negative errno (db.h's codes)
 * with PostgreSQL's sentence in `why` and nothing written. `why` is borrowed, valid during
 * the call. */
typedef void once_done_fn(int err, bool already, const char *sqlstate, const char *why,
                          void *arg);

/* Runs INSERT INTO nexus.jobs_done (jid, class, args_sha256) and then `writes` (1..63
 * statements) as one transaction in one round trip (db_atomic_group(): units waiting for a
 * connection at the same time may share it, up to the pool's group_max; each still commits
 * all or nothing, and a group with a failure is rerun unit by unit). A second delivery of the jid
 * finds the marker (unique violation on the first statement), so its writes are rolled back;
 * one more query then reads the marker: the same class and `args_sha256` (or a marker from
 * before migration 009, without a hash) make `done` say `already`, anything else -EEXIST.
 * `args_sha256` (hex) may be NULL: the marker then has none and matches any args. Two
 * deliveries running at once serialize on the marker's row lock. Strings are copied before
 * return; `done` runs exactly once, later, unless a negative errno is returned (db_atomic's
 * codes). */
int once_run(struct db_pool *pool, const char *jid, const char *class_name,
             const char *args_sha256, const struct db_stmt *writes, int n, once_done_fn *done,
             void *arg);

#endif
