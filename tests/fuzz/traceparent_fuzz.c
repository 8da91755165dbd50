/* traceparent_fuzz.c - libFuzzer target: any bytes as a traceparent (accepted ones written
 * back byte for byte, their child accepted too) and as a tracestate. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "lib/traceparent.h"

/* Stops the run with the reason: libFuzzer saves the input that got here. */
static void fuzz_assert(int ok, const char *what)
{
    if (ok)
        return;
    (void)fprintf(stderr, "traceparent_fuzz: %s\n", what);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    struct traceparent tp, child;
    char out[TRACEPARENT_LEN + 1];
    struct err err = {0};
    unsigned long long rnd = 0;

    if (traceparent_parse("traceparent", s, size, &tp, &err) == 0) {
        fuzz_assert(memcmp(traceparent_format(&tp, out), s, size) == 0 && size == 55,
                    "an accepted traceparent is written back as it came");
        memcpy(&rnd, s + 3, sizeof(rnd));
        traceparent_child(&tp, rnd, &child);
        fuzz_assert(traceparent_parse("traceparent", traceparent_format(&child, out),
                                      TRACEPARENT_LEN, &tp, NULL) == 0,
                    "a child is a valid traceparent");
    } else {
        fuzz_assert(err.msg[0] != '\0', "a refusal says why");
    }
    (void)tracestate_check("tracestate", s, size, &err);
    return 0;
}
