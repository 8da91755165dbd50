/* err.c - error sentences. */
#include "err.h"

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
