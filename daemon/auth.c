/* auth.c - the dashboard's bearer token. */
#include "daemon/auth.h"

#include <string.h>
#include <strings.h>

bool auth_equal(const char *given, size_t given_len, const char *secret, size_t secret_len)
{
    volatile unsigned char diff = given_len != secret_len;

    if (secret_len == 0)
        return false;
    /* every byte of the secret against a byte of `given` (cycled): the time depends on the
     * secret's length only */
    for (size_t i = 0; i < secret_len; i++)
        diff |= (unsigned char)secret[i] ^ (given_len ? (unsigned char)given[i % given_len] : 0);
    return diff == 0;
}

enum auth_result auth_check(const char *token, const char *authorization)
{
    static const char scheme[] = "Bearer ";
    const char *given;
    size_t len;

    if (!token || !*token)
        return AUTH_READ_ONLY;
    if (!authorization || strncasecmp(authorization, scheme, sizeof(scheme) - 1) != 0)
        return AUTH_MISSING;
    given = authorization + sizeof(scheme) - 1;
    while (*given == ' ')
        given++;
    len = strlen(given);
    while (len > 0 && (given[len - 1] == ' ' || given[len - 1] == '\t'))
        len--;
    if (len == 0)
        return AUTH_MISSING;
    return auth_equal(given, len, token, strlen(token)) ? AUTH_OK : AUTH_WRONG;
}

const char *auth_result_name(enum auth_result r)
{
    static const char *const names[] = {"ok", "read-only", "missing token", "wrong token"};

    return names[r];
}
