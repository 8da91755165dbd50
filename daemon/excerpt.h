/* excerpt.h - bounded views of job texts for readers that must not get them whole: the members
 * of a JSON object read from its first bytes, and strings cut at a character boundary. Pure. */
#ifndef EXCERPT_H
#define EXCERPT_H

#include <stddef.h>

typedef struct json_t json_t;

/* The members of the JSON object whose text was cut after `len` bytes (`text` need not be
 * NUL-terminated): those that show there whole, in order, in a new object; {} when none do or
 * the text is not an object. A number at the very end counts only when a ',' or '}' follows
 * it ("12" may be the start of "123"). Caller owns the result, json_decref(). NULL when out of
 * memory. */
json_t *excerpt_head_object(const char *text, size_t len);

/* At most `max` bytes of `s` (`len` bytes, need not be NUL-terminated) as a new JSON string,
 * cut at a UTF-8 character boundary; when those bytes are not UTF-8, every byte >= 0x80 becomes
 * '?'. Caller owns it, json_decref(). NULL when out of memory. */
json_t *excerpt_string(const char *s, size_t len, size_t max);

#endif
