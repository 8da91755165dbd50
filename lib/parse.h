/* parse.h - strict number and duration parsing (pure). */
#ifndef PARSE_H
#define PARSE_H

#include <stdint.h>

/* Each parser accepts the whole string or nothing: no leading space, no trailing junk,
 * no sign on unsigned values. Returns 0 and writes *ret, or -EINVAL (not a number) or
 * -ERANGE (outside min..max); *ret is untouched on failure. */
int parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *ret);
int parse_i64(const char *s, int64_t min, int64_t max, int64_t *ret);
int parse_double(const char *s, double min, double max, double *ret);
/* A duration such as "250ms", "30s", "5m", "2h", "1d", or a bare number of seconds.
 * Writes seconds. */
int parse_duration(const char *s, double min_s, double max_s, double *ret_s);

/* A listening address: "HOST:PORT" with an IPv4 literal, "[IPv6]:PORT", or "unix:/path"
 * (an absolute path of 1..107 bytes). PORT is 0..65535 (0: any free port). No name
 * lookup. Writes the address and its length. */
struct sockaddr_storage;
int parse_listen(const char *s, struct sockaddr_storage *ret, unsigned *ret_len);

#endif
