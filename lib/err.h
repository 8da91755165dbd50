/* err.h - an error code plus one sentence saying what went wrong, where, and why. */
#ifndef ERR_H
#define ERR_H

#include <stddef.h>

#define ERR_MSG_MAX 512

struct err {
    int code;               /* negative errno, 0 when unset */
    char msg[ERR_MSG_MAX];  /* NUL-terminated; empty when unset */
};

/* Stores the formatted sentence (truncated to ERR_MSG_MAX) and returns `code`, so that
 * callers write `return err_set(err, -EINVAL, "...")`. `err` may be NULL. */
int err_set(struct err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Prefixes the stored sentence with the formatted text and ": ". Returns err->code. */
int err_prefix(struct err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A value for the "(got ...)" of a sentence: the `len` bytes at `s` (NULs included) written to
 * `buf` in double quotes, with quotes, backslashes and control characters escaped (\" \\
 * \xNN), cut after `max` bytes (on a UTF-8 character boundary) or where `buf` is full, a cut
 * shown as "..." before the closing quote. `size` >= 16. Returns `buf`. */
const char *err_quote(const char *s, size_t len, size_t max, char *buf, size_t size);

#endif
