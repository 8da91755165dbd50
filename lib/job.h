/* job.h - the Sidekiq job JSON: decode, validate, record failures, encode (pure). */
#ifndef JOB_H
#define JOB_H

#include <stdbool.h>
#include <stddef.h>

struct err;
struct job; /* opaque */
struct traceparent;
typedef struct json_t json_t;

/* Every size the outside world controls has one named maximum. */
#define JOB_MAX_BYTES (512u << 20) /* a job's JSON text; worker.max_job_size is at most it */
#define JOB_EXCERPT 1024           /* bytes kept of a text a dead entry does not keep whole */
#define JOB_SHA256_HEX 65          /* a SHA-256 in hex, and NUL */
#define JOB_MAX_JID 64             /* a jid's length */
#define JOB_MAX_CLASS 128          /* a class name's length */
#define JOB_MAX_QUEUE 128          /* a queue name's length */
#define JOB_MAX_ERROR 1024         /* error_message bytes kept */
#define JOB_MAX_RETRIES 10000      /* a job's "retry": N */
#define JOB_MAX_UNIQUE_KEY 512     /* a job's "unique_key" bytes */
#define JOB_MAX_UNIQUE_FOR_S (36500.0 * 86400) /* a job's "unique_for" (seconds) */

/* The class of the wrapper job that carries a text which is not a JSON object to `dead`. */
#define JOB_INVALID_CLASS "nexus.invalid"

/* Decodes and validates `text` (`len` bytes, need not be NUL-terminated).
 * On success writes *ret_job: caller owns it, release with job_free().
 * On failure returns -EINVAL, fills `err` with a sentence such as
 * "'args' must be an array (got a string)", and still writes *ret_job with a job that
 * can be sent to `dead`: job_encode() of it gives a valid Sidekiq job keeping every field
 * of the original, or, when `text` is not a JSON object, a wrapper job
 * {"class":"nexus.invalid","args":[],"jid":…,"queue":…,"nexus_raw":"<text>"}.
 * `default_queue` names the queue when the job names none (a wrapper's "queue" has its bytes
 * that are not UTF-8 replaced by U+FFFD). `rnd` seeds the wrapper's jid. */
int job_decode(const char *text, size_t len, const char *default_queue, unsigned long long rnd,
               struct job **ret_job, struct err *err);

/* The dead entry of a job too large to decode, from its first `head_len` bytes (at most
 * JOB_EXCERPT are used), its `size` and the hex SHA-256 of the whole text: a wrapper job
 * {"class":"nexus.invalid","args":[],"jid":…,"queue":…,"nexus_excerpt":"<first KiB>",
 * "nexus_original_size":N,"nexus_original_sha256":"…","nexus_truncated":true}, with
 * "nexus_original_class" when a "class" string shows in the excerpt. Its jid is the one the
 * excerpt shows (a valid jid string after "jid":), else one drawn from `rnd`. Its queue is
 * `default_queue`, or when that is NULL the excerpt's "queue" string (else "default").
 * job_raw() of it is "". Caller owns the job, job_free(). */
struct job *job_cut(const char *head, size_t head_len, size_t size, const char *sha256_hex,
                    const char *default_queue, unsigned long long rnd);
/* A wrapper job (the text was not a JSON object) whose text is over `keep_max` bytes trades
 * "nexus_raw" and "nexus_raw_base64" for the fields of job_cut(): excerpt, size, SHA-256,
 * "nexus_truncated". Any other job is left as it is. Returns 0, or -ENOMEM when OpenSSL
 * cannot hash the text (job unchanged). */
int job_cut_raw(struct job *job, size_t keep_max);
/* SHA-256 of `len` bytes as 64 lowercase hex digits. Returns 0, or -ENOMEM when OpenSSL
 * fails. */
int job_sha256_hex(const void *data, size_t len, char out[JOB_SHA256_HEX]);
/* SHA-256 of the job's args in canonical JSON (keys sorted, compact, reals to 17 digits), so
 * that a second delivery of a job gives the same hash whatever the key order its client wrote.
 * Returns 0, or -ENOMEM when OpenSSL fails. */
int job_args_sha256(const struct job *job, char out[JOB_SHA256_HEX]);
/* That canonical JSON of the job's args. Caller owns the text, release with free(). */
char *job_args_canonical(const struct job *job);

/* A new job as a client makes it (Sidekiq 7 form: times as float epoch seconds).
 * Takes a reference to `args` (a JSON array). `at` > 0 adds "at" (for `schedule`).
 * `jid` NULL draws one from `rnd` (24 lowercase hex). Caller owns the job, job_free().
 * NULL when `args` is not an array, a string is not UTF-8 or a time is not finite. */
struct job *job_new(const char *class_name, json_t *args, const char *queue, const char *jid,
                    double now, double at, unsigned long long rnd);

void job_free(struct job *job);

/* Whether `queue` (`len` bytes) is a queue name a job may carry: non-empty, at most
 * JOB_MAX_QUEUE bytes, no whitespace or control characters. Returns 0, or -EINVAL with a
 * sentence naming it `name` in `err`. */
int job_check_queue(const char *name, const char *queue, size_t len, struct err *err);

/* Accessors. Strings are borrowed, valid until the job is freed (changes never touch
 * class, jid, queue or args). A job that failed validation gives "" for a missing or
 * invalid jid or class, `default_queue` for its queue and an empty array for its args. */
const char *job_jid(const struct job *job);
const char *job_class(const struct job *job);
const char *job_queue(const struct job *job);
json_t *job_args(const struct job *job);  /* borrowed */
json_t *job_root(const struct job *job);  /* borrowed; the whole object */
/* The text the job was decoded from, byte for byte (what sits in Redis), also after
 * changes; "" (length 0) for a job from job_new(). */
const char *job_raw(const struct job *job, size_t *ret_len);
/* -1 before the first failure, then 0, 1, ... */
int job_retry_count(const struct job *job);
/* How many times a process died while running it (the "nexus_recoveries" field). */
int job_recoveries(const struct job *job);
/* enqueued_at (or created_at) in epoch seconds; 0 when absent. */
double job_enqueued_at(const struct job *job);
/* created_at (or enqueued_at) in epoch seconds: when the client made it; 0 when absent. */
double job_created_at(const struct job *job);

/* The retries this job may have: its "retry" field (true or absent = `class_default`,
 * false = 0, N = N; anything else, only in a job that failed validation, = 0). */
int job_max_retries(const struct job *job, int class_default);
/* A unique job's "unique_for" in seconds (docs/PROTOCOL.md, "Unique jobs"); 0 when the job
 * has none (or, in a job that failed validation, an invalid one). */
double job_unique_for(const struct job *job);
/* Its "unique_key" (borrowed, valid until the job is freed; may hold NUL bytes: its length
 * goes to *ret_len), or NULL when it has none. */
const char *job_unique_key(const struct job *job, size_t *ret_len);
/* Its "traceparent" (W3C Trace Context, docs/PROTOCOL.md): 0 with *ret written; -ENOENT when
 * it has none; -EINVAL with a sentence in `err` when it has one that is not a version-00
 * traceparent. A bad one never fails the job: it runs untraced. */
int job_traceparent(const struct job *job, struct traceparent *ret, struct err *err);
/* Its "tracestate" when the job also has a valid traceparent and the value is 1..512 bytes
 * of printable ASCII (passed on as it is), else NULL. Borrowed, valid until the job is
 * freed. */
const char *job_tracestate(const struct job *job);
/* false when the job says "dead": false (discard after the last retry). */
bool job_dead_allowed(const struct job *job);

/* Records a failure as Sidekiq does: the first sets retry_count = 0 and failed_at, later
 * ones increment retry_count and set retried_at; error_class and error_message (cut to
 * JOB_MAX_ERROR bytes on a UTF-8 boundary, invalid UTF-8 replaced by U+FFFD) always.
 * Times are written in the units the job already uses. */
void job_record_failure(struct job *job, const char *error_class, const char *error_message,
                        double now);
/* Increments "nexus_recoveries". */
void job_record_recovery(struct job *job);
/* Sets enqueued_at to `now` in the job's units. */
void job_set_enqueued_at(struct job *job, double now);

/* What `v` is, for "(got ...)" in error sentences: "an object", "an array", "a string",
 * "a number", "true", "false", "null", or "nothing" for NULL. Static text. Pure. */
const char *job_json_phrase(const json_t *v);

/* Compact JSON of the job as it is now. Caller owns the string, release with free().
 * Never NULL for a job from job_decode(), job_cut() or job_new(); NULL only when jansson
 * refuses to write the object. */
char *job_encode(const struct job *job, size_t *ret_len);

/* A time value in the job's units: integer milliseconds when its created_at is above 1e11
 * (Sidekiq 8), else float seconds. New reference; caller owns it. */
json_t *job_time_value(const struct job *job, double epoch_s);

#endif
