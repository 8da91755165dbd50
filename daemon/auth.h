/* auth.h - the dashboard's bearer token, checked in constant time (pure). */
#ifndef AUTH_H
#define AUTH_H

#include <stdbool.h>
#include <stddef.h>

enum auth_result {
    AUTH_OK,        /* the header carries the token */
    AUTH_READ_ONLY, /* no token is configured: every action is refused */
    AUTH_MISSING,   /* no "Authorization: Bearer ..." header */
    AUTH_WRONG,     /* a bearer token that is not the one configured */
};

/* Checks an Authorization header value (NULL when absent) against `token` (NULL or "" when
 * none is configured). The scheme "Bearer" is case-insensitive; the comparison takes the
 * same time for every token of a given length, wherever the first difference is. */
enum auth_result auth_check(const char *token, const char *authorization);

/* Whether `given` (`given_len` bytes) equals `secret`: one pass over all of `secret`
 * whatever `given` holds, with no early exit. */
bool auth_equal(const char *given, size_t given_len, const char *secret, size_t secret_len);

/* "ok", "read-only", "missing token", "wrong token": for logs. Static. */
const char *auth_result_name(enum auth_result r);

#endif
