/* parse.c - strict number and duration parsing. */
#include "lib/parse.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>

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

int parse_listen(const char *s, struct sockaddr_storage *ret, unsigned *ret_len)
{
    struct sockaddr_storage ss = {0};
    char host[INET6_ADDRSTRLEN + 1];
    const char *colon, *h = s;
    size_t hlen;
    uint32_t port;

    if (!s)
        return -EINVAL;
    if (strncmp(s, "unix:", 5) == 0) {
        struct sockaddr_un *un = (struct sockaddr_un *)&ss;
        size_t n = strlen(s + 5);

        if (s[5] != '/' || n >= sizeof(un->sun_path))
            return -EINVAL;
        un->sun_family = AF_UNIX;
        memcpy(un->sun_path, s + 5, n + 1);
        *ret = ss;
        *ret_len = (unsigned)(offsetof(struct sockaddr_un, sun_path) + n + 1);
        return 0;
    }
    colon = strrchr(s, ':');
    if (!colon || parse_u32(colon + 1, 0, 65535, &port) < 0)
        return -EINVAL;
    hlen = (size_t)(colon - s);
    if (*s == '[') {
        if (hlen < 3 || s[hlen - 1] != ']')
            return -EINVAL;
        h = s + 1;
        hlen -= 2;
    }
    if (hlen == 0 || hlen >= sizeof(host))
        return -EINVAL;
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    if (*s != '[' && inet_pton(AF_INET, host, &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
        ((struct sockaddr_in *)&ss)->sin_family = AF_INET;
        ((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)port);
        *ret_len = sizeof(struct sockaddr_in);
    } else if (*s == '[' &&
               inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
        ((struct sockaddr_in6 *)&ss)->sin6_family = AF_INET6;
        ((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)port);
        *ret_len = sizeof(struct sockaddr_in6);
    } else {
        return -EINVAL;
    }
    *ret = ss;
    return 0;
}
