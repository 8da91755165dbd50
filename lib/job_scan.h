/* job_scan.h - the fast path of job_decode(): a validating scan of a job's JSON text (yajl's
 * callbacks, no tree) that reads the top-level fields the worker needs and the span of "args",
 * for exactly the texts the full parse (jansson) accepts with every field valid (pure). */
#ifndef JOB_SCAN_H
#define JOB_SCAN_H

#include <stdbool.h>
#include <stddef.h>

/* Bytes of decoded string values (class, jid, queue, unique_key, traceparent, tracestate) one
 * scan keeps, NULs after each included; a job needing more goes the full parse's way. */
#define JOB_SCAN_STRINGS 2048

/* Bytes of job_scan's `strings` (NUL-terminated there; may also hold NULs), or of the input
 * (numbers). */
struct job_span {
    size_t off, len;
};

/* What accessors read of a job that passed the scan. Every value here is the one the full
 * parse's accessors give for the same text. */
struct job_fields {
    struct job_span class_name, jid;
    struct job_span queue, unique_key, traceparent, tracestate; /* valid when has_* */
    size_t args_off, args_len; /* the "args" array's text: bytes of the input */
    /* The times' numbers as written (seconds or Sidekiq 8's ms): bytes of the input, read
     * with job_scan_number() when asked; valid when has_* */
    struct job_span created_at, enqueued_at;
    double unique_for;     /* seconds; 0 when none */
    long long retry_count; /* -1 when absent (or Sidekiq's own -1) */
    long long recoveries;  /* 0 when absent */
    int retry;             /* -1: true or absent (the class's default); else 0..N */
    bool has_queue, has_unique_key, has_traceparent, has_tracestate;
    bool has_created_at, has_enqueued_at;
    bool dead_allowed; /* false when "dead": false */
};

struct job_scan {
    struct job_fields f;
    size_t strings_len;             /* bytes used in strings[] */
    char strings[JOB_SCAN_STRINGS]; /* the spans' bytes */
};

/* Scans `text` (`len` bytes, need not be NUL-terminated). Returns 0 with `scan` filled when
 * the text is a JSON object that jansson's json_loadb(JSON_REJECT_DUPLICATES | JSON_DECODE_ANY
 * | JSON_ALLOW_NUL) parses and whose fields job_decode() accepts; -EAGAIN when it is not, or
 * the scan is not sure (beyond its own limits): then the full parse decides, and says why. */
int job_scan(const char *text, size_t len, struct job_scan *scan);

/* The value of a number job_scan() accepted (`len` bytes of its text), as jansson reads it. */
double job_scan_number(const char *s, size_t len);

#endif
