/* tail.c - a ring buffer that keeps the newest bytes of a stream. */
#include "jobs/tail.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "lib/xalloc.h"

struct tail {
    size_t limit;               /* capacity of buf, >= 1 */
    size_t start;               /* index of the oldest kept byte */
    size_t len;                 /* bytes kept, <= limit */
    unsigned long long dropped; /* bytes pushed out */
    char buf[];
};

struct tail *tail_new(size_t limit)
{
    struct tail *t;

    if (limit == 0)
        limit = 1;
    t = xmalloc(sizeof(*t) + limit);
    t->limit = limit;
    tail_clear(t);
    return t;
}

void tail_free(struct tail *t)
{
    free(t);
}

void tail_clear(struct tail *t)
{
    t->start = 0;
    t->len = 0;
    t->dropped = 0;
}

void tail_write(struct tail *t, const char *data, size_t len)
{
    size_t end, first;

    if (len >= t->limit) { /* only the newest `limit` bytes of `data` survive */
        t->dropped += t->len + (len - t->limit);
        memcpy(t->buf, data + (len - t->limit), t->limit);
        t->start = 0;
        t->len = t->limit;
        return;
    }
    if (t->len + len > t->limit) {
        size_t over = t->len + len - t->limit;
        t->start = (t->start + over) % t->limit;
        t->len -= over;
        t->dropped += over;
    }
    end = (t->start + t->len) % t->limit;
    first = len < t->limit - end ? len : t->limit - end;
    memcpy(t->buf + end, data, first);
    memcpy(t->buf, data + first, len - first);
    t->len += len;
}

size_t tail_len(const struct tail *t)
{
    return t->len;
}

unsigned long long tail_dropped(const struct tail *t)
{
    return t->dropped;
}

/* The length of the valid UTF-8 character at `s` (`n` bytes left), 0 when invalid. */
static size_t utf8_char(const unsigned char *s, size_t n)
{
    size_t need;
    unsigned cp;

    if (s[0] < 0x80)
        return s[0] ? 1 : 0;
    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        need = 2, cp = s[0] & 0x1fu;
    else if (s[0] >= 0xe0 && s[0] <= 0xef)
        need = 3, cp = s[0] & 0x0fu;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
        need = 4, cp = s[0] & 0x07u;
    else
        return 0;
    if (n < need)
        return 0;
    for (size_t i = 1; i < need; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3fu);
    }
    if ((need == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (need == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return need;
}

char *tail_utf8(const char *data, size_t len, size_t *ret_len)
{
    const unsigned char *in = (const unsigned char *)data;
    char *out = xmalloc(len * 3 + 1); /* each bad byte may become 3 */
    size_t n = 0;

    for (size_t i = 0; i < len;) {
        size_t c = utf8_char(in + i, len - i);

        if (c == 0) {
            memcpy(out + n, "\xef\xbf\xbd", 3);
            n += 3;
            i++;
            continue;
        }
        memcpy(out + n, in + i, c);
        n += c;
        i += c;
    }
    out[n] = '\0';
    if (ret_len)
        *ret_len = n;
    return out;
}

char *tail_text(const struct tail *t, size_t *ret_len)
{
    char *lin = xmalloc(t->len + 1), *out;
    size_t first = t->len < t->limit - t->start ? t->len : t->limit - t->start;

    memcpy(lin, t->buf + t->start, first);
    memcpy(lin + first, t->buf, t->len - first);
    out = tail_utf8(lin, t->len, ret_len);
    free(lin);
    return out;
}

const char *tail_last_lines(const char *text, size_t len, unsigned lines, size_t max,
                            size_t *ret_len)
{
    size_t end = len, start;
    unsigned seen = 0;

    while (end > 0 && (text[end - 1] == '\n' || text[end - 1] == '\r'))
        end--;
    start = end;
    while (start > 0 && end - start < max) {
        if (text[start - 1] == '\n' && ++seen == lines)
            break;
        start--;
    }
    if (end - start >= max && start < end) {
        const char *nl = memchr(text + start, '\n', end - start);
        if (nl && nl + 1 < text + end)
            start = (size_t)(nl + 1 - text);
        while (start < end && ((unsigned char)text[start] & 0xc0) == 0x80)
            start++;
    }
    *ret_len = end - start;
    return text + start;
}
