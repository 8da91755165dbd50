/* tally.h - per-class counts and duration histograms of finished attempts: summed in memory
 * between two outcome flushes, written by finish.lua into per-minute and per-quarter-hour
 * hashes, and read back into the dashboard's metrics (pure; docs/dashboard.md, "Metrics").
 *
 * The hashes' fields (docs/PROTOCOL.md, `nexus:metrics:WIDTH:SLOT`): `n|CLASS` attempts
 * finished, `f|CLASS` of them failed (retry, dead, discarded), `d|B|CLASS` attempts whose
 * duration fell in bucket B, `l|B|CLASS` those whose queue latency (enqueued_at to start) did,
 * `q|QUEUE` the sum of the queue's latencies (ms) and `k|QUEUE` their count. */
#ifndef TALLY_H
#define TALLY_H

#include <stdbool.h>
#include <stddef.h>

typedef struct json_t json_t;

/* The two resolutions written at each flush: one-minute slots for the last hour, kept
 * TALLY_MINUTE_TTL_S, and quarter-hour slots for the last day, kept TALLY_QUARTER_TTL_S. */
#define TALLY_MINUTE_S 60
#define TALLY_MINUTE_TTL_S 3900
#define TALLY_QUARTER_S 900
#define TALLY_QUARTER_TTL_S 87300
/* Fields one slot's hash may hold: a new field beyond them is not written (memory bound). */
#define TALLY_FIELDS_MAX 4096
/* Histogram buckets: bucket b holds values of 2^((b - 8) / 4) ms up to the next, so each is
 * 19 % wide; values below 0.25 ms fall in 0, above 2^24 ms (4.7 h) in the last. */
#define TALLY_BUCKETS 105

struct tally; /* opaque */

/* An empty tally. Caller owns it, release with tally_free() (accepts NULL). */
struct tally *tally_new(void);
void tally_free(struct tally *t);
/* Counts one finished attempt of `job_class` from `queue` (both borrowed, copied when new):
 * `failed`, its `duration_s` and its `latency_s` (< 0: unknown, not counted). A tally keeps
 * 64 classes and 64 queues between two flushes; attempts of others are not counted, nor
 * those of a name holding a tab or a line break. A lookup and a few increments: the fields
 * are written out by tally_text(). */
void tally_note(struct tally *t, const char *job_class, const char *queue, bool failed,
                double duration_s, double latency_s);
/* What was noted as "FIELD\tCOUNT\n" lines (finish.lua's ARGV). Caller owns the text,
 * release with free(); NULL when nothing was noted. */
char *tally_text(const struct tally *t, size_t *ret_len);
/* Forgets what was noted (once its text is sent). */
void tally_clear(struct tally *t);

/* The bucket of `ms`, and the value a bucket stands for (its geometric middle, ms). */
unsigned tally_bucket(double ms);
double tally_bucket_ms(unsigned bucket);

/* A window of slots read back: `nslots` slots of `width_s` seconds, slot 0 the oldest. */
struct tally_view; /* opaque */

/* Caller owns it, release with tally_view_free() (accepts NULL). */
struct tally_view *tally_view_new(unsigned width_s, unsigned nslots, double first_slot_s);
void tally_view_free(struct tally_view *v);
/* Adds one field of slot `slot`'s hash (`field` of `len` bytes, borrowed) with its count.
 * Fields of another shape are ignored. */
void tally_view_add(struct tally_view *v, unsigned slot, const char *field, size_t len,
                    long long count);
/* The window as the dashboard's /api/metrics answers it: per class (the `max_classes` with
 * the most attempts) jobs, failed, failure_rate, duration and latency p50/p95/p99 and the
 * attempts per slot; the whole fleet's processed and failed per slot; per queue (at most
 * `max_queues`) the mean latency per slot (null for a slot without jobs). Caller owns the
 * result, json_decref(). */
json_t *tally_view_json(const struct tally_view *v, unsigned max_classes, unsigned max_queues);

#endif
