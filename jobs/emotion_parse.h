/* emotion_parse.h - emotion.analyze's pure part: the job's args, the Hugging Face
 * text-classification request and answers, the cached result, Retry-After, SHA-256. */
#ifndef EMOTION_PARSE_H
#define EMOTION_PARSE_H

#include <stddef.h>

struct err;
typedef struct json_t json_t;

#define EMOTION_MAX_LABELS 256 /* labels in one answer */
#define EMOTION_MAX_LABEL 256  /* bytes of one label */
#define EMOTION_MAX_SOURCE 256 /* bytes of the source reference */
#define EMOTION_MAX_MESSAGE 300 /* bytes of the endpoint's error message kept */

/* What to analyze, from the job's args: ["text"], ["text", source] or
 * [{"text": "...", "source": ...}]; a source is a string, an integer or null. */
struct emotion_input {
    const char *text; /* borrowed from the args: 1..max_text bytes, UTF-8, no NUL, not blank */
    size_t len;
    char source[EMOTION_MAX_SOURCE + 1]; /* "" when none */
};

/* Fills `ret` (its text borrowed, valid as `args`). Returns 0, or -EINVAL with a sentence in
 * `err`, e.g. "args[0] must be a string of 1..10000 bytes (got 12000 bytes)". */
int emotion_input_parse(json_t *args, size_t max_text, struct emotion_input *ret,
                        struct err *err);

/* The request body: {"inputs": text, "options": {"wait_for_model": false}} plus
 * "parameters": {"top_k": top_k} when top_k > 0; `text` is UTF-8 (a JSON string's value).
 * Caller owns the string, release with free(). */
char *emotion_request_json(const char *text, size_t len, unsigned top_k);

struct emotion_label {
    char *name;   /* owned; 1..EMOTION_MAX_LABEL bytes */
    double score; /* finite, 0..1 */
};

/* Labels of one text, highest score first (equal scores by name). Caller owns the array;
 * clear with emotion_labels_clear(). */
struct emotion_labels {
    struct emotion_label *v;
    size_t n; /* 1..EMOTION_MAX_LABELS */
};
void emotion_labels_clear(struct emotion_labels *labels);

/* A 200 answer: [[{"label": "joy", "score": 0.9}, ...]] (one list per input; one input) or
 * [{"label": ..., "score": ...}, ...]. Every label a distinct non-empty string, every score a
 * number 0..1; other members of an entry are ignored. Returns 0 and fills *ret (caller owns
 * the labels, clear with emotion_labels_clear()), or -EINVAL with a sentence in `err` saying
 * what is wrong (the caller adds an excerpt of the body). */
int emotion_labels_parse(const char *body, size_t len, struct emotion_labels *ret,
                         struct err *err);
/* [{"label": "joy", "score": 0.9}, ...] as stored in PostgreSQL. Caller owns the string,
 * release with free(). */
char *emotion_labels_json(const struct emotion_labels *labels);

/* An error answer: {"error": "Model X is currently loading", "estimated_time": 20.0} or
 * {"error": "..."} or {"error": ["...", ...]}. */
struct emotion_hf_error {
    char message[EMOTION_MAX_MESSAGE + 1]; /* printable; cut with "..." */
    double estimated_time_s;               /* >= 0, or -1 when absent */
};
/* Returns 0, or -EINVAL when `body` is not that shape (`ret` then unspecified). */
int emotion_hf_error_parse(const char *body, size_t len, struct emotion_hf_error *ret);

/* The cached value of emotion:{sha256}: {"model": "...", "labels": [...]}. Caller owns the
 * string, release with free(); NULL when `model` is not UTF-8. */
char *emotion_cache_encode(const char *model, const struct emotion_labels *labels);
/* Returns 0, -ESTALE when the value is another model's, -EINVAL (with a sentence in `err`)
 * when it is not a valid value. */
int emotion_cache_decode(const char *text, size_t len, const char *model,
                         struct emotion_labels *ret, struct err *err);


#endif
