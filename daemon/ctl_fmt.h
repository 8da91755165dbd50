/* ctl_fmt.h - nexusctl's text: times, ages, one-line cuts and JSON on stdout. */
#ifndef CTL_FMT_H
#define CTL_FMT_H

#include <stddef.h>
#include <stdio.h>

struct err;
typedef struct json_t json_t;

#define CTL_FMT_TIME_BUF 32 /* room for ctl_fmt_time() */
#define CTL_FMT_AGE_BUF 32  /* room for ctl_fmt_age() */

/* `epoch_s` in UTC as "2026-11-25T03:00:00Z" (whole seconds); "-" when it is not a time.
 * Returns buf (>= CTL_FMT_TIME_BUF bytes). */
char *ctl_fmt_time(double epoch_s, char *buf);
/* Parses "2026-11-25T03:00:00Z" or "2026-11-25T03:00:00.250Z" (UTC only) into epoch
 * seconds. Returns 0, or -EINVAL; *ret_s is untouched on failure. */
int ctl_fmt_parse_time(const char *s, double *ret_s);
/* A duration for people: "0.4s", "12s", "5m 3s", "2h 5m", "3d 4h". Returns buf
 * (>= CTL_FMT_AGE_BUF bytes). */
char *ctl_fmt_age(double s, char *buf);
/* `s` on one line: control characters become spaces, and text beyond `max` characters
 * (UTF-8) is cut and ends with "...". Caller owns the result, release with free(); NULL
 * when out of memory. */
char *ctl_fmt_line(const char *s, size_t max);
/* Writes the JSON text `s` (`len` bytes, valid JSON) on `out` indented as ctl_fmt_json()
 * does, keeping its bytes: numbers and strings exactly as stored. */
void ctl_fmt_indent(const char *s, size_t len, FILE *out);
/* A new reference to `v`, or JSON null when `v` is NULL: for "s:o" in json_pack(). */
json_t *ctl_fmt_ref(json_t *v);
/* Writes `v` on stdout, indented, with a newline. Returns 0, or -EIO with a sentence. */
int ctl_fmt_json(const json_t *v, struct err *err);

#endif
