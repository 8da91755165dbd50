/* command.h - `command` classes (docs/commands.md): each job runs the class's argv vectors
 * (or its shell line) as child processes watched on the loop, each the leader of its own
 * process group; every step is recorded in nexus.command_runs. The handler itself is
 * handler_command in registry.h. */
#ifndef COMMAND_H
#define COMMAND_H

struct cfg;
struct ev_loop;

#define COMMAND_PARSE_MAX (32u << 20) /* stdout bytes a parser (npm-audit) reads */
#define COMMAND_DRAIN_EXTRA_S 5.0     /* command_drain() waits kill_grace plus this */

/* For the daemon's exit, after the worker stopped and before it is freed (its database pool
 * must still be there): a step cancelled by the stop got TERM and gets KILL after its
 * kill_grace; this runs `loop` (the default loop) until every such child is reaped and its
 * run recorded, for at most the largest kill_grace plus COMMAND_DRAIN_EXTRA_S. What is left
 * then gets KILL and is let go; a record still being written is answered by the pool's
 * release. Returns at once when nothing is left. */
void command_drain(struct ev_loop *loop);

/* At start-up, before anything raises the process's soft RLIMIT_NOFILE (httpd_new() does,
 * to fit its connections): records it as the one every child starts with (docs/commands.md).
 * Without this call children inherit nexusd's limits as they are. */
void command_init(void);

/* At start-up and after a reload: when nexusd runs as root, logs a warning for every command
 * class without `user`, whose children would run as root (docs/commands.md). */
void command_warn_root(const struct cfg *cfg);

#endif
