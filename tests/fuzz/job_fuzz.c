/* job_fuzz.c - libFuzzer target: any bytes through job_decode, a failure, encode, decode;
 * through the fast decode (job_scan) and the full parse alike, which must agree; and as the
 * excerpt of a job too large to decode (job_cut, job_cut_raw). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "lib/err.h"
#include "lib/job.h"
#include "lib/job_diff.h"
#include "lib/job_int.h"

#define FUZZ_NOW 1700000000.5

/* Stops the run with the reason: libFuzzer saves the input that got here. */
static void fuzz_assert(int ok, const char *what)
{
    if (ok)
        return;
    (void)fprintf(stderr, "job_fuzz: %s\n", what);
    abort();
}

static int base64_value(char c)
{
    static const char digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const char *p = c ? strchr(digits, c) : NULL;

    return p ? (int)(p - digits) : -1;
}

/* Decodes padded base64 into `out` (room for len * 3 / 4 bytes); returns bytes or -1. */
static long base64_decode(const char *s, size_t len, unsigned char *out)
{
    size_t i, n = 0;

    if (len % 4 != 0)
        return -1;
    for (i = 0; i < len; i += 4) {
        int a = base64_value(s[i]), b = base64_value(s[i + 1]);
        int c = s[i + 2] == '=' ? 0 : base64_value(s[i + 2]);
        int d = s[i + 3] == '=' ? 0 : base64_value(s[i + 3]);
        uint32_t w;

        if (a < 0 || b < 0 || c < 0 || d < 0)
            return -1;
        w = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 | (uint32_t)d;
        out[n++] = (unsigned char)(w >> 16);
        if (s[i + 2] != '=')
            out[n++] = (unsigned char)(w >> 8);
        if (s[i + 3] != '=')
            out[n++] = (unsigned char)w;
    }
    return (long)n;
}

/* A wrapper job must carry the input exactly: in nexus_raw, or in nexus_raw_base64 when
 * nexus_raw had bytes replaced. */
static void check_wrapper(const struct job *job, const uint8_t *data, size_t size)
{
    const json_t *raw = json_object_get(job_root(job), "nexus_raw");
    const json_t *raw64 = json_object_get(job_root(job), "nexus_raw_base64");
    unsigned char *bytes;
    long n;

    fuzz_assert(strcmp(job_class(job), JOB_INVALID_CLASS) == 0, "wrapper class");
    fuzz_assert(strlen(job_jid(job)) == 24, "wrapper jid");
    fuzz_assert(json_is_string(raw), "wrapper nexus_raw");
    if (!raw64) {
        fuzz_assert(json_string_length(raw) == size &&
                        memcmp(json_string_value(raw), data, size) == 0,
                    "nexus_raw differs from the input");
        return;
    }
    bytes = malloc(json_string_length(raw64) + 1);
    fuzz_assert(bytes != NULL, "malloc");
    n = base64_decode(json_string_value(raw64), json_string_length(raw64), bytes);
    fuzz_assert(n == (long)size && memcmp(bytes, data, size) == 0,
                "nexus_raw_base64 differs from the input");
    free(bytes);
}

/* The encoding must always be a JSON object, and decoding it must give the same encoding. */
static void check_encoding(const struct job *job, int r)
{
    struct job *again = NULL;
    struct err err = {0};
    json_error_t jerr;
    char *text, *text2;
    size_t len, len2;
    json_t *root;
    int r2;

    text = job_encode(job, &len);
    fuzz_assert(text != NULL, "job_encode failed");
    fuzz_assert(strlen(text) == len, "job_encode length");
    root = json_loadb(text, len, JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES, &jerr);
    fuzz_assert(json_is_object(root), "job_encode gave no JSON object");
    json_decref(root);

    r2 = job_decode(text, len, "default", 2, &again, &err);
    fuzz_assert(again != NULL, "second decode gave no job");
    /* A valid job stays valid; an invalid object may have been repaired by the failure
     * (it sets retry_count), but never becomes text that is no object. */
    fuzz_assert(r == 0 ? r2 == 0 : r2 == 0 || r2 == -EINVAL, "second decode result");
    if (r2 == 0) {
        fuzz_assert(strcmp(job_jid(again), job_jid(job)) == 0, "jid changed");
        fuzz_assert(strcmp(job_class(again), job_class(job)) == 0, "class changed");
        fuzz_assert(strcmp(job_queue(again), job_queue(job)) == 0, "queue changed");
        fuzz_assert(job_retry_count(again) == job_retry_count(job), "retry_count changed");
    }
    text2 = job_encode(again, &len2);
    fuzz_assert(text2 != NULL && len2 == len && memcmp(text, text2, len) == 0,
                "encoding is not stable across decode");
    free(text2);
    free(text);
    job_free(again);
}

/* The input as the head of a job too large to decode, and as an undecodable job's text over
 * dead_keep_max: the dead entries encode to valid JSON of bounded size. */
static void check_cut(const uint8_t *data, size_t size)
{
    struct job *job = job_cut((const char *)data, size, size + (1u << 20), "00", "q", size);
    struct job *wrapped = NULL;
    struct err err = {0};
    char *enc;

    fuzz_assert(job != NULL, "job_cut");
    fuzz_assert(job_jid(job)[0] != '\0', "job_cut: no jid");
    job_record_failure(job, "NexusJobTooLarge", "too large", FUZZ_NOW);
    enc = job_encode(job, NULL);
    fuzz_assert(enc != NULL && strlen(enc) < 8 * JOB_EXCERPT, "job_cut: encoding");
    free(enc);
    job_free(job);
    if (job_decode((const char *)data, size, "default", size, &wrapped, &err) < 0) {
        fuzz_assert(job_cut_raw(wrapped, 16) == 0, "job_cut_raw");
        enc = job_encode(wrapped, NULL);
        fuzz_assert(enc != NULL, "job_cut_raw: encoding");
        free(enc);
    }
    job_free(wrapped);
}

/* The fast decode and the full parse give the same result, sentence, accessors and encoding,
 * also after a failure is recorded. */
static void check_paths_agree(const uint8_t *data, size_t size)
{
    struct err fast_err = {0}, full_err = {0};
    struct job *fast = NULL, *full = NULL;
    int fast_r, full_r;

    fast_r = job_decode((const char *)data, size, "default", size, &fast, &fast_err);
    full_r = job_decode_full((const char *)data, size, "default", size, &full, &full_err);
    fuzz_assert(fast_r == full_r, "fast and full decode: results differ");
    fuzz_assert(strcmp(fast_err.msg, full_err.msg) == 0, "fast and full decode: sentences differ");
    fuzz_assert(job_diff(fast, full) == NULL, "fast and full decode: a job differs");
    job_record_failure(fast, "Fuzz::Error", "x", FUZZ_NOW);
    job_record_failure(full, "Fuzz::Error", "x", FUZZ_NOW);
    fuzz_assert(job_diff(fast, full) == NULL, "fast and full decode: a failure differs");
    job_free(fast);
    job_free(full);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct job *job = NULL;
    struct err err = {0};
    size_t raw_len;
    char *message;
    json_t *t;
    int r;

    r = job_decode((const char *)data, size, "default", size, &job, &err);
    fuzz_assert(r == 0 || r == -EINVAL, "decode gave neither 0 nor -EINVAL");
    fuzz_assert(job != NULL, "decode gave no job");
    fuzz_assert(r == 0 || (err.code == r && err.msg[0] != '\0'), "error without a sentence");
    fuzz_assert(memcmp(job_raw(job, &raw_len), data, size) == 0 && raw_len == size, "raw");
    if (r < 0 && json_object_get(job_root(job), "nexus_raw") &&
        (strncmp(err.msg, "invalid JSON: ", 14) == 0 || strncmp(err.msg, "job must be", 11) == 0))
        check_wrapper(job, data, size);

    /* Accessors give safe values whatever the job holds. */
    (void)job_max_retries(job, 25);
    (void)job_dead_allowed(job);
    (void)job_enqueued_at(job);
    (void)job_recoveries(job);
    fuzz_assert(job_args(job) != NULL && json_is_array(job_args(job)), "args");
    t = job_time_value(job, FUZZ_NOW);
    fuzz_assert(t != NULL, "job_time_value");
    json_decref(t);

    /* The input itself as the error message: any bytes, cut and cleaned. */
    message = malloc(size + 1);
    fuzz_assert(message != NULL, "malloc");
    memcpy(message, data, size);
    message[size] = '\0';
    job_record_failure(job, "Fuzz::Error", message, FUZZ_NOW);
    free(message);
    fuzz_assert(job_retry_count(job) >= 0, "retry_count after a failure");
    job_record_recovery(job);
    job_set_enqueued_at(job, FUZZ_NOW);

    check_encoding(job, r);
    job_free(job);
    check_paths_agree(data, size);
    check_cut(data, size);
    return 0;
}
