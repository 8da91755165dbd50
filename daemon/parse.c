/* parse.c - strict number and duration parsing. */
#include "parse.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int parse_i64(const char *s, int64_t min, int64_t max, int64_t *ret)
{
    char *end;
    long long v;

    if (!s || !*s || isspace((unsigned char)*s))
        return -EINVAL;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (*end != '\0')
        return -EINVAL;
    if (errno == ERANGE || v < min || v > max)
        return -ERANGE;
    *ret = v;
    return 0;
}

int parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *ret)
{
    int64_t v;
    int r;

    if (s && (*s == '-' || *s == '+'))
        return -EINVAL;
    r = parse_i64(s, min, max, &v);
    if (r < 0)
        return r;
    *ret = (uint32_t)v;
    return 0;
}

int parse_double(const char *s, double min, double max, double *ret)
{
    char *end;
    double v;

    if (!s || !*s || isspace((unsigned char)*s))
        return -EINVAL;
    errno = 0;
    v = strtod(s, &end);
    if (*end != '\0' || isnan(v))
        return -EINVAL;
    if (errno == ERANGE || v < min || v > max)
        return -ERANGE;
    *ret = v;
    return 0;
}

static const struct unit {
    const char *suffix;
    double seconds;
} units[] = {
    {"ms", 0.001}, {"s", 1}, {"m", 60}, {"h", 3600}, {"d", 86400},
};

int parse_duration(const char *s, double min_s, double max_s, double *ret_s)
{
    char num[64];
    size_t n, i, len;
    double v;
    int r;

    if (!s)
        return -EINVAL;
    len = strlen(s);
    for (n = 0; n < len && (isdigit((unsigned char)s[n]) || s[n] == '.'); n++)
        ;
    if (n == 0 || n >= sizeof(num))
        return -EINVAL;
    memcpy(num, s, n);
    num[n] = '\0';
    r = parse_double(num, 0, INFINITY, &v);
    if (r < 0)
        return -EINVAL;
    if (s[n] != '\0') {
        for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
            if (strcmp(s + n, units[i].suffix) == 0)
                break;
        if (i == sizeof(units) / sizeof(units[0]))
            return -EINVAL;
        v *= units[i].seconds;
    }
    if (v < min_s || v > max_s)
        return -ERANGE;
    *ret_s = v;
    return 0;
}
