/* job_diff.c - where two jobs differ in what lib/job.h gives for them (pure). */
#include "lib/job_diff.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "lib/err.h"
#include "lib/job.h"
#include "lib/traceparent.h"

static bool bytes_same(const char *a, size_t alen, const char *b, size_t blen)
{
    if (!a || !b)
        return a == b;
    return alen == blen && memcmp(a, b, alen) == 0;
}

static bool string_same(const char *a, const char *b)
{
    return bytes_same(a, a ? strlen(a) : 0, b, b ? strlen(b) : 0);
}

static bool traceparent_same(const struct job *a, const struct job *b)
{
    struct traceparent ta = {0}, tb = {0};
    struct err ea = {0}, eb = {0};
    int ra = job_traceparent(a, &ta, &ea), rb = job_traceparent(b, &tb, &eb);

    return ra == rb && strcmp(ea.msg, eb.msg) == 0 && memcmp(&ta, &tb, sizeof(ta)) == 0;
}

static bool unique_key_same(const struct job *a, const struct job *b)
{
    size_t alen = 0, blen = 0;
    const char *ka = job_unique_key(a, &alen), *kb = job_unique_key(b, &blen);

    return bytes_same(ka, alen, kb, blen);
}

static bool raw_same(const struct job *a, const struct job *b)
{
    size_t alen, blen;
    const char *ra = job_raw(a, &alen), *rb = job_raw(b, &blen);

    return bytes_same(ra, alen, rb, blen);
}

/* Whether two texts are the same; frees both. */
static bool text_same(char *ta, size_t alen, char *tb, size_t blen)
{
    bool same = bytes_same(ta, alen, tb, blen);

    free(ta);
    free(tb);
    return same;
}

static bool args_same(const struct job *a, const struct job *b)
{
    char *ca = job_args_canonical(a), *cb = job_args_canonical(b);

    return json_equal(job_args(a), job_args(b)) &&
           text_same(ca, ca ? strlen(ca) : 0, cb, cb ? strlen(cb) : 0);
}

static bool encoding_same(const struct job *a, const struct job *b)
{
    size_t alen = 0, blen = 0;
    char *ea = job_encode(a, &alen), *eb = job_encode(b, &blen);

    return text_same(ea, alen, eb, blen);
}

/* The accessors that only read; none builds a tree. */
static const char *fields_diff(const struct job *a, const struct job *b)
{
    if (!string_same(job_jid(a), job_jid(b)))
        return "job_jid";
    if (!string_same(job_class(a), job_class(b)))
        return "job_class";
    if (!string_same(job_queue(a), job_queue(b)))
        return "job_queue";
    if (!raw_same(a, b))
        return "job_raw";
    if (job_retry_count(a) != job_retry_count(b))
        return "job_retry_count";
    if (job_recoveries(a) != job_recoveries(b))
        return "job_recoveries";
    if (job_enqueued_at(a) != job_enqueued_at(b))
        return "job_enqueued_at";
    if (job_created_at(a) != job_created_at(b))
        return "job_created_at";
    if (job_max_retries(a, 25) != job_max_retries(b, 25) ||
        job_max_retries(a, -7) != job_max_retries(b, -7))
        return "job_max_retries";
    if (job_unique_for(a) != job_unique_for(b))
        return "job_unique_for";
    if (!unique_key_same(a, b))
        return "job_unique_key";
    if (!traceparent_same(a, b))
        return "job_traceparent";
    if (!string_same(job_tracestate(a), job_tracestate(b)))
        return "job_tracestate";
    if (job_dead_allowed(a) != job_dead_allowed(b))
        return "job_dead_allowed";
    return NULL;
}

const char *job_diff(const struct job *a, const struct job *b)
{
    const char *what = fields_diff(a, b);

    if (what)
        return what;
    if (!args_same(a, b))
        return "job_args";
    if (!encoding_same(a, b))
        return "job_encode";
    if (!json_equal(job_root(a), job_root(b)))
        return "job_root";
    /* the trees are built now: the accessors read them */
    return fields_diff(a, b);
}
