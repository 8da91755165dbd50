/* traceparent.c - W3C Trace Context level 1 traceparent and tracestate values (pure). */
#include "lib/traceparent.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "lib/err.h"

#define GOT_MAX 64 /* bytes of a value quoted in an error sentence */
#define GOT_BUF (GOT_MAX * 4 + 8)
#define SHAPE "00-<32 hex trace-id>-<16 hex parent-id>-<2 hex flags>"

/* The fields of "00-<trace-id>-<parent-id>-<flags>": where each starts, and how long it is. */
static const struct field {
    const char *what;
    size_t at, len;
} fields[] = {
    {"version", 0, 2},
    {"trace-id", 3, TRACE_ID_HEX},
    {"parent-id", 3 + TRACE_ID_HEX + 1, TRACE_SPAN_HEX},
    {"flags", 3 + TRACE_ID_HEX + 1 + TRACE_SPAN_HEX + 1, 2},
};

#define NFIELDS (sizeof(fields) / sizeof(fields[0]))

static bool hex_lower(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

static bool all_zeros(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] != '0')
            return false;
    return true;
}

static unsigned hex_value(char c)
{
    return c <= '9' ? (unsigned)(c - '0') : (unsigned)(c - 'a' + 10);
}

/* Checks the shape: length, dashes, lowercase hex fields, version 00, ids not all zeros. */
static int shape_check(const char *name, const char *s, size_t len, struct err *err)
{
    char got[GOT_BUF];

    (void)err_quote(s, len, GOT_MAX, got, sizeof(got));
    if (len != TRACEPARENT_LEN)
        return err_set(err, -EINVAL,
                       "'%s' must be %d characters, " SHAPE " (got %s, %zu characters)", name,
                       TRACEPARENT_LEN, got, len);
    for (size_t i = 1; i < NFIELDS; i++)
        if (s[fields[i].at - 1] != '-')
            return err_set(err, -EINVAL, "'%s' must be " SHAPE " (got %s)", name, got);
    for (size_t i = 0; i < NFIELDS; i++)
        if (!hex_lower(s + fields[i].at, fields[i].len))
            return err_set(err, -EINVAL, "'%s' %s must be lowercase hex digits (got %s)", name,
                           fields[i].what, got);
    if (memcmp(s, "00", 2) != 0)
        return err_set(err, -EINVAL, "'%s' version must be 00 (got %s)", name, got);
    for (size_t i = 1; i <= 2; i++)
        if (all_zeros(s + fields[i].at, fields[i].len))
            return err_set(err, -EINVAL, "'%s' %s must not be all zeros (got %s)", name,
                           fields[i].what, got);
    return 0;
}

int traceparent_parse(const char *name, const char *s, size_t len, struct traceparent *ret,
                      struct err *err)
{
    int r = shape_check(name, s, len, err);

    if (r < 0)
        return r;
    memcpy(ret->trace_id, s + fields[1].at, TRACE_ID_HEX);
    ret->trace_id[TRACE_ID_HEX] = '\0';
    memcpy(ret->parent_id, s + fields[2].at, TRACE_SPAN_HEX);
    ret->parent_id[TRACE_SPAN_HEX] = '\0';
    ret->flags = hex_value(s[fields[3].at]) << 4 | hex_value(s[fields[3].at + 1]);
    return 0;
}

void traceparent_child(const struct traceparent *tp, unsigned long long rnd,
                       struct traceparent *ret)
{
    *ret = *tp;
    (void)snprintf(ret->parent_id, sizeof(ret->parent_id), "%016llx", rnd ? rnd : 1ULL);
}

char *traceparent_format(const struct traceparent *tp, char out[TRACEPARENT_LEN + 1])
{
    (void)snprintf(out, TRACEPARENT_LEN + 1, "00-%s-%s-%02x", tp->trace_id, tp->parent_id,
                   tp->flags & 0xffu);
    return out;
}

int tracestate_check(const char *name, const char *s, size_t len, struct err *err)
{
    char got[GOT_BUF];

    if (len == 0 || len > TRACESTATE_MAX)
        return err_set(err, -EINVAL, "'%s' must be 1..%d bytes (got %zu)", name, TRACESTATE_MAX,
                       len);
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
            return err_set(err, -EINVAL, "'%s' must be printable ASCII (got %s)", name,
                           err_quote(s, len, GOT_MAX, got, sizeof(got)));
    return 0;
}
