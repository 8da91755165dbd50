/* remote_signal.c - a signal popped from IDENTITY-signals becomes the process's own signal. */
#include "daemon/remote_signal.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "lib/log.h"

/* The names Sidekiq's API pushes and what nexusd does for each (as main.c's watchers do). */
static const struct remote_signal {
    const char *name;
    int signum;
    const char *action;
} remote_signals[] = {
    {"TSTP", SIGTSTP, "quiet"},
    {"TERM", SIGTERM, "stop"},
};

void remote_signal_take(const char *name, void *arg)
{
    (void)arg;
    for (size_t i = 0; i < sizeof(remote_signals) / sizeof(remote_signals[0]); i++) {
        const struct remote_signal *s = &remote_signals[i];

        if (strcmp(s->name, name) != 0)
            continue;
        log_info("event=remote_signal signal=%s action=%s from=redis", s->name, s->action);
        /* the watcher runs at the loop's next iteration, with no callback of ours on the stack */
        (void)kill(getpid(), s->signum);
        return;
    }
    log_warn("event=remote_signal signal=%s action=ignored from=redis why=\"nexusd acts on TSTP "
             "(quiet) and TERM (stop)\"",
             log_q(name));
}
