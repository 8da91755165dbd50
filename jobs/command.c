/* command.c - `command` classes: one child process per step, its output's tail kept, its
 * process group stopped with TERM then KILL, each step recorded in nexus.command_runs. */
#include "jobs/command.h"

#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>
#include <jansson.h>

#include "conf/cfg.h"
#include "jobs/command_args.h"
#include "jobs/npm_audit.h"
#include "jobs/registry.h"
#include "jobs/tail.h"
#include "jobs/task.h"
#include "lib/err.h"
#include "lib/job.h"
#include "lib/log.h"
#include "lib/parse.h"
#include "lib/util.h"
#include "sql/db.h"

#define READ_CHUNK 65536  /* bytes per read() of a pipe */
#define READS_PER_WAKE 16 /* reads of one pipe per callback, so that others get a turn */
#define STDERR_KEEP 4096  /* stderr tail kept for the error message */
#define MESSAGE_LINES 5   /* lines of output quoted in a failure message */
#define MESSAGE_BYTES 600 /* ... at most this many bytes */
#define PIPE_LINGER_S 2.0 /* after KILL: wait this long for the pipes to close */

enum kill_stage { KILL_NONE, KILL_TERM_SENT, KILL_KILL_SENT };

/* One job's run of a command class, from start to the record of its last step. Lives on
 * after a cancel until its child is reaped and its step recorded. */
struct proc {
    struct proc *prev, *next; /* in `procs` */
    struct ev_loop *loop;     /* the default loop (ev_child needs it) */
    struct task *task;        /* borrowed; NULL after cancel: then only reap and record */
    struct db_pool *db;       /* borrowed, NULL without a database: outlives every proc */
    /* copied at start: a reload may free the configuration meanwhile */
    char *jid, *class_name, *queue, *workdir;
    int attempt;
    char ***argvs, ***envs; /* per step, owned */
    size_t step, nsteps;
    double kill_grace_s;
    char *user;     /* NULL: the child runs as nexusd's user; else as uid, gid, groups */
    uid_t uid;
    gid_t gid;
    gid_t *groups;
    size_t ngroups;
    bool parse_audit;
    int fail_level;
    /* the step under way */
    pid_t pid; /* leads process group `pid`; 0 before spawn */
    bool exited, recording, abandoned;
    int wstatus;
    const char *stopped; /* "timeout" or "cancelled" once nexusd stopped it */
    enum kill_stage kill;
    double step_started, step_mono;
    ev_child child;
    ev_io out, err; /* fd -1 once closed */
    ev_timer kill_timer;
    struct tail *output;  /* stdout and stderr, in arrival order */
    struct tail *errtail; /* stderr only, for the message */
    char *parse_buf;      /* stdout for the parser, at most COMMAND_PARSE_MAX */
    size_t parse_len, parse_cap;
    bool parse_over;
    /* the step's verdict */
    const char *status; /* ok | failed | timeout | cancelled | spawn_error */
    char message[JOB_MAX_ERROR + 1];
    const char *error_class;
    json_t *result;
};

static struct proc procs = {.prev = &procs, .next = &procs}; /* live procs */
static unsigned nprocs;
static bool draining; /* command_drain() runs the loop until nprocs is 0 */
/* the soft RLIMIT_NOFILE nexusd started with (command_init()), the one children get */
static rlim_t start_nofile;
static bool start_nofile_known;

static void step_start(struct proc *p);
static void step_check_done(struct proc *p);

/* Seconds on the monotonic clock, for durations. */
static double mono_now(void)
{
    struct timespec ts;

    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* "TERM" for SIGTERM. */
static const char *sig_name(int sig)
{
    const char *name = sigabbrev_np(sig);

    return name ? name : "unknown";
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
    p->prev->next = p->next;
    p->next->prev = p->prev;
    nprocs--;
    ev_timer_stop(p->loop, &p->kill_timer);
    free(p->jid);
    free(p->class_name);
    free(p->queue);
    free(p->workdir);
    free(p->user);
    free(p->groups);
    vectors_free(p->argvs, p->nsteps);
    vectors_free(p->envs, p->nsteps);
    tail_free(p->output);
    tail_free(p->errtail);
    free(p->parse_buf);
    json_decref(p->result);
    if (draining && nprocs == 0)
        ev_break(p->loop, EVBREAK_ONE);
    free(p);
}

/* ---- the end of a step ---- */

static void pipe_close(struct proc *p, ev_io *w)
{
    if (w->fd < 0)
        return;
    ev_io_stop(p->loop, w);
    (void)close(w->fd);
    ev_io_set(w, -1, EV_READ);
}

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

/* The output as stored: a first line tells how many earlier bytes were dropped. */
static char *output_text(const struct proc *p)
{
    unsigned long long dropped = tail_dropped(p->output);
    char head[96] = "";
    size_t len, hlen;
    char *text = tail_text(p->output, &len), *out;

    if (!text || dropped == 0)
        return text;
    hlen = (size_t)snprintf(head, sizeof(head), "[nexusd: %llu earlier bytes dropped]\n", dropped);
    out = malloc(hlen + len + 1);
    if (out) {
        memcpy(out, head, hlen);
        memcpy(out + hlen, text, len + 1);
    }
    free(text);
    return out;
}

/* Writes the step's row; proc_report() follows when it is written or could not be. */
static void step_record(struct proc *p, double finished)
{
    char attempt[16], step[16], nsteps[16], code[16], when0[32], when1[32], ms[32], dropped[32];
    char pid[16], host[256] = "";
    char *argv_json = NULL, *result = NULL, *output = NULL, *error = NULL, *workdir = NULL;
    const char *params[20];
    json_t *argv;
    int r = -ENOMEM;

    if (!p->db) {
        proc_report(p);
        return;
    }
    argv = json_array();
    for (char **a = p->argvs[p->step]; argv && *a; a++) { /* config text may be no UTF-8 */
        char *clean = tail_utf8(*a, strlen(*a), NULL);
        (void)json_array_append_new(argv, clean ? json_string(clean) : NULL);
        free(clean);
    }
    argv_json = argv ? json_dumps(argv, JSON_COMPACT) : NULL;
    /* the message may end in a character cut by its size */
    error = tail_utf8(p->message, strlen(p->message), NULL);
    workdir = p->workdir ? tail_utf8(p->workdir, strlen(p->workdir), NULL) : NULL;
    json_decref(argv);
    result = p->result ? json_dumps(p->result, JSON_COMPACT) : NULL;
    output = output_text(p);
    (void)gethostname(host, sizeof(host) - 1);
    (void)snprintf(attempt, sizeof(attempt), "%d", p->attempt);
    (void)snprintf(step, sizeof(step), "%zu", p->step + 1);
    (void)snprintf(nsteps, sizeof(nsteps), "%zu", p->nsteps);
    (void)snprintf(code, sizeof(code), "%d", WIFEXITED(p->wstatus) ? WEXITSTATUS(p->wstatus) : 0);
    (void)snprintf(when0, sizeof(when0), "%.6f", p->step_started);
    (void)snprintf(when1, sizeof(when1), "%.6f", finished);
    (void)snprintf(ms, sizeof(ms), "%.3f", (mono_now() - p->step_mono) * 1000.0);
    (void)snprintf(dropped, sizeof(dropped), "%llu", tail_dropped(p->output));
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
    params[9] = p->pid && p->exited && WIFEXITED(p->wstatus) ? code : NULL;
    params[10] =
        p->pid && p->exited && WIFSIGNALED(p->wstatus) ? sig_name(WTERMSIG(p->wstatus)) : NULL;
    params[11] = when0;
    params[12] = when1;
    params[13] = ms;
    params[14] = output ? output : "";
    params[15] = dropped;
    params[16] = result;
    params[17] = strcmp(p->status, "ok") == 0 ? NULL : error;
    params[18] = host;
    params[19] = p->pid ? pid : NULL;
    if (argv_json && error && (workdir || !p->workdir))
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

/* The last lines of stderr, or of the whole output when stderr was silent. */
static void output_quote(const struct proc *p, char *buf, size_t size)
{
    const struct tail *t = tail_len(p->errtail) ? p->errtail : p->output;
    char *text = tail_text(t, NULL);
    const char *last;
    size_t len;

    buf[0] = '\0';
    if (!text)
        return;
    last = tail_last_lines(text, strlen(text), MESSAGE_LINES, MESSAGE_BYTES, &len);
    if (len)
        (void)snprintf(buf, size, ": %.*s", (int)len, last);
    free(text);
}

/* npm-audit: counts into p->result; a verdict when the counts reach fail_on. */
static void step_audit(struct proc *p, const char *what)
{
    struct npm_audit audit;
    struct err err = {0};
    char summary[160];
    int worst;

    if (p->parse_over) {
        p->status = "failed";
        p->error_class = "NexusAuditFailed";
        (void)snprintf(p->message, sizeof(p->message),
                       "%s: its output is larger than %u bytes: not read", what, COMMAND_PARSE_MAX);
        return;
    }
    if (npm_audit_parse(p->parse_buf ? p->parse_buf : "", p->parse_len, &audit, &p->result, &err) <
        0) {
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
    char what[256], quote[MESSAGE_BYTES + 8];
    int code = WIFEXITED(p->wstatus) ? WEXITSTATUS(p->wstatus) : -1;

    step_name(p, what, sizeof(what));
    output_quote(p, quote, sizeof(quote));
    p->error_class = "NexusCommandFailed";
    if (p->stopped) {
        p->status = p->stopped;
        (void)snprintf(p->message, sizeof(p->message), "%s %s after %.1fs%s", what,
                       strcmp(p->stopped, "timeout") == 0 ? "timed out" : "was cancelled",
                       mono_now() - p->step_mono, quote);
    } else if (WIFSIGNALED(p->wstatus)) {
        p->status = "failed";
        (void)snprintf(p->message, sizeof(p->message), "%s was killed by SIG%s%s", what,
                       sig_name(WTERMSIG(p->wstatus)), quote);
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

static void step_end(struct proc *p)
{
    double finished = util_now();

    ev_timer_stop(p->loop, &p->kill_timer);
    step_judge(p);
    log_write(strcmp(p->status, "ok") == 0 ? LOG_LEVEL_INFO : LOG_LEVEL_WARN,
              "event=command_end jid=%s class=%s step=%zu/%zu pid=%d status=%s exit_code=%d "
              "signal=%s duration_ms=%.3f output_bytes=%zu dropped_bytes=%llu",
              log_q(p->jid), log_q(p->class_name), p->step + 1, p->nsteps, (int)p->pid, p->status,
              WIFEXITED(p->wstatus) ? WEXITSTATUS(p->wstatus) : -1,
              WIFSIGNALED(p->wstatus) ? sig_name(WTERMSIG(p->wstatus)) : "none",
              (mono_now() - p->step_mono) * 1000.0, tail_len(p->output), tail_dropped(p->output));
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

/* ---- stopping a process group ---- */

static void group_signal(struct proc *p, int sig)
{
    if (p->pid > 0 && kill(-p->pid, sig) < 0 && errno != ESRCH)
        log_warn("event=command_kill_failed jid=%s pid=%d signal=%s err=%s", log_q(p->jid),
                 (int)p->pid, sig_name(sig), log_q(strerror(errno)));
}

/* TERM to the whole group now, KILL after kill_grace (unless everything ended before). */
static void group_stop(struct proc *p)
{
    if (p->kill != KILL_NONE)
        return;
    group_signal(p, SIGTERM);
    p->kill = KILL_TERM_SENT;
    ev_timer_set(&p->kill_timer, p->kill_grace_s, 0);
    ev_timer_start(p->loop, &p->kill_timer);
}

static void kill_on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct proc *p = w->data;

    if (p->kill == KILL_TERM_SENT) {
        log_warn("event=command_kill jid=%s class=%s pid=%d signal=KILL after_s=%g", log_q(p->jid),
                 log_q(p->class_name), (int)p->pid, p->kill_grace_s);
        group_signal(p, SIGKILL);
        p->kill = KILL_KILL_SENT;
        ev_timer_set(&p->kill_timer, PIPE_LINGER_S, 0);
        ev_timer_start(loop, &p->kill_timer);
        return;
    }
    /* a process outside the group (it left with setsid) still holds the pipes */
    if (p->out.fd >= 0 || p->err.fd >= 0) {
        log_warn("event=command_pipes_abandoned jid=%s class=%s pid=%d err=\"a process outside "
                 "the group keeps the output open\"",
                 log_q(p->jid), log_q(p->class_name), (int)p->pid);
        pipe_close(p, &p->out);
        pipe_close(p, &p->err);
    }
    step_check_done(p);
}

/* ---- the child and its pipes ---- */

static void step_check_done(struct proc *p)
{
    if (p->exited && p->out.fd < 0 && p->err.fd < 0 && !p->recording)
        step_end(p);
}

static void child_on_exit(struct ev_loop *loop, ev_child *w, int revents)
{
    struct proc *p = w->data;

    ev_child_stop(loop, w);
    p->exited = true;
    p->wstatus = w->rstatus;
    /* what the leader left behind (a server it started, a background job) is stopped too */
    if (kill(-p->pid, 0) == 0) {
        log_info("event=command_stragglers jid=%s class=%s pgid=%d action=TERM", log_q(p->jid),
                 log_q(p->class_name), (int)p->pid);
        group_stop(p);
    } else if ((p->out.fd >= 0 || p->err.fd >= 0) && p->kill == KILL_NONE) {
        p->kill = KILL_KILL_SENT; /* nothing left to signal: only wait for the pipes */
        ev_timer_set(&p->kill_timer, PIPE_LINGER_S, 0);
        ev_timer_start(loop, &p->kill_timer);
    }
    step_check_done(p);
}

static void parse_keep(struct proc *p, const char *data, size_t n)
{
    char *grown;

    if (p->parse_over)
        return;
    if (p->parse_len + n > COMMAND_PARSE_MAX) {
        p->parse_over = true;
        return;
    }
    if (p->parse_len + n + 1 > p->parse_cap) {
        size_t cap = p->parse_cap ? p->parse_cap : READ_CHUNK;

        while (cap < p->parse_len + n + 1)
            cap *= 2;
        grown = realloc(p->parse_buf, cap);
        if (!grown) {
            p->parse_over = true;
            return;
        }
        p->parse_buf = grown;
        p->parse_cap = cap;
    }
    memcpy(p->parse_buf + p->parse_len, data, n);
    p->parse_len += n;
    p->parse_buf[p->parse_len] = '\0';
}

static void pipe_on_readable(struct ev_loop *loop, ev_io *w, int revents)
{
    struct proc *p = w->data;
    bool is_err = w == &p->err;
    char buf[READ_CHUNK];

    for (int i = 0; i < READS_PER_WAKE; i++) {
        ssize_t n = read(w->fd, buf, sizeof(buf));

        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        if (n <= 0) { /* EOF, or an error that will not go away */
            pipe_close(p, w);
            step_check_done(p);
            return;
        }
        tail_write(p->output, buf, (size_t)n);
        if (is_err)
            tail_write(p->errtail, buf, (size_t)n);
        else if (p->parse_audit)
            parse_keep(p, buf, (size_t)n);
    }
}

/* ---- starting a step ---- */

/* The PATH of the child's environment. */
static const char *env_path(char **env)
{
    for (; *env; env++)
        if (strncmp(*env, "PATH=", 5) == 0)
            return *env + 5;
    return "/usr/local/bin:/usr/bin:/bin";
}

/* The file argv0 names, as execvp() would find it: searched in the child's PATH when it has
 * no '/', else taken relative to the child's working directory. Checked here rather than
 * left to posix_spawn(), whose exec errors do not reach the parent under every runtime
 * (valgrind turns its vfork into a fork). Returns 0, or a positive errno with `why`. */
static int exec_resolve(const char *argv0, char **env, const char *workdir, char *file, size_t size,
                        char *why, size_t why_size)
{
    const char *path = env_path(env), *dir = path;
    int seen_eacces = 0;

    if (strchr(argv0, '/')) {
        if (argv0[0] != '/' && workdir)
            (void)snprintf(file, size, "%s/%s", workdir, argv0);
        else
            (void)snprintf(file, size, "%s", argv0);
        if (access(file, X_OK) == 0)
            return 0;
        (void)snprintf(why, why_size, "%s: %s", argv0, strerror(errno));
        return errno;
    }
    for (;;) {
        size_t len = strcspn(dir, ":");
        struct stat st;

        if (len == 0) /* an empty entry is the working directory */
            (void)snprintf(file, size, "%s%s%s", workdir ? workdir : "", workdir ? "/" : "", argv0);
        else if (dir[0] != '/' && workdir)
            (void)snprintf(file, size, "%s/%.*s/%s", workdir, (int)len, dir, argv0);
        else
            (void)snprintf(file, size, "%.*s/%s", (int)len, dir, argv0);
        if (stat(file, &st) == 0 && S_ISREG(st.st_mode)) {
            if (access(file, X_OK) == 0)
                return 0;
            seen_eacces = 1;
        }
        if (!dir[len])
            break;
        dir += len + 1;
    }
    (void)snprintf(why, why_size,
                   seen_eacces ? "%s in PATH (%s) is not executable" : "%s not found in PATH (%s)",
                   argv0, path);
    return seen_eacces ? EACCES : ENOENT;
}

/* Every descriptor of ours above stderr is closed by the exec: the daemon's Redis and
 * PostgreSQL sockets, whichever library opened them, never reach a child. */
static void fds_cloexec(void)
{
    DIR *dir;
    struct dirent *e;

    if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) == 0)
        return;
    dir = opendir("/proc/self/fd"); /* kernels before 5.11 */
    if (!dir)
        return;
    while ((e = readdir(dir))) {
        uint32_t fd;
        if (parse_u32(e->d_name, 3, INT32_MAX, &fd) == 0 && (int)fd != dirfd(dir))
            (void)fcntl((int)fd, F_SETFD, fcntl((int)fd, F_GETFD) | FD_CLOEXEC);
    }
    (void)closedir(dir);
}

/* Pipes for stdout and stderr: [0] ours (non-blocking), [1] the child's; all CLOEXEC. */
static int pipes_open(int out[2], int err[2])
{
    if (pipe2(out, O_CLOEXEC) < 0)
        return -errno;
    if (pipe2(err, O_CLOEXEC) < 0) {
        int r = -errno;
        (void)close(out[0]);
        (void)close(out[1]);
        return r;
    }
    (void)fcntl(out[0], F_SETFL, O_NONBLOCK);
    (void)fcntl(err[0], F_SETFL, O_NONBLOCK);
    return 0;
}

/* The child: its own session and process group, default signal handling, an empty signal
 * mask, stdin from /dev/null, stdout and stderr to our pipes (the rest is CLOEXEC). */
static int spawn_setup(posix_spawn_file_actions_t *fa, posix_spawnattr_t *attr, int out_w,
                       int err_w, const char *workdir)
{
    sigset_t none, all;
    int r;

    (void)sigemptyset(&none);
    (void)sigfillset(&all);
    r = posix_spawnattr_init(attr);
    if (r)
        return r;
    r = posix_spawnattr_setflags(attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK |
                                           POSIX_SPAWN_SETSIGDEF);
    if (!r)
        r = posix_spawnattr_setsigmask(attr, &none);
    if (!r)
        r = posix_spawnattr_setsigdefault(attr, &all);
    if (r) {
        (void)posix_spawnattr_destroy(attr);
        return r;
    }
    r = posix_spawn_file_actions_init(fa);
    if (r) {
        (void)posix_spawnattr_destroy(attr);
        return r;
    }
    r = posix_spawn_file_actions_addopen(fa, 0, "/dev/null", O_RDONLY, 0);
    if (!r)
        r = posix_spawn_file_actions_adddup2(fa, out_w, 1);
    if (!r)
        r = posix_spawn_file_actions_adddup2(fa, err_w, 2);
    if (!r && workdir)
        r = posix_spawn_file_actions_addchdir_np(fa, workdir);
    if (r) {
        (void)posix_spawn_file_actions_destroy(fa);
        (void)posix_spawnattr_destroy(attr);
    }
    return r;
}

/* What the child of spawn_forked() reports when it could not exec: its stage, errno. */
struct spawn_report {
    int stage;
    int err;
};

enum spawn_stage { STAGE_SETSID, STAGE_STDIO, STAGE_SETGROUPS, STAGE_SETGID, STAGE_SETUID,
                   STAGE_REGAIN, STAGE_CHDIR, STAGE_NOFILE, STAGE_EXEC };

/* In the child of spawn_forked(): only async-signal-safe calls, then exec or _exit(127).
 * With a user, credentials are dropped in the order that leaves no way back (groups, gid,
 * then uid), and checked: setuid(0) must fail; the workdir is entered as the user, with its
 * rights. `nofile`, when not NULL, is the RLIMIT_NOFILE to exec with, set last: a lower soft
 * limit could refuse the descriptors opened before. */
static void child_exec(const struct proc *p, const char *file, char **argv, int out_w, int err_w,
                       const struct rlimit *nofile, int report)
{
    struct sigaction dfl = {.sa_handler = SIG_DFL};
    struct spawn_report rep = {0};
    sigset_t none;
    int fd;

    for (int sig = 1; sig < NSIG; sig++) /* SIGKILL and SIGSTOP fail, harmlessly */
        (void)sigaction(sig, &dfl, NULL);
    if (setsid() < 0) {
        rep.stage = STAGE_SETSID;
        goto fail;
    }
    fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd < 0 || dup2(fd, 0) < 0 || dup2(out_w, 1) < 0 || dup2(err_w, 2) < 0) {
        rep.stage = STAGE_STDIO;
        goto fail;
    }
    if (p->user) {
        rep.stage = STAGE_SETGROUPS;
        if (setgroups(p->ngroups, p->groups) < 0)
            goto fail;
        rep.stage = STAGE_SETGID;
        if (setgid(p->gid) < 0)
            goto fail;
        rep.stage = STAGE_SETUID;
        if (setuid(p->uid) < 0)
            goto fail;
        rep.stage = STAGE_REGAIN;
        if (setuid(0) == 0 || seteuid(0) == 0 || getuid() != p->uid || geteuid() != p->uid) {
            errno = EPERM;
            goto fail;
        }
    }
    rep.stage = STAGE_CHDIR;
    if (p->workdir && chdir(p->workdir) < 0)
        goto fail;
    rep.stage = STAGE_NOFILE;
    if (nofile && setrlimit(RLIMIT_NOFILE, nofile) < 0)
        goto fail;
    (void)sigemptyset(&none);
    (void)sigprocmask(SIG_SETMASK, &none, NULL);
    rep.stage = STAGE_EXEC;
    (void)execve(file, argv, p->envs[p->step]);
fail:
    rep.err = errno;
    (void)!write(report, &rep, sizeof(rep));
    _exit(127);
}

/* The sentence for what the child reported. */
static void spawn_why(const struct proc *p, const char *file, const struct spawn_report *rep,
                      char *why, size_t size)
{
    const char *e = strerror(rep->err), *as = p->user ? " as user " : "";
    const char *user = p->user ? p->user : "";

    switch (rep->stage) {
    case STAGE_SETGROUPS:
    case STAGE_SETGID:
    case STAGE_SETUID:
        (void)snprintf(why, size, "cannot become user %s (uid %u, gid %u): %s", p->user,
                       (unsigned)p->uid, (unsigned)p->gid, e);
        break;
    case STAGE_REGAIN:
        (void)snprintf(why, size, "as user %s the child could become root again: not run",
                       p->user);
        break;
    case STAGE_CHDIR:
        (void)snprintf(why, size, "workdir %.300s%s%s: %s", p->workdir, as, user, e);
        break;
    case STAGE_NOFILE:
        (void)snprintf(why, size, "RLIMIT_NOFILE: %s", e);
        break;
    case STAGE_EXEC:
        (void)snprintf(why, size, "%.300s%s%s: %s", file, as, user, e);
        break;
    default:
        (void)snprintf(why, size, "%s: %s", rep->stage == STAGE_SETSID ? "setsid" : "stdio", e);
    }
}

/* A step that needs what posix_spawn() cannot do (credentials, a resource limit): the child
 * is forked (with every signal blocked until it reset their handlers) and reports over a
 * CLOEXEC pipe why it could not exec; the exec closes the pipe. Returns 0 with p->pid, or
 * -1 with `why` (the child, if any, reaped). */
static int spawn_forked(struct proc *p, const char *file, char **argv, int out_w, int err_w,
                        const struct rlimit *nofile, char *why, size_t size)
{
    struct spawn_report rep;
    sigset_t all, old;
    int report[2];
    ssize_t n;
    pid_t pid;

    if (pipe2(report, O_CLOEXEC) < 0) {
        (void)snprintf(why, size, "pipe: %s", strerror(errno));
        return -1;
    }
    (void)sigfillset(&all);
    (void)pthread_sigmask(SIG_SETMASK, &all, &old);
    pid = fork();
    if (pid == 0) {
        (void)close(report[0]);
        child_exec(p, file, argv, out_w, err_w, nofile, report[1]);
    }
    (void)pthread_sigmask(SIG_SETMASK, &old, NULL);
    (void)close(report[1]);
    if (pid < 0) {
        (void)snprintf(why, size, "fork: %s", strerror(errno));
        (void)close(report[0]);
        return -1;
    }
    do
        n = read(report[0], &rep, sizeof(rep));
    while (n < 0 && errno == EINTR);
    (void)close(report[0]);
    if (n == 0) { /* closed by the exec */
        p->pid = pid;
        return 0;
    }
    if (n != (ssize_t)sizeof(rep))
        rep = (struct spawn_report){.stage = STAGE_EXEC, .err = n < 0 ? errno : EIO};
    spawn_why(p, file, &rep, why, size);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
    return -1;
}

static int workdir_check(const char *workdir, char *why, size_t size)
{
    struct stat st;

    if (!workdir)
        return 0;
    if (stat(workdir, &st) < 0) {
        (void)snprintf(why, size, "workdir %s: %s", workdir, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        (void)snprintf(why, size, "workdir %s is not a directory", workdir);
        return -1;
    }
    return 0;
}

static void step_reset(struct proc *p)
{
    p->pid = 0;
    p->exited = false;
    p->wstatus = 0;
    p->kill = KILL_NONE;
    p->status = NULL;
    p->message[0] = '\0';
    tail_clear(p->output);
    tail_clear(p->errtail);
    p->parse_len = 0;
    p->parse_over = false;
    json_decref(p->result);
    p->result = NULL;
    p->step_started = util_now();
    p->step_mono = mono_now();
}

/* The RLIMIT_NOFILE a child must exec with, when it differs from ours: the soft limit nexusd
 * started with, which httpd_new() raises for its connections. A program that uses select()
 * fails on descriptors from FD_SETSIZE (1024) on; systemd keeps its children at 1024 too.
 * Returns `rl` or NULL (the child keeps ours). */
static const struct rlimit *child_nofile(struct rlimit *rl)
{
    if (!start_nofile_known || getrlimit(RLIMIT_NOFILE, rl) < 0 || rl->rlim_cur == start_nofile)
        return NULL;
    rl->rlim_cur =
        rl->rlim_max != RLIM_INFINITY && start_nofile > rl->rlim_max ? rl->rlim_max : start_nofile;
    return rl;
}

static void step_start(struct proc *p)
{
    char **argv = p->argvs[p->step];
    const struct rlimit *nofile;
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    struct rlimit rl;
    int out[2], err[2], r;
    char why[512], file[4096];

    step_reset(p);
    if (workdir_check(p->workdir, why, sizeof(why)) < 0 ||
        exec_resolve(argv[0], p->envs[p->step], p->workdir, file, sizeof(file), why, sizeof(why)) !=
            0) {
        step_not_started(p, "%s", why);
        return;
    }
    fds_cloexec();
    r = pipes_open(out, err);
    if (r < 0) {
        step_not_started(p, "pipe: %s", strerror(-r));
        return;
    }
    nofile = child_nofile(&rl);
    if (p->user || nofile) {
        r = spawn_forked(p, file, argv, out[1], err[1], nofile, why, sizeof(why));
    } else {
        r = spawn_setup(&fa, &attr, out[1], err[1], p->workdir);
        if (r == 0) {
            r = posix_spawn(&p->pid, file, &fa, &attr, argv, p->envs[p->step]);
            (void)posix_spawn_file_actions_destroy(&fa);
            (void)posix_spawnattr_destroy(&attr);
        }
        if (r != 0)
            (void)snprintf(why, sizeof(why), "%s: %s", argv[0], strerror(r));
    }
    (void)close(out[1]);
    (void)close(err[1]);
    if (r != 0) {
        p->pid = 0;
        (void)close(out[0]);
        (void)close(err[0]);
        step_not_started(p, "%s", why);
        return;
    }
    ev_io_set(&p->out, out[0], EV_READ);
    ev_io_set(&p->err, err[0], EV_READ);
    ev_io_start(p->loop, &p->out);
    ev_io_start(p->loop, &p->err);
    ev_child_set(&p->child, p->pid, 0);
    ev_child_start(p->loop, &p->child);
    log_info("event=command_start jid=%s class=%s step=%zu/%zu pid=%d argv0=%s workdir=%s",
             log_q(p->jid), log_q(p->class_name), p->step + 1, p->nsteps, (int)p->pid,
             log_q(argv[0]), log_q(p->workdir ? p->workdir : "."));
}

/* ---- the handler ---- */

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* Copies what the run needs from the class and the job; argv and env of every step. */
static int proc_fill(struct proc *p, const struct cfg_class *cls, struct task *task,
                     struct err *err)
{
    const struct job *job = task_job(task);
    struct command_job cj = {
        .jid = job_jid(job),
        .class_name = job_class(job),
        .queue = job_queue(job),
        .attempt = job_retry_count(job) + 2,
        .nsteps = cls->nsteps,
        .args = task_args(task),
    };
    int r;

    p->jid = strdup(cj.jid);
    p->class_name = strdup(cj.class_name);
    p->queue = strdup(cj.queue);
    p->workdir = dup_or_null(cls->workdir);
    p->argvs = calloc(cls->nsteps, sizeof(*p->argvs));
    p->envs = calloc(cls->nsteps, sizeof(*p->envs));
    p->output = tail_new(cls->output_limit);
    p->errtail = tail_new(STDERR_KEEP);
    if (!p->jid || !p->class_name || !p->queue || (cls->workdir && !p->workdir) || !p->argvs ||
        !p->envs || !p->output || !p->errtail)
        return err_set(err, -ENOMEM, "out of memory");
    p->nsteps = cls->nsteps;
    p->attempt = cj.attempt;
    p->kill_grace_s = cls->kill_grace_s;
    if (cls->user) {
        p->user = strdup(cls->user);
        p->groups = malloc(cls->ngroups * sizeof(*p->groups));
        if (!p->user || !p->groups)
            return err_set(err, -ENOMEM, "out of memory");
        memcpy(p->groups, cls->groups, cls->ngroups * sizeof(*p->groups));
        p->ngroups = cls->ngroups;
        p->uid = cls->uid;
        p->gid = cls->gid;
    }
    p->parse_audit = strcmp(cls->parse, "npm-audit") == 0;
    p->fail_level = cls->fail_level;
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
    p = calloc(1, sizeof(*p));
    if (!p) {
        task_fail(task, "NoMemoryError", "out of memory");
        return;
    }
    p->loop = task_loop(task);
    p->task = task;
    p->db = env->db;
    ev_child_init(&p->child, child_on_exit, 0, 0);
    p->child.data = p;
    ev_io_init(&p->out, pipe_on_readable, -1, EV_READ);
    p->out.data = p;
    ev_io_init(&p->err, pipe_on_readable, -1, EV_READ);
    p->err.data = p;
    ev_timer_init(&p->kill_timer, kill_on_timer, 0, 0);
    p->kill_timer.data = p;
    p->prev = procs.prev;
    p->next = &procs;
    procs.prev->next = p;
    procs.prev = p;
    nprocs++;
    if (proc_fill(p, cls, task, &err) < 0) {
        proc_free(p);
        if (err.code == -ENOMEM)
            task_fail(task, "NoMemoryError", "%s", err.msg);
        else /* its args: the same on every attempt */
            task_refuse(task, "ArgumentError", "%s", err.msg);
        return;
    }
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
    if (p->pid > 0 && !p->exited) {
        log_info("event=command_stop jid=%s class=%s pid=%d reason=%s signal=TERM", log_q(p->jid),
                 log_q(p->class_name), (int)p->pid, p->stopped);
        group_stop(p);
    }
}

const struct handler handler_command = {
    .name = "(command class)",
    .start = command_start,
    .cancel = command_cancel,
};

void command_init(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        start_nofile = rl.rlim_cur;
        start_nofile_known = true;
    }
}

void command_warn_root(const struct cfg *cfg)
{
    if (geteuid() != 0)
        return;
    for (size_t i = 0; i < cfg->nclasses; i++)
        if (cfg->classes[i].command && !cfg->classes[i].user)
            log_warn("event=command_as_root class=%s err=\"nexusd runs as root and the class has "
                     "no user: its children run as root and can read all of nexusd's secrets\"",
                     log_q(cfg->classes[i].name));
}

/* ---- the daemon's exit ---- */

static void drain_on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    ev_break(loop, EVBREAK_ONE);
}

void command_drain(struct ev_loop *loop)
{
    double grace = 0;
    ev_timer timer;
    struct proc *p, *next;

    if (nprocs == 0)
        return;
    for (p = procs.next; p != &procs; p = p->next)
        if (p->kill_grace_s > grace)
            grace = p->kill_grace_s;
    log_info("event=command_drain live=%u wait_s=%g", nprocs, grace + COMMAND_DRAIN_EXTRA_S);
    ev_timer_init(&timer, drain_on_timer, grace + COMMAND_DRAIN_EXTRA_S, 0);
    ev_timer_start(loop, &timer);
    draining = true;
    ev_run(loop, 0);
    draining = false;
    ev_timer_stop(loop, &timer);
    for (p = procs.next; p != &procs; p = next) {
        next = p->next;
        log_error("event=command_abandoned jid=%s class=%s pid=%d", log_q(p->jid),
                  log_q(p->class_name), (int)p->pid);
        if (!p->exited)
            group_signal(p, SIGKILL);
        ev_child_stop(loop, &p->child);
        pipe_close(p, &p->out);
        pipe_close(p, &p->err);
        if (p->recording)
            p->abandoned = true;
        else
            proc_free(p);
    }
}
