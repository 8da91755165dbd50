/* once.h - exactly-once effects: a job's writes and its "jid done" marker commit together. */
#ifndef ONCE_H
#define ONCE_H

#include <stdbool.h>

struct db_pool;
struct db_stmt;

/* `err` is 0 when the writes committed now, or were committed before by an earlier delivery
 * of the same jid (`already` true: nothing was written this time); otherwise a negative errno
 * (db.h's codes) with PostgreSQL's sentence in `why` (borrowed, valid during the call) and
 * nothing written. */
typedef void once_done_fn(int err, bool already, const char *sqlstate, const char *why,
                          void *arg);

/* Runs INSERT INTO nexus.jobs_done (jid, class) and then `writes` (1..63 statements) as one
 * transaction in one round trip (db_atomic). A second delivery of the jid finds the marker
 * (unique violation on the first statement), so its writes are rolled back and `done` says
 * `already`. Two deliveries running at once serialize on the marker's row lock. Strings are
 * copied before return; `done` runs exactly once, later, unless a negative errno is
 * returned (db_atomic's codes). */
int once_run(struct db_pool *pool, const char *jid, const char *class_name,
             const struct db_stmt *writes, int n, once_done_fn *done, void *arg);

#endif
