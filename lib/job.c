/* job.c - Sidekiq job JSON: make jobs (new, wrapper and cut dead entries), record failures,
 * encode (pure). Decoding and validation are in job_decode.c. */
#include "lib/job.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "lib/digest.h"
#include "lib/err.h"
#include "lib/job_int.h"
#include "lib/xalloc.h"

/* Hex digits of a jid we make (96 random bits), as Sidekiq's SecureRandom.hex(12). */
#define JOB_JID_HEX 24
/* The most fields one change sets at once (job_record_failure, job_cut). */
#define UPDATE_MAX 4

/* The next value of a count that is -1 when absent: 0 first, then one more (saturating). */
static json_int_t count_next(json_int_t n)
{
    if (n < 0)
        return 0;
    return n < LLONG_MAX ? n + 1 : n;
}

/* --- UTF-8, base64, jids ---------------------------------------------------------------- */

size_t job_utf8_char_len(const unsigned char *p, size_t avail)
{
    uint32_t cp, min;
    size_t i, need;

    if (p[0] < 0x80)
        return 1;
    if (p[0] >= 0xc2 && p[0] <= 0xdf) {
        need = 2, cp = p[0] & 0x1f, min = 0x80;
    } else if (p[0] >= 0xe0 && p[0] <= 0xef) {
        need = 3, cp = p[0] & 0x0f, min = 0x800;
    } else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
        need = 4, cp = p[0] & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (avail < need)
        return 0;
    for (i = 1; i < need; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (p[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return need;
}

/* A JSON string of `s` cut to at most `max` bytes on a character boundary, each byte that
 * is not valid UTF-8 replaced by U+FFFD (jansson refuses invalid UTF-8). *ret_replaced says
 * whether a byte was replaced. New reference. */
static json_t *string_clean(const char *s, size_t len, size_t max, bool *ret_replaced)
{
    static const char replacement[] = "\xef\xbf\xbd";
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, n = 0, out, cap;
    json_t *v;
    char *buf;

    *ret_replaced = false;
    while (i < len && (n = job_utf8_char_len(p + i, len - i)) > 0 && i + n <= max)
        i += n;
    if (i == len || n > 0)
        return json_stringn(s, i);

    cap = len < max / 3 ? len * 3 : max;
    buf = xmalloc(cap + 1);
    memcpy(buf, s, i);
    out = i;
    while (i < len) {
        n = job_utf8_char_len(p + i, len - i);
        if (out + (n ? n : 3) > max)
            break;
        memcpy(buf + out, n ? s + i : replacement, n ? n : 3);
        out += n ? n : 3;
        i += n ? n : 1;
        *ret_replaced |= n == 0;
    }
    v = json_stringn(buf, out);
    free(buf);
    return v;
}

/* A JSON string of `len` bytes in base64 (RFC 4648, padded). New reference. */
static json_t *string_base64(const char *s, size_t len)
{
    static const char digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *p = (const unsigned char *)s;
    size_t i, out = 0;
    json_t *v;
    char *buf;

    buf = xmalloc((len + 2) / 3 * 4 + 1);
    for (i = 0; i + 2 < len; i += 3) {
        uint32_t w = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];

        buf[out++] = digits[w >> 18];
        buf[out++] = digits[w >> 12 & 63];
        buf[out++] = digits[w >> 6 & 63];
        buf[out++] = digits[w & 63];
    }
    if (i < len) {
        uint32_t w = (uint32_t)p[i] << 16 | (i + 1 < len ? (uint32_t)p[i + 1] << 8 : 0);

        buf[out++] = digits[w >> 18];
        buf[out++] = digits[w >> 12 & 63];
        buf[out++] = i + 1 < len ? digits[w >> 6 & 63] : '=';
        buf[out++] = '=';
    }
    v = json_stringn(buf, out);
    free(buf);
    return v;
}

static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* 24 lowercase hex digits: 96 bits mixed from `rnd`. */
static void jid_from_rnd(unsigned long long rnd, char out[JOB_JID_HEX + 1])
{
    uint64_t state = rnd, hi = splitmix64(&state), lo = splitmix64(&state);

    (void)snprintf(out, JOB_JID_HEX + 1, "%016" PRIx64 "%08" PRIx64, hi, lo >> 32);
}

/* --- changing fields all at once -------------------------------------------------------- */

struct field_update {
    const char *name;
    json_t *value; /* owned */
};

/* Sets the fields; an existing key keeps its place, a new one goes last. Takes ownership of
 * the values. */
static void object_update(json_t *obj, struct field_update *u, size_t n)
{
    for (size_t i = 0; i < n; i++)
        (void)json_object_set_new(obj, u[i].name, u[i].value);
}

/* --- construction ----------------------------------------------------------------------- */

struct job *job_alloc(const char *raw, size_t raw_len, const char *default_queue,
                      const char *strings, size_t strings_len)
{
    size_t qlen = strlen(default_queue);
    struct job *job = xmalloc(sizeof(*job) + raw_len + 1 + qlen + 1 + strings_len);

    job->root = NULL;
    job->args = NULL;
    job->no_args = NULL;
    job->f = (struct job_fields){0};
    job->wrapped = false;
    job->scanned = false;
    job->raw_len = raw_len;
    if (raw_len > 0)
        memcpy(job->mem, raw, raw_len);
    job->mem[raw_len] = '\0';
    memcpy(job->mem + raw_len + 1, default_queue, qlen + 1);
    job->default_queue = job->mem + raw_len + 1;
    job->strings = job->default_queue + qlen + 1;
    if (strings_len > 0)
        memcpy(job->mem + raw_len + 1 + qlen + 1, strings, strings_len);
    return job;
}

/* A job's object with the members every job has. `args` is borrowed; NULL stands for an
 * empty array. Returns NULL when a string is not UTF-8. */
static json_t *root_new(const char *class_name, json_t *args, const char *jid, const char *queue)
{
    json_t *root = json_object();

    if (json_object_set_new(root, "class", json_string(class_name)) < 0 ||
        json_object_set_new(root, "args", args ? json_incref(args) : json_array()) < 0 ||
        json_object_set_new(root, "jid", json_string(jid)) < 0 ||
        json_object_set_new(root, "queue", json_string(queue)) < 0) {
        json_decref(root);
        return NULL;
    }
    return root;
}

/* The object of a wrapper job (class nexus.invalid, no args) with `jid` (printable ASCII) and
 * `queue`, its bytes that are not UTF-8 replaced by U+FFFD. */
static json_t *wrapper_root(const char *jid, const char *queue)
{
    json_t *root = root_new(JOB_INVALID_CLASS, NULL, jid, "");
    bool replaced;

    (void)json_object_set_new(root, "queue",
                              string_clean(queue, strlen(queue), SIZE_MAX, &replaced));
    return root;
}

void job_wrap(struct job *job, unsigned long long rnd)
{
    char jid[JOB_JID_HEX + 1];
    bool replaced;
    json_t *root;

    jid_from_rnd(rnd, jid);
    root = wrapper_root(jid, job->default_queue);
    (void)json_object_set_new(root, "nexus_raw",
                              string_clean(job->mem, job->raw_len, SIZE_MAX, &replaced));
    /* nexus_raw lost the invalid bytes: keep them exactly, too. */
    if (replaced)
        (void)json_object_set_new(root, "nexus_raw_base64",
                                  string_base64(job->mem, job->raw_len));
    job->root = root;
    job->wrapped = true;
}

/* --- what a dead entry keeps of a text it does not keep whole --------------------------- */

int job_sha256_hex(const void *data, size_t len, char out[JOB_SHA256_HEX])
{
    return digest_sha256_hex(data, len, out);
}

char *job_args_canonical(const struct job *job)
{
    return json_dumps(job_args(job), JOB_DUMP_FLAGS | JSON_SORT_KEYS);
}

int job_args_sha256(const struct job *job, char out[JOB_SHA256_HEX])
{
    char *text = job_args_canonical(job);
    int r = job_sha256_hex(text, strlen(text), out);

    free(text);
    return r;
}

/* The string value of top-level-looking `"key": "value"` in `text` (the first one), when it
 * is 1..max bytes with no `bad` byte and no escape; copied into `out` (max + 1 bytes). */
static bool text_find(const char *text, size_t len, const char *key, size_t max,
                      job_byte_bad_fn *bad, char *out)
{
    size_t klen = strlen(key), i, j, n;

    for (i = 0; i + klen + 2 < len; i++) {
        if (text[i] != '"' || memcmp(text + i + 1, key, klen) != 0 || text[i + klen + 1] != '"')
            continue;
        j = i + klen + 2;
        while (j < len && (text[j] == ' ' || text[j] == '\t'))
            j++;
        if (j >= len || text[j++] != ':')
            continue;
        while (j < len && (text[j] == ' ' || text[j] == '\t'))
            j++;
        if (j >= len || text[j++] != '"')
            continue;
        for (n = 0; j + n < len && n <= max && text[j + n] != '"'; n++)
            if (text[j + n] == '\\' || bad((unsigned char)text[j + n]))
                break;
        if (n == 0 || n > max || j + n >= len || text[j + n] != '"')
            continue;
        memcpy(out, text + j, n);
        out[n] = '\0';
        return true;
    }
    return false;
}

/* The fields that stand for a text not kept: its first JOB_EXCERPT bytes (invalid UTF-8
 * replaced), its size and SHA-256, and "nexus_truncated": true. */
static void cut_fields(struct field_update *u, const char *head, size_t head_len, size_t size,
                       const char *sha256_hex)
{
    bool replaced;

    if (head_len > JOB_EXCERPT)
        head_len = JOB_EXCERPT;
    u[0] = (struct field_update){"nexus_excerpt",
                                 string_clean(head, head_len, JOB_EXCERPT, &replaced)};
    u[1] = (struct field_update){"nexus_original_size", json_integer((json_int_t)size)};
    u[2] = (struct field_update){"nexus_original_sha256", json_string(sha256_hex)};
    u[3] = (struct field_update){"nexus_truncated", json_true()};
}

struct job *job_cut(const char *head, size_t head_len, size_t size, const char *sha256_hex,
                    const char *default_queue, unsigned long long rnd)
{
    char jid[JOB_MAX_JID + 1], class_name[JOB_MAX_CLASS + 1], queue[JOB_MAX_QUEUE + 1];
    struct field_update u[UPDATE_MAX];
    bool replaced;
    struct job *job;
    json_t *root;

    if (head_len > JOB_EXCERPT)
        head_len = JOB_EXCERPT;
    if (!default_queue)
        default_queue = text_find(head, head_len, "queue", JOB_MAX_QUEUE, job_queue_byte_bad, queue)
                            ? queue
                            : JOB_DEFAULT_QUEUE;
    job = job_alloc("", 0, default_queue, NULL, 0);
    if (!text_find(head, head_len, "jid", JOB_MAX_JID, job_jid_byte_bad, jid))
        jid_from_rnd(rnd, jid);
    root = wrapper_root(jid, job->default_queue);
    /* the class may hold invalid UTF-8: cleaned as the excerpt is */
    if (text_find(head, head_len, "class", JOB_MAX_CLASS, job_class_byte_bad, class_name))
        (void)json_object_set_new(
            root, "nexus_original_class",
            string_clean(class_name, strlen(class_name), SIZE_MAX, &replaced));
    cut_fields(u, head, head_len, size, sha256_hex);
    object_update(root, u, 4);
    job->root = root;
    job->wrapped = true;
    return job;
}

int job_cut_raw(struct job *job, size_t keep_max)
{
    char sha[JOB_SHA256_HEX];
    struct field_update u[UPDATE_MAX];
    int r;

    if (!job->wrapped || job->raw_len <= keep_max)
        return 0;
    r = job_sha256_hex(job->mem, job->raw_len, sha);
    if (r < 0)
        return r;
    cut_fields(u, job->mem, job->raw_len, job->raw_len, sha);
    object_update(job->root, u, 4);
    (void)json_object_del(job->root, "nexus_raw");
    (void)json_object_del(job->root, "nexus_raw_base64");
    return 0;
}

struct job *job_new(const char *class_name, json_t *args, const char *queue, const char *jid,
                    double now, double at, unsigned long long rnd)
{
    char jid_buf[JOB_JID_HEX + 1];
    struct job *job;
    json_t *root;

    if (!class_name || !json_is_array(args))
        return NULL;
    if (!queue)
        queue = JOB_DEFAULT_QUEUE;
    if (!jid) {
        jid_from_rnd(rnd, jid_buf);
        jid = jid_buf;
    }
    job = job_alloc("", 0, queue, NULL, 0);
    root = root_new(class_name, args, jid, queue);
    /* json_real() refuses a time that is not finite */
    if (!root || json_object_set_new(root, "retry", json_true()) < 0 ||
        json_object_set_new(root, "created_at", json_real(now)) < 0 ||
        json_object_set_new(root, "enqueued_at", json_real(now)) < 0 ||
        (at > 0 && json_object_set_new(root, "at", json_real(at)) < 0)) {
        json_decref(root);
        job_free(job);
        return NULL;
    }
    job->root = root;
    return job;
}

void job_free(struct job *job)
{
    if (!job)
        return;
    json_decref(job->root);
    json_decref(job->args);
    json_decref(job->no_args);
    free(job);
}

/* --- changes ---------------------------------------------------------------------------- */

/* Whether the job keeps times as Sidekiq 8's integer milliseconds. */
static bool job_uses_ms(const struct job *job)
{
    const json_t *root = job_tree(job);
    const json_t *v = json_object_get(root, "created_at");

    if (!json_is_number(v))
        v = json_object_get(root, "enqueued_at");
    return json_is_number(v) && json_number_value(v) > JOB_MS_ABOVE;
}

json_t *job_time_value(const struct job *job, double epoch_s)
{
    double ms;

    if (!isfinite(epoch_s))
        epoch_s = 0;
    if (!job_uses_ms(job))
        return json_real(epoch_s);
    ms = epoch_s * 1000;
    if (ms > 9e18)
        ms = 9e18;
    if (ms < -9e18)
        ms = -9e18;
    return json_integer((json_int_t)llround(ms));
}

/* An error text as a job keeps it: at most JOB_MAX_ERROR bytes of valid UTF-8. */
static json_t *error_string(const char *s)
{
    bool replaced;

    if (!s)
        s = "";
    return string_clean(s, strlen(s), JOB_MAX_ERROR, &replaced);
}

void job_record_failure(struct job *job, const char *error_class, const char *error_message,
                        double now)
{
    json_t *root = job_tree(job);
    json_int_t count = job_valid_count(job, "retry_count");
    const json_t *prev = json_object_get(root, "retry_count");
    bool failed_before = prev && job_retry_count_valid(prev);
    struct field_update u[] = {
        /* Sidekiq's order: message, class, then the time and count. */
        {"error_message", error_string(error_message)},
        {"error_class", error_string(error_class)},
        {failed_before ? "retried_at" : "failed_at", job_time_value(job, now)},
        {"retry_count", json_integer(count_next(count))},
    };

    object_update(root, u, sizeof(u) / sizeof(u[0]));
}

void job_record_recovery(struct job *job)
{
    json_int_t n = job_valid_count(job, "nexus_recoveries");
    struct field_update u[] = {
        {"nexus_recoveries", json_integer(count_next(n < 0 ? 0 : n))},
    };

    object_update(job_tree(job), u, 1);
}

void job_set_enqueued_at(struct job *job, double now)
{
    struct field_update u[] = {{"enqueued_at", job_time_value(job, now)}};

    object_update(job_tree(job), u, 1);
}

/* --- encoding --------------------------------------------------------------------------- */

struct out_buf {
    char *data; /* owned; NUL-terminated */
    size_t len, cap;
};

static int encode_on_write(const char *buffer, size_t size, void *arg)
{
    struct out_buf *out = arg;

    if (size >= out->cap - out->len) {
        out->cap = out->cap * 2 > out->len + size + 1 ? out->cap * 2 : out->len + size + 1;
        out->data = xreallocarray(out->data, out->cap, 1);
    }
    memcpy(out->data + out->len, buffer, size);
    out->len += size;
    out->data[out->len] = '\0';
    return 0;
}

char *job_encode(const struct job *job, size_t *ret_len)
{
    struct out_buf out = {.cap = job->raw_len + 512};

    out.data = xmalloc(out.cap);
    out.data[0] = '\0';
    if (json_dump_callback(job_tree(job), encode_on_write, &out, JOB_DUMP_FLAGS) < 0) {
        free(out.data);
        return NULL;
    }
    if (ret_len)
        *ret_len = out.len;
    return out.data;
}
