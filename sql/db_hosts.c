/* db_hosts.c - a conninfo's hosts taken apart, its settings put back together with
 * hostaddr= the addresses looked up for its host names, and libpq's account of the attempts
 * at them on one line (pure: no I/O, no lookup). */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <libpq-fe.h>

#include "lib/strbuf.h"
#include "lib/urlmask.h"
#include "lib/xalloc.h"
#include "sql/db_int.h"

/* `s` split at ',' as libpq splits host, hostaddr and port lists (empty elements kept). */
static char **list_split(const char *s, unsigned *ret_n)
{
    unsigned n = 1;
    char **out;

    for (const char *p = s; *p; p++)
        n += *p == ',';
    out = xcalloc(n, sizeof(*out));
    for (unsigned i = 0; i < n; i++) {
        size_t len = strcspn(s, ",");
        out[i] = xstrndup(s, len);
        s += len + (s[len] == ',');
    }
    *ret_n = n;
    return out;
}

static void list_free(char **list, unsigned n)
{
    for (unsigned i = 0; list && i < n; i++)
        free(list[i]);
    free(list);
}

/* A host libpq would look up: not empty, not a socket directory ('/...', or '@...' for an
 * abstract socket), not an IPv4 or IPv6 address. */
static bool host_is_name(const char *host)
{
    struct addrinfo hints = {.ai_flags = AI_NUMERICHOST, .ai_socktype = SOCK_STREAM};
    struct addrinfo *ais = NULL;

    if (!host[0] || host[0] == '/' || host[0] == '@')
        return false;
    if (getaddrinfo(host, NULL, &hints, &ais) == 0) { /* AI_NUMERICHOST: never a lookup */
        freeaddrinfo(ais);
        return false;
    }
    return true;
}

struct hosts *hosts_new(const PQconninfoOption *opts)
{
    struct hosts *h = xcalloc(1, sizeof(*h));
    const char *host, *port;
    unsigned n = 0;

    for (const PQconninfoOption *o = opts; o->keyword; o++)
        n += o->val && o->val[0];
    h->keys = xcalloc(n + 1, sizeof(*h->keys));
    h->vals = xcalloc(n + 1, sizeof(*h->vals));
    for (const PQconninfoOption *o = opts; o->keyword; o++) {
        if (!o->val || !o->val[0])
            continue;
        h->keys[h->nkeys] = xstrdup(o->keyword);
        h->vals[h->nkeys++] = xstrdup(o->val);
    }
    host = hosts_get(h, "host");
    port = hosts_get(h, "port");
    if (host) {
        h->host = list_split(host, &h->nhost);
        h->named = xcalloc(h->nhost, sizeof(*h->named));
        for (unsigned i = 0; i < h->nhost; i++)
            h->lookup |= h->named[i] = host_is_name(h->host[i]);
    }
    if (port)
        h->port = list_split(port, &h->nport);
    h->lookup = h->lookup && !hosts_get(h, "hostaddr"); /* the caller's hostaddr= wins */
    return h;
}

const char *hosts_get(const struct hosts *h, const char *key)
{
    for (unsigned i = 0; i < h->nkeys; i++)
        if (strcmp(h->keys[i], key) == 0)
            return h->vals[i];
    return NULL;
}

void hosts_free(struct hosts *h)
{
    if (!h)
        return;
    list_free(h->keys, h->nkeys);
    list_free(h->vals, h->nkeys);
    list_free(h->host, h->nhost);
    list_free(h->port, h->nport);
    free(h->named);
    free(h);
}

/* Appends element number `n` (0 first) of a comma-separated list. */
static void list_add(struct strbuf *sb, unsigned n, const char *s)
{
    if (n > 0)
        strbuf_add(sb, ",", 1);
    strbuf_add(sb, s, strlen(s));
}

int hosts_splice(const struct hosts *h, char *const *const *addrs, struct conn_params *ret)
{
    struct strbuf host = {0}, port = {0}, hostaddr = {0};
    bool per_host_port = h->nport == h->nhost;
    unsigned n = 0, k = 0;

    for (unsigned i = 0; i < h->nhost; i++) {
        char *const *a = addrs[i];
        for (unsigned j = 0; a ? a[j] != NULL : j < 1; j++, n++) {
            list_add(&host, n, h->host[i]);
            if (per_host_port)
                list_add(&port, n, h->port[i]);
            list_add(&hostaddr, n, a ? a[j] : ""); /* "": libpq takes host= as it is */
        }
    }
    if (n == 0) {
        free(host.p);
        free(port.p);
        free(hostaddr.p);
        return -ENOENT;
    }
    ret->keys = xcalloc(h->nkeys + 2, sizeof(*ret->keys));
    ret->vals = xcalloc(h->nkeys + 2, sizeof(*ret->vals));
    for (unsigned i = 0; i < h->nkeys; i++, k++) {
        ret->keys[k] = xstrdup(h->keys[i]);
        if (strcmp(h->keys[i], "host") == 0) {
            ret->vals[k] = host.p;
            host.p = NULL;
        } else if (strcmp(h->keys[i], "port") == 0 && per_host_port) {
            ret->vals[k] = port.p;
            port.p = NULL;
        } else {
            ret->vals[k] = xstrdup(h->vals[i]);
        }
    }
    ret->keys[k] = xstrdup("hostaddr");
    ret->vals[k] = hostaddr.p;
    free(host.p);
    free(port.p);
    return 0;
}

void conn_params_clear(struct conn_params *p)
{
    for (unsigned i = 0; p->keys && p->keys[i]; i++) {
        free(p->keys[i]);
        free(p->vals[i]);
    }
    free(p->keys);
    free(p->vals);
    p->keys = p->vals = NULL;
}

/* libpq tells of each host and address it tried on a line of its own ("connection to server
 * at ... failed: ..."), each followed by hints starting with a tab: the reason that matters
 * (a certificate refused at the second address) is rarely on the first line. */
const char *db_connect_error(const char *msg, const char *conninfo, char *buf, size_t size)
{
    char line[DB_ERROR_MAX];
    size_t n = 0;

    assert(size >= URL_MASK_MIN);
    buf[0] = '\0';
    while (*msg) {
        size_t len = strcspn(msg, "\n");
        if (len > 0 && msg[0] != '\t' && n + 3 < size) {
            (void)url_mask_msg(msg, conninfo, line, sizeof(line)); /* its first line */
            n += (size_t)snprintf(buf + n, size - n, "%s%s", n ? "; " : "", line);
            n = n < size ? n : size - 1;
        }
        msg += len + (msg[len] == '\n');
    }
    return buf;
}
