/* raddr.c - redis:// and unix:// URLs taken apart. */
#include "lib/raddr.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "lib/parse.h"
#include "lib/urlmask.h"
#include "lib/xalloc.h"

#define RADDR_PORT 6379

static int url_fail(struct err *err, const char *url, const char *why)
{
    char shown[256];

    return err_set(err, -EINVAL, "redis url '%s': %s", url_mask(url, shown, sizeof(shown)), why);
}

/* `n` bytes at `s` are a decimal number min..max: writes it to *ret. */
static bool number(const char *s, size_t n, uint32_t min, uint32_t max, uint32_t *ret)
{
    char num[16];

    if (n == 0 || n >= sizeof(num))
        return false;
    memcpy(num, s, n);
    num[n] = '\0';
    return parse_u32(num, min, max, ret) == 0;
}

/* unix:///path[?db=N] */
static int parse_unix(const char *url, struct raddr *a, struct err *err)
{
    const char *p = url + 7, *q = p + strcspn(p, "?");
    uint32_t db = 0;

    if (*p != '/' || q - p < 2)
        return url_fail(err, url, "a unix socket path must be absolute");
    if (*q && (strncmp(q, "?db=", 4) != 0 || !number(q + 4, strlen(q + 4), 0, RADDR_DB_MAX, &db)))
        return url_fail(err, url, "the only query is ?db=N (N = 0..1000)");
    a->db = (int)db;
    a->path = xstrndup(p, (size_t)(q - p));
    return 0;
}

/* redis://[[user]:password@]host[:port][/db]: the authority runs to the first '/'. */
static int parse_tcp(const char *url, struct raddr *a, struct err *err)
{
    const char *p = url + 8, *end = p + strcspn(p, "/"), *at = NULL, *host, *host_end, *next;
    uint32_t v = 0;

    for (const char *s = p; s < end; s++)
        if (*s == '@')
            at = s;
    host = at ? at + 1 : p;
    if (*host == '[') {
        host_end = memchr(host, ']', (size_t)(end - host));
        if (!host_end || host_end == host + 1)
            return url_fail(err, url, "an IPv6 host must be [address]");
        host++;
        next = host_end + 1;
    } else {
        host_end = host + strcspn(host, ":?#");
        if (host_end > end)
            host_end = end;
        if (host_end == host)
            return url_fail(err, url, "no host");
        next = host_end;
    }
    if (next < end && (*next != ':' || !number(next + 1, (size_t)(end - next - 1), 1, 65535, &v)))
        return url_fail(err, url, "port must be 1..65535");
    a->port = next < end ? (int)v : RADDR_PORT;
    if (*end == '/' && end[1]) {
        if (!number(end + 1, strlen(end + 1), 0, RADDR_DB_MAX, &v))
            return url_fail(err, url, "database must be a number 0..1000");
        a->db = (int)v;
    }
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));

        p = colon ? colon + 1 : p; /* redis://user:password@host or redis://:password@host */
        a->password = xstrndup(p, (size_t)(at - p));
    }
    a->host = xstrndup(host, (size_t)(host_end - host));
    return 0;
}

int raddr_parse(const char *url, struct raddr *ret, struct err *err)
{
    struct raddr a = {.port = RADDR_PORT};
    int r;

    for (const char *p = url; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            return url_fail(err, url, "no spaces or control characters");
    if (strncmp(url, "unix://", 7) == 0)
        r = parse_unix(url, &a, err);
    else if (strncmp(url, "rediss://", 9) == 0)
        return url_fail(err, url, "TLS (rediss://) is not supported; use a TLS tunnel");
    else if (strncmp(url, "redis://", 8) == 0)
        r = parse_tcp(url, &a, err);
    else
        return url_fail(err, url, "must start with redis:// or unix://");
    if (r < 0)
        return r; /* nothing allocated: each part is copied once the whole URL is good */
    *ret = a;
    return 0;
}

void raddr_clear(struct raddr *addr)
{
    free(addr->host);
    free(addr->path);
    free(addr->password);
    memset(addr, 0, sizeof(*addr));
}
