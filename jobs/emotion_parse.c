/* emotion_parse.c - args, request and answers of emotion.analyze, strictly checked. */
#include "jobs/emotion_parse.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "lib/err.h"
#include "lib/job.h"
#include "lib/xalloc.h"

static bool blank(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r')
            return false;
    return true;
}

static int text_take(json_t *v, const char *where, size_t max_text, struct emotion_input *ret,
                     struct err *err)
{
    size_t len;
    const char *s;

    if (!json_is_string(v))
        return err_set(err, -EINVAL, "%s must be the text to analyze, a string (got %s)", where,
                       job_json_phrase(v));
    s = json_string_value(v);
    len = json_string_length(v);
    if (len == 0 || len > max_text)
        return err_set(err, -EINVAL, "%s must be a string of 1..%zu bytes (got %zu bytes)", where,
                       max_text, len);
    if (memchr(s, '\0', len))
        return err_set(err, -EINVAL, "%s must not contain NUL characters", where);
    if (blank(s, len))
        return err_set(err, -EINVAL, "%s must not be only white space", where);
    ret->text = s;
    ret->len = len;
    return 0;
}

static int source_take(json_t *v, const char *where, struct emotion_input *ret, struct err *err)
{
    const char *s;
    size_t len;

    if (!v || json_is_null(v))
        return 0;
    if (json_is_integer(v)) {
        (void)snprintf(ret->source, sizeof(ret->source), "%" JSON_INTEGER_FORMAT,
                       json_integer_value(v));
        return 0;
    }
    if (!json_is_string(v))
        return err_set(err, -EINVAL,
                       "%s must be the source reference, a string or an integer (got %s)", where,
                       job_json_phrase(v));
    s = json_string_value(v);
    len = json_string_length(v);
    if (len == 0 || len > EMOTION_MAX_SOURCE)
        return err_set(err, -EINVAL, "%s must be a string of 1..%d bytes (got %zu bytes)", where,
                       EMOTION_MAX_SOURCE, len);
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return err_set(err, -EINVAL, "%s must not contain control characters (byte %zu)",
                           where, i);
    memcpy(ret->source, s, len + 1);
    return 0;
}

/* [{"text": "...", "source": ...}] */
static int object_take(json_t *obj, size_t max_text, struct emotion_input *ret, struct err *err)
{
    const char *key;
    json_t *v;

    json_object_foreach(obj, key, v)
        if (strcmp(key, "text") != 0 && strcmp(key, "source") != 0)
            return err_set(err, -EINVAL,
                           "args[0] has an unknown member \"%.40s\" (allowed: text, source)", key);
    if (!json_object_get(obj, "text"))
        return err_set(err, -EINVAL, "args[0] must have a \"text\" member");
    if (text_take(json_object_get(obj, "text"), "args[0].text", max_text, ret, err) < 0)
        return -EINVAL;
    return source_take(json_object_get(obj, "source"), "args[0].source", ret, err);
}

int emotion_input_parse(json_t *args, size_t max_text, struct emotion_input *ret,
                        struct err *err)
{
    size_t n = json_array_size(args);
    json_t *first = json_array_get(args, 0);

    memset(ret, 0, sizeof(*ret));
    if (!json_is_array(args) || n < 1 || n > 2)
        return err_set(err, -EINVAL,
                       "emotion.analyze takes [text], [text, source] or [{\"text\": ..., "
                       "\"source\": ...}] (got %zu argument%s)",
                       n, n == 1 ? "" : "s");
    if (json_is_object(first)) {
        if (n != 1)
            return err_set(err, -EINVAL, "args[0] is an object: it must be the only argument");
        return object_take(first, max_text, ret, err);
    }
    if (text_take(first, "args[0]", max_text, ret, err) < 0)
        return -EINVAL;
    return source_take(json_array_get(args, 1), "args[1]", ret, err);
}

char *emotion_request_json(const char *text, size_t len, unsigned top_k)
{
    json_t *root = json_pack("{s:s%, s:{s:b}}", "inputs", text, len, "options", "wait_for_model",
                             0);
    char *out;

    if (top_k > 0)
        (void)json_object_set_new(root, "parameters",
                                  json_pack("{s:I}", "top_k", (json_int_t)top_k));
    out = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    return out;
}

void emotion_labels_clear(struct emotion_labels *labels)
{
    for (size_t i = 0; i < labels->n; i++)
        free(labels->v[i].name);
    free(labels->v);
    labels->v = NULL;
    labels->n = 0;
}

static int label_cmp(const void *a, const void *b)
{
    const struct emotion_label *x = a, *y = b;

    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* One entry {"label": "joy", "score": 0.9}; `i` is its index, for messages. */
static int label_take(json_t *e, size_t i, struct emotion_label *ret, struct err *err)
{
    json_t *label = json_object_get(e, "label"), *score = json_object_get(e, "score");
    size_t len;
    double s;

    if (!json_is_object(e))
        return err_set(err, -EINVAL, "entry %zu must be an object {\"label\", \"score\"} (got %s)",
                       i, job_json_phrase(e));
    if (!json_is_string(label))
        return err_set(err, -EINVAL, "entry %zu: \"label\" must be a string (got %s)", i,
                       label ? job_json_phrase(label) : "nothing");
    len = json_string_length(label);
    if (len == 0 || len > EMOTION_MAX_LABEL || memchr(json_string_value(label), '\0', len))
        return err_set(err, -EINVAL,
                       "entry %zu: \"label\" must be 1..%d bytes without NUL (got %zu bytes)", i,
                       EMOTION_MAX_LABEL, len);
    if (!json_is_number(score))
        return err_set(err, -EINVAL, "entry %zu: \"score\" must be a number (got %s)", i,
                       score ? job_json_phrase(score) : "nothing");
    s = json_number_value(score);
    if (!isfinite(s) || s < 0 || s > 1)
        return err_set(err, -EINVAL, "entry %zu: \"score\" must be 0..1 (got %g)", i, s);
    ret->name = xstrdup(json_string_value(label));
    ret->score = s;
    return 0;
}

/* A list of entries, checked and sorted into `ret`. */
static int labels_take(json_t *list, struct emotion_labels *ret, struct err *err)
{
    struct emotion_labels out = {0};
    size_t n = json_array_size(list);
    int r = 0;

    if (n == 0)
        return err_set(err, -EINVAL, "no labels");
    if (n > EMOTION_MAX_LABELS)
        return err_set(err, -EINVAL, "%zu labels, more than %d", n, EMOTION_MAX_LABELS);
    out.v = xcalloc(n, sizeof(*out.v));
    for (size_t i = 0; i < n && r == 0; i++) {
        r = label_take(json_array_get(list, i), i, &out.v[i], err);
        if (r == 0)
            out.n++;
    }
    for (size_t i = 0; i < out.n && r == 0; i++)
        for (size_t j = i + 1; j < out.n && r == 0; j++)
            if (strcmp(out.v[i].name, out.v[j].name) == 0)
                r = err_set(err, -EINVAL, "label \"%.40s\" appears twice", out.v[i].name);
    if (r < 0) {
        emotion_labels_clear(&out);
        return r;
    }
    qsort(out.v, out.n, sizeof(*out.v), label_cmp);
    *ret = out;
    return 0;
}

static json_t *json_parse(const char *body, size_t len, struct err *err)
{
    json_error_t jerr;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);

    if (!root)
        err_set(err, -EINVAL, "invalid JSON: %s (column %d)", jerr.text, jerr.column);
    return root;
}

int emotion_labels_parse(const char *body, size_t len, struct emotion_labels *ret,
                         struct err *err)
{
    json_t *root = json_parse(body, len, err), *list;
    int r;

    if (!root)
        return -EINVAL;
    list = root;
    if (json_is_array(root) && json_is_array(json_array_get(root, 0))) {
        if (json_array_size(root) != 1) {
            r = err_set(err, -EINVAL, "%zu label lists for one text", json_array_size(root));
            goto out;
        }
        list = json_array_get(root, 0);
    }
    if (!json_is_array(list)) {
        r = err_set(err, -EINVAL, "expected a list of {\"label\", \"score\"} (got %s)",
                    job_json_phrase(list));
        goto out;
    }
    r = labels_take(list, ret, err);
out:
    json_decref(root);
    return r;
}

static json_t *labels_to_json(const struct emotion_labels *labels)
{
    json_t *list = json_array();

    for (size_t i = 0; i < labels->n; i++) /* names are UTF-8: they came from JSON */
        (void)json_array_append_new(list, json_pack("{s:s, s:f}", "label", labels->v[i].name,
                                                    "score", labels->v[i].score));
    return list;
}

char *emotion_labels_json(const struct emotion_labels *labels)
{
    json_t *list = labels_to_json(labels);
    char *out = json_dumps(list, JSON_COMPACT | JSON_REAL_PRECISION(15));

    json_decref(list);
    return out;
}

/* Printable text of `s` into `out`: control characters as '?', "..." when cut. */
static void message_copy(char *out, size_t size, const char *s)
{
    size_t n = strlen(s), i;

    for (i = 0; i < n && i < size - 1; i++)
        out[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
    if (i < n && size > 4)
        memcpy(out + size - 4, "...", 3), i = size - 1;
    out[i] = '\0';
}

int emotion_hf_error_parse(const char *body, size_t len, struct emotion_hf_error *ret)
{
    json_t *root = json_loadb(body, len, 0, NULL), *error, *eta;
    char joined[EMOTION_MAX_MESSAGE + 2] = "";
    int r = -EINVAL;

    error = json_object_get(root, "error");
    eta = json_object_get(root, "estimated_time");
    if (json_is_string(error)) {
        message_copy(ret->message, sizeof(ret->message), json_string_value(error));
    } else if (json_is_array(error) && json_array_size(error) > 0) {
        size_t i, used = 0;
        json_t *m;
        json_array_foreach(error, i, m) {
            if (!json_is_string(m))
                goto out;
            used += (size_t)snprintf(joined + used, sizeof(joined) - used, "%s%s",
                                     i ? "; " : "", json_string_value(m));
            if (used >= sizeof(joined) - 1)
                break;
        }
        message_copy(ret->message, sizeof(ret->message), joined);
    } else {
        goto out;
    }
    ret->estimated_time_s = -1;
    if (eta) {
        double s = json_number_value(eta);
        if (!json_is_number(eta) || !isfinite(s) || s < 0)
            goto out;
        ret->estimated_time_s = s;
    }
    r = 0;
out:
    json_decref(root);
    return r;
}

char *emotion_cache_encode(const char *model, const struct emotion_labels *labels)
{
    json_t *root = json_pack("{s:s, s:o}", "model", model, "labels", labels_to_json(labels));
    char *out = root ? json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(15)) : NULL;

    json_decref(root);
    return out;
}

int emotion_cache_decode(const char *text, size_t len, const char *model,
                         struct emotion_labels *ret, struct err *err)
{
    json_t *root = json_parse(text, len, err), *m, *labels;
    int r;

    if (!root)
        return -EINVAL;
    m = json_object_get(root, "model");
    labels = json_object_get(root, "labels");
    if (!json_is_object(root) || !json_is_string(m) || !json_is_array(labels))
        r = err_set(err, -EINVAL, "expected {\"model\": \"...\", \"labels\": [...]}");
    else if (strcmp(json_string_value(m), model) != 0)
        r = -ESTALE;
    else
        r = labels_take(labels, ret, err);
    json_decref(root);
    return r;
}
