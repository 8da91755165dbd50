/* xalloc.c - allocation that aborts with a message when memory runs out. */
#include "lib/xalloc.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

/* Async-signal-safe and allocation-free: memory is what just ran out. */
static _Noreturn void xalloc_fail(size_t nmemb, size_t size)
{
    char msg[128];
    int n;

    n = snprintf(msg, sizeof(msg), "fatal: out of memory allocating %zu * %zu bytes; aborting\n",
                 nmemb, size);
    if (n > 0)
        (void)!write(STDERR_FILENO, msg, (size_t)n < sizeof(msg) ? (size_t)n : sizeof(msg) - 1);
    abort();
}

void *xmalloc(size_t size)
{
    void *p = malloc(size ? size : 1);

    if (!p)
        xalloc_fail(1, size);
    return p;
}

void *xcalloc(size_t nmemb, size_t size)
{
    void *p;

    if (nmemb == 0 || size == 0)
        nmemb = size = 1;
    p = calloc(nmemb, size);
    if (!p)
        xalloc_fail(nmemb, size);
    return p;
}

void *xreallocarray(void *ptr, size_t nmemb, size_t size)
{
    size_t total;
    void *p;

    if (size && nmemb > SIZE_MAX / size)
        xalloc_fail(nmemb, size);
    total = nmemb * size;
    p = realloc(ptr, total > 0 ? total : 1);
    if (!p)
        xalloc_fail(nmemb, size);
    return p;
}

char *xmemdup(const void *p, size_t len)
{
    char *s;

    if (len == SIZE_MAX)
        xalloc_fail(1, len);
    s = xmalloc(len + 1);
    if (len)
        memcpy(s, p, len);
    s[len] = '\0';
    return s;
}

char *xstrdup(const char *s)
{
    return xmemdup(s, strlen(s));
}

char *xstrndup(const char *s, size_t n)
{
    return xmemdup(s, strnlen(s, n));
}

char *xvasprintf(const char *fmt, va_list ap)
{
    char *s = NULL;

    if (vasprintf(&s, fmt, ap) < 0)
        xalloc_fail(1, strlen(fmt));
    return s;
}

char *xasprintf(const char *fmt, ...)
{
    va_list ap;
    char *s;

    va_start(ap, fmt);
    s = xvasprintf(fmt, ap);
    va_end(ap);
    return s;
}

void xalloc_install(void)
{
    json_set_alloc_funcs(xmalloc, free);
}
