/* db_addr.c - before each connection attempt, the conninfo's host names looked up off the
 * loop (lib/resolve.h) and handed to libpq as hostaddr=: PQconnectStart() would look them up
 * itself, synchronously, freezing the loop for as long as a slow nameserver takes. */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <ev.h>

#include "lib/resolve.h"
#include "lib/xalloc.h"
#include "sql/db_int.h"

/* One attempt's lookups, one host at a time. */
struct addr_lookup {
    struct resolve *resolving; /* the lookup running, or NULL */
    unsigned at;               /* the host being looked up */
    char **addrs[];            /* per host: NULL (as it is), or its addresses; owned */
};

static void lookup_free(struct addr_lookup *lk, unsigned nhost)
{
    for (unsigned i = 0; i < nhost; i++) {
        for (unsigned j = 0; lk->addrs[i] && lk->addrs[i][j]; j++)
            free(lk->addrs[i][j]);
        free(lk->addrs[i]);
    }
    free(lk);
}

void addr_cancel(struct conn *c)
{
    struct addr_lookup *lk = c->lookup;

    if (!lk)
        return;
    if (lk->resolving)
        resolve_cancel(lk->resolving);
    c->lookup = NULL;
    lookup_free(lk, c->pool->hosts->nhost);
}

/* The distinct addresses of `ais` as text, at most HOST_ADDRS_MAX, NULL-terminated. */
static char **addrs_of(const struct addrinfo *ais)
{
    char **out = xcalloc(HOST_ADDRS_MAX + 1, sizeof(*out));
    char text[NI_MAXHOST];
    unsigned n = 0;

    for (const struct addrinfo *ai = ais; ai && n < HOST_ADDRS_MAX; ai = ai->ai_next) {
        bool seen = false;
        if (getnameinfo(ai->ai_addr, ai->ai_addrlen, text, sizeof(text), NULL, 0,
                        NI_NUMERICHOST) != 0)
            continue;
        for (unsigned j = 0; j < n && !seen; j++)
            seen = strcmp(out[j], text) == 0;
        if (!seen)
            out[n++] = xstrdup(text);
    }
    return out;
}

/* Every host is looked up: connect to the addresses found, or fail with `why`. */
static void lookup_done(struct conn *c, const char *why)
{
    struct conn_params params;
    int r = hosts_splice(c->pool->hosts, (char *const *const *)c->lookup->addrs, &params);

    addr_cancel(c);
    c->state = CONN_WAIT;
    if (r < 0) {
        conn_lost(c, why);
        return;
    }
    conn_connect_params(c, (const char *const *)params.keys, (const char *const *)params.vals);
    conn_params_clear(&params);
}

static void lookup_next(struct conn *c, const char *why);

static void lookup_on_answer(struct addrinfo *ais, int gai_error, int sys_errno, void *arg)
{
    struct conn *c = arg;
    struct db_pool *pool = c->pool;
    struct addr_lookup *lk = c->lookup;
    char why[WHY_MAX];

    pool->depth++;
    lk->resolving = NULL; /* it frees itself */
    lk->addrs[lk->at] = addrs_of(ais);
    why[0] = '\0';
    if (!lk->addrs[lk->at][0])
        (void)snprintf(why, sizeof(why), "cannot resolve '%s': %s", pool->hosts->host[lk->at],
                       ais                      ? "no usable address"
                       : gai_error == EAI_SYSTEM ? strerror(sys_errno)
                                                 : gai_strerror(gai_error));
    if (ais)
        freeaddrinfo(ais);
    lk->at++;
    lookup_next(c, why);
    pool_leave(pool);
}

/* Starts the lookup of the next host name, or ends; `why` is the last failure, if any. */
static void lookup_next(struct conn *c, const char *why)
{
    const struct hosts *h = c->pool->hosts;
    struct addr_lookup *lk = c->lookup;
    const char *port;

    while (lk->at < h->nhost && !h->named[lk->at])
        lk->at++;
    if (lk->at == h->nhost) {
        lookup_done(c, why && *why ? why : "no host to connect to");
        return;
    }
    port = h->nport == h->nhost ? h->port[lk->at] : h->nport == 1 ? h->port[0] : "";
    if (!port[0])
        port = "5432"; /* only the addresses are used */
    lk->resolving = resolve_start(c->pool->loop, h->host[lk->at], port, lookup_on_answer, c);
}

void addr_connect(struct conn *c)
{
    const struct hosts *h = c->pool->hosts;

    if (!h->lookup) {
        conn_connect_params(c, (const char *const *)h->keys, (const char *const *)h->vals);
        return;
    }
    c->lookup = xcalloc(1, sizeof(*c->lookup) + h->nhost * sizeof(c->lookup->addrs[0]));
    c->state = CONN_RESOLVING;
    lookup_next(c, NULL);
}
