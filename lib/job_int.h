/* job_int.h - what lib/job.c (make, change, encode), lib/job_decode.c (decode, validate, read)
 * and lib/job_scan.c (the fast decode) share about a job; private to them: the contract is
 * lib/job.h. */
#ifndef JOB_INT_H
#define JOB_INT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "lib/job_scan.h"

struct err;

#define JOB_DEFAULT_QUEUE "default"
/* Sidekiq 8 writes integer epoch milliseconds; no seconds value is this large until 5138. */
#define JOB_MS_ABOVE 1e11
/* 17 significant digits: every double is written back exactly. */
#define JOB_DUMP_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(17))

/* A job decoded by job_scan() has no root until something asks for the tree (job_tree()):
 * until then its accessors read `f`. Once built, the tree is what the job is (changes and
 * job_root()'s callers write to it) and accessors read it, as for every other job; but
 * class, jid and queue, which no change touches, stay f's strings (the same bytes), so that
 * the pointers handed out stay the same. */
struct job {
    json_t *root;              /* owned; a JSON object, or NULL for a scanned job not yet asked */
    json_t *args;              /* owned; a scanned job's "args" parsed alone (job_args()), or
                                  NULL; once root is built, the same value as root's "args" */
    json_t *no_args;           /* owned empty array job_args() gives when "args" is none */
    const char *default_queue; /* points into mem[], after the raw text */
    const char *strings;       /* points into mem[], after it: the bytes of f's spans */
    struct job_fields f;       /* a scanned job's fields */
    size_t raw_len;            /* bytes of raw text at mem[0] (NUL-terminated) */
    bool wrapped;              /* root is job_wrap()'s: the text is not a JSON object */
    bool scanned;              /* decoded by job_scan(): f holds its fields */
    char mem[];
};

/* job_decode.c: the bytes a class, a jid and a queue name must not hold. */
typedef bool job_byte_bad_fn(unsigned char c);
bool job_class_byte_bad(unsigned char c);
bool job_jid_byte_bad(unsigned char c);
bool job_queue_byte_bad(unsigned char c);
/* job_decode.c: whether `s` (`len` bytes) is a valid class, jid or queue name. */
enum job_name { JOB_NAME_CLASS, JOB_NAME_JID, JOB_NAME_QUEUE };
bool job_name_valid(enum job_name which, const char *s, size_t len);
/* job_decode.c: the job's tree, built from its text the first time a scanned job is asked
 * (job_root(), changes, encoding). Borrowed, valid until the job is freed. */
json_t *job_tree(const struct job *job);
/* job_decode.c: job_decode() without the fast path: the full parse (jansson) and validation,
 * for tests that compare the two. */
int job_decode_full(const char *text, size_t len, const char *default_queue, unsigned long long rnd,
                    struct job **ret_job, struct err *err);
/* job_decode.c: a count field's value when it is a whole number >= 0, else -1: absent,
 * invalid, or retry_count's own -1 (Sidekiq's "retry now"). */
json_int_t job_valid_count(const struct job *job, const char *name);
/* job_decode.c: whether `v` is a retry_count decoding accepts (a whole number -1 or more). */
bool job_retry_count_valid(const json_t *v);

/* job.c: bytes of the valid UTF-8 character at p (as jansson judges: no overlongs, surrogates
 * or code points above U+10FFFF), or 0 when p does not start one. */
size_t job_utf8_char_len(const unsigned char *p, size_t avail);
/* job.c: a job without root holding a copy of `raw`, `default_queue` and the `strings_len`
 * bytes of `strings` (job->strings; may be NULL when 0). Released with job_free(). */
struct job *job_alloc(const char *raw, size_t raw_len, const char *default_queue,
                      const char *strings, size_t strings_len);
/* job.c: gives `job` the wrapper root that carries a text which is not a JSON object to
 * `dead`. */
void job_wrap(struct job *job, unsigned long long rnd);

#endif
