/* log.c - buffered logfmt lines. */
#include "lib/log.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static enum log_level log_level = LOG_LEVEL_INFO;
static FILE *log_out;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void log_setup(enum log_level level, FILE *out)
{
    static char buf[1 << 16];

    log_level = level;
    log_out = out ? out : stderr;
    (void)setvbuf(log_out, buf, _IOFBF, sizeof(buf));
}

void log_set_level(enum log_level level)
{
    log_level = level;
}

enum log_level log_get_level(void)
{
    return log_level;
}

int log_level_parse(const char *name, enum log_level *ret)
{
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
        if (strcmp(name, level_names[i]) == 0) {
            *ret = (enum log_level)i;
            return 0;
        }
    }
    return -EINVAL;
}

void log_flush(void)
{
    (void)fflush(log_out ? log_out : stderr);
}

void log_write(enum log_level level, const char *fmt, ...)
{
    FILE *out = log_out ? log_out : stderr;
    struct timeval tv;
    struct tm tm;
    char ts[32];
    va_list ap;

    if (level > log_level)
        return;
    (void)gettimeofday(&tv, NULL);
    (void)gmtime_r(&tv.tv_sec, &tm);
    (void)strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    (void)fprintf(out, "ts=%s.%03dZ level=%s ", ts, (int)(tv.tv_usec / 1000), level_names[level]);
    va_start(ap, fmt);
    (void)vfprintf(out, fmt, ap);
    va_end(ap);
    (void)fputc('\n', out);
    if (level == LOG_LEVEL_ERROR)
        log_flush();
}

const char *log_q(const char *s)
{
    static char bufs[8][1024];
    static unsigned next;
    char *buf = bufs[next++ % 8];
    size_t n = 0, cap = sizeof(bufs[0]) - 2;
    int bare = 1;

    if (!s)
        return "\"\"";
    if (!*s)
        bare = 0;
    for (const char *p = s; *p; p++)
        if (*p <= ' ' || *p == '"' || *p == '=' || *p == '\\' || (unsigned char)*p == 0x7f)
            bare = 0;
    if (bare && strlen(s) < cap)
        return s;
    buf[n++] = '"';
    for (const char *p = s; *p && n < cap - 2; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"' || c == '\\') {
            buf[n++] = '\\';
            buf[n++] = (char)c;
        } else if (c == '\n') {
            buf[n++] = '\\';
            buf[n++] = 'n';
        } else if (c < ' ' || c == 0x7f) {
            buf[n++] = '?';
        } else {
            buf[n++] = (char)c;
        }
    }
    buf[n++] = '"';
    buf[n] = '\0';
    return buf;
}
