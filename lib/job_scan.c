/* job_scan.c - a job's JSON text scanned with yajl's callbacks: its top-level fields checked
 * with job_decode()'s rules and kept, "args" kept as a span of the text (pure).
 *
 * Sound by refusal: the scan answers 0 only for a text the full parse accepts with the same
 * values, and -EAGAIN for anything else, or anything it is unsure of. yajl alone accepts more
 * than jansson does, so the scan adds jansson's own rules: strict UTF-8 (yajl lets overlongs,
 * surrogates and code points above U+10FFFF through), paired \u surrogates (yajl decodes a
 * lone one to '?'), no \v or \f between tokens (whitespace to yajl), nothing but whitespace
 * after the object (yajl lets a token cut short by the end through), no duplicate keys at any
 * depth and none holding NUL, integers that fit a long long, reals that do not overflow, and
 * a nesting depth well under jansson's limit. */
#include "lib/job_scan.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_parse.h>

#include "lib/job.h"
#include "lib/job_int.h"
#include "lib/xalloc.h"

/* Containers open at once (jansson allows 2048 values deep). */
#define SCAN_MAX_DEPTH 64
/* Keys of the objects open at once, kept (hashed) to find duplicates. */
#define SCAN_MAX_KEYS 512
/* Bytes of a number's text read with strtoll/strtod; a longer one is unsure. */
#define SCAN_NUMBER_MAX 63
/* Bytes of a traceparent or tracestate kept (a valid one is 55, at most 512). */
#define SCAN_TRACE_MAX 1024

enum value_kind {
    VALUE_STRING,
    VALUE_NUMBER,
    VALUE_TRUE,
    VALUE_FALSE,
    VALUE_NULL,
    VALUE_OBJECT,
    VALUE_ARRAY
};

/* One value of a top-level field. */
struct value {
    enum value_kind kind;
    const char *s; /* VALUE_STRING: decoded bytes; VALUE_NUMBER: the number's text */
    size_t len;
};

struct scan;
/* Checks and keeps a top-level field's value; false when unsure. */
typedef bool field_scan_fn(struct scan *sc, const struct value *v);

struct field_scan {
    const char *name;
    field_scan_fn *scan;
};

struct scan {
    const char *text; /* borrowed: the whole input */
    size_t len;
    yajl_handle yajl;
    struct job_scan *out;
    const struct field_scan *field; /* the top-level key just read; NULL for others */
    size_t last_end;                /* input bytes consumed at the previous callback */
    size_t args_start;              /* offset of the args array's '[' */
    size_t root_end;                /* offset after the root object's '}' */
    unsigned depth;                 /* containers open */
    unsigned seen;                  /* bits of the required fields read */
    size_t nkeys;
    uint64_t keys[SCAN_MAX_KEYS];        /* hashes of the open objects' keys */
    size_t key_base[SCAN_MAX_DEPTH + 1]; /* where each open container's keys start */
};

#define SEEN_CLASS 1u
#define SEEN_ARGS 2u
#define SEEN_JID 4u

/* --- checks of the text ----------------------------------------------------------------- */

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return c - 'A' + 10; /* yajl checked it is a hex digit */
}

/* The code unit of the \uXXXX at p (p[0] is 'u'). */
static unsigned unit_at(const char *p)
{
    return (unsigned)(hex_value(p[1]) << 12 | hex_value(p[2]) << 8 | hex_value(p[3]) << 4 |
                      hex_value(p[4]));
}

/* Bytes at p, eight at a time, before the first backslash or byte above 0x7f (give or take
 * the last eight). */
static size_t plain_prefix(const unsigned char *p, size_t len)
{
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    uint64_t w, x;
    size_t i = 0;

    for (; i + 8 <= len; i += 8) {
        memcpy(&w, p + i, 8);
        x = w ^ (ones * '\\');
        if ((w | ((x - ones) & ~x)) & highs)
            break;
    }
    return i;
}

/* Whether the text of a string token (between its quotes, `len` bytes, escapes already
 * checked by yajl) is one jansson accepts: strict UTF-8, \u surrogates in pairs. */
static bool string_text_ok(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, n;

    while (i < len) {
        i += plain_prefix(p + i, len - i);
        while (i < len && p[i] < 0x80 && p[i] != '\\')
            i++;
        if (i == len)
            break;
        if (p[i] == '\\') {
            if (p[i + 1] != 'u') {
                i += 2;
                continue;
            }
            n = unit_at(s + i + 1);
            if (n >= 0xdc00 && n <= 0xdfff)
                return false;
            if (n >= 0xd800 && n <= 0xdbff) {
                if (i + 12 > len || p[i + 6] != '\\' || p[i + 7] != 'u')
                    return false;
                n = unit_at(s + i + 7);
                if (n < 0xdc00 || n > 0xdfff)
                    return false;
                i += 6;
            }
            i += 6;
        } else {
            n = job_utf8_char_len(p + i, len - i);
            if (n == 0)
                return false;
            i += n;
        }
    }
    return true;
}

/* Whether p points into the input (yajl's own buffers hold decoded strings). */
static bool in_text(const struct scan *sc, const void *p)
{
    uintptr_t at = (uintptr_t)p, text = (uintptr_t)sc->text;

    return at >= text && at <= text + sc->len;
}

/* Whether the string yajl just reported (decoded: `s`, `len`) was written as jansson accepts.
 * Without escapes yajl hands out the input's own bytes; with them, the token's text lies from
 * the first quote after the previous token to the quote before the current offset. */

static bool string_ok(struct scan *sc, const unsigned char *s, size_t len)
{
    size_t end = yajl_get_bytes_consumed(sc->yajl);
    const char *start;

    if (in_text(sc, s))
        return string_text_ok((const char *)s, len);
    if (end == 0 || end - 1 < sc->last_end)
        return false;
    end--;
    start = memchr(sc->text + sc->last_end, '"', end - sc->last_end);
    return start && string_text_ok(start + 1, (size_t)(sc->text + end - start - 1));
}

/* A number's value as jansson reads it: an integer (no '.', 'e', 'E') must fit a long long,
 * a real must not overflow. False when it does not (or is too long to be sure). */
static bool number_read(const char *s, size_t len, bool *ret_int, long long *ret_i, double *ret_d)
{
    char buf[SCAN_NUMBER_MAX + 1];
    char *end;

    if (len > SCAN_NUMBER_MAX)
        return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    errno = 0;
    *ret_int = !memchr(buf, '.', len) && !memchr(buf, 'e', len) && !memchr(buf, 'E', len);
    if (*ret_int) {
        *ret_i = strtoll(buf, &end, 10);
        *ret_d = (double)*ret_i;
        return errno != ERANGE && end == buf + len;
    }
    *ret_d = strtod(buf, &end);
    return !((*ret_d == HUGE_VAL || *ret_d == -HUGE_VAL) && errno == ERANGE) && end == buf + len;
}

double job_scan_number(const char *s, size_t len)
{
    long long i;
    double d;
    bool is_int;

    return number_read(s, len, &is_int, &i, &d) ? d : 0;
}

/* Whether jansson reads the number without overflow, cheaply when that is plain: an integer
 * of at most 18 digits, a real without exponent in at most SCAN_NUMBER_MAX bytes (under
 * 1e63). Anything else is read. */
static bool number_ok(const char *s, size_t len)
{
    long long i;
    double d;
    bool is_int, plain = len <= SCAN_NUMBER_MAX;

    for (size_t k = 0; k < len && plain; k++)
        plain = s[k] != 'e' && s[k] != 'E';
    if (plain && (len <= 18 || memchr(s, '.', len)))
        return true;
    return number_read(s, len, &is_int, &i, &d);
}

/* --- top-level fields ------------------------------------------------------------------- */

/* Copies a string value into out->strings; false when there is no room. */
static bool keep(struct scan *sc, const struct value *v, struct job_span *span)
{
    struct job_scan *out = sc->out;

    if (v->len >= JOB_SCAN_STRINGS - out->strings_len)
        return false;
    memcpy(out->strings + out->strings_len, v->s, v->len);
    out->strings[out->strings_len + v->len] = '\0';
    *span = (struct job_span){out->strings_len, v->len};
    out->strings_len += v->len + 1;
    return true;
}

static bool keep_name(struct scan *sc, const struct value *v, enum job_name which,
                      struct job_span *span)
{
    return v->kind == VALUE_STRING && job_name_valid(which, v->s, v->len) && keep(sc, v, span);
}

static bool scan_class(struct scan *sc, const struct value *v)
{
    sc->seen |= SEEN_CLASS;
    return keep_name(sc, v, JOB_NAME_CLASS, &sc->out->f.class_name);
}

static bool scan_jid(struct scan *sc, const struct value *v)
{
    sc->seen |= SEEN_JID;
    return keep_name(sc, v, JOB_NAME_JID, &sc->out->f.jid);
}

static bool scan_queue(struct scan *sc, const struct value *v)
{
    sc->out->f.has_queue = true;
    return keep_name(sc, v, JOB_NAME_QUEUE, &sc->out->f.queue);
}

/* The array's span is taken when it ends (scan_on_end_array). */
static bool scan_args(struct scan *sc, const struct value *v)
{
    sc->seen |= SEEN_ARGS;
    sc->args_start = yajl_get_bytes_consumed(sc->yajl) - 1;
    return v->kind == VALUE_ARRAY;
}

/* An integer in [min, max] into *ret. */
static bool integer_in(const struct value *v, long long min, long long max, long long *ret)
{
    long long i;
    double d;
    bool is_int;

    if (v->kind != VALUE_NUMBER || !number_read(v->s, v->len, &is_int, &i, &d) || !is_int ||
        i < min || i > max)
        return false;
    *ret = i;
    return true;
}

/* Any number (integer or real) into *ret. */
static bool number_any(const struct value *v, double *ret)
{
    long long i;
    bool is_int;

    return v->kind == VALUE_NUMBER && number_read(v->s, v->len, &is_int, &i, ret);
}

static bool scan_retry(struct scan *sc, const struct value *v)
{
    long long n;

    if (v->kind == VALUE_TRUE || v->kind == VALUE_FALSE) {
        sc->out->f.retry = v->kind == VALUE_TRUE ? -1 : 0;
        return true;
    }
    if (!integer_in(v, 0, JOB_MAX_RETRIES, &n))
        return false;
    sc->out->f.retry = (int)n;
    return true;
}

static bool scan_retry_count(struct scan *sc, const struct value *v)
{
    return integer_in(v, -1, LLONG_MAX, &sc->out->f.retry_count);
}

static bool scan_recoveries(struct scan *sc, const struct value *v)
{
    return integer_in(v, 0, LLONG_MAX, &sc->out->f.recoveries);
}

/* A number of the input, kept as its span: read only when asked (job_scan_number()). */
static bool keep_number(struct scan *sc, const struct value *v, struct job_span *span)
{
    if (v->kind != VALUE_NUMBER || !number_ok(v->s, v->len) || v->s < sc->text ||
        v->s + v->len > sc->text + sc->len)
        return false;
    *span = (struct job_span){(size_t)(v->s - sc->text), v->len};
    return true;
}

static bool scan_created_at(struct scan *sc, const struct value *v)
{
    sc->out->f.has_created_at = true;
    return keep_number(sc, v, &sc->out->f.created_at);
}

static bool scan_enqueued_at(struct scan *sc, const struct value *v)
{
    sc->out->f.has_enqueued_at = true;
    return keep_number(sc, v, &sc->out->f.enqueued_at);
}

/* at, failed_at, retried_at: numbers no accessor reads. */
static bool scan_time(struct scan *sc, const struct value *v)
{
    (void)sc;
    return v->kind == VALUE_NUMBER && number_ok(v->s, v->len);
}

static bool scan_dead(struct scan *sc, const struct value *v)
{
    sc->out->f.dead_allowed = v->kind != VALUE_FALSE;
    return v->kind == VALUE_TRUE || v->kind == VALUE_FALSE;
}

static bool scan_unique_for(struct scan *sc, const struct value *v)
{
    double d;

    if (!number_any(v, &d) || !(d > 0 && d <= JOB_MAX_UNIQUE_FOR_S))
        return false;
    sc->out->f.unique_for = d;
    return true;
}

static bool scan_unique_key(struct scan *sc, const struct value *v)
{
    sc->out->f.has_unique_key = true;
    return v->kind == VALUE_STRING && v->len > 0 && v->len <= JOB_MAX_UNIQUE_KEY &&
           keep(sc, v, &sc->out->f.unique_key);
}

/* Checked when asked for (job_traceparent): any string is kept; other values are unsure. */
static bool scan_traceparent(struct scan *sc, const struct value *v)
{
    sc->out->f.has_traceparent = true;
    return v->kind == VALUE_STRING && v->len <= SCAN_TRACE_MAX &&
           keep(sc, v, &sc->out->f.traceparent);
}

/* A tracestate that is no string is as good as none. */
static bool scan_tracestate(struct scan *sc, const struct value *v)
{
    if (v->kind != VALUE_STRING)
        return true;
    sc->out->f.has_tracestate = true;
    return v->len <= SCAN_TRACE_MAX && keep(sc, v, &sc->out->f.tracestate);
}

/* job_decode.c's field rules, and the fields accessors read. */
static const struct field_scan field_scans[] = {
    {"class", scan_class},
    {"args", scan_args},
    {"jid", scan_jid},
    {"queue", scan_queue},
    {"retry", scan_retry},
    {"retry_count", scan_retry_count},
    {"created_at", scan_created_at},
    {"enqueued_at", scan_enqueued_at},
    {"at", scan_time},
    {"failed_at", scan_time},
    {"retried_at", scan_time},
    {"dead", scan_dead},
    {"nexus_recoveries", scan_recoveries},
    {"unique_for", scan_unique_for},
    {"unique_key", scan_unique_key},
    {"traceparent", scan_traceparent},
    {"tracestate", scan_tracestate},
};

static const struct field_scan *field_find(const unsigned char *key, size_t len)
{
    size_t i;

    for (i = 0; i < sizeof(field_scans) / sizeof(field_scans[0]); i++)
        if (len > 0 && field_scans[i].name[0] == key[0] &&
            strncmp(field_scans[i].name, (const char *)key, len) == 0 &&
            field_scans[i].name[len] == '\0')
            return &field_scans[i];
    return NULL;
}

/* --- yajl's callbacks ------------------------------------------------------------------- */

/* A value: a top-level field's goes to its scan; the root must be an object. */
static int scan_on_value(struct scan *sc, const struct value *v)
{
    bool ok = true;

    if (sc->depth == 0)
        return v->kind == VALUE_OBJECT;
    if (sc->depth == 1 && sc->field)
        ok = sc->field->scan(sc, v);
    return ok;
}

/* Every callback ends here: the next string token starts after this offset. */
static int scan_done(struct scan *sc, int ok)
{
    sc->last_end = yajl_get_bytes_consumed(sc->yajl);
    return ok;
}

static int scan_on_null(void *ctx)
{
    return scan_done(ctx, scan_on_value(ctx, &(struct value){VALUE_NULL, NULL, 0}));
}

static int scan_on_boolean(void *ctx, int b)
{
    return scan_done(ctx,
                     scan_on_value(ctx, &(struct value){b ? VALUE_TRUE : VALUE_FALSE, NULL, 0}));
}

static int scan_on_number(void *ctx, const char *s, size_t len)
{
    struct scan *sc = ctx;

    /* a top-level field reads its own; anything else must only be one jansson accepts */
    if (!(sc->depth == 1 && sc->field) && !number_ok(s, len))
        return 0;
    return scan_done(sc, scan_on_value(sc, &(struct value){VALUE_NUMBER, s, len}));
}

static int scan_on_string(void *ctx, const unsigned char *s, size_t len)
{
    struct scan *sc = ctx;

    if (!string_ok(sc, s, len))
        return 0;
    return scan_done(sc, scan_on_value(sc, &(struct value){VALUE_STRING, (const char *)s, len}));
}

/* FNV-1a: equal keys hash equal, so a duplicate is never missed (a collision only sends the
 * text the full parse's way). */
static uint64_t key_hash(const unsigned char *key, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ull;
    size_t i;

    for (i = 0; i < len; i++)
        h = (h ^ key[i]) * 0x100000001b3ull;
    return h;
}

static int scan_on_map_key(void *ctx, const unsigned char *key, size_t len)
{
    struct scan *sc = ctx;
    uint64_t h;
    size_t i;

    /* jansson refuses NUL in a key (only an escape can write one), and duplicates */
    if (!string_ok(sc, key, len) || (!in_text(sc, key) && memchr(key, '\0', len)) ||
        sc->nkeys == SCAN_MAX_KEYS)
        return 0;
    h = key_hash(key, len);
    for (i = sc->key_base[sc->depth]; i < sc->nkeys; i++)
        if (sc->keys[i] == h)
            return 0;
    sc->keys[sc->nkeys++] = h;
    if (sc->depth == 1)
        sc->field = field_find(key, len);
    return scan_done(sc, 1);
}

static int scan_open(struct scan *sc, enum value_kind kind)
{
    if (!scan_on_value(sc, &(struct value){kind, NULL, 0}) || sc->depth == SCAN_MAX_DEPTH)
        return 0;
    sc->depth++;
    sc->key_base[sc->depth] = sc->nkeys;
    return scan_done(sc, 1);
}

static int scan_on_start_map(void *ctx)
{
    return scan_open(ctx, VALUE_OBJECT);
}

static int scan_on_start_array(void *ctx)
{
    return scan_open(ctx, VALUE_ARRAY);
}

static int scan_close(struct scan *sc)
{
    sc->nkeys = sc->key_base[sc->depth];
    sc->depth--;
    return scan_done(sc, 1);
}

static int scan_on_end_map(void *ctx)
{
    struct scan *sc = ctx;

    if (sc->depth == 1)
        sc->root_end = yajl_get_bytes_consumed(sc->yajl);
    return scan_close(sc);
}

static int scan_on_end_array(void *ctx)
{
    struct scan *sc = ctx;
    size_t end = yajl_get_bytes_consumed(sc->yajl);

    if (sc->depth == 2 && sc->field && sc->field->scan == scan_args) {
        sc->out->f.args_off = sc->args_start;
        sc->out->f.args_len = end - sc->args_start;
    }
    return scan_close(sc);
}

static const yajl_callbacks scan_callbacks = {
    .yajl_null = scan_on_null,
    .yajl_boolean = scan_on_boolean,
    .yajl_number = scan_on_number,
    .yajl_string = scan_on_string,
    .yajl_start_map = scan_on_start_map,
    .yajl_map_key = scan_on_map_key,
    .yajl_end_map = scan_on_end_map,
    .yajl_start_array = scan_on_start_array,
    .yajl_end_array = scan_on_end_array,
};

/* --- yajl's memory: a block on the stack, then xalloc's heap (never NULL) --------------- */

/* One scan's yajl allocates its handle, lexer, two buffers (2 KiB each once used) and its
 * state stack: a block on the stack holds them for most jobs, so a scan calls no malloc. */
#define ARENA_BYTES 6144
#define ARENA_ALIGN 16

struct arena {
    size_t used;
    _Alignas(ARENA_ALIGN) unsigned char block[ARENA_BYTES];
};

static bool arena_owns(const struct arena *a, const void *p)
{
    return (const unsigned char *)p >= a->block &&
           (const unsigned char *)p < a->block + ARENA_BYTES;
}

/* Each block piece starts with its size (ARENA_ALIGN bytes), for realloc. */
static void *arena_malloc(void *ctx, size_t size)
{
    struct arena *a = ctx;
    size_t need = ARENA_ALIGN + (size + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN;
    unsigned char *p;

    if (size > ARENA_BYTES || need > ARENA_BYTES - a->used)
        return xmalloc(size);
    p = a->block + a->used;
    a->used += need;
    memcpy(p, &size, sizeof(size));
    return p + ARENA_ALIGN;
}

static void *arena_realloc(void *ctx, void *p, size_t size)
{
    struct arena *a = ctx;
    size_t old;
    void *q;

    if (!p)
        return arena_malloc(a, size);
    if (!arena_owns(a, p))
        return xreallocarray(p, size, 1);
    memcpy(&old, (unsigned char *)p - ARENA_ALIGN, sizeof(old));
    q = arena_malloc(a, size);
    memcpy(q, p, old < size ? old : size);
    return q;
}

/* The block is dropped whole when the scan ends. */
static void arena_free(void *ctx, void *p)
{
    if (!arena_owns(ctx, p))
        free(p);
}

/* --- the scan --------------------------------------------------------------------------- */

/* Whether the text after the root is only JSON's whitespace: yajl lets a token cut short by
 * the end of the text (an opening quote, a "tru") pass after a complete value. */
static bool tail_blank(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r')
            return false;
    return true;
}

int job_scan(const char *text, size_t len, struct job_scan *scan)
{
    struct arena arena;
    yajl_alloc_funcs alloc = {arena_malloc, arena_realloc, arena_free, &arena};
    struct scan scan_state, *sc = &scan_state;
    bool ok;

    /* yajl takes \v and \f for whitespace; jansson refuses them (and any control character
     * in a string, as yajl does) */
    if (len == 0 || len > JOB_MAX_BYTES || memchr(text, '\v', len) || memchr(text, '\f', len))
        return -EAGAIN;
    /* the arrays are written before they are read: only the counts start at 0 */
    sc->text = text;
    sc->len = len;
    sc->out = scan;
    sc->field = NULL;
    sc->last_end = sc->args_start = sc->root_end = 0;
    sc->depth = sc->seen = 0;
    sc->nkeys = 0;
    scan->f = (struct job_fields){.retry_count = -1, .retry = -1, .dead_allowed = true};
    scan->strings_len = 0;
    arena.used = 0;
    sc->yajl = yajl_alloc(&scan_callbacks, &alloc, sc);
    /* strings are checked here, strictly */
    (void)yajl_config(sc->yajl, yajl_dont_validate_strings, 1);
    ok = yajl_parse(sc->yajl, (const unsigned char *)text, len) == yajl_status_ok &&
         yajl_complete_parse(sc->yajl) == yajl_status_ok && sc->depth == 0 && sc->root_end > 0 &&
         tail_blank(text + sc->root_end, len - sc->root_end) &&
         (sc->seen & (SEEN_CLASS | SEEN_ARGS | SEEN_JID)) == (SEEN_CLASS | SEEN_ARGS | SEEN_JID);
    yajl_free(sc->yajl);
    return ok ? 0 : -EAGAIN;
}
