/* pgurl.h - PostgreSQL URLs as apps write them for Prisma and Supabase, made fit for libpq,
 * the marks of a transaction-mode pooler in them, and which URL carries what (pure). */
#ifndef PGURL_H
#define PGURL_H

#include <stdbool.h>
#include <stddef.h>

/* `conninfo` for libpq: in a postgres:// or postgresql:// URL, the query parameters of
 * Prisma's that libpq refuses as unknown (pgbouncer, connection_limit, pool_timeout,
 * socket_timeout, statement_cache_size) are taken out; and application_name=`app` is added
 * when `conninfo` (a URL or a well-formed key=value string) names none, so that the name travels in
 * the start-up packet (a pooler keeps it per client) instead of a session SET. Caller owns the
 * result, release with free(). */
char *pgurl_libpq(const char *conninfo, const char *app);

/* What marks `conninfo` as a transaction-mode pooler: "pgbouncer=true" (the query parameter
 * Supabase's and Prisma's URLs carry) or "port 6543" (Supabase's pooler port, in a URL's
 * authority or its port= parameter, or a key=value string's port); NULL when nothing does.
 * Static text. */
const char *pgurl_pooler(const char *conninfo);

/* Which URL carries what, from database.url and database.pool_url (each NULL when unset). */
struct pgurl_roles {
    const char *pool;    /* the pool's statements: pool_url, else url; NULL when neither */
    const char *session; /* LISTEN and migrations: url, unless it is a pooler; else NULL */
    bool pooled;         /* `pool` goes through a transaction-mode pooler: pool_url is, and so
                            is url when pgurl_pooler() marks it */
};

/* Borrowed pointers into `url` and `pool_url`, valid as they are. */
void pgurl_roles(const char *url, const char *pool_url, struct pgurl_roles *ret);

/* Why what needs a session has none (roles.session NULL): one sentence naming the URL to
 * give, opening with `what`, a subject and its verb ("migrations need"), written to buf.
 * Returns buf. */
const char *pgurl_no_session(const char *url, const char *pool_url, const char *what, char *buf,
                             size_t size);

#endif
