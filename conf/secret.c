/* secret.c - one way to read every secret: an environment variable or a file's first line. */
#include "conf/secret.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lib/err.h"
#include "lib/xalloc.h"

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
            return err_set(err, -EINVAL, "%s must be printable ASCII%s (byte %zu is 0x%02x)", what,
                           src->spaces ? "" : " without spaces", i + 1, (unsigned char)s[i]);
    return 0;
}

/* libpq's rule for private key files: no access for group or others, except that a file
 * owned by root may be readable by its group (root gives a service's group the file). */
static int secret_mode_check(FILE *f, const char *where, const char *path, struct err *err)
{
    struct stat st;
    mode_t extra;

    if (fstat(fileno(f), &st) < 0)
        return err_set(err, -errno, "%s cannot be read: %s: %s", where, path, strerror(errno));
    extra = st.st_mode & (S_IRWXG | S_IRWXO);
    if (extra == 0 || (st.st_uid == 0 && extra == S_IRGRP))
        return 0;
    return err_set(err, -EPERM, "%s: %s: mode %04o allows group/other %s; chmod 600", where, path,
                   (unsigned)(st.st_mode & 07777), extra & (S_IRGRP | S_IROTH) ? "read" : "access");
}

static int secret_read(const struct secret_src *src, char **ret, struct err *err)
{
    char where[ERR_MSG_MAX], what[ERR_MSG_MAX];
    char *buf = xmalloc(SECRET_READ_MAX + 1);
    FILE *f;
    size_t len;
    int r;

    (void)snprintf(where, sizeof(where), "%s%s%s", src->where ? src->where : "",
                   src->where ? ": " : "", src->setting);
    f = fopen(src->path, "re");
    if (!f) {
        r = -errno;
        free(buf);
        return err_set(err, r, "%s cannot be read: %s: %s", where, src->path, strerror(-r));
    }
    r = secret_mode_check(f, where, src->path, err);
    if (r < 0) {
        (void)fclose(f);
        free(buf);
        return r;
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
            *ret = xmemdup(buf, len);
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
            secret = xstrdup(src->env_value);
    } else if (src->path && *src->path) {
        r = secret_read(src, &secret, err);
    }
    if (r == 0)
        *ret_secret = secret;
    return r;
}

/* The credential file `dir`/`name`: -ENOENT when there is none, else its content. */
static int credential_read(const char *dir, const char *name, char **ret, struct err *err)
{
    char path[4096];
    char *buf = NULL;
    size_t len = 0;
    FILE *f;
    int r = 0;

    if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
        return err_set(err, -ENAMETOOLONG, "%s: $CREDENTIALS_DIRECTORY is too long", name);
    f = fopen(path, "re");
    if (!f)
        return errno == ENOENT
                   ? -ENOENT
                   : err_set(err, -errno, "%s cannot be read from the credential %s: %s", name,
                             path, strerror(errno));
    buf = xmalloc(SECRET_READ_MAX + 1);
    len = fread(buf, 1, SECRET_READ_MAX + 1, f);
    if (ferror(f))
        r = err_set(err, -EIO, "%s cannot be read from the credential %s: read error", name, path);
    else if (len > SECRET_READ_MAX)
        r = err_set(err, -EINVAL, "%s: the credential %s is larger than %d bytes", name, path,
                    SECRET_READ_MAX);
    else if (memchr(buf, '\0', len))
        r = err_set(err, -EINVAL, "%s: the credential %s holds a NUL byte", name, path);
    (void)fclose(f);
    while (r == 0 && len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
        len--;
    if (r == 0 && len > 0)
        *ret = xmemdup(buf, len);
    explicit_bzero(buf, SECRET_READ_MAX + 1);
    free(buf);
    return r;
}

int secret_env(secret_getenv_fn *get_env, const char *name, char **ret_value, struct err *err)
{
    const char *v = get_env ? get_env(name) : NULL;
    const char *dir = get_env ? get_env("CREDENTIALS_DIRECTORY") : NULL;
    char *value = NULL;
    int r = 0;

    if (v && *v)
        value = xstrdup(v);
    else if (dir && *dir)
        r = credential_read(dir, name, &value, err);
    if (r == -ENOENT)
        r = 0;
    if (r == 0)
        *ret_value = value;
    return r;
}

void secret_free(char *secret)
{
    if (!secret)
        return;
    explicit_bzero(secret, strlen(secret));
    free(secret);
}
