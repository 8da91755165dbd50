/* resolve.h - getaddrinfo() off the loop: the name is looked up on a thread of its own and
 * the answer handed back on the loop, so a slow resolver stalls one connection attempt (and
 * its connect timeout covers it), never the jobs, timers and HTTP answers of the loop. */
#ifndef RESOLVE_H
#define RESOLVE_H

struct addrinfo;
struct ev_loop;
struct resolve; /* opaque */

/* On the loop, once: `ais` are the addresses (caller owns them, release with
 * freeaddrinfo()), or NULL with `gai_error` (getaddrinfo()'s code; EAI_SYSTEM with
 * `sys_errno`). */
typedef void resolve_fn(struct addrinfo *ais, int gai_error, int sys_errno, void *arg);

/* Looks up `host` and `port` (TCP, IPv4 and IPv6) on a new thread, with every signal blocked
 * there. `host` and `port` are copied. `done` runs exactly once, later, from the loop, unless
 * resolve_cancel() comes first. The request frees itself after `done`: do not use it then.
 * While it runs it keeps the loop running (an active watcher). */
struct resolve *resolve_start(struct ev_loop *loop, const char *host, const char *port,
                              resolve_fn *done, void *arg);
/* From the loop's thread, before `done` ran: `done` never runs; the thread finishes its
 * lookup and frees what it found. */
void resolve_cancel(struct resolve *r);

#endif
