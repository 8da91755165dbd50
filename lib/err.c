/* err.c - error sentences. */
#include "lib/err.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int err_set(struct err *err, int code, const char *fmt, ...)
{
    va_list ap;

    if (!err)
        return code;
    va_start(ap, fmt);
    (void)vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    err->code = code;
    return code;
}

int err_prefix(struct err *err, const char *fmt, ...)
{
    char head[ERR_MSG_MAX], tail[ERR_MSG_MAX];
    va_list ap;

    if (!err)
        return 0;
    va_start(ap, fmt);
    (void)vsnprintf(head, sizeof(head), fmt, ap);
    va_end(ap);
    memcpy(tail, err->msg, sizeof(tail));
    if (snprintf(err->msg, sizeof(err->msg), "%s: %s", head, tail) >= (int)sizeof(err->msg))
        err->msg[sizeof(err->msg) - 1] = '\0'; /* cut: the head matters most */
    return err->code;
}

const char *err_quote(const char *s, size_t len, size_t max, char *buf, size_t size)
{
    size_t n = len < max ? len : max, i, out = 0;

    assert(size >= 16);
    /* back to the start of a character: at most 3 continuation bytes, whatever the text */
    for (int k = 0; k < 3 && n > 0 && n < len && ((unsigned char)s[n] & 0xc0) == 0x80; k++)
        n--;
    buf[out++] = '"';
    for (i = 0; i < n && out + 8 < size; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c == '"' || c == '\\') {
            buf[out++] = '\\';
            buf[out++] = (char)c;
        } else if (c < 0x20 || c == 0x7f) {
            out += (size_t)snprintf(buf + out, size - out, "\\x%02x", c);
        } else {
            buf[out++] = (char)c;
        }
    }
    (void)snprintf(buf + out, size - out, "%s\"", i < len ? "..." : "");
    return buf;
}
