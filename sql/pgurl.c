/* pgurl.c - PostgreSQL URLs as apps write them for Prisma and Supabase, made fit for libpq,
 * and the marks of a transaction-mode pooler in them (pure). */
#include "sql/pgurl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/xalloc.h"

#define POOLER_PORT "6543" /* Supabase's transaction-mode pooler */

/* Query parameters of Prisma's connection URLs that libpq refuses ("invalid URI query
 * parameter"): client-side settings of Prisma's own pool and statement cache. */
static const char *const prisma_params[] = {
    "pgbouncer", "connection_limit", "pool_timeout", "socket_timeout", "statement_cache_size",
};

/* A URL's parts: [0, query) scheme, authority and path; [query, end) "?..." or empty; then
 * anything from '#' on. */
struct url_parts {
    size_t auth, auth_end; /* the authority: user@host:port,... */
    size_t query, end;
};

static bool url_split(const char *s, struct url_parts *ret)
{
    static const char *const schemes[] = {"postgresql://", "postgres://"};
    size_t n = 0;

    for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]) && !n; i++)
        if (strncmp(s, schemes[i], strlen(schemes[i])) == 0)
            n = strlen(schemes[i]);
    if (!n)
        return false;
    ret->auth = n;
    ret->auth_end = n + strcspn(s + n, "/?#");
    ret->query = ret->auth_end + strcspn(s + ret->auth_end, "?#");
    ret->end = ret->query + strcspn(s + ret->query, "#");
    return true;
}

/* Whether the parameter at `p` (up to '&' or `end`) is named `name`. */
static bool param_is(const char *p, const char *end, const char *name)
{
    size_t n = strlen(name);

    return (size_t)(end - p) >= n && strncmp(p, name, n) == 0 &&
           (p + n == end || p[n] == '=' || p[n] == '&');
}

static bool param_prisma(const char *p, const char *end)
{
    for (size_t i = 0; i < sizeof(prisma_params) / sizeof(prisma_params[0]); i++)
        if (param_is(p, end, prisma_params[i]))
            return true;
    return false;
}

/* The value of query parameter `name` in s[from, end) ("?a=b&..."), or NULL; *ret_len its
 * length. */
static const char *param_value(const char *s, size_t from, size_t end, const char *name,
                               size_t *ret_len)
{
    const char *p = s + from, *stop = s + end;

    while (p < stop) {
        const char *amp;
        p++; /* '?' or '&' */
        amp = memchr(p, '&', (size_t)(stop - p));
        if (!amp)
            amp = stop;
        if (param_is(p, amp, name)) {
            const char *v = p + strlen(name);
            v += v < amp && *v == '=';
            *ret_len = (size_t)(amp - v);
            return v;
        }
        p = amp;
    }
    return NULL;
}

/* 1 when the key=value string `s` has a key `key` (its value, unquoted, not unescaped, goes
 * to *ret_val and *ret_len), 0 when it has none, -1 when it is not key=value (libpq refuses it
 * with its own message). */
static int kv_find(const char *s, const char *key, const char **ret_val, size_t *ret_len)
{
    const char *p = s;

    for (;;) {
        const char *k, *v;
        size_t klen;
        p += strspn(p, " \t\n\r\f\v");
        if (!*p)
            return 0;
        k = p;
        p += strcspn(p, "= \t\n\r\f\v");
        klen = (size_t)(p - k);
        p += strspn(p, " \t\n\r\f\v");
        if (*p != '=')
            return -1;
        p++;
        p += strspn(p, " \t\n\r\f\v");
        if (*p == '\'') {
            v = ++p;
            while (*p && *p != '\'')
                p += p[0] == '\\' && p[1] ? 2 : 1;
        } else {
            v = p;
            p += strcspn(p, " \t\n\r\f\v");
        }
        if (klen == strlen(key) && strncmp(k, key, klen) == 0) {
            *ret_val = v;
            *ret_len = (size_t)(p - v);
            return 1;
        }
        if (*p == '\'')
            p++;
    }
}

/* Whether a comma-separated list of ports holds the pooler's. */
static bool ports_pooler(const char *v, size_t len)
{
    size_t n = strlen(POOLER_PORT);

    while (len > 0) {
        size_t item = 0;
        while (item < len && v[item] != ',')
            item++;
        if (item == n && strncmp(v, POOLER_PORT, n) == 0)
            return true;
        v += item + (item < len);
        len -= item + (item < len);
    }
    return false;
}

/* Whether a URL's hosts (host:port,[v6]:port,... after the userinfo) name the pooler's port. */
static bool hosts_pooler(const char *s, size_t from, size_t to)
{
    const char *at = NULL;
    const char *p;

    for (size_t i = from; i < to; i++)
        if (s[i] == '@')
            at = s + i;
    p = at ? at + 1 : s + from;
    while (p < s + to) {
        const char *comma = memchr(p, ',', (size_t)(s + to - p)), *colon = NULL;
        if (!comma)
            comma = s + to;
        for (const char *q = *p == '[' ? memchr(p, ']', (size_t)(comma - p)) : p; q && q < comma;
             q++)
            if (*q == ':')
                colon = q;
        if (colon && ports_pooler(colon + 1, (size_t)(comma - colon - 1)))
            return true;
        p = comma + (comma < s + to);
    }
    return false;
}

const char *pgurl_pooler(const char *conninfo)
{
    struct url_parts u;
    const char *v;
    size_t len;

    if (!conninfo)
        return NULL;
    if (!url_split(conninfo, &u))
        return kv_find(conninfo, "port", &v, &len) > 0 && ports_pooler(v, len) ? "port " POOLER_PORT
                                                                               : NULL;
    v = param_value(conninfo, u.query, u.end, "pgbouncer", &len);
    if (v && len == 4 && strncmp(v, "true", 4) == 0)
        return "pgbouncer=true";
    if (hosts_pooler(conninfo, u.auth, u.auth_end))
        return "port " POOLER_PORT;
    v = param_value(conninfo, u.query, u.end, "port", &len);
    return v && ports_pooler(v, len) ? "port " POOLER_PORT : NULL;
}

char *pgurl_libpq(const char *conninfo, const char *app)
{
    struct url_parts u;
    size_t len, n = strlen(conninfo), o;
    const char *v;
    char *out;

    if (!url_split(conninfo, &u)) {
        if (kv_find(conninfo, "application_name", &v, &len) != 0)
            return xstrdup(conninfo); /* named, or not key=value: as it is */
        /* in front: after a trailing "key=", libpq would read it as that key's value */
        return xasprintf("application_name='%s'%s%s", app, *conninfo ? " " : "", conninfo);
    }
    out = xmalloc(n + strlen(app) + sizeof("?application_name="));
    memcpy(out, conninfo, u.query);
    o = u.query;
    for (const char *p = conninfo + u.query, *stop = conninfo + u.end; p < stop;) {
        const char *name = p + 1, *amp = memchr(name, '&', (size_t)(stop - name));
        if (!amp)
            amp = stop;
        if (!param_prisma(name, amp) && amp > name) {
            out[o] = o == u.query ? '?' : '&';
            o++;
            memcpy(out + o, name, (size_t)(amp - name));
            o += (size_t)(amp - name);
        }
        p = amp;
    }
    if (!param_value(conninfo, u.query, u.end, "application_name", &len))
        o += (size_t)sprintf(out + o, "%capplication_name=%s", o == u.query ? '?' : '&', app);
    memcpy(out + o, conninfo + u.end, n - u.end + 1);
    return out;
}

void pgurl_roles(const char *url, const char *pool_url, struct pgurl_roles *ret)
{
    bool url_pooler = url && pgurl_pooler(url);

    ret->pool = pool_url ? pool_url : url;
    ret->session = url && !url_pooler ? url : NULL;
    ret->pooled = pool_url || url_pooler;
}

const char *pgurl_no_session(const char *url, const char *pool_url, const char *what, char *buf,
                             size_t size)
{
    const char *mark = url ? pgurl_pooler(url) : NULL;

    if (mark)
        (void)snprintf(buf, size,
                       "%s a direct session to PostgreSQL, and DATABASE_URL (database.url) "
                       "is a transaction-mode pooler (%s): set it to the direct URL (port 5432 "
                       "on Supabase) and give the pooler's in DATABASE_POOL_URL "
                       "(database.pool_url)",
                       what, mark);
    else if (!url && pool_url)
        (void)snprintf(buf, size,
                       "%s a direct session to PostgreSQL: set DATABASE_URL (database.url) "
                       "to the direct URL (port 5432 on Supabase); DATABASE_POOL_URL "
                       "(database.pool_url) goes through a transaction-mode pooler",
                       what);
    else
        (void)snprintf(buf, size, "%s database.url or DATABASE_URL", what);
    return buf;
}
