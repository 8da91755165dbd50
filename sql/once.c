/* once.c - the jid marker and the job's writes in one pipelined transaction. */
#include "sql/once.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/xalloc.h"
#include "sql/db.h"

#define ONCE_MAX_WRITES 63
/* Hex digits of an args hash quoted in a message: enough to tell two apart. */
#define ONCE_HASH_SHOWN 12

static const char marker_sql[] =
    "INSERT INTO nexus.jobs_done (jid, class, args_sha256) VALUES ($1, $2, $3)";
static const char marker_read_sql[] =
    "SELECT class, args_sha256, done_at FROM nexus.jobs_done WHERE jid = $1";

/* One once_run(): what the marker must match when the jid is found done. */
struct once {
    struct db_pool *pool; /* borrowed: outlives every callback it runs */
    once_done_fn *done;
    void *arg;
    char *jid, *class_name, *args_sha256; /* owned; args_sha256 may be NULL */
};

static void once_free(struct once *o)
{
    free(o->jid);
    free(o->class_name);
    free(o->args_sha256);
    free(o);
}

/* Ends `o` with one call of its callback. */
static void once_end(struct once *o, int err, bool already, const char *state, const char *why)
{
    once_done_fn *done = o->done;
    void *arg = o->arg;

    once_free(o);
    done(err, already, state, why, arg);
}

/* The marker of a jid found done: the same job again, or another one under a reused jid. */
static void marker_on_read(const struct db_rows *rows, int err, void *arg)
{
    struct once *o = arg;
    const char *cls, *hash, *at;
    char why[512];

    if (err < 0) {
        once_end(o, err, false, db_rows_sqlstate(rows), db_rows_error(rows));
        return;
    }
    if (db_rows_count(rows) < 1) { /* deleted since (retention): not done after all */
        once_end(o, -EAGAIN, false, "", "the jid's marker went away while it was read; retry");
        return;
    }
    cls = db_rows_get(rows, 0, 0);
    hash = db_rows_get(rows, 0, 1);
    at = db_rows_get(rows, 0, 2);
    if (cls && strcmp(cls, o->class_name) == 0 &&
        (!hash || !o->args_sha256 || strcmp(hash, o->args_sha256) == 0)) {
        once_end(o, 0, true, "23505", "already done by an earlier delivery");
        return;
    }
    if (cls && strcmp(cls, o->class_name) != 0)
        (void)snprintf(why, sizeof(why),
                       "jid '%.64s' was already used by a job of class '%.128s' (done at %.40s); "
                       "nothing was run: give this job a new jid",
                       o->jid, cls, at ? at : "?");
    else
        (void)snprintf(why, sizeof(why),
                       "jid '%.64s' was already used by a job of this class with other args "
                       "(args SHA-256 %.*s..., this job's %.*s..., done at %.40s); nothing was "
                       "run: give this job a new jid",
                       o->jid, ONCE_HASH_SHOWN, hash, ONCE_HASH_SHOWN, o->args_sha256,
                       at ? at : "?");
    once_end(o, -EEXIST, false, "23505", why);
}

static void once_on_done(const struct db_rows *rows, int err, int failed, void *arg)
{
    struct once *o = arg;
    const char *state = db_rows_sqlstate(rows);
    const char *params[] = {o->jid};
    int r;

    if (err == -EIO && failed == 0 && strcmp(state, "23505") == 0) {
        r = db_query(o->pool, marker_read_sql, params, 1, marker_on_read, o);
        if (r < 0)
            once_end(o, r, false, "", "could not read the jid's marker");
        return;
    }
    once_end(o, err, false, state, err ? db_rows_error(rows) : "");
}

int once_run(struct db_pool *pool, const char *jid, const char *class_name,
             const char *args_sha256, const struct db_stmt *writes, int n, once_done_fn *done,
             void *arg)
{
    struct db_stmt stmts[ONCE_MAX_WRITES + 1];
    const char *marker[] = {jid, class_name, args_sha256};
    struct once *o;
    int r;

    if (n < 1 || n > ONCE_MAX_WRITES)
        return -EINVAL;
    o = xcalloc(1, sizeof(*o));
    o->pool = pool;
    o->done = done;
    o->arg = arg;
    o->jid = xstrdup(jid);
    o->class_name = xstrdup(class_name);
    o->args_sha256 = args_sha256 ? xstrdup(args_sha256) : NULL;
    stmts[0] = (struct db_stmt){.sql = marker_sql, .params = marker, .nparams = 3};
    memcpy(&stmts[1], writes, (size_t)n * sizeof(*writes));
    r = db_atomic_group(pool, stmts, n + 1, once_on_done, o);
    if (r < 0)
        once_free(o);
    return r;
}
