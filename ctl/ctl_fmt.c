/* ctl_fmt.c - nexusctl's text formats. */
#include "ctl/ctl_fmt.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "lib/err.h"
#include "lib/xalloc.h"

/* 9999-12-31T23:59:59Z: the last time the ISO format here can show. */
#define CTL_FMT_TIME_MAX 253402300799.0
/* Digits of a fraction of a second read by ctl_fmt_parse_time(). */
#define CTL_FMT_FRAC_MAX 9

char *ctl_fmt_time(double epoch_s, char *buf)
{
    time_t t;
    struct tm tm;

    if (!isfinite(epoch_s) || epoch_s < 0 || epoch_s > CTL_FMT_TIME_MAX) {
        (void)snprintf(buf, CTL_FMT_TIME_BUF, "-");
        return buf;
    }
    t = (time_t)epoch_s;
    (void)gmtime_r(&t, &tm);
    (void)strftime(buf, CTL_FMT_TIME_BUF, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

/* `n` decimal digits at `s`. */
static int digits_parse(const char *s, size_t n, int *ret)
{
    int v = 0;

    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -EINVAL;
        v = v * 10 + (s[i] - '0');
    }
    *ret = v;
    return 0;
}

/* ".250" → 0.25; `*s` moves past the digits. No digits, or too many, is -EINVAL. */
static int fraction_parse(const char **s, double *ret)
{
    double v = 0, scale = 0.1;
    size_t n = 0;

    for (const char *p = *s; isdigit((unsigned char)*p); p++, n++, scale /= 10)
        v += (*p - '0') * scale;
    if (n == 0 || n > CTL_FMT_FRAC_MAX)
        return -EINVAL;
    *s += n;
    *ret = v;
    return 0;
}

int ctl_fmt_parse_time(const char *s, double *ret_s)
{
    static const char pattern[] = "dddd-dd-ddTdd:dd:dd";
    const size_t plen = sizeof(pattern) - 1;
    struct tm tm = {0}, back;
    double frac = 0;
    const char *p;
    time_t t;

    if (strlen(s) < plen)
        return -EINVAL;
    for (size_t i = 0; i < plen; i++)
        if (pattern[i] == 'd' ? !isdigit((unsigned char)s[i]) : s[i] != pattern[i])
            return -EINVAL;
    (void)digits_parse(s, 4, &tm.tm_year);
    (void)digits_parse(s + 5, 2, &tm.tm_mon);
    (void)digits_parse(s + 8, 2, &tm.tm_mday);
    (void)digits_parse(s + 11, 2, &tm.tm_hour);
    (void)digits_parse(s + 14, 2, &tm.tm_min);
    (void)digits_parse(s + 17, 2, &tm.tm_sec);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    back = tm;
    p = s + plen;
    if (*p == '.') {
        p++;
        if (fraction_parse(&p, &frac) < 0)
            return -EINVAL;
    }
    if (strcmp(p, "Z") != 0)
        return -EINVAL;
    t = timegm(&tm);
    /* timegm() normalises 02-30 into 03-02: a date that moved did not exist. */
    if (t == (time_t)-1 || tm.tm_year != back.tm_year || tm.tm_mon != back.tm_mon ||
        tm.tm_mday != back.tm_mday || tm.tm_hour != back.tm_hour || tm.tm_min != back.tm_min ||
        tm.tm_sec != back.tm_sec)
        return -EINVAL;
    *ret_s = (double)t + frac;
    return 0;
}

char *ctl_fmt_age(double s, char *buf)
{
    long long whole;

    if (!isfinite(s) || s < 0)
        s = 0;
    if (s > 1e12)
        s = 1e12;
    whole = (long long)s;
    if (s < 10)
        (void)snprintf(buf, CTL_FMT_AGE_BUF, "%.1fs", s);
    else if (whole < 60)
        (void)snprintf(buf, CTL_FMT_AGE_BUF, "%llds", whole);
    else if (whole < 3600)
        (void)snprintf(buf, CTL_FMT_AGE_BUF, "%lldm %llds", whole / 60, whole % 60);
    else if (whole < 86400)
        (void)snprintf(buf, CTL_FMT_AGE_BUF, "%lldh %lldm", whole / 3600, whole % 3600 / 60);
    else
        (void)snprintf(buf, CTL_FMT_AGE_BUF, "%lldd %lldh", whole / 86400, whole % 86400 / 3600);
    return buf;
}

/* Bytes of the UTF-8 character at `s` (`n` bytes left), 0 when they are not one (a stray
 * or missing continuation byte, an overlong form, a surrogate, beyond U+10FFFF). */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    size_t len;
    unsigned cp;

    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        len = 2, cp = s[0] & 0x1f;
    else if (s[0] >= 0xe0 && s[0] <= 0xef)
        len = 3, cp = s[0] & 0x0f;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
        len = 4, cp = s[0] & 0x07;
    else
        return 0;
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return len;
}

/* The character at `s` (`len` bytes) is a control character: C0, DEL, or C1 (U+0080..9F). */
static bool control_char(const unsigned char *s, size_t len)
{
    return (len == 1 && (s[0] < 0x20 || s[0] == 0x7f)) || (len == 2 && s[0] == 0xc2 && s[1] < 0xa0);
}

void ctl_fmt_write(FILE *out, const char *s, size_t len, bool lines)
{
    const unsigned char *u = (const unsigned char *)s;

    for (size_t i = 0; i < len;) {
        size_t n = utf8_len(u + i, len - i);

        if (n && (!control_char(u + i, n) || (lines && (u[i] == '\n' || u[i] == '\t')))) {
            (void)fwrite(u + i, 1, n, out);
            i += n;
            continue;
        }
        for (size_t j = 0; j < (n ? n : 1); j++, i++) {
            if (u[i] == '\n')
                (void)fputs("\\n", out);
            else if (u[i] == '\r')
                (void)fputs("\\r", out);
            else if (u[i] == '\t')
                (void)fputs("\\t", out);
            else
                (void)fprintf(out, "\\x%02x", u[i]);
        }
    }
}

char *ctl_fmt_escape(const char *s)
{
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);

    if (!f)
        return NULL;
    ctl_fmt_write(f, s, strlen(s), false);
    if (fclose(f) != 0) {
        free(text);
        return NULL;
    }
    return text;
}

static size_t utf8_chars(const char *s)
{
    size_t n = 0;

    for (; *s; s++)
        n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

char *ctl_fmt_line(const char *s, size_t max)
{
    static const char ellipsis[] = "...";
    size_t chars = utf8_chars(s), keep = chars, n = 0, i;
    char *out;

    if (chars > max)
        keep = max > 3 ? max - 3 : 0;
    /* Bytes of the first `keep` characters. */
    for (i = 0; s[i]; i++) {
        if (((unsigned char)s[i] & 0xc0) != 0x80 && n++ == keep)
            break;
    }
    out = xmalloc(i + sizeof(ellipsis));
    for (size_t j = 0; j < i;) {
        const unsigned char *u = (const unsigned char *)s + j;
        size_t clen = utf8_len(u, i - j);

        if (clen == 0)
            out[j++] = '?';
        else if (control_char(u, clen))
            for (size_t k = 0; k < clen; k++)
                out[j++] = ' ';
        else
            for (size_t k = 0; k < clen; k++, j++)
                out[j] = s[j];
    }
    out[i] = '\0';
    if (keep < chars)
        memcpy(out + i, ellipsis, sizeof(ellipsis));
    return out;
}

static void newline_indent(int depth, FILE *out)
{
    (void)fprintf(out, "\n%*s", 2 * depth, "");
}

/* The index of the first byte at or after `i` that is not JSON whitespace. */
static size_t space_skip(const char *s, size_t len, size_t i)
{
    while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n'))
        i++;
    return i;
}

void ctl_fmt_indent(const char *s, size_t len, FILE *out)
{
    bool in_string = false, escaped = false;
    int depth = 0;
    size_t next;

    for (size_t i = 0; i < len; i++) {
        char c = s[i];

        if (in_string) {
            const unsigned char *u = (const unsigned char *)s + i;

            if (!escaped && (u[0] == 0x7f || (i + 1 < len && control_char(u, 2)))) {
                (void)fprintf(out, "\\u%04x", u[0] == 0x7f ? 0x7f : u[1]);
                i += u[0] != 0x7f;
                continue;
            }
            (void)fputc(c, out);
            if (escaped)
                escaped = false;
            else if (c == '\\')
                escaped = true;
            else if (c == '"')
                in_string = false;
            continue;
        }
        switch (c) {
        case ' ':
        case '\t':
        case '\r':
        case '\n':
            break;
        case '"':
            in_string = true;
            (void)fputc(c, out);
            break;
        case '{':
        case '[':
            next = space_skip(s, len, i + 1);
            (void)fputc(c, out);
            if (next < len && s[next] == (c == '{' ? '}' : ']')) {
                (void)fputc(s[next], out); /* {} and [] stay on one line */
                i = next;
                break;
            }
            newline_indent(++depth, out);
            break;
        case '}':
        case ']':
            newline_indent(--depth, out);
            (void)fputc(c, out);
            break;
        case ',':
            (void)fputc(c, out);
            newline_indent(depth, out);
            break;
        case ':':
            (void)fputs(": ", out);
            break;
        default:
            (void)fputc(c, out);
        }
    }
    (void)fputc('\n', out);
}

json_t *ctl_fmt_ref(json_t *v)
{
    return v ? json_incref(v) : json_null();
}

int ctl_fmt_json(const json_t *v, struct err *err)
{
    /* ASCII only, and DEL (which jansson keeps) escaped: a terminal shown the output obeys
     * no control character from Redis */
    char *text = json_dumps(v, JSON_INDENT(2) | JSON_REAL_PRECISION(17) | JSON_ENSURE_ASCII);
    int r = 0;

    for (const char *p = text; *p && r == 0; p++)
        if ((*p == 0x7f ? fputs("\\u007f", stdout) : fputc(*p, stdout)) == EOF)
            r = -EIO;
    if (r == 0 && fputc('\n', stdout) == EOF)
        r = -EIO;
    free(text);
    return r < 0 ? err_set(err, r, "cannot write the output: %s", strerror(errno)) : 0;
}

int ctl_fmt_json_list(const char *name, json_t *list, struct err *err)
{
    json_t *out = json_pack("{s:o}", name, list);
    int r = ctl_fmt_json(out, err);

    json_decref(out);
    return r;
}
