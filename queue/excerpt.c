/* excerpt.c - bounded views of job texts: object members from a head, cut strings, entries'
 * texts and args within a bound, a job's whole entry. */
#include "queue/excerpt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "lib/err.h"
#include "lib/job.h"
#include "lib/xalloc.h"
#include "queue/rerun.h"

static size_t skip_space(const char *text, size_t len, size_t p)
{
    while (p < len && (text[p] == ' ' || text[p] == '\t' || text[p] == '\n' || text[p] == '\r'))
        p++;
    return p;
}

json_t *excerpt_head_object(const char *text, size_t len)
{
    const size_t flags = JSON_DECODE_ANY | JSON_DISABLE_EOF_CHECK;
    json_t *obj = json_object(), *key, *value;
    json_error_t jerr;
    size_t p = skip_space(text, len, 0), q;

    if (p >= len || text[p] != '{')
        return obj;
    for (p++;; p++) {
        p = skip_space(text, len, p);
        key = json_loadb(text + p, len - p, flags, &jerr);
        q = key ? skip_space(text, len, p + (size_t)jerr.position) : len;
        if (!json_is_string(key) || q >= len || text[q] != ':') {
            json_decref(key);
            break;
        }
        value = json_loadb(text + q + 1, len - q - 1, flags, &jerr);
        p = value ? skip_space(text, len, q + 1 + (size_t)jerr.position) : len;
        /* a number cut short ("12" of "123") shows whole only when something follows */
        if (!value || p >= len || (text[p] != ',' && text[p] != '}')) {
            json_decref(key);
            json_decref(value);
            break;
        }
        (void)json_object_set_new(obj, json_string_value(key), value);
        json_decref(key);
        if (text[p] == '}')
            break;
    }
    return obj;
}

json_t *excerpt_string(const char *s, size_t len, size_t max)
{
    size_t n = len < max ? len : max;
    json_t *v;
    char *copy;

    while (n < len && n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
        n--;
    v = json_stringn(s, n);
    if (v)
        return v;
    copy = xmalloc(n);
    for (size_t i = 0; i < n; i++)
        copy[i] = (unsigned char)s[i] < 0x80 ? s[i] : '?';
    v = json_stringn(copy, n);
    free(copy);
    return v;
}

bool excerpt_put_text(json_t *entry, const char *name, const json_t *v, size_t max)
{
    size_t len = json_string_length(v);
    char size_name[64];

    if (!json_is_string(v)) {
        (void)json_object_set_new(entry, name, json_null());
        return false;
    }
    if (len <= max) {
        (void)json_object_set(entry, name, (json_t *)v);
        return false;
    }
    (void)snprintf(size_name, sizeof(size_name), "%s_size", name);
    (void)json_object_set_new(entry, name, excerpt_string(json_string_value(v), len, max));
    (void)json_object_set_new(entry, size_name, json_integer((json_int_t)len));
    return true;
}

bool excerpt_put_args(json_t *entry, const json_t *args, size_t max)
{
    size_t len = args ? json_dumpb(args, NULL, 0, JSON_COMPACT | JSON_ENCODE_ANY) : 0;
    char *text;

    if (len <= max) {
        (void)json_object_set_new(entry, "args",
                                  args ? json_incref((json_t *)args) : json_null());
        return false;
    }
    text = xmalloc(len);
    (void)json_dumpb(args, text, len, JSON_COMPACT | JSON_ENCODE_ANY); /* len bytes, as above */
    (void)json_object_set_new(entry, "args", json_null());
    (void)json_object_set_new(entry, "args_excerpt", excerpt_string(text, len, max));
    (void)json_object_set_new(entry, "args_size", json_integer((json_int_t)len));
    free(text);
    return true;
}

/* A field of the stored job, or null. */
static json_t *field(const json_t *root, const char *name)
{
    json_t *v = json_object_get(root, name);

    return v ? json_incref(v) : json_null();
}

json_t *excerpt_job(const char *text, size_t len, size_t size, size_t max)
{
    static const char *const texts[] = {"jid", "class", "queue", "error_class", "error_message"};
    struct err why = {0};
    struct job *job = NULL;
    const json_t *root;
    json_t *head = NULL, *entry, *excerpt;
    bool cut = false;

    if (len == size) {
        /* a member that does not decode still gives a job, and `why` says what is wrong */
        (void)job_decode(text, len, NULL, rerun_member_seed(text, len), &job, &why);
        root = job_root(job);
    } else {
        root = head = excerpt_head_object(text, len);
    }
    entry = json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:I, s:o}", "retry_count",
                      field(root, "retry_count"), "failed_at", field(root, "failed_at"),
                      "retried_at", field(root, "retried_at"), "enqueued_at",
                      field(root, "enqueued_at"), "invalid",
                      why.code < 0 ? excerpt_string(why.msg, strlen(why.msg), sizeof(why.msg))
                                   : json_null(),
                      "excerpt", json_null(), "size", (json_int_t)size, "truncated",
                      json_false());
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
        cut |= excerpt_put_text(entry, texts[i], json_object_get(root, texts[i]), max);
    cut |= excerpt_put_args(entry, json_object_get(root, "args"), max);
    /* the first bytes of a member not read whole, or of what a cut dead entry kept */
    excerpt = json_object_get(root, "nexus_excerpt");
    if (!excerpt)
        excerpt = json_object_get(root, "nexus_raw");
    if (len < size)
        (void)json_object_set_new(entry, "excerpt", excerpt_string(text, len, max));
    else if (json_is_string(excerpt))
        (void)excerpt_put_text(entry, "excerpt", excerpt, max);
    if (json_object_get(root, "nexus_original_size"))
        (void)json_object_set_new(entry, "original_size", field(root, "nexus_original_size"));
    (void)json_object_set_new(
        entry, "truncated",
        json_boolean(cut || len < size || json_is_true(json_object_get(root, "nexus_truncated"))));
    json_decref(head);
    job_free(job);
    return entry;
}
