/* sql.c - `sql` classes: a class declared in the configuration as one parameterized
 * statement, run exactly once per jid (sql/once) with the job's args bound to $1..$n. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include <jansson.h>

#include "conf/cfg.h"
#include "jobs/registry.h"
#include "jobs/sql_args.h"
#include "jobs/task.h"
#include "lib/err.h"
#include "lib/job.h"
#include "lib/xalloc.h"
#include "sql/db.h"
#include "sql/once.h"

/* An attempt waiting for PostgreSQL. The statement cannot be taken back once sent, so a
 * cancel only cuts the link: the answer then frees the state and reports nothing. */
struct sql_state {
    struct task *task; /* NULL after cancel */
};

static void sql_on_done(int err, bool already, const char *sqlstate, const char *why, void *arg)
{
    struct sql_state *st = arg;
    struct task *task = st->task;

    free(st);
    if (!task)
        return;
    task_set_state(task, NULL);
    if (err == 0)
        task_succeed(task); /* `already`: an earlier delivery committed it */
    else if (err == -EEXIST) /* the jid belongs to another job: no retry can help */
        task_refuse(task, "NexusJidReused", "%s", why);
    else if (err == -ENOTCONN || err == -ECANCELED)
        task_fail(task, "NexusDatabaseDown", "PostgreSQL unreachable: %s", why);
    else if (err == -ETIMEDOUT)
        task_fail(task, "NexusDatabaseTimeout", "statement timed out: %s", why);
    else
        task_fail(task, "PG::Error", "SQLSTATE %s: %s", sqlstate, why);
    (void)already;
}

static void sql_start(struct task *task)
{
    const struct task_env *env = task_env(task);
    const struct job *job = task_job(task);
    const struct cfg_class *cls = cfg_class_find(env->cfg, job_class(job));
    char *params[CFG_MAX_SQL_ARGS], args_sha256[JOB_SHA256_HEX];
    struct db_stmt stmt;
    struct sql_state *st;
    struct err err = {0};
    int r;

    if (!cls || !cls->sql) {
        task_fail(task, "NexusUnknownClass", "class '%s' is no longer a sql class", job_class(job));
        return;
    }
    if (!env->db) {
        task_fail(task, "NexusNoDatabase", "class '%s' needs database.url", cls->name);
        return;
    }
    if (sql_args_bind(cls, task_args(task), params, &err) < 0) {
        task_fail(task, "ArgumentError", "%s", err.msg);
        return;
    }
    if (job_args_sha256(job, args_sha256) < 0) { /* OpenSSL could not hash */
        sql_args_clear(params, cls->nargs);
        task_fail(task, "NoMemoryError", "out of memory");
        return;
    }
    st = xmalloc(sizeof(*st));
    st->task = task;
    stmt = (struct db_stmt){
        .sql = cls->sql, .params = (const char *const *)params, .nparams = (int)cls->nargs};
    r = once_run(env->db, job_jid(job), cls->name, args_sha256, &stmt, 1, sql_on_done, st);
    sql_args_clear(params, cls->nargs);
    if (r < 0) {
        free(st);
        task_fail(task, r == -EAGAIN ? "NexusDatabaseBusy" : "NexusDatabaseDown",
                  r == -EAGAIN ? "too many queries waiting for a connection"
                               : "PostgreSQL unreachable");
        return;
    }
    task_set_state(task, st);
}

static void sql_cancel(struct task *task)
{
    struct sql_state *st = task_state(task);

    if (st)
        st->task = NULL;
}

static bool sql_claims(const struct cfg_class *cls)
{
    return cls->sql != NULL;
}

const struct handler handler_sql = {
    .name = "(sql class)",
    .claims = sql_claims,
    .start = sql_start,
    .cancel = sql_cancel,
};
