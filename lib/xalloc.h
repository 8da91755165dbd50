/* xalloc.h - allocation that never returns NULL: out of memory aborts with a message.
 *
 * nexusd has one out-of-memory policy, as tmux's xmalloc: print what could not be allocated
 * and abort. Nothing is lost by it (a job being run stays in its in-flight list and another
 * process, or this one restarted by systemd, recovers it), and no caller needs a branch
 * for NULL. jansson allocates through it (xalloc_install()); libev aborts with a message by
 * itself; hiredis 0.14 cannot be given an allocator, so its NULL returns are still checked.
 * Every function here returns memory the caller owns, released with free(). */
#ifndef XALLOC_H
#define XALLOC_H

#include <stdarg.h>
#include <stddef.h>

void *xmalloc(size_t size);
/* Zeroed; also aborts when nmemb * size overflows. */
void *xcalloc(size_t nmemb, size_t size);
/* As realloc(ptr, nmemb * size); aborts on overflow. */
void *xreallocarray(void *ptr, size_t nmemb, size_t size);
char *xstrdup(const char *s);
/* At most `n` bytes of `s`, NUL-terminated. */
char *xstrndup(const char *s, size_t n);
/* `len` bytes of `p` and a NUL after them. */
char *xmemdup(const void *p, size_t len);
/* The formatted string (like asprintf). */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *xvasprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

/* Makes jansson allocate with the policy above (call once, before any JSON is parsed):
 * jansson 2.14 can corrupt a string it is parsing when an allocation fails. */
void xalloc_install(void);

#endif
