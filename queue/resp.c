/* resp.c - RESP command text (resp.h): the size summed first, then one allocation filled. */
#include "queue/resp.h"

#include <assert.h>
#include <string.h>

#include "lib/xalloc.h"

static size_t digits(size_t n)
{
    size_t d = 1;

    while (n >= 10) {
        n /= 10;
        d++;
    }
    return d;
}

/* `c` then n in decimal then CR LF at p; returns the end. */
static char *header(char *p, char c, size_t n)
{
    size_t d = digits(n);

    *p++ = c;
    for (size_t i = d; i-- > 0; n /= 10)
        p[i] = (char)('0' + n % 10);
    p += d;
    *p++ = '\r';
    *p++ = '\n';
    return p;
}

char *resp_format(int argc, const char *const *argv, const size_t *argvlen, size_t *len)
{
    size_t total = 1 + digits((size_t)argc) + 2;
    char *out, *p;

    assert(argc > 0);
    for (int i = 0; i < argc; i++) {
        size_t n = argvlen ? argvlen[i] : strlen(argv[i]);
        total += 1 + digits(n) + 2 + n + 2;
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
