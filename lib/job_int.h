/* job_int.h - what lib/job.c (make, change, encode) and lib/job_decode.c (decode, validate,
 * read) share about a job; private to them: the contract is lib/job.h. */
#ifndef JOB_INT_H
#define JOB_INT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#define JOB_DEFAULT_QUEUE "default"
/* Sidekiq 8 writes integer epoch milliseconds; no seconds value is this large until 5138. */
#define JOB_MS_ABOVE 1e11
/* 17 significant digits: every double is written back exactly. */
#define JOB_DUMP_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(17))

struct job {
    json_t *root;              /* owned; always a JSON object */
    json_t *no_args;           /* owned empty array job_args() gives when "args" is none */
    const char *default_queue; /* points into mem[], after the raw text */
    size_t raw_len;            /* bytes of raw text at mem[0] (NUL-terminated) */
    bool wrapped;              /* root is job_wrap()'s: the text is not a JSON object */
    char mem[];
};

/* job_decode.c: the bytes a class, a jid and a queue name must not hold. */
typedef bool job_byte_bad_fn(unsigned char c);
bool job_class_byte_bad(unsigned char c);
bool job_jid_byte_bad(unsigned char c);
bool job_queue_byte_bad(unsigned char c);
/* job_decode.c: a count field's value when it is a whole number >= 0, else -1: absent,
 * invalid, or retry_count's own -1 (Sidekiq's "retry now"). */
json_int_t job_valid_count(const struct job *job, const char *name);
/* job_decode.c: whether `v` is a retry_count decoding accepts (a whole number -1 or more). */
bool job_retry_count_valid(const json_t *v);

/* job.c: a job without root holding a copy of `raw` and `default_queue`. Released with
 * job_free(). */
struct job *job_alloc(const char *raw, size_t raw_len, const char *default_queue);
/* job.c: gives `job` the wrapper root that carries a text which is not a JSON object to
 * `dead`. */
void job_wrap(struct job *job, unsigned long long rnd);

#endif
