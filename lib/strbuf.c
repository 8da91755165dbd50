/* strbuf.c - a growing NUL-terminated byte string. */
#include "lib/strbuf.h"

#include <string.h>

#include "lib/xalloc.h"

#define STRBUF_FIRST 256 /* bytes allocated by the first append, at least */

void strbuf_add(struct strbuf *b, const void *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : STRBUF_FIRST;

        while (cap < b->len + n + 1)
            cap *= 2;
        b->p = xreallocarray(b->p, cap, 1);
        b->cap = cap;
    }
    if (n)
        memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}
