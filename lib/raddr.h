/* raddr.h - where Redis is and how to reach it: a redis://, rediss:// or unix:// URL taken
 * apart (pure), plus the TLS and timeout settings the configuration adds (conf/cfg.h's
 * cfg_redis_addr()). The one parser of redis.url: the configuration check, nexusd's
 * connections and nexusctl all use it. */
#ifndef RADDR_H
#define RADDR_H

#include <stdbool.h>

struct err;

#define RADDR_DB_MAX 1000 /* the highest database number a URL may name */

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
};

/* Pure. No spaces or control characters anywhere; a password may hold '@' (the last one
 * ends it). Returns 0 and fills *ret, or -EINVAL with a sentence in `err` (the URL shown
 * through url_mask()); *ret is untouched on failure. */
int raddr_parse(const char *url, struct raddr *ret, struct err *err);
/* Deep copy of `src` into *dst (whose old contents are not freed). */
void raddr_copy(struct raddr *dst, const struct raddr *src);
/* Frees the strings and zeroes `addr`. */
void raddr_clear(struct raddr *addr);

#endif
