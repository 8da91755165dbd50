/* secret.h - secrets (tokens, signing keys) taken from the environment or from a file the
 * configuration names, never from the configuration itself. */
#ifndef SECRET_H
#define SECRET_H

#include <stdbool.h>
#include <stddef.h>

struct err;

/* Where one secret may come from, and what it must look like. */
struct secret_src {
    const char *env_name;  /* the environment variable, for messages; NULL when none */
    const char *env_value; /* its value; NULL or "" when unset: the file is used */
    const char *path;      /* the file; NULL or "" when none */
    const char *setting;   /* what names the file, for messages: "http.token_file" */
    const char *where;     /* "FILE:LINE" of that setting, NULL when unknown */
    size_t min, max;       /* bytes, 1 <= min <= max */
    bool spaces;           /* spaces allowed inside (passwords), else none (tokens, keys) */
};

/* The secret: `env_value` when set and not empty, else the first line of `path` (without
 * its line end), else none (*ret_secret = NULL). The file must not be open to group or
 * others (as libpq's rule for key files: mode 0600 or less, or 0640 when root owns it), else
 * -EPERM with "WHERE: setting: PATH: mode 0644 allows group/other read; chmod 600". It must be
 * min..max bytes of printable ASCII, without spaces unless `spaces` (tokens go into HTTP headers).
 * On success writes *ret_secret: caller owns it, release with secret_free(). Returns 0, or -EINVAL,
 * -EPERM or the file's -errno with a sentence naming the variable or FILE:LINE and the setting. */
int secret_get(const struct secret_src *src, char **ret_secret, struct err *err);
/* Where the environment comes from: getenv(), or a table in tests. */
typedef const char *secret_getenv_fn(const char *name);

/* Environment variable `name` as `get_env` gives it; when it is unset or empty and
 * get_env("CREDENTIALS_DIRECTORY") names a directory holding a file `name` (systemd's
 * LoadCredential=NAME:/path), that file's content without its trailing line ends. On success
 * writes *ret_value, NULL when neither gives a non-empty value: caller owns it, release with
 * secret_free(). Returns 0, or -EINVAL or the file's -errno (a missing file is
 * no error) with a sentence naming the file. The file's mode is systemd's business. */
int secret_env(secret_getenv_fn *get_env, const char *name, char **ret_value, struct err *err);
/* Wipes and frees `secret`; accepts NULL. */
void secret_free(char *secret);

#endif
