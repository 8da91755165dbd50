/* excerpt.h - bounded views of job texts for readers that must not get them whole: the members
 * of a JSON object read from its first bytes, strings cut at a character boundary, and a job's
 * entry as the dashboard and nexusctl list it. Pure. */
#ifndef EXCERPT_H
#define EXCERPT_H

#include <stdbool.h>
#include <stddef.h>

typedef struct json_t json_t;

/* Bytes of each text of a job (args as JSON, error_message, ...) shown to a reader of the
 * operators' endpoint: without the bearer token, and with it (/api/dead, /status, ...). */
#define EXCERPT_PUBLIC 200
#define EXCERPT_TOKEN 8192

/* The members of the JSON object whose text was cut after `len` bytes (`text` need not be
 * NUL-terminated): those that show there whole, in order, in a new object; {} when none do or
 * the text is not an object. A number at the very end counts only when a ',' or '}' follows
 * it ("12" may be the start of "123"). Caller owns the result, json_decref(). */
json_t *excerpt_head_object(const char *text, size_t len);

/* At most `max` bytes of `s` (`len` bytes, need not be NUL-terminated) as a new JSON string,
 * cut at a UTF-8 character boundary; when those bytes are not UTF-8, every byte >= 0x80 becomes
 * '?'. Caller owns it, json_decref(). */
json_t *excerpt_string(const char *s, size_t len, size_t max);

/* Sets entry[name] to the string `v` (null when it is not a string) or, when it is longer than
 * `max` bytes, to its first bytes (excerpt_string()) with entry[name + "_size"] its length.
 * `v` is borrowed. Returns whether it cut. */
bool excerpt_put_text(json_t *entry, const char *name, const json_t *v, size_t max);

/* Sets entry.args to `args` (borrowed; null when NULL) when its compact JSON text is at most
 * `max` bytes, else to null with entry.args_excerpt (that text's first bytes) and
 * entry.args_size (its length). Returns whether it cut. */
bool excerpt_put_args(json_t *entry, const json_t *args, size_t max);

/* The entry of a job of which the first `len` of its `size` bytes were read (`text` need not
 * be NUL-terminated): {"jid", "class", "queue", "args", "retry_count", "error_class",
 * "error_message", "failed_at", "retried_at", "enqueued_at", "invalid", "size", "truncated",
 * "excerpt", ...}, each text within `max` bytes (excerpt_put_text(), excerpt_put_args()). A job
 * read whole that does not decode still gives one, with "invalid" saying why (and the wrapper
 * jid of queue/rerun.h); a job read in part gives the fields found whole in its first bytes
 * and "excerpt". "truncated" is true for a job shown in part. Caller owns it, json_decref(). */
json_t *excerpt_job(const char *text, size_t len, size_t size, size_t max);

#endif
