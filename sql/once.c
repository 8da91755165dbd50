/* once.c - the jid marker and the job's writes in one pipelined transaction. */
#include "once.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sql/db.h"

#define ONCE_MAX_WRITES 63

static const char marker_sql[] = "INSERT INTO nexus.jobs_done (jid, class) VALUES ($1, $2)";

struct once {
    once_done_fn *done;
    void *arg;
};

static void once_on_done(const struct db_rows *rows, int err, int failed, void *arg)
{
    struct once o = *(struct once *)arg;
    const char *state = db_rows_sqlstate(rows);

    free(arg);
    if (err == -EIO && failed == 0 && strcmp(state, "23505") == 0) {
        o.done(0, true, state, "already done by an earlier delivery", o.arg);
        return;
    }
    o.done(err, false, state, err ? db_rows_error(rows) : "", o.arg);
}

int once_run(struct db_pool *pool, const char *jid, const char *class_name,
             const struct db_stmt *writes, int n, once_done_fn *done, void *arg)
{
    struct db_stmt stmts[ONCE_MAX_WRITES + 1];
    const char *marker[] = {jid, class_name};
    struct once *o;
    int r;

    if (n < 1 || n > ONCE_MAX_WRITES)
        return -EINVAL;
    o = malloc(sizeof(*o));
    if (!o)
        return -ENOMEM;
    o->done = done;
    o->arg = arg;
    stmts[0] = (struct db_stmt){.sql = marker_sql, .params = marker, .nparams = 2};
    memcpy(&stmts[1], writes, (size_t)n * sizeof(*writes));
    r = db_atomic(pool, stmts, n + 1, once_on_done, o);
    if (r < 0)
        free(o);
    return r;
}
