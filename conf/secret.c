/* secret.c - one way to read every secret: an environment variable or a file's first line. */
#include "secret.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../daemon/err.h"

#define SECRET_READ_MAX 65536 /* bytes of a file looked at; its first line must fit */

/* `what` ("NEXUS_HTTP_TOKEN" or "FILE:LINE: the secret in http.token_file") must be
 * min..max printable ASCII bytes, spaces only where allowed. */
static int secret_check(const struct secret_src *src, const char *s, size_t len, const char *what,
                        struct err *err)
{
    if (len < src->min || len > src->max)
        return err_set(err, -EINVAL, "%s must be %zu..%zu bytes (got %zu)", what, src->min,
                       src->max, len);
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < (src->spaces ? 0x20 : 0x21) || (unsigned char)s[i] >= 0x7f)
            return err_set(err, -EINVAL, "%s must be printable ASCII%s (byte %zu is 0x%02x)",
                           what, src->spaces ? "" : " without spaces", i + 1,
                           (unsigned char)s[i]);
    return 0;
}

static int secret_copy(const char *s, size_t len, char **ret, struct err *err)
{
    char *copy = malloc(len + 1);

    if (!copy)
        return err_set(err, -ENOMEM, "out of memory");
    memcpy(copy, s, len);
    copy[len] = '\0';
    *ret = copy;
    return 0;
}

static int secret_read(const struct secret_src *src, char **ret, struct err *err)
{
    char where[ERR_MSG_MAX], what[ERR_MSG_MAX];
    char *buf = malloc(SECRET_READ_MAX + 1);
    FILE *f;
    size_t len;
    int r;

    (void)snprintf(where, sizeof(where), "%s%s%s", src->where ? src->where : "",
                   src->where ? ": " : "", src->setting);
    if (!buf)
        return err_set(err, -ENOMEM, "out of memory");
    f = fopen(src->path, "re");
    if (!f) {
        r = -errno;
        free(buf);
        return err_set(err, r, "%s cannot be read: %s: %s", where, src->path, strerror(-r));
    }
    len = fread(buf, 1, SECRET_READ_MAX, f);
    r = ferror(f) ? -EIO : 0;
    (void)fclose(f);
    if (r == 0) {
        buf[len] = '\0';
        len = strcspn(buf, "\r\n");
        (void)snprintf(what, sizeof(what), "%s%sthe secret in %s", src->where ? src->where : "",
                       src->where ? ": " : "", src->setting);
        r = secret_check(src, buf, len, what, err);
        if (r == 0)
            r = secret_copy(buf, len, ret, err);
    } else {
        (void)err_set(err, r, "%s cannot be read: %s: read error", where, src->path);
    }
    explicit_bzero(buf, SECRET_READ_MAX + 1);
    free(buf);
    return r;
}

int secret_get(const struct secret_src *src, char **ret_secret, struct err *err)
{
    char *secret = NULL;
    int r = 0;

    if (src->env_value && *src->env_value) {
        r = secret_check(src, src->env_value, strlen(src->env_value), src->env_name, err);
        if (r == 0)
            r = secret_copy(src->env_value, strlen(src->env_value), &secret, err);
    } else if (src->path && *src->path) {
        r = secret_read(src, &secret, err);
    }
    if (r == 0)
        *ret_secret = secret;
    return r;
}

void secret_free(char *secret)
{
    if (!secret)
        return;
    explicit_bzero(secret, strlen(secret));
    free(secret);
}
