/* mail_tmpl.c - templates read from a directory, rendered with {{name}} placeholders. */
#include "lib/mail_tmpl.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "lib/err.h"
#include "lib/mail_msg.h"
#include "lib/strbuf.h"
#include "lib/xalloc.h"

#define KEY_MAX 128 /* bytes of a placeholder's key */

struct tmpl_entry {
    struct mail_tmpl t;
    char *name, *subject, *text, *html; /* owned; t's strings point here */
};

struct mail_tmpl_set {
    struct tmpl_entry *e;
    size_t n;
};

/* ---- rendering ---------------------------------------------------------------------- */

static void html_add(struct strbuf *o, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&':
            strbuf_add(o, "&amp;", 5);
            break;
        case '<':
            strbuf_add(o, "&lt;", 4);
            break;
        case '>':
            strbuf_add(o, "&gt;", 4);
            break;
        case '"':
            strbuf_add(o, "&quot;", 6);
            break;
        case '\'':
            strbuf_add(o, "&#39;", 5);
            break;
        default:
            strbuf_add(o, s, 1);
        }
    }
}

/* `vars` followed along the dots of `key`; NULL when a step is missing. */
static const json_t *lookup(const json_t *vars, const char *key)
{
    char part[KEY_MAX + 1];
    const char *p = key;

    while (vars) {
        size_t n = strcspn(p, ".");

        memcpy(part, p, n);
        part[n] = '\0';
        vars = json_is_object(vars) ? json_object_get(vars, part) : NULL;
        if (!p[n])
            return vars;
        p += n + 1;
    }
    return NULL;
}

static int line_of(const char *start, const char *at)
{
    int line = 1;

    for (; start < at; start++)
        line += *start == '\n';
    return line;
}

/* One placeholder's value appended; `key` found at `at`. */
static int value_add(struct strbuf *o, const json_t *v, const char *key, enum mail_tmpl_mode mode,
                     const char *what, int line, struct err *err)
{
    char num[64];
    const char *s;

    switch (json_typeof(v)) {
    case JSON_STRING:
        s = json_string_value(v);
        break;
    case JSON_INTEGER:
        (void)snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        s = num;
        break;
    case JSON_REAL:
        (void)snprintf(num, sizeof(num), "%.15g", json_real_value(v));
        s = num;
        break;
    case JSON_TRUE:
        s = "true";
        break;
    case JSON_FALSE:
        s = "false";
        break;
    case JSON_NULL:
        s = "";
        break;
    default:
        return err_set(err, -EINVAL, "%s:%d: {{%s}} is %s, not a string or number", what, line, key,
                       json_is_object(v) ? "an object" : "an array");
    }
    if (mode == MAIL_TMPL_HTML)
        html_add(o, s);
    else
        strbuf_add(o, s, strlen(s));
    return 0;
}

/* The key between "{{" at `p` and "}}": written to `key`; returns the byte after "}}", or
 * NULL with `err` filled. */
static const char *key_read(const char *tmpl, const char *p, const char *what, char *key,
                            struct err *err)
{
    const char *end = strstr(p + 2, "}}"), *k = p + 2;
    size_t n;

    if (!end) {
        err_set(err, -EINVAL, "%s:%d: '{{' is not closed by '}}'", what, line_of(tmpl, p));
        return NULL;
    }
    while (k < end && (*k == ' ' || *k == '\t'))
        k++;
    n = (size_t)(end - k);
    while (n && (k[n - 1] == ' ' || k[n - 1] == '\t'))
        n--;
    if (n == 0 || n > KEY_MAX ||
        strspn(k, "abcdefghijklmnopqrstuvwxyz"
                  "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.") < n ||
        k[0] == '.' || k[n - 1] == '.' || memmem(k, n, "..", 2)) {
        err_set(err, -EINVAL,
                "%s:%d: a placeholder must be {{name}} with letters, digits, '_' and '.' "
                "(got {{%.*s}})",
                what, line_of(tmpl, p), (int)(end - p - 2 > 40 ? 40 : end - p - 2), p + 2);
        return NULL;
    }
    memcpy(key, k, n);
    key[n] = '\0';
    return end + 2;
}

int mail_tmpl_render(const char *tmpl, const char *what, const json_t *vars,
                     enum mail_tmpl_mode mode, char **ret, struct err *err)
{
    struct strbuf o = {0};
    const char *p = tmpl;
    char key[KEY_MAX + 1];
    int r = 0;

    while (r == 0) {
        const char *open = strstr(p, "{{"), *next;
        const json_t *v;

        strbuf_add(&o, p, open ? (size_t)(open - p) : strlen(p));
        if (!open)
            break;
        next = key_read(tmpl, open, what, key, err);
        if (!next) {
            r = -EINVAL;
            break;
        }
        v = lookup(vars, key);
        if (!v)
            r = err_set(err, -EINVAL, "%s:%d: no value for {{%s}}", what, line_of(tmpl, open), key);
        else
            r = value_add(&o, v, key, mode, what, line_of(tmpl, open), err);
        if (r == 0 && o.len > MAIL_TMPL_MAX_OUT)
            r = err_set(err, -EINVAL, "%s: the rendered text is over %d bytes", what,
                        MAIL_TMPL_MAX_OUT);
        p = next;
    }
    if (r < 0) {
        free(o.p);
        return r;
    }
    if (!o.p)
        strbuf_add(&o, "", 0);
    *ret = o.p;
    return 0;
}

/* ---- loading ------------------------------------------------------------------------ */

/* The whole file `dir`/`name`, or NULL with *ret_r: -ENOENT when it does not exist. */
static char *file_read(const char *dir, const char *name, int *ret_r, struct err *err)
{
    char path[4096];
    struct stat st;
    char *buf = NULL;
    ssize_t got;
    size_t len = 0;
    int fd;

    (void)snprintf(path, sizeof(path), "%s/%s", dir, name);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        *ret_r = errno == ENOENT
                     ? -ENOENT
                     : err_set(err, -EINVAL, "cannot read %s: %s", path, strerror(errno));
        return NULL;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > MAIL_TMPL_MAX_FILE) {
        *ret_r = err_set(err, -EINVAL, "%s must be a regular file of at most %d bytes", path,
                         MAIL_TMPL_MAX_FILE);
        goto out;
    }
    buf = xmalloc((size_t)st.st_size + 1);
    while (len < (size_t)st.st_size && (got = read(fd, buf + len, (size_t)st.st_size - len)) > 0)
        len += (size_t)got;
    buf[len] = '\0';
    if (strlen(buf) != len || !mail_utf8_valid(buf, len)) {
        *ret_r = err_set(err, -EINVAL, "%s is not UTF-8 text", path);
        free(buf);
        buf = NULL;
    }
out:
    (void)close(fd);
    return buf;
}

/* Checks that every placeholder of `s` closes and is well formed. */
static int tmpl_check(const char *s, const char *what, struct err *err)
{
    char key[KEY_MAX + 1];

    for (const char *p = strstr(s, "{{"); p; p = strstr(p, "{{")) {
        p = key_read(s, p, what, key, err);
        if (!p)
            return -EINVAL;
    }
    return 0;
}

static int entry_load(const char *dir, const char *name, struct tmpl_entry *e, struct err *err)
{
    static const char *const exts[] = {"subject", "txt", "html"};
    char **dst[] = {&e->subject, &e->text, &e->html};
    char file[MAIL_TMPL_MAX_NAME + 16];
    size_t n;
    int r = 0;

    e->name = xstrdup(name);
    for (size_t i = 0; i < 3; i++) {
        (void)snprintf(file, sizeof(file), "%s.%s", name, exts[i]);
        *dst[i] = file_read(dir, file, &r, err);
        if (!*dst[i] && r != -ENOENT)
            return r;
        if (*dst[i] && tmpl_check(*dst[i], file, err) < 0)
            return -EINVAL;
    }
    if (!e->subject)
        return err_set(err, -EINVAL, "%s/%s.subject is missing", dir, name);
    if (!e->text && !e->html)
        return err_set(err, -EINVAL, "template %s/%s needs %s.txt or %s.html", dir, name, name,
                       name);
    n = strlen(e->subject);
    while (n && (e->subject[n - 1] == '\n' || e->subject[n - 1] == '\r'))
        e->subject[--n] = '\0';
    if (strpbrk(e->subject, "\r\n"))
        return err_set(err, -EINVAL, "%s/%s.subject must be one line", dir, name);
    e->t = (struct mail_tmpl){e->name, e->subject, e->text, e->html};
    return 0;
}

static bool name_ok(const char *s, size_t n)
{
    if (n == 0 || n > MAIL_TMPL_MAX_NAME)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
              s[i] == '-'))
            return false;
    return true;
}

static int entry_cmp(const void *a, const void *b)
{
    return strcmp(((const struct tmpl_entry *)a)->name, ((const struct tmpl_entry *)b)->name);
}

int mail_tmpl_set_load(const char *dir, struct mail_tmpl_set **ret_set, struct err *err)
{
    struct mail_tmpl_set *set = xcalloc(1, sizeof(*set));
    struct dirent *de;
    DIR *d;
    int r = 0;

    d = opendir(dir);
    if (!d) {
        r = err_set(err, -ENOENT, "cannot open the template directory %s: %s", dir,
                    strerror(errno));
        mail_tmpl_set_free(set);
        return r;
    }
    while (r == 0 && (de = readdir(d))) {
        size_t len = strlen(de->d_name), n = len > 8 ? len - 8 : 0;
        char name[MAIL_TMPL_MAX_NAME + 1];

        if (len <= 8 || strcmp(de->d_name + n, ".subject") != 0)
            continue;
        if (!name_ok(de->d_name, n)) {
            r = err_set(err, -EINVAL,
                        "%s/%s: a template name must be 1..%d bytes of a-z, 0-9, '_' and '-'", dir,
                        de->d_name, MAIL_TMPL_MAX_NAME);
            break;
        }
        if (set->n == MAIL_TMPL_MAX) {
            r = err_set(err, -EINVAL, "%s holds more than %d templates", dir, MAIL_TMPL_MAX);
            break;
        }
        set->e = xreallocarray(set->e, set->n + 1, sizeof(*set->e));
        memset(&set->e[set->n], 0, sizeof(set->e[0]));
        memcpy(name, de->d_name, n);
        name[n] = '\0';
        r = entry_load(dir, name, &set->e[set->n++], err);
    }
    (void)closedir(d);
    if (r < 0) {
        mail_tmpl_set_free(set);
        return r;
    }
    if (set->n)
        qsort(set->e, set->n, sizeof(set->e[0]), entry_cmp);
    *ret_set = set;
    return 0;
}

void mail_tmpl_set_free(struct mail_tmpl_set *set)
{
    if (!set)
        return;
    for (size_t i = 0; i < set->n; i++) {
        free(set->e[i].name);
        free(set->e[i].subject);
        free(set->e[i].text);
        free(set->e[i].html);
    }
    free(set->e);
    free(set);
}

const struct mail_tmpl *mail_tmpl_find(const struct mail_tmpl_set *set, const char *name)
{
    if (!set)
        return NULL;
    for (size_t i = 0; i < set->n; i++)
        if (strcmp(set->e[i].name, name) == 0)
            return &set->e[i].t;
    return NULL;
}

size_t mail_tmpl_count(const struct mail_tmpl_set *set)
{
    return set ? set->n : 0;
}
