/* strbuf.h - a growing NUL-terminated byte string (pure). */
#ifndef STRBUF_H
#define STRBUF_H

#include <stddef.h>

/* Starts zeroed (struct strbuf b = {0}); `p` stays NULL until the first append. Caller owns
 * `p`, release with free(). */
struct strbuf {
    char *p;    /* NUL-terminated once anything (even 0 bytes) was appended */
    size_t len; /* bytes before that NUL */
    size_t cap; /* bytes allocated, > len once p is set */
};

/* Appends `n` bytes of `s` (NUL bytes among them are kept), growing by doubling. */
void strbuf_add(struct strbuf *b, const void *s, size_t n);

#endif
