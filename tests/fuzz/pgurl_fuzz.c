/* pgurl_fuzz.c - libFuzzer target: any text, and the text after a postgresql:// scheme, through
 * pgurl_libpq(), pgurl_pooler(), pgurl_roles() and pgurl_no_session(). pgurl_libpq() never
 * grows a URL by more than the application_name it adds, leaves none of Prisma's parameters,
 * and changes nothing when run again on its own output. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sql/pgurl.h"

#define TEXT_MAX 4096

static void fuzz_assert(int ok, const char *what, const char *text)
{
    if (ok)
        return;
    (void)fprintf(stderr, "pgurl_fuzz: %s: [%s]\n", what, text);
    abort();
}

/* No parameter of the query (from the first '?', split at '&') is one of Prisma's. */
static void check_params(const char *url, const char *text)
{
    static const char *const prisma[] = {"pgbouncer", "connection_limit", "pool_timeout",
                                         "socket_timeout", "statement_cache_size"};
    const char *p = strchr(url, '?');

    while (p) {
        p++;
        for (size_t i = 0; i < sizeof(prisma) / sizeof(prisma[0]); i++) {
            size_t n = strlen(prisma[i]);
            fuzz_assert(strncmp(p, prisma[i], n) != 0 ||
                            (p[n] != '=' && p[n] != '&' && p[n] != '\0'),
                        "a parameter of Prisma's left", text);
        }
        p = strchr(p, '&');
    }
}

static void check(const char *text)
{
    char *once = pgurl_libpq(text, "nexusd"), *twice = pgurl_libpq(once, "nexusd");
    struct pgurl_roles roles;
    char buf[64];
    bool url = strncmp(text, "postgresql://", 13) == 0 || strncmp(text, "postgres://", 11) == 0;

    fuzz_assert(strcmp(once, twice) == 0, "not the same when run again", text);
    fuzz_assert(strlen(once) <= strlen(text) + sizeof(" application_name='nexusd'"),
                "grew by more than the name", text);
    if (url && !strchr(text, '#'))
        check_params(once, text);
    (void)pgurl_pooler(text);
    (void)pgurl_pooler(once);
    pgurl_roles(text, once, &roles);
    fuzz_assert(roles.pool == once && roles.pooled, "pool_url carries the pool", text);
    (void)pgurl_no_session(text, NULL, "migrations need", buf, sizeof(buf));
    fuzz_assert(strlen(buf) < sizeof(buf), "longer than the buffer", text);
    free(once);
    free(twice);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text;

    if (size > TEXT_MAX)
        return 0;
    text = malloc(size + sizeof("postgresql://"));
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    if (strlen(text) == size)
        check(text);
    memcpy(text, "postgresql://", 13);
    memcpy(text + 13, data, size);
    text[13 + size] = '\0';
    if (strlen(text) == 13 + size)
        check(text);
    free(text);
    return 0;
}
