/* cron_fuzz.c - libFuzzer target: any text through cron_parse, and what parses through
 * cron_next in UTC and New York, whose answers must be later, bounded and, in UTC, match. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/cron.h"
#include "lib/err.h"

#define HORIZON_S (5 * 366 * 86400LL) /* cron_next's "5 years" */

/* 2026-01-01, just before New York's spring gap and fall-back hour, 2000-02-29, 1970 */
static const time_t starts[] = {1767225600, 1772938800, 1793505600, 951782400, 0};
static const char *const zones[] = {"UTC", "America/New_York"};

/* Stops the run with the reason: libFuzzer saves the input that got here. */
static void fuzz_assert(int ok, const char *what)
{
    if (ok)
        return;
    (void)fprintf(stderr, "cron_fuzz: %s\n", what);
    abort();
}

/* A UTC fire time must be a whole minute the expression matches, by cronie's day rule. */
static void check_utc_match(const struct cron_expr *e, time_t t)
{
    struct tm tm;
    int mday, wday;

    fuzz_assert(gmtime_r(&t, &tm) != NULL && tm.tm_sec == 0, "fire time is no whole minute");
    fuzz_assert(e->minutes >> tm.tm_min & 1, "minute does not match");
    fuzz_assert(e->hours >> tm.tm_hour & 1, "hour does not match");
    fuzz_assert(e->months >> (tm.tm_mon + 1) & 1, "month does not match");
    mday = (int)(e->mdays >> tm.tm_mday & 1);
    wday = (int)(e->wdays >> tm.tm_wday & 1);
    fuzz_assert(e->mday_star || e->wday_star ? mday && wday : mday || wday, "day does not match");
}

static void check_next(const struct cron_expr *e, const char *tz, time_t after)
{
    for (int i = 0; i < 3; i++) {
        struct err err = {0};
        time_t next = after;
        int r = cron_next(e, tz, after, &next, &err);

        fuzz_assert(r == 0 || r == -ERANGE, "cron_next gave neither 0 nor -ERANGE");
        if (r < 0) {
            fuzz_assert(err.code == r && strcmp(err.msg, "never fires within 5 years") == 0,
                        "-ERANGE without its sentence");
            fuzz_assert(next == after, "*ret_next written on failure");
            return;
        }
        fuzz_assert(next > after, "fire time not after the start");
        fuzz_assert((int64_t)next - (int64_t)after <= HORIZON_S, "fire time beyond 5 years");
        if (strcmp(tz, "UTC") == 0)
            check_utc_match(e, next);
        after = next;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cron_expr e;
    struct err err = {0};
    char *text;
    int r;

    text = malloc(size + 1);
    fuzz_assert(text != NULL, "malloc");
    memcpy(text, data, size);
    text[size] = '\0';
    r = cron_parse(text, &e, &err);
    free(text);
    fuzz_assert(r == 0 || r == -EINVAL, "cron_parse gave neither 0 nor -EINVAL");
    if (r < 0) {
        fuzz_assert(err.code == r && err.msg[0] != '\0', "error without a sentence");
        return 0;
    }
    fuzz_assert(e.minutes && !(e.minutes >> 60), "minutes outside 0-59 or empty");
    fuzz_assert(e.hours && !(e.hours >> 24), "hours outside 0-23 or empty");
    fuzz_assert(e.mdays && !(e.mdays & 1), "days of month outside 1-31 or empty");
    fuzz_assert(e.months && !(e.months & 0xe001), "months outside 1-12 or empty");
    fuzz_assert(e.wdays && !(e.wdays & 0x80), "days of week outside 0-6 or empty");
    for (size_t z = 0; z < sizeof(zones) / sizeof(zones[0]); z++)
        for (size_t s = 0; s < sizeof(starts) / sizeof(starts[0]); s++)
            check_next(&e, zones[z], starts[s]);
    return 0;
}
