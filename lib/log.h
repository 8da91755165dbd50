/* log.h - one logfmt line per event, on stderr (journald adds nothing but the line). */
#ifndef LOG_H
#define LOG_H

#include <stdio.h>

enum log_level {
    LOG_LEVEL_OFF = -1, /* for log_set_level() only: nothing is written (nexusctl) */
    LOG_LEVEL_ERROR,
    LOG_LEVEL_WARN,
    LOG_LEVEL_INFO,
    LOG_LEVEL_DEBUG,
};

/* Lines below `level` are dropped. Lines are buffered: the event loop calls log_flush()
 * once per iteration; error lines and log_flush() write through. `out` is borrowed for
 * the life of the process (NULL = stderr). */
void log_setup(enum log_level level, FILE *out);
enum log_level log_get_level(void);
void log_set_level(enum log_level level);
/* Parses "error", "warn", "info", "debug". Returns 0, or -EINVAL. */
int log_level_parse(const char *name, enum log_level *ret);
void log_flush(void);

/* `fmt` is the logfmt body after `ts=… level=…`, e.g. "jid=%s outcome=ok". */
void log_write(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The arguments of a line below the level are not evaluated (no log_q() of a line that is
 * dropped). */
#define log_at(level, ...) (log_enabled(level) ? log_write((level), __VA_ARGS__) : (void)0)
#define log_error(...) log_at(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...) log_at(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...) log_at(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_at(LOG_LEVEL_DEBUG, __VA_ARGS__)
#define log_enabled(level) ((level) <= log_get_level())

/* Quotes `s` as a logfmt value ("a b" with \" and \n escaped; bare when it needs no quotes;
 * "" for NULL). Returns a borrowed string, valid until the 8th following log_q() call. */
const char *log_q(const char *s);

#endif
