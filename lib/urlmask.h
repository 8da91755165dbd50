/* urlmask.h - URLs and libpq conninfo strings made fit to show: every credential becomes
 * "***" (pure). Every message, log line and summary that shows a URL goes through here. */
#ifndef URLMASK_H
#define URLMASK_H

#include <stdbool.h>
#include <stddef.h>

#define URL_MASK_MIN 8 /* the smallest `size` the functions below accept */

/* Writes `url` into buf (`size` >= URL_MASK_MIN bytes) with its credentials hidden, each run
 * of hidden bytes shown as "***":
 *   - scheme://USERINFO@host...: everything from "://" to the LAST '@' of the whole text,
 *     so that a user or password holding '/', '?', '#', '@' or '%' is hidden too (a query
 *     holding '@' then hides the host as well: when unsure, more is hidden);
 *   - the value of a query parameter whose name (%-decoded, any case) holds "pass", "pwd",
 *     "secret", "token", "key", "auth" or "cred", up to the next '&';
 *   - in a libpq key=value string, the values of such keys and any value holding '@' or
 *     '='; from a syntax error (a key without '=', a quote left open) or an unquoted value
 *     holding '=' to the end;
 *   - in any other text, everything before its last '@'.
 * Control characters become '?'; text that does not fit is cut and ends with "...". No byte
 * of a hidden part is ever written. Returns buf. */
const char *url_mask(const char *url, char *buf, size_t size);

/* Writes the first line of `msg` (a library's error about `url`, such as libpq's) into buf
 * (`size` >= URL_MASK_MIN), each double-quoted text in it that occurs in `url` over bytes
 * url_mask() hides, and nowhere in what it shows, replaced by "***": libpq quotes the token
 * it could not read. Control characters become '?'. Returns buf. */
const char *url_mask_msg(const char *msg, const char *url, char *buf, size_t size);

/* The first bad %-escape in `url` (scheme://...): a '%' without two hex digits after it,
 * or %00. Writes which part holds it ("the user", "the password", "the host", "the path",
 * "the query") and its position (1-based byte) and returns true; returns false when every
 * escape is good or `url` is not scheme://... */
bool url_escape_bad(const char *url, const char **ret_part, size_t *ret_pos);

#endif
