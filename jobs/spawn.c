/* spawn.c - a command step's child process, started with posix_spawn(), or forked when it
 * needs what posix_spawn() cannot do (another user, a lower RLIMIT_NOFILE). */
#include "jobs/spawn.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/parse.h"

/* the soft RLIMIT_NOFILE nexusd started with (spawn_init()), the one children get */
static rlim_t start_nofile;
static bool start_nofile_known;

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

enum spawn_stage {
    STAGE_SETSID,
    STAGE_STDIO,
    STAGE_SETGROUPS,
    STAGE_SETGID,
    STAGE_SETUID,
    STAGE_REGAIN,
    STAGE_CHDIR,
    STAGE_NOFILE,
    STAGE_EXEC
};

/* In the child of spawn_forked(): only async-signal-safe calls, then exec or _exit(127).
 * With a user, credentials are dropped in the order that leaves no way back (groups, gid,
 * then uid), and checked: setuid(0) must fail; the workdir is entered as the user, with its
 * rights. `nofile`, when not NULL, is the RLIMIT_NOFILE to exec with, set last: a lower soft
 * limit could refuse the descriptors opened before. */
static void child_exec(const struct spawn_req *p, const char *file, int out_w, int err_w,
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
    (void)execve(file, p->argv, p->envp);
fail:
    rep.err = errno;
    (void)!write(report, &rep, sizeof(rep));
    _exit(127);
}

/* The sentence for what the child reported. */
static void spawn_why(const struct spawn_req *p, const char *file, const struct spawn_report *rep,
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
        (void)snprintf(why, size, "as user %s the child could become root again: not run", p->user);
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
 * CLOEXEC pipe why it could not exec; the exec closes the pipe. Returns 0 with *ret_pid, or
 * -1 with `why` (the child, if any, reaped). */
static int spawn_forked(const struct spawn_req *p, const char *file, int out_w, int err_w,
                        const struct rlimit *nofile, pid_t *ret_pid, char *why, size_t size)
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
        child_exec(p, file, out_w, err_w, nofile, report[1]);
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
        *ret_pid = pid;
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

void spawn_init(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        start_nofile = rl.rlim_cur;
        start_nofile_known = true;
    }
}

int spawn_start(const struct spawn_req *req, pid_t *ret_pid, int *ret_out, int *ret_err, char *why,
                size_t size)
{
    const struct rlimit *nofile;
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    struct rlimit rl;
    int out[2], err[2], r;
    char file[4096];
    pid_t pid = 0;

    if (workdir_check(req->workdir, why, size) < 0 ||
        exec_resolve(req->argv[0], req->envp, req->workdir, file, sizeof(file), why, size) != 0)
        return -1;
    fds_cloexec();
    r = pipes_open(out, err);
    if (r < 0) {
        (void)snprintf(why, size, "pipe: %s", strerror(-r));
        return -1;
    }
    nofile = child_nofile(&rl);
    if (req->user || nofile) {
        r = spawn_forked(req, file, out[1], err[1], nofile, &pid, why, size);
    } else {
        r = spawn_setup(&fa, &attr, out[1], err[1], req->workdir);
        if (r == 0) {
            r = posix_spawn(&pid, file, &fa, &attr, req->argv, req->envp);
            (void)posix_spawn_file_actions_destroy(&fa);
            (void)posix_spawnattr_destroy(&attr);
        }
        if (r != 0)
            (void)snprintf(why, size, "%s: %s", req->argv[0], strerror(r));
    }
    (void)close(out[1]);
    (void)close(err[1]);
    if (r != 0) {
        (void)close(out[0]);
        (void)close(err[0]);
        return -1;
    }
    *ret_pid = pid;
    *ret_out = out[0];
    *ret_err = err[0];
    return 0;
}
