/* emotion_parse_fuzz.c - libFuzzer target: any bytes as an endpoint's answer, an error
 * answer, a cached value, a Retry-After value and a job's args. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "jobs/emotion_parse.h"
#include "lib/err.h"
#include "lib/xfer.h"

#define FUZZ_NOW 1700000000.0

/* Stops the run with the reason: libFuzzer saves the input that got here. */
static void fuzz_assert(int ok, const char *what)
{
    if (ok)
        return;
    (void)fprintf(stderr, "emotion_parse_fuzz: %s\n", what);
    abort();
}

/* Labels are sorted, distinct, bounded; their cache value decodes to the same labels. */
static void check_labels(const struct emotion_labels *l)
{
    struct emotion_labels back = {0};
    struct err err = {0};
    char *value, *json;

    fuzz_assert(l->n >= 1 && l->n <= EMOTION_MAX_LABELS, "label count");
    for (size_t i = 0; i < l->n; i++) {
        fuzz_assert(isfinite(l->v[i].score) && l->v[i].score >= 0 && l->v[i].score <= 1,
                    "score range");
        fuzz_assert(*l->v[i].name && strlen(l->v[i].name) <= EMOTION_MAX_LABEL, "label size");
        fuzz_assert(i == 0 || l->v[i - 1].score >= l->v[i].score, "sorted by score");
    }
    json = emotion_labels_json(l);
    fuzz_assert(json != NULL, "emotion_labels_json");
    free(json);
    value = emotion_cache_encode("fuzz/model", l);
    fuzz_assert(value != NULL, "emotion_cache_encode");
    fuzz_assert(emotion_cache_decode(value, strlen(value), "fuzz/model", &back, &err) == 0,
                "a cache value we wrote does not decode");
    fuzz_assert(back.n == l->n, "cache round trip count");
    for (size_t i = 0; i < l->n; i++)
        fuzz_assert(strcmp(back.v[i].name, l->v[i].name) == 0 &&
                        fabs(back.v[i].score - l->v[i].score) < 1e-12,
                    "cache round trip labels");
    emotion_labels_clear(&back);
    free(value);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    struct emotion_labels l = {0};
    struct emotion_hf_error hf;
    struct emotion_input in;
    struct err err = {0};
    char *value;
    double s;
    json_t *args;
    int r;

    r = emotion_labels_parse(text, size, &l, &err);
    fuzz_assert(r == 0 || r == -EINVAL, "labels: neither 0 nor -EINVAL");
    fuzz_assert(r == 0 || (err.msg[0] && l.v == NULL), "labels: error without a sentence");
    if (r == 0)
        check_labels(&l);
    emotion_labels_clear(&l);

    if (emotion_hf_error_parse(text, size, &hf) == 0) {
        fuzz_assert(strlen(hf.message) <= EMOTION_MAX_MESSAGE, "message size");
        for (const char *p = hf.message; *p; p++)
            fuzz_assert((unsigned char)*p >= 0x20 && *p != 0x7f, "message printable");
        fuzz_assert(hf.estimated_time_s == -1 || hf.estimated_time_s >= 0, "estimated_time");
    }

    err = (struct err){0};
    r = emotion_cache_decode(text, size, "fuzz/model", &l, &err);
    fuzz_assert(r == 0 || r == -EINVAL || r == -ESTALE, "cache: unexpected code");
    if (r == 0)
        check_labels(&l);
    emotion_labels_clear(&l);

    value = malloc(size + 1);
    fuzz_assert(value != NULL, "malloc");
    memcpy(value, data, size);
    value[size] = '\0';
    if (xfer_retry_after_parse(value, FUZZ_NOW, &s) == 0)
        fuzz_assert(isfinite(s) && s >= 0, "retry-after range");
    free(value);

    args = json_loadb(text, size, JSON_ALLOW_NUL | JSON_DECODE_ANY, NULL);
    if (args) {
        err = (struct err){0};
        r = emotion_input_parse(args, 100, &in, &err);
        fuzz_assert(r == 0 || (r == -EINVAL && err.msg[0]), "input: error without a sentence");
        if (r == 0) {
            fuzz_assert(in.len >= 1 && in.len <= 100 && !memchr(in.text, 0, in.len), "text");
            value = emotion_request_json(in.text, in.len, 3);
            fuzz_assert(value != NULL, "emotion_request_json");
            free(value);
        }
        json_decref(args);
    }
    return 0;
}
