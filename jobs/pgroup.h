/* pgroup.h - a command step's child, the leader of its own process group, watched on the
 * default loop until it is over: its exit (ev_child), its stdout and stderr pipes, TERM then
 * KILL to the whole group; and at the daemon's exit, the drain that waits for every group. */
#ifndef PGROUP_H
#define PGROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct ev_loop;
struct pgroup; /* opaque */

#define PGROUP_DRAIN_EXTRA_S 5.0 /* pgroup_drain() waits the largest kill_grace plus this */

/* `len` bytes the child wrote to stdout, or to stderr when `is_err`; borrowed for the call. */
typedef void pgroup_output_fn(const char *data, size_t len, bool is_err, void *arg);
/* Once per watched child: it exited and both pipes are closed (or were given up on); how it
 * ended is pgroup_wstatus(). The owner may free the pgroup or watch the next child in it. */
typedef void pgroup_done_fn(void *arg);
/* pgroup_drain() stopped waiting: the group got KILL, watchers and pipes are closed, and
 * `done` will not run. The owner frees the pgroup now, or once its own pending callback ran. */
typedef void pgroup_abandon_fn(void *arg);

struct pgroup_ops {
    pgroup_output_fn *output;
    pgroup_done_fn *done;
    pgroup_abandon_fn *abandon;
};

/* One per run of a command class, watching its steps' children one after another. `loop` must
 * be the default loop (ev_child watches only that one); `jid` and `class_name` (for the log
 * lines) are borrowed and must outlive the pgroup; `ops` is static. Caller owns the pgroup,
 * release with pgroup_free() (accepts NULL), which stops its watchers. */
struct pgroup *pgroup_new(struct ev_loop *loop, double kill_grace_s, const char *jid,
                          const char *class_name, const struct pgroup_ops *ops, void *arg);
void pgroup_free(struct pgroup *g);

/* Forgets the last child (its pid becomes 0), before the next one starts. */
void pgroup_reset(struct pgroup *g);
/* Watches child `pid`, leader of process group `pid`, and the read ends of its pipes (takes
 * ownership of `out_fd` and `err_fd`: closed when they reach EOF or are given up on). */
void pgroup_watch(struct pgroup *g, pid_t pid, int out_fd, int err_fd);
/* TERM to the whole group now, KILL after kill_grace unless everything ended before. Once per
 * child: later calls do nothing. */
void pgroup_stop(struct pgroup *g);

pid_t pgroup_pid(const struct pgroup *g);    /* the child's; 0 before pgroup_watch() */
bool pgroup_running(const struct pgroup *g); /* a child watched that has not exited */
bool pgroup_exited(const struct pgroup *g);
int pgroup_wstatus(const struct pgroup *g); /* waitpid()'s status once exited */

/* "TERM" for SIGTERM, "unknown" for no signal. Static. */
const char *pgroup_sig_name(int sig);

/* For the daemon's exit, after the worker stopped (a step cancelled by the stop got TERM and
 * gets KILL after its kill_grace) and before it is freed (its database pool must still be
 * there): runs `loop` (the default loop) until every pgroup is freed, for at most the largest
 * kill_grace plus PGROUP_DRAIN_EXTRA_S; those left then are abandoned (see pgroup_abandon_fn).
 * Returns at once when there are none. */
void pgroup_drain(struct ev_loop *loop);

#endif
