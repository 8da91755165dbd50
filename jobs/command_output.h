/* command_output.h - what a command step wrote, kept three ways (pure): the tail of stdout and
 * stderr together in arrival order (stored with the step), the tail of stderr (quoted in the
 * failure message), and for a parser (npm-audit) stdout whole, up to COMMAND_PARSE_MAX. */
#ifndef COMMAND_OUTPUT_H
#define COMMAND_OUTPUT_H

#include <stdbool.h>
#include <stddef.h>

#define COMMAND_PARSE_MAX (32u << 20) /* stdout bytes a parser (npm-audit) reads */
#define COMMAND_STDERR_KEEP 4096      /* stderr tail kept for the message */
#define COMMAND_MESSAGE_LINES 5       /* lines of output quoted in a failure message */
#define COMMAND_MESSAGE_BYTES 600     /* ... at most this many bytes */

struct command_output; /* opaque */

/* Keeps the last `limit` bytes of the output (the class's output_limit), and stdout whole when
 * `keep_stdout`. Caller owns it, release with command_output_free(), which accepts NULL. */
struct command_output *command_output_new(size_t limit, bool keep_stdout);
void command_output_free(struct command_output *o);
/* Empties it, for the next step. */
void command_output_clear(struct command_output *o);
/* `len` bytes the child wrote to stdout, or to stderr when `is_err`. */
void command_output_write(struct command_output *o, const char *data, size_t len, bool is_err);

size_t command_output_len(const struct command_output *o); /* bytes of the tail kept */
unsigned long long command_output_dropped(const struct command_output *o); /* ... and dropped */

/* The tail as stored, valid UTF-8: when bytes were dropped, a first line says how many
 * ("[nexusd: 123 earlier bytes dropped]"). Caller owns the string, release with free(). */
char *command_output_text(const struct command_output *o);

/* ": " and the last lines of stderr, or of the whole output when stderr was silent (at most
 * COMMAND_MESSAGE_LINES lines and COMMAND_MESSAGE_BYTES bytes), into `buf`; "" when there is
 * no output. */
void command_output_quote(const struct command_output *o, char *buf, size_t size);

/* stdout as kept for the parser ("" when empty; borrowed, valid until the next write or
 * clear) and its length; NULL when it was larger than COMMAND_PARSE_MAX. */
const char *command_output_stdout(const struct command_output *o, size_t *ret_len);

#endif
