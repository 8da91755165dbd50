/* remote_signal.h - signals an operator sends a process through Redis (nexusctl quiet and stop,
 * Sidekiq's API and Web UI), acted on as the same signals sent with kill(1). */
#ifndef REMOTE_SIGNAL_H
#define REMOTE_SIGNAL_H

/* A presence_signal_fn (queue/presence.h): "TSTP" and "TERM" (borrowed `name`) are raised on
 * this process, whose signal watchers (daemon/main.c) quiet or stop it exactly as for a signal
 * from outside; the decision is logged (event=remote_signal). Other names are logged and
 * ignored. `arg` is unused. */
void remote_signal_take(const char *name, void *arg);

#endif
