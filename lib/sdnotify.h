/* sdnotify.h - systemd's service notification protocol, spoken without libsystemd: one
 * datagram of KEY=VALUE lines to the socket NOTIFY_SOCKET names, and the watchdog interval
 * WATCHDOG_USEC asks for (sd_notify(3), "Standalone implementations"; the protocol is
 * stable and documented for exactly this). Linking libsystemd for these two calls loaded it
 * and six libraries it needs (libgcrypt, liblz4, liblzma, ...) into every process: about
 * 0.7 MB of an idle nexusd's RSS. */
#ifndef SDNOTIFY_H
#define SDNOTIFY_H

#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

/* Pure: the address a NOTIFY_SOCKET value names, an absolute path ("/run/...") or an
 * abstract socket ("@name"), into `ret` and its length into `ret_len`. Returns 0, or
 * -EINVAL for anything else (empty, relative, too long for sun_path, vsock: addresses). */
int sdnotify_addr(const char *value, struct sockaddr_un *ret, socklen_t *ret_len);

/* Sends `msg` (KEY=VALUE lines) to the NOTIFY_SOCKET of the environment, as sd_notify()
 * does, without waiting: a message the manager's full queue cannot take is dropped
 * (-EAGAIN) rather than block the loop. Returns 1 when sent, 0 when there is no
 * NOTIFY_SOCKET, or a negative errno. */
int sdnotify_send(const char *msg);
/* As sdnotify_send() with a printf format. */
int sdnotify_sendf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Pure: the watchdog interval (microseconds) for process `self` from the values of
 * WATCHDOG_USEC and WATCHDOG_PID (either may be NULL), as sd_watchdog_enabled() reads
 * them: 1 and `*ret_usec` when asked for, 0 when not (no or zero WATCHDOG_USEC, or a
 * WATCHDOG_PID naming another process), -EINVAL when a value is not a number. */
int sdnotify_watchdog(const char *usec, const char *pid, pid_t self, uint64_t *ret_usec);

#endif
