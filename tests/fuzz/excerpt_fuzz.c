/* excerpt_fuzz.c - libFuzzer target: any bytes, cut anywhere, through excerpt_head_object()
 * and excerpt_string(). A member kept is the one of the whole text's decoding when that is an
 * object (without duplicate keys); an excerpt is at most `max` bytes (the input's last byte),
 * and a prefix of the input when the input is UTF-8. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "queue/excerpt.h"

static void fuzz_assert(int ok, const char *what)
{
    if (ok)
        return;
    (void)fprintf(stderr, "excerpt_fuzz: %s\n", what);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    size_t cut = size ? data[0] % (size + 1) : 0, max = size ? data[size - 1] : 0;
    json_t *whole = json_loadb(text, size, JSON_REJECT_DUPLICATES, NULL);
    json_t *head = excerpt_head_object(text, cut), *v, *s, *t;
    const char *key;

    if (!json_is_object(whole)) {
        json_decref(whole);
        whole = NULL;
    }
    fuzz_assert(head != NULL && json_is_object(head), "the head is an object");
    /* jansson's full decoding passes over a NUL byte between tokens; the head stops there */
    if (whole && cut == size && !memchr(text, 0, size))
        fuzz_assert(json_equal(head, whole), "a whole object is read whole");
    json_object_foreach(head, key, v)
    {
        if (whole)
            fuzz_assert(json_equal(v, json_object_get(whole, key)),
                        "a member kept is the one of the whole object");
    }
    s = excerpt_string(text, size, max);
    fuzz_assert(s != NULL, "an excerpt is made");
    fuzz_assert(json_string_length(s) <= max && json_string_length(s) <= size,
                "an excerpt is at most max bytes");
    t = json_stringn(text, size);
    if (t)
        fuzz_assert(memcmp(json_string_value(s), text, json_string_length(s)) == 0,
                    "an excerpt of UTF-8 is its prefix");
    json_decref(t);
    json_decref(s);
    json_decref(head);
    json_decref(whole);
    return 0;
}
