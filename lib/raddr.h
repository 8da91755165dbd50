/* raddr.h - where Redis is and how to reach it: a redis://, rediss:// or unix:// URL taken
 * apart (pure), plus the TLS and timeout settings the configuration adds (conf/cfg.h's
 * cfg_redis_addr()). The one parser of redis.url: the configuration check, nexusd's
 * connections and nexusctl all use it. */
#ifndef RADDR_H
#define RADDR_H

#include <stdbool.h>
#include <stddef.h>

struct err;

#define RADDR_DB_MAX 1000      /* the highest database number a URL may name */
#define RADDR_SENTINEL_PORT 26379 /* a sentinel's port when its spec gives none */

/* Parsed from redis[s]://[[user]:password@]host[:port][/db] (host a name or an [IPv6]
 * literal, port 1..65535, default 6379; user and password URL-decoded) or
 * unix:///path/to.sock[?db=N]; db is 0..RADDR_DB_MAX, default 0. Strings owned by the
 * struct; copy with raddr_copy(), clear with raddr_clear(). */
struct raddr {
    char *host;     /* NULL for a unix socket; an IPv6 literal without its brackets */
    int port;       /* 1..65535 */
    char *path;     /* unix socket path, or NULL */
    char *username; /* NULL for none: AUTH password; else AUTH username password (ACL) */
    char *password; /* NULL for none */
    int db;         /* 0..RADDR_DB_MAX: SELECT db */
    bool tls;       /* rediss:// */
    /* Not in the URL: set from the configuration by cfg_redis_addr(). */
    bool tls_verify;       /* check the server's certificate and name; raddr_parse() sets it */
    char *tls_ca_file;     /* PEM CA bundle, NULL: the system's CA store */
    char *tls_cert_file;   /* PEM client certificate, or NULL */
    char *tls_key_file;    /* its private key, or NULL */
    char *tls_server_name; /* SNI and the name checked, NULL: `host` */
    double read_timeout_s; /* a reply that does not come within this is a lost connection;
                              0: rconn's default */
    /* Sentinel (raddr_sentinels_set()): with nsentinels > 0 `host` and `port` are only where
     * the master was last seen; the sentinels are asked before each connection attempt. */
    char *sentinel_master;   /* the master's name, NULL: no Sentinel */
    struct raddr *sentinels; /* owned array of nsentinels: host, port, credentials, TLS */
    size_t nsentinels;
};

/* Pure. No spaces or control characters anywhere; a password may hold '@' (the last one
 * ends it). Returns 0 and fills *ret, or -EINVAL with a sentence in `err` (the URL shown
 * through url_mask()); *ret is untouched on failure. */
int raddr_parse(const char *url, struct raddr *ret, struct err *err);
/* Pure. NULL when raddr_parse() takes `url`, else why not ("port must be 1..65535": static,
 * without the URL, for a caller that shows the URL its own way). */
const char *raddr_problem(const char *url);
/* Pure. One sentinel as configured: "host:port", "[IPv6]:port" or a host alone (port
 * RADDR_SENTINEL_PORT). Fills *ret (clear with raddr_clear()) or returns -EINVAL with a
 * sentence naming the spec. */
int raddr_sentinel_spec_parse(const char *spec, struct raddr *ret, struct err *err);
/* Pure. Makes `a` (parsed from a URL, its TLS settings set) find its master through the
 * sentinels `specs` (n of them, n >= 1) under the name `master`: each sentinel is reached
 * with `username`/`password` (either NULL: none) and with the URL's TLS settings except the
 * server name (each sentinel's own host). Returns 0, or -EINVAL with a sentence (a bad spec,
 * an empty name, or a unix socket URL) and `a` unchanged. */
int raddr_sentinels_set(struct raddr *a, const char *const *specs, size_t n, const char *master,
                        const char *username, const char *password, struct err *err);
/* Deep copy of `src` into *dst (whose old contents are not freed). */
void raddr_copy(struct raddr *dst, const struct raddr *src);
/* Frees the strings and zeroes `addr`. */
void raddr_clear(struct raddr *addr);

#endif
