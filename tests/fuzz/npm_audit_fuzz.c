/* npm_audit_fuzz.c - libFuzzer target: any bytes as `npm audit --json` output, and through
 * the output tail (jobs/tail.c) against a plain copy of the stream. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "jobs/npm_audit.h"
#include "jobs/tail.h"
#include "lib/err.h"

/* Stops the run with the reason: libFuzzer saves the input that got here. */
static void fuzz_assert(int ok, const char *what)
{
    if (ok)
        return;
    (void)fprintf(stderr, "npm_audit_fuzz: %s\n", what);
    abort();
}

static void audit_check(const uint8_t *data, size_t size)
{
    struct npm_audit a;
    struct err err = {0};
    json_t *result = NULL;
    long long sum = 0;
    char summary[256];
    int r;

    r = npm_audit_parse((const char *)data, size, &a, &result, &err);
    fuzz_assert(r == 0 || r == -EINVAL, "parse gave neither 0 nor -EINVAL");
    if (r < 0) {
        fuzz_assert(result == NULL && err.msg[0], "a failure without its sentence");
        return;
    }
    for (int level = NPM_AUDIT_INFO; level <= NPM_AUDIT_CRITICAL; level++) {
        fuzz_assert(a.count[level] >= 0, "a negative count");
        sum += a.count[level];
    }
    fuzz_assert(a.total >= sum, "total below the sum of the levels");
    fuzz_assert(npm_audit_worst(&a) >= 0 && npm_audit_worst(&a) <= NPM_AUDIT_CRITICAL,
                "worst level out of range");
    fuzz_assert(json_object_size(json_object_get(result, "packages")) <= NPM_AUDIT_MAX_PACKAGES,
                "too many packages");
    fuzz_assert(json_integer_value(json_object_get(json_object_get(result, "vulnerabilities"),
                                                   "total")) == a.total,
                "the result's total differs");
    npm_audit_summary(&a, 0, summary, sizeof(summary));
    json_decref(result);
}

/* The stream in chunks of up to 255 bytes (first byte of each: its length) into a tail of
 * 1..64 bytes: it keeps exactly the stream's last bytes, and its text is valid UTF-8. */
static void tail_check(const uint8_t *data, size_t size)
{
    size_t limit = size ? (size_t)(data[0] % 64) + 1 : 1, total = 0, kept, len;
    struct tail *t = tail_new(limit);
    char *stream = malloc(size + 1), *text, *want;
    json_t *s;

    fuzz_assert(t && stream, "out of memory");
    for (size_t i = 1; i < size;) {
        size_t n = data[i++];
        if (n > size - i)
            n = size - i;
        tail_write(t, (const char *)data + i, n);
        memcpy(stream + total, data + i, n);
        total += n;
        i += n;
    }
    kept = total < limit ? total : limit;
    fuzz_assert(tail_len(t) == kept, "kept count");
    fuzz_assert(tail_dropped(t) == total - kept, "dropped count");
    text = tail_text(t, &len);
    want = tail_utf8(stream + (total - kept), kept, NULL);
    fuzz_assert(text && want && strcmp(text, want) == 0 && strlen(text) == len,
                "the tail differs from the stream's end");
    s = json_stringn(text, len); /* NULL for invalid UTF-8 or a NUL byte */
    fuzz_assert(s != NULL, "tail text is not valid UTF-8");
    json_decref(s);
    free(text);
    free(want);
    free(stream);
    tail_free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    audit_check(data, size);
    tail_check(data, size);
    return 0;
}
