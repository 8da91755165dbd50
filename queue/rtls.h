/* rtls.h - OpenSSL for rconn (private to queue/rconn.c): one client SSL_CTX per set of TLS
 * settings, shared by every connection of the process, and the sentence of a TLS failure. */
#ifndef RTLS_H
#define RTLS_H

#include <stddef.h>

struct err;
struct raddr;
struct ssl_st;

/* What a connection learnt of the bytes the server sent during the handshake. */
struct rtls_peek {
    int first_byte; /* of the first record the server sent, -1 before one came */
};

/* A new client SSL for `addr` (addr->tls): the shared context of its settings (made, and a
 * warning logged when tls_verify is off, the first time), SNI and the name or IP address
 * checked set from tls_server_name or else host. `peek` (borrowed, must outlive the SSL) is
 * filled as records come. Caller owns the SSL, release with SSL_free(). Returns NULL with a
 * sentence in `err` when a CA, certificate or key file cannot be used. */
struct ssl_st *rtls_new(const struct raddr *addr, struct rtls_peek *peek, struct err *err);

/* The sentence for SSL_connect/read/write having returned `ret` on `ssl` (`what`: "TLS
 * handshake", "TLS read", ...): a failed certificate check with X509's reason, "the server
 * answered in plain text" for a plain server behind rediss://, or OpenSSL's reason. Empties
 * OpenSSL's error queue. Returns `buf`. */
const char *rtls_error(struct ssl_st *ssl, int ret, const struct rtls_peek *peek, const char *what,
                       char *buf, size_t size);

#endif
