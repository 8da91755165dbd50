/* urlmask_fuzz.c - libFuzzer target: url_mask(), url_mask_msg(), url_escape_bad() and
 * raddr_parse() on any text, and on URLs (redis:// and rediss:// with a user or not), queries
 * and conninfo strings built around a password (or an ACL user name) taken from the input: the password holds a '~' that nothing else holds, so a '~'
 * in any output is a leak. */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "lib/raddr.h"
#include "lib/urlmask.h"

#define TEXT_MAX 2048

static const char *const schemes[] = {"redis",      "rediss",   "smtp", "smtps",
                                      "postgresql", "postgres", "unix", "http"};

static void fuzz_assert(int ok, const char *what, const char *text)
{
    if (ok)
        return;
    (void)fprintf(stderr, "urlmask_fuzz: %s: [%s]\n", what, text);
    abort();
}

/* Output of a size-limited call: NUL-terminated, shorter than size, no control character. */
static void check_shown(const char *out, size_t size, const char *in)
{
    size_t len = strlen(out);

    fuzz_assert(len < size, "longer than the buffer", in);
    for (size_t i = 0; i < len; i++)
        fuzz_assert((unsigned char)out[i] >= 0x20 && out[i] != 0x7f, "control character", in);
}

static void check_mask(const char *url, int planted)
{
    static const size_t sizes[] = {URL_MASK_MIN, 13, 32, 256, TEXT_MAX * 4};
    char *buf = malloc(TEXT_MAX * 4), *again = malloc(TEXT_MAX * 4);

    if (!buf || !again)
        goto out;
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        url_mask(url, buf, sizes[i]);
        check_shown(buf, sizes[i], url);
        if (planted)
            fuzz_assert(!strchr(buf, '~'), "the password shows", url);
    }
    /* what is shown is masked already: masking it again changes nothing (unless a control
     * character became a '?' that starts a query) */
    for (const char *c = url; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            goto out;
    url_mask(url, buf, TEXT_MAX * 4);
    url_mask(buf, again, TEXT_MAX * 4);
    fuzz_assert(strcmp(buf, again) == 0, "masking twice differs", url);
out:
    free(buf);
    free(again);
}

/* `n` bytes of `s` without the bytes in `drop`, into out (n + 1 bytes). */
static char *strip(const char *s, size_t n, const char *drop, char *out)
{
    size_t k = 0;

    for (size_t i = 0; i < n; i++)
        if (!strchr(drop, s[i]))
            out[k++] = s[i];
    out[k] = '\0';
    return out;
}

/* A bad escape found is a '%' of `url`. */
static void check_escape(const char *url)
{
    const char *part = NULL;
    size_t pos = 0;

    if (url_escape_bad(url, &part, &pos))
        fuzz_assert(pos >= 1 && pos <= strlen(url) && url[pos - 1] == '%' && part,
                    "a bad escape where there is no '%'", url);
}

/* scheme://USER:PASSWORD@host..., the input planted in the password or in the (ACL) user name,
 * and libpq's and raddr_parse()'s messages about it. */
static void check_userinfo(const char *scheme, const char *user, const char *pw, const char *rest)
{
    char *url = malloc(3 * TEXT_MAX);
    struct raddr addr = {0};
    struct err err = {0};

    if (!url)
        return;
    (void)snprintf(url, 3 * TEXT_MAX, "%s://%s:%s@%s", scheme, user, pw, rest);
    check_mask(url, 1);
    check_escape(url);
    if (raddr_parse(url, &addr, &err) == 0) {
        fuzz_assert(addr.tls == (strcmp(scheme, "rediss") == 0), "tls is not rediss://", url);
        /* the user ends at the first ':', the password at the last '@' before the first '/' */
        if (addr.host && !strpbrk(user, "/:") && !strchr(pw, '/'))
            fuzz_assert(addr.username && addr.username[0] == user[0] && addr.password &&
                            addr.password[0] == pw[0],
                        "the user or the password is not where the URL has it", url);
        raddr_clear(&addr);
    } else {
        fuzz_assert(!strchr(err.msg, '~'), "raddr_parse shows the user or the password", url);
    }
    free(url);
}

/* libpq quotes the token it cannot read: a password without '"' in such a message. */
static void check_msg(const char *pw, const char *rest)
{
    char *url = malloc(3 * TEXT_MAX), *msg = malloc(3 * TEXT_MAX), out[512];

    if (url && msg) {
        (void)snprintf(url, 3 * TEXT_MAX, "postgresql://u:%s@%s", pw, rest);
        (void)snprintf(msg, 3 * TEXT_MAX, "invalid token \"%s\" near \"%s\"\nmore", pw, rest);
        url_mask_msg(msg, url, out, sizeof(out));
        check_shown(out, sizeof(out), url);
        fuzz_assert(!strchr(out, '~'), "the password shows in a message", url);
    }
    free(url);
    free(msg);
}

/* postgresql://host/db?a=b&password=PASSWORD&c=d (the password without '&'). */
static void check_query(const char *pw, const char *rest)
{
    char *url = malloc(3 * TEXT_MAX);

    if (!url)
        return;
    (void)snprintf(url, 3 * TEXT_MAX, "postgresql://%s?a=b&password=%s&c=d", rest, pw);
    check_mask(url, 1);
    free(url);
}

/* host=... password='PASSWORD' dbname=..., quoted with libpq's escapes, or bare. */
static void check_conninfo(const char *pw, const char *word)
{
    char *text = malloc(4 * TEXT_MAX + 64), *p;
    int bare = 1;

    if (!text)
        return;
    for (const char *c = pw; *c; c++)
        bare = bare && !isspace((unsigned char)*c) && *c != '\'' && *c != '\\';
    p = text + sprintf(text, "host=%s password=%s", word, bare ? "" : "'");
    for (const char *c = pw; *c; c++) {
        if (!bare && (*c == '\'' || *c == '\\'))
            *p++ = '\\';
        *p++ = *c;
    }
    (void)sprintf(p, "%s dbname=%s", bare ? "" : "'", word);
    check_mask(text, 1);
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *in, *pw, *rest, *word, *nocut;
    const char *sep;
    size_t n;

    if (size > TEXT_MAX)
        return 0;
    in = malloc(size + 1);
    pw = malloc(size + 2);
    rest = malloc(size + 1);
    word = malloc(size + 1);
    nocut = malloc(size + 2);
    if (!in || !pw || !rest || !word || !nocut)
        goto out;
    memcpy(in, data, size);
    in[size] = '\0';
    check_mask(in, 0); /* any text up to its first NUL */
    check_escape(in);
    /* the planted forms: PASSWORD NUL REST */
    if (size < 1)
        goto out;
    sep = memchr(data + 1, '\0', size - 1);
    n = sep ? (size_t)(sep - (const char *)data - 1) : size - 1;
    pw[0] = '~';
    strip((const char *)data + 1, n, "", pw + 1);
    n = sep ? size - (size_t)(sep - (const char *)data) - 1 : 0;
    strip(sep ? sep + 1 : "", n, "~@", rest);
    check_userinfo(schemes[data[0] % (sizeof(schemes) / sizeof(schemes[0]))], "u", pw, rest);
    strip(pw, strlen(pw), "@", nocut);
    check_userinfo(data[0] & 1 ? "rediss" : "redis", nocut, "p", rest);
    strip(pw, strlen(pw), "&", nocut);
    check_query(nocut, rest);
    strip(pw, strlen(pw), "\"", nocut);
    check_msg(nocut, rest);
    n = 0;
    for (const char *c = rest; *c; c++)
        if (isalnum((unsigned char)*c))
            word[n++] = *c;
    word[n] = '\0';
    check_conninfo(pw, word);
out:
    free(in);
    free(pw);
    free(rest);
    free(word);
    free(nocut);
    return 0;
}
