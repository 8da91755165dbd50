/* ctl_fmt.h - nexusctl's text: times, ages, one-line cuts and JSON on stdout. */
#ifndef CTL_FMT_H
#define CTL_FMT_H

#include <stdbool.h>
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
/* `s` on one line: control characters (C0, DEL, and C1 written as UTF-8) become spaces,
 * bytes that are not UTF-8 become '?', and text beyond `max` characters is cut and ends with
 * "...". Caller owns the result, release with free(). */
char *ctl_fmt_line(const char *s, size_t max);
/* Writes `len` bytes of `s` (text from Redis or PostgreSQL) on `out` so that a terminal
 * shows them and obeys none, as redis-cli does: control characters (C0, DEL, C1 as UTF-8)
 * and bytes that are not UTF-8 are written as \n, \r, \t or \xHH; with `lines`, newlines
 * and tabs stay as they are (command output). */
void ctl_fmt_write(FILE *out, const char *s, size_t len, bool lines);
/* ctl_fmt_write() into a new string (an open_memstream()). Caller owns it, release with
 * free(); NULL when libc could not make the stream. */
char *ctl_fmt_escape(const char *s);
/* Writes the JSON text `s` (`len` bytes, valid JSON) on `out` indented as ctl_fmt_json()
 * does, keeping its bytes: numbers and strings exactly as stored, except that DEL and C1
 * control characters inside strings are written as \u007f and \u0080..\u009f. */
void ctl_fmt_indent(const char *s, size_t len, FILE *out);
/* A new reference to `v`, or JSON null when `v` is NULL: for "s:o" in json_pack(). */
json_t *ctl_fmt_ref(json_t *v);
/* Writes `v` (an object or an array) on stdout, indented, with a newline, in ASCII (other
 * characters as \uXXXX). Returns 0, or -EIO with a sentence. */
int ctl_fmt_json(const json_t *v, struct err *err);
/* ctl_fmt_json() of {`name`: `list`}, the shape of a listing's --json. Takes ownership of
 * `list`, also on failure. */
int ctl_fmt_json_list(const char *name, json_t *list, struct err *err);

#endif
