/* tail.h - the last N bytes of a stream (a child's output), counting what was dropped before
 * them (pure). */
#ifndef TAIL_H
#define TAIL_H

#include <stddef.h>

struct tail; /* opaque */

/* A tail keeping at most `limit` bytes (>= 1). Caller owns it, release with tail_free(),
 * which accepts NULL. */
struct tail *tail_new(size_t limit);
void tail_free(struct tail *t);
/* Appends `len` bytes; the oldest are dropped beyond the limit. */
void tail_write(struct tail *t, const char *data, size_t len);
/* Empties it (the dropped count too). */
void tail_clear(struct tail *t);
size_t tail_len(const struct tail *t);                 /* bytes kept, <= limit */
unsigned long long tail_dropped(const struct tail *t); /* bytes written but no longer kept */

/* The kept bytes as UTF-8 text, oldest first: NUL bytes and invalid UTF-8 (such as a
 * character cut by the limit) become U+FFFD. Caller owns the string, release with free();
 * its length goes to *ret_len when not NULL. */
char *tail_text(const struct tail *t, size_t *ret_len);

/* `len` bytes of `data` as UTF-8 text, NUL bytes and invalid sequences replaced by U+FFFD
 * (what PostgreSQL's text and JSON strings accept). Caller owns the string, release with
 * free(); its length goes to *ret_len when not NULL. */
char *tail_utf8(const char *data, size_t len, size_t *ret_len);

/* Where the last `lines` lines of `text` (`len` bytes) start, a trailing newline not counting
 * as a line, and at most `max` bytes before the end (then cut after a newline or at a UTF-8
 * character boundary). Returns a pointer into `text`; *ret_len gets the length without the
 * trailing newline. */
const char *tail_last_lines(const char *text, size_t len, unsigned lines, size_t max,
                            size_t *ret_len);

#endif
