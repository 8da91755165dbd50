/* spawn.h - starting a command step's child: the leader of a new session and process group,
 * stdin from /dev/null, stdout and stderr into pipes, none of nexusd's other descriptors, as
 * another user when asked, with the RLIMIT_NOFILE nexusd started with (docs/commands.md). */
#ifndef SPAWN_H
#define SPAWN_H

#include <stddef.h>
#include <sys/types.h>

/* What to run. Borrowed: valid for the spawn_start() call. */
struct spawn_req {
    char **argv;         /* NULL-terminated; argv[0] is searched in the child's PATH as
                            execvp() would, relative to workdir when it holds a '/' */
    char **envp;         /* the child's whole environment, NULL-terminated */
    const char *workdir; /* NULL: nexusd's working directory */
    const char *user;    /* NULL: nexusd's user; else its name (for messages), and: */
    uid_t uid;
    gid_t gid;
    const gid_t *groups; /* ngroups supplementary groups */
    size_t ngroups;
};

/* At start-up, before anything raises the process's soft RLIMIT_NOFILE (httpd_new() does, to
 * fit its connections): records it as the one every child starts with. Without this call
 * children inherit nexusd's limits as they are. */
void spawn_init(void);

/* Starts the child. Returns 0 with its pid (the leader of process group pid) and the read
 * ends of its stdout and stderr pipes (non-blocking, CLOEXEC; caller owns them, release with
 * close()), or -1 with a sentence in `why` ("workdir /x: No such file or directory", "npm not
 * found in PATH (/usr/bin:/bin)", "cannot become user ..."), nothing left open or running. */
int spawn_start(const struct spawn_req *req, pid_t *ret_pid, int *ret_out, int *ret_err, char *why,
                size_t size);

#endif
