/* job_decode.c - Sidekiq job JSON: decode and validate, and read fields with the same rules
 * (pure). */
#include "lib/job.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "lib/err.h"
#include "lib/job_int.h"
#include "lib/traceparent.h"

/* Bytes of a string value quoted in an error sentence. */
#define GOT_MAX 40
/* Room for a quoted value: each byte may become \xNN, plus quotes, "..." and NUL. */
#define GOT_BUF (GOT_MAX * 4 + 8)
/* Whole input, no duplicate keys; \u0000 inside strings is kept (and written back). */
#define JOB_LOAD_FLAGS (JSON_REJECT_DUPLICATES | JSON_DECODE_ANY | JSON_ALLOW_NUL)

/* --- describing values in error sentences ---------------------------------------------- */

static const char *const type_phrases[] = {
    [JSON_OBJECT] = "an object", [JSON_ARRAY] = "an array", [JSON_STRING] = "a string",
    [JSON_INTEGER] = "a number", [JSON_REAL] = "a number",  [JSON_TRUE] = "true",
    [JSON_FALSE] = "false",      [JSON_NULL] = "null",
};

const char *job_json_phrase(const json_t *v)
{
    return v ? type_phrases[json_typeof(v)] : "nothing";
}

/* Shortest of %.15g / %.17g that reads back exactly, with ".0" when it looks whole. */
static void format_real(double d, char *buf, size_t size)
{
    (void)snprintf(buf, size, "%.15g", d);
    if (strtod(buf, NULL) != d)
        (void)snprintf(buf, size, "%.17g", d);
    if (!strpbrk(buf, ".eEn"))
        (void)strncat(buf, ".0", size - strlen(buf) - 1);
}

/* What an error sentence says it got: the value itself for scalars, the type otherwise. */
static const char *got_value(const json_t *v, char *buf, size_t size)
{
    if (json_is_string(v))
        return err_quote(json_string_value(v), json_string_length(v), GOT_MAX, buf, size);
    if (json_is_integer(v)) {
        (void)snprintf(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return buf;
    }
    if (json_is_real(v)) {
        format_real(json_real_value(v), buf, size);
        return buf;
    }
    return job_json_phrase(v);
}

/* --- field rules ------------------------------------------------------------------------ */

typedef int field_check_fn(const char *name, const json_t *v, struct err *err);

bool job_class_byte_bad(unsigned char c)
{
    return c < 0x20 || c == 0x7f;
}

bool job_jid_byte_bad(unsigned char c)
{
    return c <= 0x20 || c >= 0x7f;
}

bool job_queue_byte_bad(unsigned char c)
{
    return c <= 0x20 || c == 0x7f;
}

/* The rules of the names a job carries: class, jid, queue. */
static const struct name_rule {
    size_t max;
    job_byte_bad_fn *bad;
    const char *bad_phrase;
} name_rules[] = {
    [JOB_NAME_CLASS] = {JOB_MAX_CLASS, job_class_byte_bad, "not contain control characters"},
    [JOB_NAME_JID] = {JOB_MAX_JID, job_jid_byte_bad, "be printable ASCII without spaces"},
    [JOB_NAME_QUEUE] = {JOB_MAX_QUEUE, job_queue_byte_bad,
                        "not contain whitespace or control characters"},
};

/* A non-empty string of at most `max` bytes, none of them `bad`. */
static int name_check(const char *name, enum job_name which, const char *s, size_t len,
                      struct err *err)
{
    const struct name_rule *rule = &name_rules[which];
    char got[GOT_BUF];
    size_t i;

    if (len == 0)
        return err_set(err, -EINVAL, "'%s' must not be empty", name);
    if (len > rule->max)
        return err_set(err, -EINVAL, "'%s' is %zu bytes, above the %zu-byte limit", name, len,
                       rule->max);
    for (i = 0; i < len; i++)
        if (rule->bad((unsigned char)s[i]))
            return err_set(err, -EINVAL, "'%s' must %s (got %s)", name, rule->bad_phrase,
                           err_quote(s, len, GOT_MAX, got, sizeof(got)));
    return 0;
}

bool job_name_valid(enum job_name which, const char *s, size_t len)
{
    return name_check("", which, s, len, NULL) == 0;
}

static int check_name(const char *name, enum job_name which, const json_t *v, struct err *err)
{
    if (!json_is_string(v))
        return err_set(err, -EINVAL, "'%s' must be a string (got %s)", name, job_json_phrase(v));
    return name_check(name, which, json_string_value(v), json_string_length(v), err);
}

static int check_class(const char *name, const json_t *v, struct err *err)
{
    return check_name(name, JOB_NAME_CLASS, v, err);
}

static int check_jid(const char *name, const json_t *v, struct err *err)
{
    return check_name(name, JOB_NAME_JID, v, err);
}

static int check_queue(const char *name, const json_t *v, struct err *err)
{
    return check_name(name, JOB_NAME_QUEUE, v, err);
}

int job_check_queue(const char *name, const char *queue, size_t len, struct err *err)
{
    return name_check(name, JOB_NAME_QUEUE, queue, len, err);
}

static int check_args(const char *name, const json_t *v, struct err *err)
{
    if (!json_is_array(v))
        return err_set(err, -EINVAL, "'%s' must be an array (got %s)", name, job_json_phrase(v));
    return 0;
}

static int check_retry(const char *name, const json_t *v, struct err *err)
{
    char got[GOT_BUF];

    if (json_is_boolean(v) || (json_is_integer(v) && json_integer_value(v) >= 0 &&
                               json_integer_value(v) <= JOB_MAX_RETRIES))
        return 0;
    return err_set(err, -EINVAL, "'%s' must be true, false or a whole number 0..%d (got %s)", name,
                   JOB_MAX_RETRIES, got_value(v, got, sizeof(got)));
}

static int check_count(const char *name, const json_t *v, struct err *err)
{
    char got[GOT_BUF];

    if (json_is_integer(v) && json_integer_value(v) >= 0)
        return 0;
    return err_set(err, -EINVAL, "'%s' must be a whole number 0 or more (got %s)", name,
                   got_value(v, got, sizeof(got)));
}

/* Sidekiq's "retry now" lowers retry_count by one before pushing, so a job that failed
 * once comes back with -1; Sidekiq runs it, and so does nexusd. */
static int check_retry_count(const char *name, const json_t *v, struct err *err)
{
    char got[GOT_BUF];

    if (json_is_integer(v) && json_integer_value(v) >= -1)
        return 0;
    return err_set(err, -EINVAL, "'%s' must be a whole number -1 or more (got %s)", name,
                   got_value(v, got, sizeof(got)));
}

bool job_retry_count_valid(const json_t *v)
{
    return check_retry_count("retry_count", v, NULL) == 0;
}

static int check_time(const char *name, const json_t *v, struct err *err)
{
    char got[GOT_BUF];

    if (json_is_number(v))
        return 0;
    return err_set(err, -EINVAL, "'%s' must be a number (got %s)", name,
                   got_value(v, got, sizeof(got)));
}

/* A unique job's lock time (docs/PROTOCOL.md, "Unique jobs"): seconds, > 0. */
static int check_unique_for(const char *name, const json_t *v, struct err *err)
{
    char got[GOT_BUF];

    if (json_is_number(v) && json_number_value(v) > 0 &&
        json_number_value(v) <= JOB_MAX_UNIQUE_FOR_S)
        return 0;
    return err_set(err, -EINVAL, "'%s' must be a number of seconds above 0, at most %.0f (got %s)",
                   name, JOB_MAX_UNIQUE_FOR_S, got_value(v, got, sizeof(got)));
}

/* The producer's own uniqueness key: any bytes, 1..JOB_MAX_UNIQUE_KEY of them. */
static int check_unique_key(const char *name, const json_t *v, struct err *err)
{
    if (!json_is_string(v))
        return err_set(err, -EINVAL, "'%s' must be a string (got %s)", name, job_json_phrase(v));
    if (json_string_length(v) == 0 || json_string_length(v) > JOB_MAX_UNIQUE_KEY)
        return err_set(err, -EINVAL, "'%s' must be 1..%d bytes (got %zu)", name,
                       JOB_MAX_UNIQUE_KEY, json_string_length(v));
    return 0;
}

static int check_bool(const char *name, const json_t *v, struct err *err)
{
    char got[GOT_BUF];

    if (json_is_boolean(v))
        return 0;
    return err_set(err, -EINVAL, "'%s' must be true or false (got %s)", name,
                   got_value(v, got, sizeof(got)));
}

/* The fields we read, in the order decode checks them; the first broken one is reported.
 * Every other field is left as it is. */
static const struct field_rule {
    const char *name;
    bool required;
    field_check_fn *check;
} field_rules[] = {
    {"class", true, check_class},
    {"args", true, check_args},
    {"jid", true, check_jid},
    {"queue", false, check_queue},
    {"retry", false, check_retry},
    {"retry_count", false, check_retry_count},
    {"created_at", false, check_time},
    {"enqueued_at", false, check_time},
    {"at", false, check_time},
    {"failed_at", false, check_time},
    {"retried_at", false, check_time},
    {"dead", false, check_bool},
    {"nexus_recoveries", false, check_count},
    {"unique_for", false, check_unique_for},
    {"unique_key", false, check_unique_key},
};

static int job_validate(const json_t *root, struct err *err)
{
    size_t i;
    int r;

    for (i = 0; i < sizeof(field_rules) / sizeof(field_rules[0]); i++) {
        const struct field_rule *rule = &field_rules[i];
        const json_t *v = json_object_get(root, rule->name);

        if (!v) {
            if (rule->required)
                return err_set(err, -EINVAL, "missing '%s'", rule->name);
            continue;
        }
        r = rule->check(rule->name, v, err);
        if (r < 0)
            return r;
    }
    return 0;
}

/* --- the tree -------------------------------------------------------------------------- */

/* Bytes of the job's text parsed with the full parse's flags: a part the scan accepted. */
static json_t *text_load(const struct job *job, size_t off, size_t len)
{
    json_t *v = json_loadb(job->mem + off, len, JOB_LOAD_FLAGS, NULL);

    assert(v != NULL); /* job_scan() accepted the text: jansson does */
    return v;
}

json_t *job_tree(const struct job *job)
{
    /* The tree is built from the text the scan read, so no value the job gives changes: only
     * what it holds in memory. */
    struct job *built = (struct job *)job;

    if (!job->root) {
        built->root = text_load(job, 0, job->raw_len);
        /* job_args() gave out its own parse of args: the tree holds that one */
        if (job->args)
            (void)json_object_set(built->root, "args", job->args);
    }
    return job->root;
}

/* The field's string when it passes `check`, else NULL. */
static const char *valid_string(const struct job *job, const char *name, field_check_fn *check)
{
    const json_t *v = json_object_get(job->root, name);

    return v && check(name, v, NULL) == 0 ? json_string_value(v) : NULL;
}

json_int_t job_valid_count(const struct job *job, const char *name)
{
    const json_t *v = json_object_get(job_tree(job), name);

    return v && check_count(name, v, NULL) == 0 ? json_integer_value(v) : -1;
}

static int int_clamp(json_int_t v)
{
    return v > INT_MAX ? INT_MAX : (int)v;
}

/* Parses the job's raw text into its root. -EINVAL (with a sentence) when it is not a JSON
 * object. jansson allocates with xalloc's policy, so a failed parse is the text's fault. */
static int job_parse(struct job *job, struct err *err)
{
    json_error_t jerr;
    json_t *root;

    if (job->raw_len > JOB_MAX_BYTES)
        return err_set(err, -EINVAL, "job is %zu bytes, above the %u-byte limit", job->raw_len,
                       JOB_MAX_BYTES);
    root = json_loadb(job->mem, job->raw_len, JOB_LOAD_FLAGS, &jerr);
    if (!root)
        return err_set(err, -EINVAL, "invalid JSON: %s (line %d column %d)", jerr.text, jerr.line,
                       jerr.column);
    if (!json_is_object(root)) {
        (void)err_set(err, -EINVAL, "job must be a JSON object (got %s)", job_json_phrase(root));
        json_decref(root);
        return -EINVAL;
    }
    job->root = root;
    return 0;
}

static const char *queue_or_default(const char *default_queue)
{
    return default_queue ? default_queue : JOB_DEFAULT_QUEUE;
}

int job_decode_full(const char *text, size_t len, const char *default_queue, unsigned long long rnd,
                    struct job **ret_job, struct err *err)
{
    struct job *job = job_alloc(text, len, queue_or_default(default_queue), NULL, 0);
    int r;

    r = job_parse(job, err);
    if (r < 0) {
        job_wrap(job, rnd);
    } else {
        r = job_validate(job->root, err);
        if (r < 0 && !json_is_array(json_object_get(job->root, "args")))
            job->no_args = json_array();
    }
    *ret_job = job;
    return r;
}

/* A valid job's text is scanned, and its tree built only when asked; any other text (and any
 * the scan is unsure of) goes through the full parse, which says what is wrong. */
int job_decode(const char *text, size_t len, const char *default_queue, unsigned long long rnd,
               struct job **ret_job, struct err *err)
{
    struct job_scan scan;
    struct job *job;

    if (job_scan(text, len, &scan) < 0)
        return job_decode_full(text, len, default_queue, rnd, ret_job, err);
    job = job_alloc(text, len, queue_or_default(default_queue), scan.strings, scan.strings_len);
    job->f = scan.f;
    job->scanned = true;
    *ret_job = job;
    return 0;
}

/* --- accessors -------------------------------------------------------------------------- */

/* The strings below come from values our changes never replace (class, jid, queue, args),
 * so they stay valid until the job is freed. A scanned job without a tree reads its fields
 * (the same values). */

static const char *span_string(const struct job *job, struct job_span span)
{
    return job->strings + span.off;
}

const char *job_jid(const struct job *job)
{
    const char *s;

    if (job->scanned)
        return span_string(job, job->f.jid);
    s = valid_string(job, "jid", check_jid);
    return s ? s : "";
}

const char *job_class(const struct job *job)
{
    const char *s;

    if (job->scanned)
        return span_string(job, job->f.class_name);
    s = valid_string(job, "class", check_class);
    return s ? s : "";
}

const char *job_queue(const struct job *job)
{
    const char *s;

    if (job->scanned)
        return job->f.has_queue ? span_string(job, job->f.queue) : job->default_queue;
    s = valid_string(job, "queue", check_queue);
    return s ? s : job->default_queue;
}

json_t *job_args(const struct job *job)
{
    struct job *parsed = (struct job *)job;
    json_t *v;

    if (!job->root) {
        /* args alone: the tree is not needed for them */
        if (!job->args)
            parsed->args = text_load(job, job->f.args_off, job->f.args_len);
        return job->args;
    }
    v = json_object_get(job->root, "args");
    return json_is_array(v) ? v : job->no_args;
}

json_t *job_root(const struct job *job)
{
    return job_tree(job);
}

const char *job_raw(const struct job *job, size_t *ret_len)
{
    if (ret_len)
        *ret_len = job->raw_len;
    return job->mem;
}

/* A count as an int: -1 stays -1 (none), larger ones saturate. */
static int count_int(json_int_t n)
{
    return n < 0 ? -1 : int_clamp(n);
}

int job_retry_count(const struct job *job)
{
    if (!job->root)
        return count_int(job->f.retry_count);
    return count_int(job_valid_count(job, "retry_count"));
}

int job_recoveries(const struct job *job)
{
    json_int_t n = job->root ? job_valid_count(job, "nexus_recoveries") : job->f.recoveries;

    return n < 0 ? 0 : int_clamp(n);
}

/* A time in seconds (Sidekiq 8's milliseconds converted). */
static double time_s(double t)
{
    return t > JOB_MS_ABOVE ? t / 1000 : t;
}

/* The first time field the tree has as a number, else the second, else 0. */
static double time_tree(const struct job *job, const char *first, const char *second)
{
    const json_t *v = json_object_get(job->root, first);

    if (!json_is_number(v))
        v = json_object_get(job->root, second);
    return json_is_number(v) ? time_s(json_number_value(v)) : 0;
}

/* The same of a scanned job: its numbers are read from the text only now. */
static double time_fields(const struct job *job, bool has_first, struct job_span first,
                          bool has_second, struct job_span second)
{
    if (!has_first && !has_second)
        return 0;
    if (!has_first)
        first = second;
    return time_s(job_scan_number(job->mem + first.off, first.len));
}

double job_enqueued_at(const struct job *job)
{
    const struct job_fields *f = &job->f;

    if (!job->root)
        return time_fields(job, f->has_enqueued_at, f->enqueued_at, f->has_created_at,
                           f->created_at);
    return time_tree(job, "enqueued_at", "created_at");
}

double job_created_at(const struct job *job)
{
    const struct job_fields *f = &job->f;

    if (!job->root)
        return time_fields(job, f->has_created_at, f->created_at, f->has_enqueued_at,
                           f->enqueued_at);
    return time_tree(job, "created_at", "enqueued_at");
}

int job_max_retries(const struct job *job, int class_default)
{
    const json_t *v;

    if (!job->root)
        return job->f.retry < 0 ? class_default : job->f.retry;
    v = json_object_get(job->root, "retry");
    if (!v || json_is_true(v))
        return class_default;
    if (check_retry("retry", v, NULL) == 0 && json_is_integer(v))
        return (int)json_integer_value(v);
    /* false, or not a valid value: a job that says nothing sensible is not retried. */
    return 0;
}

double job_unique_for(const struct job *job)
{
    const json_t *v;

    if (!job->root)
        return job->f.unique_for;
    v = json_object_get(job->root, "unique_for");
    return v && check_unique_for("unique_for", v, NULL) == 0 ? json_number_value(v) : 0;
}

const char *job_unique_key(const struct job *job, size_t *ret_len)
{
    const json_t *v;

    if (!job->root) {
        if (!job->f.has_unique_key)
            return NULL;
        *ret_len = job->f.unique_key.len;
        return span_string(job, job->f.unique_key);
    }
    v = json_object_get(job->root, "unique_key");
    if (!v || check_unique_key("unique_key", v, NULL) < 0)
        return NULL;
    *ret_len = json_string_length(v);
    return json_string_value(v);
}

int job_traceparent(const struct job *job, struct traceparent *ret, struct err *err)
{
    const json_t *v;

    if (!job->root) {
        if (!job->f.has_traceparent)
            return -ENOENT;
        return traceparent_parse("traceparent", span_string(job, job->f.traceparent),
                                 job->f.traceparent.len, ret, err);
    }
    v = json_object_get(job->root, "traceparent");
    if (!v)
        return -ENOENT;
    if (!json_is_string(v))
        return err_set(err, -EINVAL, "'traceparent' must be a string (got %s)", job_json_phrase(v));
    return traceparent_parse("traceparent", json_string_value(v), json_string_length(v), ret, err);
}

const char *job_tracestate(const struct job *job)
{
    const json_t *v = job->root ? json_object_get(job->root, "tracestate") : NULL;
    struct traceparent tp;
    const char *s;
    size_t len;

    if (!job->root && !job->f.has_tracestate)
        return NULL;
    if (job->root && !json_is_string(v))
        return NULL;
    s = job->root ? json_string_value(v) : span_string(job, job->f.tracestate);
    len = job->root ? json_string_length(v) : job->f.tracestate.len;
    if (job_traceparent(job, &tp, NULL) < 0 || tracestate_check("tracestate", s, len, NULL) < 0)
        return NULL;
    return s;
}

bool job_dead_allowed(const struct job *job)
{
    if (!job->root)
        return job->f.dead_allowed;
    return !json_is_false(json_object_get(job->root, "dead"));
}
