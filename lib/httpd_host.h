/* httpd_host.h - which Host headers the operators' endpoint answers (DNS rebinding), and
 * whether it listens on loopback (pure). */
#ifndef HTTPD_HOST_H
#define HTTPD_HOST_H

#include <stdbool.h>

#define HTTPD_HOST_MAX 253 /* bytes of a host name, port excluded */

/* Whether a request carrying `host` (its Host header: "name", "name:port", "1.2.3.4:80",
 * "[::1]:80"; NULL when absent, as HTTP/1.0 allows) may be answered by a server listening
 * on `listen` (see parse_listen()). Allowed: no Host at all; "localhost" and names under
 * ".localhost"; loopback addresses (127.0.0.0/8, ::1); the address of `listen`, or any
 * address literal when `listen` is a wildcard (0.0.0.0, [::]), since a rebound name never
 * reaches the server as an address; and the names of `allowed` (NULL-terminated, may be
 * NULL): "example.com" that name, ".example.com" it and every name under it, "*" anything.
 * Names compare without case, port and final dot. A malformed Host is refused. */
bool httpd_host_allowed(const char *host, const char *listen, const char *const *allowed);

/* Whether `listen` is a unix socket or a loopback address: reachable from this host only. */
bool httpd_host_listen_is_local(const char *listen);

/* Whether `entry` can be an entry of httpd_host_allowed()'s `allowed`: "*", or a host name
 * or address (an IPv6 one in brackets), optionally with a leading '.' (names only). */
bool httpd_host_entry_valid(const char *entry);

#endif
