/* rollup_parse_fuzz.c - libFuzzer target: any bytes as a date, a funnel counter key, a count
 * and (as JSON) the job's args; a range that parses is walked with rollup_pass(), whose passes
 * must cover it day after day with patterns that fit. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "jobs/rollup_parse.h"
#include "lib/err.h"

#define MAX_DAYS 400 /* analytics.max_days of the fuzzed runs */

static void fuzz_assert(int ok, const char *what)
{
    if (ok)
        return;
    (void)fprintf(stderr, "rollup_parse_fuzz: %s\n", what);
    abort();
}

static void check_day(const uint8_t *data, size_t size)
{
    char back[ROLLUP_DATE_LEN + 1];
    int32_t day, again;

    if (rollup_day_parse((const char *)data, size, &day) < 0)
        return;
    fuzz_assert(size == ROLLUP_DATE_LEN, "a date of another length");
    rollup_day_format(day, back);
    fuzz_assert(memcmp(back, data, ROLLUP_DATE_LEN) == 0, "a date formats differently");
    fuzz_assert(rollup_day_parse(back, ROLLUP_DATE_LEN, &again) == 0 && again == day,
                "a formatted date does not parse back");
}

static void check_key(const uint8_t *data, size_t size)
{
    static const char *const prefixes[] = {"", "funnel:", "app*[x]:"};
    const char *key = (const char *)data;
    struct err err = {0};
    struct rollup_key k;
    int64_t count;

    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
        if (rollup_key_parse(key, size, prefixes[i], &k, &err) < 0) {
            fuzz_assert(err.msg[0] != '\0', "a refusal without a reason");
            continue;
        }
        fuzz_assert(k.id >= key && k.id + k.id_len <= key + size, "the id is outside the key");
        fuzz_assert(k.id_len >= 1 && k.id_len <= ROLLUP_ID_MAX, "the id's length");
        fuzz_assert(k.step >= 0, "a negative step");
        fuzz_assert(memcmp(key, prefixes[i], strlen(prefixes[i])) == 0, "another prefix");
    }
    if (rollup_count_parse(key, size, &count) == 0)
        fuzz_assert(count >= 0 && size >= 1, "a count out of range");
}

static void check_args(const uint8_t *data, size_t size)
{
    json_t *args = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
    struct rollup_range range;
    struct err err = {0};
    char pattern[ROLLUP_PATTERN_MAX];
    int32_t start, last;
    int passes = 0;

    if (!args)
        return;
    if (rollup_args_parse(args, MAX_DAYS, &range, &err) < 0) {
        fuzz_assert(err.msg[0] != '\0', "a refusal without a reason");
        json_decref(args);
        return;
    }
    if (range.today)
        rollup_range_today(&range, 20000);
    fuzz_assert(range.from <= range.to && range.to - range.from < MAX_DAYS, "a bad range");
    for (start = range.from; start <= range.to; start = last + 1) {
        fuzz_assert(rollup_pass(&range, start, "funnel:*", pattern, sizeof(pattern), &last) == 0,
                    "a pattern that does not fit");
        fuzz_assert(last >= start && last <= range.to, "a pass outside the range");
        fuzz_assert(strlen(pattern) < sizeof(pattern), "an unterminated pattern");
        fuzz_assert(++passes <= MAX_DAYS, "more passes than days");
    }
    json_decref(args);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_day(data, size);
    check_key(data, size);
    check_args(data, size);
    return 0;
}
