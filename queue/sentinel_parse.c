/* sentinel_parse.c - what sentinels answer, taken apart (pure). */
#include "queue/sentinel.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "lib/err.h"
#include "lib/parse.h"
#include "lib/raddr.h"
#include "lib/xalloc.h"

#define HOST_MAX 255 /* bytes of a host name or address a sentinel may answer */

/* `len` bytes at `s` are a host a sentinel may name: printable, no spaces, not empty. */
static bool host_ok(const char *s, size_t len)
{
    if (len == 0 || len > HOST_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f)
            return false;
    return true;
}

/* `len` bytes at `s` are a port, 1..65535. */
static bool port_ok(const char *s, size_t len, int *ret)
{
    char num[8];
    uint32_t port;

    if (len == 0 || len >= sizeof(num))
        return false;
    memcpy(num, s, len);
    num[len] = '\0';
    if (parse_u32(num, 1, 65535, &port) < 0)
        return false;
    *ret = (int)port;
    return true;
}

int sentinel_master_reply(const struct redisReply *reply, char **ret_host, int *ret_port,
                          struct err *err)
{
    const struct redisReply *h, *p;
    char quoted[160];
    int port;

    if (!reply)
        return err_set(err, -EPROTO, "no answer");
    if (reply->type == REDIS_REPLY_NIL)
        return -ENOENT;
    if (reply->type == REDIS_REPLY_ERROR)
        return err_set(err, -EPROTO, "error %s",
                       err_quote(reply->str, reply->len, 120, quoted, sizeof(quoted)));
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2)
        return err_set(err, -EPROTO, "the answer is not an address and a port");
    h = reply->element[0];
    p = reply->element[1];
    if (h->type != REDIS_REPLY_STRING || !host_ok(h->str, h->len))
        return err_set(err, -EPROTO, "the answer's address is not a host");
    if (p->type != REDIS_REPLY_STRING || !port_ok(p->str, p->len, &port))
        return err_set(err, -EPROTO, "the answer's port is not 1..65535");
    *ret_host = xmemdup(h->str, h->len);
    *ret_port = port;
    return 0;
}

/* The next space-separated word of `*s` (up to `end`): its start and length. */
static bool word(const char **s, const char *end, const char **ret, size_t *ret_len)
{
    const char *p = *s, *q;

    while (p < end && *p == ' ')
        p++;
    for (q = p; q < end && *q != ' '; q++)
        ;
    if (q == p)
        return false;
    *ret = p;
    *ret_len = (size_t)(q - p);
    *s = q;
    return true;
}

int sentinel_switch_parse(const char *payload, size_t len, const char *name, char **ret_host,
                          int *ret_port, struct err *err)
{
    const char *s = payload, *end = payload + len, *w[5], *extra;
    size_t wl[5], extra_len;
    int port, old_port;

    for (int i = 0; i < 5; i++)
        if (!word(&s, end, &w[i], &wl[i]))
            return err_set(err, -EPROTO, "+switch-master needs five words");
    if (word(&s, end, &extra, &extra_len)) /* `payload` is not NUL-terminated */
        return err_set(err, -EPROTO, "+switch-master needs five words");
    if (!host_ok(w[1], wl[1]) || !port_ok(w[2], wl[2], &old_port) || !host_ok(w[3], wl[3]) ||
        !port_ok(w[4], wl[4], &port))
        return err_set(err, -EPROTO, "+switch-master holds a bad address or port");
    if (wl[0] != strlen(name) || memcmp(w[0], name, wl[0]) != 0)
        return -ENOENT;
    *ret_host = xmemdup(w[3], wl[3]);
    *ret_port = port;
    return 0;
}

bool sentinel_role_is_master(const struct redisReply *reply)
{
    const struct redisReply *role;

    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements < 1)
        return false;
    role = reply->element[0];
    return (role->type == REDIS_REPLY_STRING || role->type == REDIS_REPLY_STATUS) &&
           role->len == 6 && memcmp(role->str, "master", 6) == 0;
}
