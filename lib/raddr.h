/* raddr.h - where Redis is: a redis:// or unix:// URL taken apart (pure). The one parser of
 * redis.url: the configuration check, nexusd's connections and nexusctl all use it. */
#ifndef RADDR_H
#define RADDR_H

struct err;

#define RADDR_DB_MAX 1000 /* the highest database number a URL may name */

/* Parsed from redis://[[user]:password@]host[:port][/db] (host a name or an [IPv6] literal,
 * port 1..65535, default 6379) or unix:///path/to.sock[?db=N]; db is 0..RADDR_DB_MAX,
 * default 0. Strings owned by the struct; clear with raddr_clear(). */
struct raddr {
    char *host;     /* NULL for a unix socket; an IPv6 literal without its brackets */
    int port;       /* 1..65535 */
    char *path;     /* unix socket path, or NULL */
    char *password; /* NULL for none; the user, if any, is ignored */
    int db;         /* 0..RADDR_DB_MAX: SELECT db */
};

/* Pure. No spaces or control characters anywhere; a password may hold '@' (the last one
 * ends it). Returns 0 and fills *ret, or -EINVAL with a sentence in `err` (the URL shown
 * through url_mask()); *ret is untouched on failure. */
int raddr_parse(const char *url, struct raddr *ret, struct err *err);
/* Frees the strings and zeroes `addr`. */
void raddr_clear(struct raddr *addr);

#endif
