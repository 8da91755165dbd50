/* command.c - `command` classes (docs/commands.md): each job runs the class's argv vectors (or
 * its shell line) one step after another, each a child process (jobs/spawn.h) leading its own
 * process group, watched on the loop (jobs/pgroup.h), its output kept (jobs/command_output.h);
 * every step is judged and recorded in nexus.command_runs. The handler is handler_command. */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>
#include <jansson.h>

#include "conf/cfg.h"
#include "jobs/command_args.h"
#include "jobs/command_output.h"
#include "jobs/npm_audit.h"
#include "jobs/pgroup.h"
#include "jobs/registry.h"
#include "jobs/spawn.h"
#include "jobs/tail.h"
#include "jobs/task.h"
#include "lib/err.h"
#include "lib/job.h"
#include "lib/traceparent.h"
#include "lib/log.h"
#include "lib/util.h"
#include "lib/xalloc.h"
#include "sql/db.h"

/* One job's run of a command class, from start to the record of its last step. Lives on
 * after a cancel until its child is reaped and its step recorded. */
struct proc {
    struct task *task;  /* borrowed; NULL after cancel: then only reap and record */
    struct db_pool *db; /* borrowed, NULL without a database: outlives every proc */
    /* copied at start: a reload may free the configuration meanwhile */
    char *jid, *class_name, *queue, *workdir;
    int attempt;
    char ***argvs, ***envs; /* per step, owned */
    size_t step, nsteps;
    char *user; /* NULL: the child runs as nexusd's user; else as uid, gid, groups */
    uid_t uid;
    gid_t gid;
    gid_t *groups;
    size_t ngroups;
    bool parse_audit;
    int fail_level;
    struct pgroup *group; /* the step's child and its process group */
    /* the step under way */
    pid_t pid; /* 0 before spawn */
    bool recording, abandoned;
    const char *stopped; /* "timeout" or "cancelled" once nexusd stopped it */
    double step_started, step_mono;
    struct command_output *output;
    /* the step's verdict */
    const char *status; /* ok | failed | timeout | cancelled | spawn_error */
    char message[JOB_MAX_ERROR + 1];
    const char *error_class;
    json_t *result;
};

static void step_start(struct proc *p);

/* Seconds on the monotonic clock, for durations. */
static double mono_now(void)
{
    struct timespec ts;

    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *get_env(const char *name)
{
    return getenv(name);
}

static void vectors_free(char ***v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        command_args_free(v[i]);
    free(v);
}

static void proc_free(struct proc *p)
{
    pgroup_free(p->group);
    free(p->jid);
    free(p->class_name);
    free(p->queue);
    free(p->workdir);
    free(p->user);
    free(p->groups);
    vectors_free(p->argvs, p->nsteps);
    vectors_free(p->envs, p->nsteps);
    command_output_free(p->output);
    json_decref(p->result);
    free(p);
}

/* ---- the end of a step ---- */

/* Ends the job's attempt once the last step is recorded, or starts the next step. */
static void proc_report(struct proc *p)
{
    struct task *task = p->task;
    bool ok = strcmp(p->status, "ok") == 0;

    if (!task) {
        proc_free(p);
        return;
    }
    if (ok && p->step + 1 < p->nsteps) {
        p->step++;
        step_start(p);
        return;
    }
    task_set_state(task, NULL);
    if (ok) {
        proc_free(p);
        task_succeed(task);
        return;
    }
    /* task_fail copies the message: free after */
    task_fail(task, p->error_class, "%s", p->message);
    proc_free(p);
}

static void record_on_done(const struct db_rows *rows, int err, void *arg)
{
    struct proc *p = arg;

    p->recording = false;
    if (err < 0)
        log_warn("event=command_run_unrecorded jid=%s class=%s step=%zu err=%s", log_q(p->jid),
                 log_q(p->class_name), p->step + 1, log_q(db_rows_error(rows)));
    if (p->abandoned) { /* command_drain() gave up on it: the pool's release answers */
        proc_free(p);
        return;
    }
    proc_report(p);
}

static const char record_sql[] =
    "INSERT INTO nexus.command_runs (jid, class, queue, attempt, step, nsteps, argv, workdir, "
    "status, exit_code, signal, started_at, finished_at, duration_ms, output, output_dropped, "
    "result, error, host, pid) VALUES ($1, $2, $3, $4::integer, $5::integer, $6::integer, "
    "$7::jsonb, $8, $9, $10::integer, $11, to_timestamp($12::double precision), "
    "to_timestamp($13::double precision), $14::double precision, $15, $16::bigint, $17::jsonb, "
    "$18, $19, $20::integer)";

/* Writes the step's row; proc_report() follows when it is written or could not be. */
static void step_record(struct proc *p, double finished)
{
    char attempt[16], step[16], nsteps[16], code[16], when0[32], when1[32], ms[32], dropped[32];
    char pid[16], host[256] = "";
    char *argv_json, *result, *output, *error, *workdir;
    int wstatus = pgroup_wstatus(p->group);
    bool exited = p->pid && pgroup_exited(p->group);
    const char *params[20];
    json_t *argv;
    int r;

    if (!p->db) {
        proc_report(p);
        return;
    }
    argv = json_array();
    for (char **a = p->argvs[p->step]; *a; a++) { /* config text may be no UTF-8 */
        char *clean = tail_utf8(*a, strlen(*a), NULL);
        (void)json_array_append_new(argv, json_string(clean));
        free(clean);
    }
    argv_json = json_dumps(argv, JSON_COMPACT);
    /* the message may end in a character cut by its size */
    error = tail_utf8(p->message, strlen(p->message), NULL);
    workdir = p->workdir ? tail_utf8(p->workdir, strlen(p->workdir), NULL) : NULL;
    json_decref(argv);
    result = p->result ? json_dumps(p->result, JSON_COMPACT) : NULL;
    output = command_output_text(p->output);
    (void)gethostname(host, sizeof(host) - 1);
    (void)snprintf(attempt, sizeof(attempt), "%d", p->attempt);
    (void)snprintf(step, sizeof(step), "%zu", p->step + 1);
    (void)snprintf(nsteps, sizeof(nsteps), "%zu", p->nsteps);
    (void)snprintf(code, sizeof(code), "%d", WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 0);
    (void)snprintf(when0, sizeof(when0), "%.6f", p->step_started);
    (void)snprintf(when1, sizeof(when1), "%.6f", finished);
    (void)snprintf(ms, sizeof(ms), "%.3f", (mono_now() - p->step_mono) * 1000.0);
    (void)snprintf(dropped, sizeof(dropped), "%llu", command_output_dropped(p->output));
    (void)snprintf(pid, sizeof(pid), "%d", (int)p->pid);
    params[0] = p->jid;
    params[1] = p->class_name;
    params[2] = p->queue;
    params[3] = attempt;
    params[4] = step;
    params[5] = nsteps;
    params[6] = argv_json;
    params[7] = workdir;
    params[8] = p->status;
    params[9] = exited && WIFEXITED(wstatus) ? code : NULL;
    params[10] = exited && WIFSIGNALED(wstatus) ? pgroup_sig_name(WTERMSIG(wstatus)) : NULL;
    params[11] = when0;
    params[12] = when1;
    params[13] = ms;
    params[14] = output;
    params[15] = dropped;
    params[16] = result;
    params[17] = strcmp(p->status, "ok") == 0 ? NULL : error;
    params[18] = host;
    params[19] = p->pid ? pid : NULL;
    r = db_query(p->db, record_sql, params, 20, record_on_done, p);
    free(argv_json);
    free(error);
    free(workdir);
    free(result);
    free(output);
    if (r < 0) {
        log_warn("event=command_run_unrecorded jid=%s class=%s step=%zu err=%s", log_q(p->jid),
                 log_q(p->class_name), p->step + 1,
                 log_q(r == -ENOTCONN ? "PostgreSQL unreachable" : strerror(-r)));
        proc_report(p);
        return;
    }
    p->recording = true;
}

/* "step 2/2 (npm run test:e2e)" for messages. */
static void step_name(const struct proc *p, char *buf, size_t size)
{
    size_t n = (size_t)snprintf(buf, size, "step %zu/%zu (", p->step + 1, p->nsteps);

    for (char **a = p->argvs[p->step]; *a && n + 1 < size; a++)
        n += (size_t)snprintf(buf + n, size - n, "%s%s", a == p->argvs[p->step] ? "" : " ", *a);
    if (n + 2 < size)
        (void)snprintf(buf + n, size - n, ")");
    else
        (void)snprintf(buf + size - 5, 5, "...)");
}

/* npm-audit: counts into p->result; a verdict when the counts reach fail_on. */
static void step_audit(struct proc *p, const char *what)
{
    size_t len;
    const char *out = command_output_stdout(p->output, &len);
    struct npm_audit audit;
    struct err err = {0};
    char summary[160];
    int worst;

    if (!out) {
        p->status = "failed";
        p->error_class = "NexusAuditFailed";
        (void)snprintf(p->message, sizeof(p->message),
                       "%s: its output is larger than %u bytes: not read", what, COMMAND_PARSE_MAX);
        return;
    }
    if (npm_audit_parse(out, len, &audit, &p->result, &err) < 0) {
        p->status = "failed";
        p->error_class = "NexusAuditFailed";
        (void)snprintf(p->message, sizeof(p->message), "%s: %s", what, err.msg);
        return;
    }
    worst = npm_audit_worst(&audit);
    p->status = "ok";
    if (p->fail_level > 0 && worst >= p->fail_level) {
        npm_audit_summary(&audit, p->fail_level, summary, sizeof(summary));
        p->status = "failed";
        p->error_class = "NexusAuditFailed";
        (void)snprintf(p->message, sizeof(p->message),
                       "%s: %s vulnerabilities (fail_on = %s; %lld in all)", what, summary,
                       npm_audit_level_name(p->fail_level), audit.total);
    }
}

/* The step's verdict from how its child ended. */
static void step_judge(struct proc *p)
{
    char what[256], quote[COMMAND_MESSAGE_BYTES + 8];
    int wstatus = pgroup_wstatus(p->group);
    int code = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1;

    step_name(p, what, sizeof(what));
    command_output_quote(p->output, quote, sizeof(quote));
    p->error_class = "NexusCommandFailed";
    if (p->stopped) {
        p->status = p->stopped;
        (void)snprintf(p->message, sizeof(p->message), "%s %s after %.1fs%s", what,
                       strcmp(p->stopped, "timeout") == 0 ? "timed out" : "was cancelled",
                       mono_now() - p->step_mono, quote);
    } else if (WIFSIGNALED(wstatus)) {
        p->status = "failed";
        (void)snprintf(p->message, sizeof(p->message), "%s was killed by SIG%s%s", what,
                       pgroup_sig_name(WTERMSIG(wstatus)), quote);
    } else if (p->parse_audit && (code == 0 || code == 1)) { /* npm audit exits 1 on findings */
        step_audit(p, what);
    } else if (code != 0) {
        p->status = "failed";
        (void)snprintf(p->message, sizeof(p->message), "%s exited with status %d%s", what, code,
                       quote);
    } else {
        p->status = "ok";
    }
}

/* The child exited and its pipes are closed (pgroup_done_fn). */
static void step_on_done(void *arg)
{
    struct proc *p = arg;
    double finished = util_now();
    int wstatus = pgroup_wstatus(p->group);

    step_judge(p);
    log_write(strcmp(p->status, "ok") == 0 ? LOG_LEVEL_INFO : LOG_LEVEL_WARN,
              "event=command_end jid=%s class=%s step=%zu/%zu pid=%d status=%s exit_code=%d "
              "signal=%s duration_ms=%.3f output_bytes=%zu dropped_bytes=%llu",
              log_q(p->jid), log_q(p->class_name), p->step + 1, p->nsteps, (int)p->pid, p->status,
              WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1,
              WIFSIGNALED(wstatus) ? pgroup_sig_name(WTERMSIG(wstatus)) : "none",
              (mono_now() - p->step_mono) * 1000.0, command_output_len(p->output),
              command_output_dropped(p->output));
    step_record(p, finished);
}

/* A step that could not start: recorded as spawn_error, the job fails with `fmt`. */
static void step_not_started(struct proc *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void step_not_started(struct proc *p, const char *fmt, ...)
{
    char what[256];
    char why[512];
    va_list ap;

    va_start(ap, fmt);
    (void)vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    step_name(p, what, sizeof(what));
    p->status = "spawn_error";
    p->error_class = "NexusCommandNotStarted";
    (void)snprintf(p->message, sizeof(p->message), "%s could not start: %s", what, why);
    log_warn("event=command_not_started jid=%s class=%s step=%zu/%zu err=%s", log_q(p->jid),
             log_q(p->class_name), p->step + 1, p->nsteps, log_q(p->message));
    step_record(p, util_now());
}

static void step_reset(struct proc *p)
{
    p->pid = 0;
    pgroup_reset(p->group);
    p->status = NULL;
    p->message[0] = '\0';
    command_output_clear(p->output);
    json_decref(p->result);
    p->result = NULL;
    p->step_started = util_now();
    p->step_mono = mono_now();
}

static void step_start(struct proc *p)
{
    struct spawn_req req = {
        .argv = p->argvs[p->step],
        .envp = p->envs[p->step],
        .workdir = p->workdir,
        .user = p->user,
        .uid = p->uid,
        .gid = p->gid,
        .groups = p->groups,
        .ngroups = p->ngroups,
    };
    int out, err;
    char why[512];

    step_reset(p);
    if (spawn_start(&req, &p->pid, &out, &err, why, sizeof(why)) < 0) {
        step_not_started(p, "%s", why);
        return;
    }
    pgroup_watch(p->group, p->pid, out, err);
    log_info("event=command_start jid=%s class=%s step=%zu/%zu pid=%d argv0=%s workdir=%s",
             log_q(p->jid), log_q(p->class_name), p->step + 1, p->nsteps, (int)p->pid,
             log_q(req.argv[0]), log_q(p->workdir ? p->workdir : "."));
}

/* Bytes from the child (pgroup_output_fn). */
static void step_on_output(const char *data, size_t len, bool is_err, void *arg)
{
    struct proc *p = arg;

    command_output_write(p->output, data, len, is_err);
}

/* pgroup_drain() gave up on the run (pgroup_abandon_fn). */
static void proc_on_abandon(void *arg)
{
    struct proc *p = arg;

    if (p->recording) /* its record's callback frees it: the pool's release answers */
        p->abandoned = true;
    else
        proc_free(p);
}

static const struct pgroup_ops proc_group_ops = {
    .output = step_on_output,
    .done = step_on_done,
    .abandon = proc_on_abandon,
};

/* ---- the handler ---- */

static char *dup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

/* Copies what the run needs from the class and the job; argv and env of every step. Returns
 * 0, or -EINVAL with a sentence when the job's args do not fit the class. */
static int proc_fill(struct proc *p, const struct cfg_class *cls, struct task *task,
                     struct err *err)
{
    const struct job *job = task_job(task);
    const struct traceparent *trace = task_trace(task);
    char traceparent[TRACEPARENT_LEN + 1];
    struct command_job cj = {
        .jid = job_jid(job),
        .class_name = job_class(job),
        .queue = job_queue(job),
        .attempt = job_retry_count(job) + 2,
        .nsteps = cls->nsteps,
        .args = task_args(task),
        .traceparent = trace ? traceparent_format(trace, traceparent) : NULL,
        .tracestate = job_tracestate(job),
    };
    int r;

    p->jid = xstrdup(cj.jid);
    p->class_name = xstrdup(cj.class_name);
    p->queue = xstrdup(cj.queue);
    p->workdir = dup_or_null(cls->workdir);
    p->argvs = xcalloc(cls->nsteps, sizeof(*p->argvs));
    p->envs = xcalloc(cls->nsteps, sizeof(*p->envs));
    p->nsteps = cls->nsteps;
    p->attempt = cj.attempt;
    if (cls->user) {
        p->user = xstrdup(cls->user);
        p->groups = xcalloc(cls->ngroups + 1, sizeof(*p->groups));
        memcpy(p->groups, cls->groups, cls->ngroups * sizeof(*p->groups));
        p->ngroups = cls->ngroups;
        p->uid = cls->uid;
        p->gid = cls->gid;
    }
    p->parse_audit = strcmp(cls->parse, "npm-audit") == 0;
    p->fail_level = cls->fail_level;
    p->output = command_output_new(cls->output_limit, p->parse_audit);
    for (size_t i = 0; i < cls->nsteps; i++) {
        cj.step = i;
        r = command_args_argv(cls, &cj, &p->argvs[i], err);
        if (r == 0)
            r = command_args_env(cls, &cj, get_env, &p->envs[i], err);
        if (r < 0)
            return r;
    }
    return 0;
}

static void command_start(struct task *task)
{
    const struct task_env *env = task_env(task);
    const char *class_name = job_class(task_job(task));
    const struct cfg_class *cls = cfg_class_find(env->cfg, class_name);
    struct err err = {0};
    struct proc *p;

    if (!cls || !cls->command) {
        task_fail(task, "NexusUnknownClass", "class '%s' is no longer a command class", class_name);
        return;
    }
    if (!ev_is_default_loop(task_loop(task))) { /* ev_child watches only the default loop */
        task_fail(task, "NexusCommandNotStarted", "command classes need libev's default loop");
        return;
    }
    p = xcalloc(1, sizeof(*p));
    p->task = task;
    p->db = env->db;
    if (proc_fill(p, cls, task, &err) < 0) {
        proc_free(p);
        /* its args: the same on every attempt */
        task_refuse(task, "ArgumentError", "%s", err.msg);
        return;
    }
    p->group =
        pgroup_new(task_loop(task), cls->kill_grace_s, p->jid, p->class_name, &proc_group_ops, p);
    task_set_state(task, p);
    step_start(p);
}

/* Timeout or shutdown: the task is gone; the child gets TERM, then KILL after kill_grace,
 * and is still reaped and recorded (as "timeout" or "cancelled"). */
static void command_cancel(struct task *task)
{
    struct proc *p = task_state(task);

    if (!p)
        return;
    p->task = NULL;
    p->stopped = task_stop_reason(task) == TASK_STOP_TIMEOUT ? "timeout" : "cancelled";
    if (pgroup_running(p->group)) {
        log_info("event=command_stop jid=%s class=%s pid=%d reason=%s signal=TERM", log_q(p->jid),
                 log_q(p->class_name), (int)p->pid, p->stopped);
        pgroup_stop(p->group);
    }
}

/* At start-up and after a reload: when nexusd runs as root, a warning for every command class
 * without `user`, whose children would run as root (docs/commands.md). */
static void command_check(const struct cfg *cfg)
{
    if (geteuid() != 0)
        return;
    for (size_t i = 0; i < cfg->nclasses; i++)
        if (cfg->classes[i].command && !cfg->classes[i].user)
            log_warn("event=command_as_root class=%s err=\"nexusd runs as root and the class has "
                     "no user: its children run as root and can read all of nexusd's secrets\"",
                     log_q(cfg->classes[i].name));
}

static bool command_claims(const struct cfg_class *cls)
{
    return cls->command != NULL;
}

const struct handler handler_command = {
    .name = "(command class)",
    .claims = command_claims,
    .start = command_start,
    .cancel = command_cancel,
    .init = spawn_init,
    .check = command_check,
    .drain = pgroup_drain,
};
