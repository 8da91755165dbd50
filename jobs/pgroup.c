/* pgroup.c - the process group of a command step: reaped with ev_child, its pipes read on the
 * loop, stopped with TERM then KILL; the live groups are a list the daemon's exit drains. */
#include "jobs/pgroup.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ev.h>

#include "lib/log.h"
#include "lib/xalloc.h"

#define READ_CHUNK 65536  /* bytes per read() of a pipe */
#define READS_PER_WAKE 16 /* reads of one pipe per callback, so that others get a turn */
#define PIPE_LINGER_S 2.0 /* after KILL: wait this long for the pipes to close */

enum kill_stage { KILL_NONE, KILL_TERM_SENT, KILL_KILL_SENT };

struct pgroup {
    struct pgroup *prev, *next; /* in `groups` */
    struct ev_loop *loop;       /* the default loop */
    const struct pgroup_ops *ops;
    void *arg;
    const char *jid, *class_name; /* borrowed, for the log */
    double kill_grace_s;
    pid_t pid;          /* leads process group `pid`; 0 before pgroup_watch() */
    bool exited, ended; /* ended: done was called for this child */
    int wstatus;
    enum kill_stage kill;
    ev_child child;
    ev_io out, err; /* fd -1 once closed */
    ev_timer kill_timer;
};

static struct pgroup groups = {.prev = &groups, .next = &groups}; /* live groups */
static unsigned ngroups;
static bool draining; /* pgroup_drain() runs the loop until ngroups is 0 */

static void child_on_exit(struct ev_loop *loop, ev_child *w, int revents);
static void pipe_on_readable(struct ev_loop *loop, ev_io *w, int revents);
static void kill_on_timer(struct ev_loop *loop, ev_timer *w, int revents);

const char *pgroup_sig_name(int sig)
{
    const char *name = sigabbrev_np(sig);

    return name ? name : "unknown";
}

struct pgroup *pgroup_new(struct ev_loop *loop, double kill_grace_s, const char *jid,
                          const char *class_name, const struct pgroup_ops *ops, void *arg)
{
    struct pgroup *g = xcalloc(1, sizeof(*g));

    g->loop = loop;
    g->kill_grace_s = kill_grace_s;
    g->jid = jid;
    g->class_name = class_name;
    g->ops = ops;
    g->arg = arg;
    ev_child_init(&g->child, child_on_exit, 0, 0);
    g->child.data = g;
    ev_io_init(&g->out, pipe_on_readable, -1, EV_READ);
    g->out.data = g;
    ev_io_init(&g->err, pipe_on_readable, -1, EV_READ);
    g->err.data = g;
    ev_timer_init(&g->kill_timer, kill_on_timer, 0, 0);
    g->kill_timer.data = g;
    g->prev = groups.prev;
    g->next = &groups;
    groups.prev->next = g;
    groups.prev = g;
    ngroups++;
    return g;
}

static void pipe_close(struct pgroup *g, ev_io *w)
{
    if (w->fd < 0)
        return;
    ev_io_stop(g->loop, w);
    (void)close(w->fd);
    ev_io_set(w, -1, EV_READ);
}

void pgroup_free(struct pgroup *g)
{
    if (!g)
        return;
    g->prev->next = g->next;
    g->next->prev = g->prev;
    ngroups--;
    ev_child_stop(g->loop, &g->child);
    pipe_close(g, &g->out);
    pipe_close(g, &g->err);
    ev_timer_stop(g->loop, &g->kill_timer);
    if (draining && ngroups == 0)
        ev_break(g->loop, EVBREAK_ONE);
    free(g);
}

void pgroup_reset(struct pgroup *g)
{
    g->pid = 0;
    g->exited = false;
    g->ended = false;
    g->wstatus = 0;
    g->kill = KILL_NONE;
}

void pgroup_watch(struct pgroup *g, pid_t pid, int out_fd, int err_fd)
{
    pgroup_reset(g);
    g->pid = pid;
    ev_io_set(&g->out, out_fd, EV_READ);
    ev_io_set(&g->err, err_fd, EV_READ);
    ev_io_start(g->loop, &g->out);
    ev_io_start(g->loop, &g->err);
    ev_child_set(&g->child, pid, 0);
    ev_child_start(g->loop, &g->child);
}

pid_t pgroup_pid(const struct pgroup *g)
{
    return g->pid;
}

bool pgroup_running(const struct pgroup *g)
{
    return g->pid > 0 && !g->exited;
}

bool pgroup_exited(const struct pgroup *g)
{
    return g->exited;
}

int pgroup_wstatus(const struct pgroup *g)
{
    return g->wstatus;
}

/* ---- stopping a process group ---- */

static void group_signal(struct pgroup *g, int sig)
{
    if (g->pid > 0 && kill(-g->pid, sig) < 0 && errno != ESRCH)
        log_warn("event=command_kill_failed jid=%s class=%s pid=%d signal=%s err=%s", log_q(g->jid),
                 log_q(g->class_name), (int)g->pid, pgroup_sig_name(sig), log_q(strerror(errno)));
}

void pgroup_stop(struct pgroup *g)
{
    if (g->kill != KILL_NONE)
        return;
    group_signal(g, SIGTERM);
    g->kill = KILL_TERM_SENT;
    ev_timer_set(&g->kill_timer, g->kill_grace_s, 0);
    ev_timer_start(g->loop, &g->kill_timer);
}

/* The child is over once it exited and its pipes are closed: the owner hears it once. */
static void check_done(struct pgroup *g)
{
    if (!g->exited || g->out.fd >= 0 || g->err.fd >= 0 || g->ended)
        return;
    g->ended = true;
    ev_timer_stop(g->loop, &g->kill_timer);
    g->ops->done(g->arg);
}

static void kill_on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct pgroup *g = w->data;

    if (g->kill == KILL_TERM_SENT) {
        log_warn("event=command_kill jid=%s class=%s pid=%d signal=KILL after=%gs", log_q(g->jid),
                 log_q(g->class_name), (int)g->pid, g->kill_grace_s);
        group_signal(g, SIGKILL);
        g->kill = KILL_KILL_SENT;
        ev_timer_set(&g->kill_timer, PIPE_LINGER_S, 0);
        ev_timer_start(loop, &g->kill_timer);
        return;
    }
    /* a process outside the group (it left with setsid) still holds the pipes */
    if (g->out.fd >= 0 || g->err.fd >= 0) {
        log_warn("event=command_pipes_abandoned jid=%s class=%s pid=%d err=\"a process outside "
                 "the group keeps the output open\"",
                 log_q(g->jid), log_q(g->class_name), (int)g->pid);
        pipe_close(g, &g->out);
        pipe_close(g, &g->err);
    }
    check_done(g);
}

/* ---- the child and its pipes ---- */

static void child_on_exit(struct ev_loop *loop, ev_child *w, int revents)
{
    struct pgroup *g = w->data;

    ev_child_stop(loop, w);
    g->exited = true;
    g->wstatus = w->rstatus;
    /* what the leader left behind (a server it started, a background job) is stopped too */
    if (kill(-g->pid, 0) == 0) {
        log_info("event=command_stragglers jid=%s class=%s pgid=%d action=TERM", log_q(g->jid),
                 log_q(g->class_name), (int)g->pid);
        pgroup_stop(g);
    } else if ((g->out.fd >= 0 || g->err.fd >= 0) && g->kill == KILL_NONE) {
        g->kill = KILL_KILL_SENT; /* nothing left to signal: only wait for the pipes */
        ev_timer_set(&g->kill_timer, PIPE_LINGER_S, 0);
        ev_timer_start(loop, &g->kill_timer);
    }
    check_done(g);
}

static void pipe_on_readable(struct ev_loop *loop, ev_io *w, int revents)
{
    struct pgroup *g = w->data;
    bool is_err = w == &g->err;
    char buf[READ_CHUNK];

    for (int i = 0; i < READS_PER_WAKE; i++) {
        ssize_t n = read(w->fd, buf, sizeof(buf));

        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        if (n <= 0) { /* EOF, or an error that will not go away */
            pipe_close(g, w);
            check_done(g);
            return;
        }
        g->ops->output(buf, (size_t)n, is_err, g->arg);
    }
}

/* ---- the daemon's exit ---- */

static void drain_on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    ev_break(loop, EVBREAK_ONE);
}

void pgroup_drain(struct ev_loop *loop)
{
    double grace = 0;
    ev_timer timer;
    struct pgroup *g, *next;

    if (ngroups == 0)
        return;
    for (g = groups.next; g != &groups; g = g->next)
        if (g->kill_grace_s > grace)
            grace = g->kill_grace_s;
    log_info("event=command_drain live=%u wait=%gs", ngroups, grace + PGROUP_DRAIN_EXTRA_S);
    ev_timer_init(&timer, drain_on_timer, grace + PGROUP_DRAIN_EXTRA_S, 0);
    ev_timer_start(loop, &timer);
    draining = true;
    ev_run(loop, 0);
    draining = false;
    ev_timer_stop(loop, &timer);
    for (g = groups.next; g != &groups; g = next) {
        next = g->next;
        log_error("event=command_abandoned jid=%s class=%s pid=%d", log_q(g->jid),
                  log_q(g->class_name), (int)g->pid);
        if (!g->exited)
            group_signal(g, SIGKILL);
        ev_child_stop(loop, &g->child);
        pipe_close(g, &g->out);
        pipe_close(g, &g->err);
        ev_timer_stop(loop, &g->kill_timer);
        g->ended = true;
        g->ops->abandon(g->arg);
    }
}
