/* keys.c - Redis key names. */
#include "queue/keys.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

char *keys_make(const char *ns, const char *fmt, ...)
{
    char *tail = NULL, *key = NULL;
    va_list ap;
    int r;

    va_start(ap, fmt);
    r = vasprintf(&tail, fmt, ap);
    va_end(ap);
    if (r < 0)
        return NULL;
    if (asprintf(&key, "%s%s", ns ? ns : "", tail) < 0)
        key = NULL;
    free(tail);
    return key;
}

char *keys_day(double epoch_s, char *buf)
{
    time_t t = (time_t)epoch_s;
    struct tm tm;

    (void)gmtime_r(&t, &tm);
    (void)strftime(buf, 11, "%Y-%m-%d", &tm);
    return buf;
}
