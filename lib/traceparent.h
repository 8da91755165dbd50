/* traceparent.h - W3C Trace Context level 1: the `traceparent` a job carries ("00-<trace-id>-
 * <parent-id>-<flags>"), the one an attempt passes on with a parent-id of its own, and the
 * `tracestate` passed on beside it (pure). */
#ifndef TRACEPARENT_H
#define TRACEPARENT_H

#include <stddef.h>

struct err;

#define TRACE_ID_HEX 32    /* hex digits of a trace-id */
#define TRACE_SPAN_HEX 16  /* hex digits of a parent-id (a span id) */
#define TRACEPARENT_LEN 55 /* "00-" trace-id "-" parent-id "-" flags */
#define TRACESTATE_MAX 512 /* bytes of a tracestate passed on (the spec's minimum to keep) */

struct traceparent {
    char trace_id[TRACE_ID_HEX + 1];    /* lowercase hex, not all zeros; NUL-terminated */
    char parent_id[TRACE_SPAN_HEX + 1]; /* lowercase hex, not all zeros; NUL-terminated */
    unsigned flags;                     /* trace-flags, 0..255 (bit 0: sampled) */
};

/* Parses the `len` bytes at `s` as a version-00 traceparent: exactly 55 characters, lowercase
 * hex fields, neither id all zeros. Returns 0 and writes *ret, or -EINVAL with a sentence
 * naming `name` ("'traceparent' version must be 00 (got \"01-...\")") in `err` (may be NULL). */
int traceparent_parse(const char *name, const char *s, size_t len, struct traceparent *ret,
                      struct err *err);

/* The traceparent of a child of `tp`: its trace-id and flags, a parent-id of its own made from
 * `rnd` (16 hex digits; a zero `rnd` gives 0000000000000001, never all zeros). */
void traceparent_child(const struct traceparent *tp, unsigned long long rnd,
                       struct traceparent *ret);

/* `tp` as the header's value: 55 characters and a NUL in `out`. Returns out. */
char *traceparent_format(const struct traceparent *tp, char out[TRACEPARENT_LEN + 1]);

/* Whether the `len` bytes at `s` are a tracestate nexusd passes on as it is: 1..TRACESTATE_MAX
 * bytes of printable ASCII (no control characters, so it is safe in a header and an
 * environment variable). Its list members are not read. Returns 0, or -EINVAL with a
 * sentence naming `name` in `err` (may be NULL). */
int tracestate_check(const char *name, const char *s, size_t len, struct err *err);

#endif
