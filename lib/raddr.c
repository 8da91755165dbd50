/* raddr.c - redis://, rediss:// and unix:// URLs taken apart. */
#include "lib/raddr.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "lib/parse.h"
#include "lib/urlmask.h"
#include "lib/xalloc.h"

#define RADDR_PORT 6379

/* A URL refused: `text` (a literal) is why. */
static int fail(const char **why, const char *text)
{
    *why = text;
    return -EINVAL;
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
static int parse_unix(const char *url, struct raddr *a, const char **why)
{
    const char *p = url + 7, *q = p + strcspn(p, "?");
    uint32_t db = 0;

    if (*p != '/' || q - p < 2)
        return fail(why, "a unix socket path must be absolute");
    if (*q && (strncmp(q, "?db=", 4) != 0 || !number(q + 4, strlen(q + 4), 0, RADDR_DB_MAX, &db)))
        return fail(why, "the only query is ?db=N (N = 0..1000)");
    a->db = (int)db;
    a->path = xstrndup(p, (size_t)(q - p));
    return 0;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
        return (c | 0x20) - 'a' + 10;
    return -1;
}

/* `n` bytes at `s` with each %XX decoded (a '%' not followed by two hex digits stays as it is,
 * as redis-cli and redis-py read it). Returns false for %00, which no C string can hold. */
static bool url_decode(const char *s, size_t n, char **ret)
{
    char *out = xmalloc(n + 1), *o = out;

    for (size_t i = 0; i < n; i++) {
        int hi, lo;

        if (s[i] == '%' && i + 2 < n && (hi = hex_digit(s[i + 1])) >= 0 &&
            (lo = hex_digit(s[i + 2])) >= 0) {
            if (hi == 0 && lo == 0) {
                free(out);
                return false;
            }
            *o++ = (char)(hi << 4 | lo);
            i += 2;
        } else {
            *o++ = s[i];
        }
    }
    *o = '\0';
    *ret = out;
    return true;
}

/* [user]:password@ before `at`, decoded into a->username (NULL when empty) and a->password. */
static int parse_userinfo(const char *p, const char *at, struct raddr *a, const char **why)
{
    const char *colon = memchr(p, ':', (size_t)(at - p));
    const char *pw = colon ? colon + 1 : p; /* user:password@, :password@ or password@ */
    char *user = NULL, *password = NULL;

    if ((colon && colon > p && !url_decode(p, (size_t)(colon - p), &user)) ||
        !url_decode(pw, (size_t)(at - pw), &password)) {
        free(user);
        return fail(why, "user and password may not hold %00");
    }
    a->username = user;
    a->password = password;
    return 0;
}

/* redis[s]://[[user]:password@]host[:port][/db]: the authority runs to the first '/', '?' or
 * '#' (RFC 3986, as the app's own URL parser reads it); a password holding one of them must be
 * %-encoded, or the app and nexusd would connect to different places. */
static int parse_tcp(const char *url, size_t scheme_len, struct raddr *a, const char **why)
{
    const char *p = url + scheme_len, *end = p + strcspn(p, "/?#"), *at = NULL, *host, *host_end,
               *next;
    uint32_t v = 0;

    if (*end == '?' || *end == '#' || (*end == '/' && strchr(end, '@')))
        return fail(why, strchr(end, '@')
                                      ? "a '/', '?' or '#' in the password must be %-encoded "
                                        "(%2F, %3F, %23)"
                                      : "no query or fragment after the host");

    for (const char *s = p; s < end; s++)
        if (*s == '@')
            at = s;
    host = at ? at + 1 : p;
    if (*host == '[') {
        host_end = memchr(host, ']', (size_t)(end - host));
        if (!host_end || host_end == host + 1)
            return fail(why, "an IPv6 host must be [address]");
        host++;
        next = host_end + 1;
    } else {
        host_end = host + strcspn(host, ":?#");
        if (host_end > end)
            host_end = end;
        if (host_end == host)
            return fail(why, "no host");
        next = host_end;
    }
    if (next < end && (*next != ':' || !number(next + 1, (size_t)(end - next - 1), 1, 65535, &v)))
        return fail(why, "port must be 1..65535");
    a->port = next < end ? (int)v : RADDR_PORT;
    if (*end == '/' && end[1]) {
        if (!number(end + 1, strlen(end + 1), 0, RADDR_DB_MAX, &v))
            return fail(why, "database must be a number 0..1000");
        a->db = (int)v;
    }
    if (at && parse_userinfo(p, at, a, why) < 0)
        return -EINVAL;
    a->host = xstrndup(host, (size_t)(host_end - host));
    return 0;
}

/* raddr_parse() with the reason of a refusal in *why (a literal). */
static int parse(const char *url, struct raddr *ret, const char **why)
{
    struct raddr a = {.port = RADDR_PORT, .tls_verify = true};
    int r;

    for (const char *p = url; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            return fail(why, "no spaces or control characters");
    if (strncmp(url, "unix://", 7) == 0)
        r = parse_unix(url, &a, why);
    else if (strncmp(url, "rediss://", 9) == 0) {
        a.tls = true;
        r = parse_tcp(url, 9, &a, why);
    } else if (strncmp(url, "redis://", 8) == 0)
        r = parse_tcp(url, 8, &a, why);
    else
        return fail(why, "must start with redis://, rediss:// or unix://");
    if (r < 0)
        return r; /* nothing allocated: each part is copied once the whole URL is good */
    *ret = a;
    return 0;
}

int raddr_parse(const char *url, struct raddr *ret, struct err *err)
{
    const char *why = NULL;
    char shown[256];
    int r = parse(url, ret, &why);

    if (r < 0)
        return err_set(err, r, "redis url '%s': %s", url_mask(url, shown, sizeof(shown)), why);
    return 0;
}

const char *raddr_problem(const char *url)
{
    struct raddr a;
    const char *why = NULL;

    if (parse(url, &a, &why) < 0)
        return why;
    raddr_clear(&a);
    return NULL;
}

static char *dup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

int raddr_sentinel_spec_parse(const char *spec, struct raddr *ret, struct err *err)
{
    struct raddr a = {0};
    const char *close = strrchr(spec, ']'), *colon = strrchr(spec, ':');
    bool has_port = spec[0] == '[' ? close && close[1] == ':' : colon != NULL;
    char *url;
    int r;

    if (!*spec || strpbrk(spec, "/@?#")) {
        r = -EINVAL;
    } else { /* the URL parser's host and port rules */
        url = xasprintf("redis://%s", spec);
        r = raddr_parse(url, &a, NULL);
        free(url);
    }
    if (r < 0)
        return err_set(err, -EINVAL,
                       "sentinel '%.64s' must be host:port, [IPv6]:port or a host alone", spec);
    if (!has_port)
        a.port = RADDR_SENTINEL_PORT;
    *ret = a;
    return 0;
}

int raddr_sentinels_set(struct raddr *a, const char *const *specs, size_t n, const char *master,
                        const char *username, const char *password, struct err *err)
{
    struct raddr *s;

    if (a->path)
        return err_set(err, -EINVAL, "Sentinel needs a redis:// or rediss:// URL, not a unix "
                                     "socket");
    if (!master || !*master)
        return err_set(err, -EINVAL, "Sentinel needs the master's name");
    s = xcalloc(n, sizeof(*s));
    for (size_t i = 0; i < n; i++) {
        if (raddr_sentinel_spec_parse(specs[i], &s[i], err) < 0) {
            for (size_t j = 0; j < i; j++)
                raddr_clear(&s[j]);
            free(s);
            return -EINVAL;
        }
        s[i].username = dup_or_null(username);
        s[i].password = dup_or_null(password);
        s[i].tls = a->tls;
        s[i].tls_verify = a->tls_verify;
        s[i].tls_ca_file = dup_or_null(a->tls_ca_file);
        s[i].tls_cert_file = dup_or_null(a->tls_cert_file);
        s[i].tls_key_file = dup_or_null(a->tls_key_file);
        s[i].read_timeout_s = a->read_timeout_s;
    }
    a->sentinel_master = xstrdup(master);
    a->sentinels = s;
    a->nsentinels = n;
    return 0;
}

void raddr_copy(struct raddr *dst, const struct raddr *src)
{
    *dst = *src;
    dst->host = dup_or_null(src->host);
    dst->path = dup_or_null(src->path);
    dst->username = dup_or_null(src->username);
    dst->password = dup_or_null(src->password);
    dst->tls_ca_file = dup_or_null(src->tls_ca_file);
    dst->tls_cert_file = dup_or_null(src->tls_cert_file);
    dst->tls_key_file = dup_or_null(src->tls_key_file);
    dst->tls_server_name = dup_or_null(src->tls_server_name);
    dst->sentinel_master = dup_or_null(src->sentinel_master);
    dst->sentinels = src->nsentinels ? xcalloc(src->nsentinels, sizeof(*dst->sentinels)) : NULL;
    for (size_t i = 0; i < src->nsentinels; i++)
        raddr_copy(&dst->sentinels[i], &src->sentinels[i]);
}

void raddr_clear(struct raddr *addr)
{
    free(addr->host);
    free(addr->path);
    free(addr->username);
    free(addr->password);
    free(addr->tls_ca_file);
    free(addr->tls_cert_file);
    free(addr->tls_key_file);
    free(addr->tls_server_name);
    free(addr->sentinel_master);
    for (size_t i = 0; i < addr->nsentinels; i++)
        raddr_clear(&addr->sentinels[i]);
    free(addr->sentinels);
    memset(addr, 0, sizeof(*addr));
}
