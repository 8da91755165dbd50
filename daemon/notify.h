/* notify.h - systemd's notification protocol: readiness, status, reload, stop, watchdog. */
#ifndef NOTIFY_H
#define NOTIFY_H

struct ev_loop;
struct worker;
struct notify; /* opaque */

/* Sends READY=1 when the worker's Redis connection first comes up, STATUS= lines as it
 * comes and goes, and WATCHDOG=1 at half the interval systemd asks for (WATCHDOG_USEC for
 * this pid), from the loop: a stuck loop stops the pings and systemd kills the process.
 * Without NOTIFY_SOCKET every message is a no-op. `wk` is borrowed and must outlive it.
 * Caller owns it, release with notify_free() (accepts NULL). */
struct notify *notify_new(struct ev_loop *loop, struct worker *wk);
void notify_free(struct notify *n);

/* Around a SIGHUP reload: RELOADING=1, then READY=1 (whether it was applied or refused). */
void notify_reloading(struct notify *n);
void notify_reloaded(struct notify *n);
/* The drain began (SIGTERM/SIGINT): STOPPING=1. */
void notify_stopping(struct notify *n);

#endif
