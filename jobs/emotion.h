/* emotion.h - the `emotion.analyze` class: the emotions of a text, from a Hugging Face
 * text-classification endpoint, cached in Redis and stored in PostgreSQL (docs/emotion.md).
 *
 * args: ["text"], ["text", source] or [{"text": "...", "source": ...}] (jobs/emotion_parse.h).
 * Steps, each a callback on the loop:
 *   1. GET {emotion.cache_prefix}{sha256 of text} from the main Redis connection; a value of
 *      the configured model is used as the answer. A cache that cannot be read (Redis down,
 *      error reply, bad value) is skipped with a warning: the cache only saves requests.
 *   2. Otherwise POST the text to the endpoint (libcurl multi through task_env()->xfer):
 *      200 with labels -> SET the cache (PX emotion.cache_ttl; failures only warned);
 *      503 with estimated_time, 503 or 429 with Retry-After -> task_defer() for that long,
 *      1 s..emotion.max_defer (429 without it: 60 s), the attempt not spent;
 *      anything else (timeout, connection, 4xx/5xx, invalid JSON, wrong shape, an answer
 *      over emotion.max_response) -> task_fail() with a sentence and an excerpt.
 *   3. INSERT one row into nexus.emotion_results (ON CONFLICT (jid) DO NOTHING, so that a
 *      job delivered again writes no second row), cached = whether step 1 answered.
 * Error classes: ArgumentError, NexusNoDatabase, NexusEmotionNoToken, NexusEmotionTimeout,
 * NexusEmotionUnreachable, NexusEmotionBadAnswer, NexusEmotionUnauthorized,
 * NexusEmotionUnavailable, NexusEmotionHTTPError, and sql.c's NexusDatabaseDown,
 * NexusDatabaseBusy, NexusDatabaseTimeout, PG::Error. */
#ifndef EMOTION_H
#define EMOTION_H

struct handler;

extern const struct handler handler_emotion; /* static */

#endif
