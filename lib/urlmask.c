/* urlmask.c - credentials out of URLs and conninfo strings before they are shown. */
#include "lib/urlmask.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "lib/xalloc.h"

/* Name fragments that make a query parameter or conninfo key secret (matched in lower case). */
static const char *const secret_words[] = {"pass", "pwd", "secret", "token", "key", "auth", "cred"};

/* Output into a fixed buffer; what does not fit is cut and marked with "...". */
struct out {
    char *buf;
    size_t size, n;
    bool cut;
};

static void out_byte(struct out *o, char c)
{
    if (o->cut)
        return;
    if (o->n + 1 >= o->size) { /* room for the NUL */
        o->cut = true;
        return;
    }
    o->buf[o->n++] = (unsigned char)c < 0x20 || c == 0x7f ? '?' : c;
}

static void out_str(struct out *o, const char *s)
{
    for (; *s; s++)
        out_byte(o, *s);
}

static const char *out_end(struct out *o)
{
    if (o->cut) {
        if (o->n + 4 > o->size)
            o->n = o->size - 4; /* size >= URL_MASK_MIN */
        memcpy(o->buf + o->n, "...", 3);
        o->n += 3;
    }
    o->buf[o->n] = '\0';
    return o->buf;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)tolower((unsigned char)c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* The `n` bytes at `s` name a secret: %-decoded and in lower case they hold a secret word. */
static bool name_secret(const char *s, size_t n)
{
    char name[64];
    size_t len = 0;

    for (size_t i = 0; i < n && len + 1 < sizeof(name); i++) {
        if (s[i] == '%' && i + 2 < n && hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0) {
            name[len++] = (char)tolower(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
            i += 2;
        } else {
            name[len++] = (char)tolower((unsigned char)s[i]);
        }
    }
    name[len] = '\0';
    if (len + 1 == sizeof(name))
        return true; /* a name this long is not one we know: hide its value */
    for (size_t i = 0; i < sizeof(secret_words) / sizeof(secret_words[0]); i++)
        if (strstr(name, secret_words[i]))
            return true;
    return false;
}

/* The length of "scheme://" at the start of `url`, 0 when it does not start so. */
static size_t scheme_len(const char *url)
{
    size_t i = 0;

    if (!isalpha((unsigned char)url[0]))
        return 0;
    while (isalnum((unsigned char)url[i]) || url[i] == '+' || url[i] == '-' || url[i] == '.')
        i++;
    return strncmp(url + i, "://", 3) == 0 ? i + 3 : 0;
}

static void hide(bool *map, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++)
        map[i] = true;
}

/* The last '@' in url[from..len), or `len` when none. */
static size_t last_at(const char *url, size_t from, size_t len)
{
    size_t at = len;

    for (size_t i = from; i < len; i++)
        if (url[i] == '@')
            at = i;
    return at;
}

/* scheme://userinfo@host/path?query: the userinfo and the secret parameters' values. */
static void url_hide(const char *url, size_t len, size_t rest, bool *map)
{
    size_t at = last_at(url, rest, len);

    if (at < len)
        hide(map, rest, at);
    for (size_t i = rest; i < len; i++) {
        size_t key, eq;

        if (url[i] != '?' && url[i] != '&')
            continue;
        key = i + 1;
        eq = key + strcspn(url + key, "=&?");
        if (eq >= len || url[eq] != '=' || !name_secret(url + key, eq - key))
            continue;
        i = eq + 1 + strcspn(url + eq + 1, "&");
        hide(map, eq + 1, i);
        i--; /* the loop looks at this '&' next */
    }
}

/* libpq's key = value ... syntax (conninfo_parse()): values of secret keys, values that
 * hold '@' (a URL) or '=', and everything from a syntax error, a word right after a closing
 * quote, or an unquoted value holding '=' on ("host= password='a b'" makes "password='a" the
 * host and "b'" a key). */
static void conninfo_hide(const char *s, size_t len, bool *map)
{
    size_t i = 0;

    for (;;) {
        size_t key, key_end, val, val_end;
        bool quoted;

        while (i < len && isspace((unsigned char)s[i]))
            i++;
        if (i >= len)
            return;
        key = i;
        while (i < len && !isspace((unsigned char)s[i]) && s[i] != '=')
            i++;
        key_end = i;
        while (i < len && isspace((unsigned char)s[i]))
            i++;
        if (i >= len || s[i] != '=') {
            hide(map, key, len); /* no '=': libpq refuses it; what it is, we cannot tell */
            return;
        }
        i++;
        while (i < len && isspace((unsigned char)s[i]))
            i++;
        val = i;
        quoted = i < len && s[i] == '\'';
        if (quoted) {
            for (i++; i < len && s[i] != '\''; i++)
                i += s[i] == '\\' && i + 1 < len;
            if (i >= len || (i + 1 < len && !isspace((unsigned char)s[i + 1]))) {
                hide(map, val, len); /* the quote is left open, or a word follows it */
                return;
            }
            i++;
        } else {
            for (; i < len && !isspace((unsigned char)s[i]); i++)
                i += s[i] == '\\' && i + 1 < len;
        }
        val_end = i < len ? i : len;
        if (!quoted && memchr(s + val, '=', val_end - val)) {
            hide(map, val, len); /* the words after it may be anything: nothing is shown */
            return;
        }
        if (name_secret(s + key, key_end - key) || memchr(s + val, '@', val_end - val) ||
            memchr(s + val, '=', val_end - val))
            hide(map, val, val_end);
    }
}

/* Marks in map[0..len) the bytes of `url` that url_mask() hides. */
static void map_fill(const char *url, size_t len, bool *map)
{
    size_t rest = scheme_len(url), at;

    if (rest) {
        url_hide(url, len, rest, map);
    } else if (strchr(url, '=')) {
        conninfo_hide(url, len, map);
    } else {
        at = last_at(url, 0, len);
        if (at < len)
            hide(map, 0, at);
    }
}

const char *url_mask(const char *url, char *buf, size_t size)
{
    struct out o = {buf, size, 0, false};
    size_t len = strlen(url);
    bool *map = xcalloc(len + 1, sizeof(*map));

    map_fill(url, len, map);
    for (size_t i = 0; i < len; i++) {
        if (!map[i])
            out_byte(&o, url[i]);
        else if (i == 0 || !map[i - 1])
            out_str(&o, "***");
    }
    free(map);
    return out_end(&o);
}

/* The `n` bytes at `s` occur in url[0..len) overlapping a hidden byte, and nowhere in what
 * url_mask() shows (a database named as its user may be named). */
static bool repeats_hidden(const char *s, size_t n, const char *url, size_t len, const bool *map)
{
    bool found = false;

    for (size_t i = 0; n && i + n <= len; i++) {
        bool hidden = false;

        if (memcmp(url + i, s, n) != 0)
            continue;
        for (size_t j = i; j < i + n; j++)
            hidden = hidden || map[j];
        if (!hidden)
            return false;
        found = true;
    }
    return found;
}

const char *url_mask_msg(const char *msg, const char *url, char *buf, size_t size)
{
    struct out o = {buf, size, 0, false};
    size_t len = strlen(url), end = strcspn(msg, "\r\n");
    bool *map = xcalloc(len + 1, sizeof(*map));

    map_fill(url, len, map);
    while (end > 0 && msg[end - 1] == ' ')
        end--;
    for (size_t i = 0; i < end; i++) {
        const char *close;
        size_t n;

        if (msg[i] != '"') {
            out_byte(&o, msg[i]);
            continue;
        }
        close = memchr(msg + i + 1, '"', end - i - 1);
        n = close ? (size_t)(close - msg - i - 1) : end - i - 1;
        out_byte(&o, '"');
        if (repeats_hidden(msg + i + 1, n, url, len, map))
            out_str(&o, "***");
        else
            for (size_t j = i + 1; j < i + 1 + n; j++)
                out_byte(&o, msg[j]);
        if (close)
            out_byte(&o, '"');
        i += n + (close ? 1 : 0);
    }
    free(map);
    return out_end(&o);
}

/* Which part of scheme://userinfo@host/path?query byte `i` is in. */
static const char *part_of(const char *url, size_t len, size_t rest, size_t i)
{
    size_t at = last_at(url, rest, len), host = at < len ? at + 1 : rest;
    size_t path = host + strcspn(url + host, "/?"), query = host + strcspn(url + host, "?");
    const char *colon;

    if (at < len && i < at) {
        colon = memchr(url + rest, ':', at - rest);
        return colon && url + i > colon ? "the password" : "the user";
    }
    if (i < path)
        return "the host";
    return i < query ? "the path" : "the query";
}

bool url_escape_bad(const char *url, const char **ret_part, size_t *ret_pos)
{
    size_t rest = scheme_len(url), len = strlen(url);

    if (!rest)
        return false;
    for (size_t i = rest; i < len; i++) {
        if (url[i] != '%')
            continue;
        if (i + 2 < len && hex_value(url[i + 1]) >= 0 && hex_value(url[i + 2]) >= 0 &&
            !(url[i + 1] == '0' && url[i + 2] == '0'))
            continue;
        *ret_part = part_of(url, len, rest, i);
        *ret_pos = i + 1;
        return true;
    }
    return false;
}
