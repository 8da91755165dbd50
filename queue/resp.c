/* resp.c - RESP command text (resp.h): the size summed first, then one allocation filled. */
#include "queue/resp.h"

#include <assert.h>
#include <string.h>

#include "lib/decimal.h"
#include "lib/xalloc.h"

/* `c` then n in decimal then CR LF at p; returns the end. */
static char *header(char *p, char c, size_t n)
{
    *p++ = c;
    p += decimal_put(p, n); /* its NUL is overwritten next */
    *p++ = '\r';
    *p++ = '\n';
    return p;
}

char *resp_format(int argc, const char *const *argv, const size_t *argvlen, size_t *len)
{
    size_t total = 1 + decimal_digits((size_t)argc) + 2;
    char *out, *p;

    assert(argc > 0);
    for (int i = 0; i < argc; i++) {
        size_t n = argvlen ? argvlen[i] : strlen(argv[i]);
        total += 1 + decimal_digits(n) + 2 + n + 2;
    }
    out = xmalloc(total);
    p = header(out, '*', (size_t)argc);
    for (int i = 0; i < argc; i++) {
        size_t n = argvlen ? argvlen[i] : strlen(argv[i]);
        p = header(p, '$', n);
        if (n)
            memcpy(p, argv[i], n);
        p += n;
        *p++ = '\r';
        *p++ = '\n';
    }
    assert((size_t)(p - out) == total);
    *len = total;
    return out;
}
