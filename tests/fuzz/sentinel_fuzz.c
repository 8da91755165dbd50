/* sentinel_fuzz.c - libFuzzer target: sentinels' answers as they come off the wire (the
 * input fed to hiredis's redisReader, reply by reply, each given to sentinel_master_reply()
 * and sentinel_role_is_master()), and the input as a +switch-master payload and as a
 * configured sentinel spec. A host handed back must be printable and a port 1..65535. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "lib/err.h"
#include "lib/raddr.h"
#include "queue/sentinel.h"

static void check_address(const char *host, int port, const uint8_t *data, size_t size)
{
    size_t len = strlen(host);

    if (len == 0 || len > 255 || port < 1 || port > 65535) {
        (void)fprintf(stderr, "sentinel_fuzz: bad address '%s':%d from %zu bytes\n", host, port,
                      size);
        abort();
    }
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)host[i] <= ' ' || (unsigned char)host[i] >= 0x7f)
            abort();
    (void)data;
}

/* Whether an aggregate header ('*' or '%' or '~' then digits) announces more than 65536
 * elements: hiredis 0.14's reader reserves the whole array on the header, before any element
 * comes (calloc of count x 8 bytes), which libFuzzer's malloc limit reports. nexusd's
 * connections refuse such headers (queue/rconn.c, REPLY_MAX_ELEMENTS); the target leaves
 * them out and fuzzes our parsers. */
static bool announces_a_huge_array(const uint8_t *data, size_t size)
{
    for (size_t i = 0; i < size; i++) {
        unsigned long long n = 0;
        size_t j = i + 1;

        if (data[i] != '*' && data[i] != '%' && data[i] != '~')
            continue;
        while (j < size && data[j] >= '0' && data[j] <= '9' && n <= 65536)
            n = n * 10 + (data[j++] - '0');
        if (n > 65536)
            return true;
    }
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    redisReader *r = redisReaderCreate();
    struct err err = {0};
    char *host = NULL, *text;
    int port = 0;
    void *reply;

    /* the wire, reply by reply */
    if (!announces_a_huge_array(data, size) &&
        redisReaderFeed(r, (const char *)data, size) == REDIS_OK) {
        for (int n = 0; n < 16; n++) {
            reply = NULL;
            if (redisReaderGetReply(r, &reply) != REDIS_OK || !reply)
                break;
            if (sentinel_master_reply(reply, &host, &port, &err) == 0) {
                check_address(host, port, data, size);
                free(host);
                host = NULL;
            }
            (void)sentinel_role_is_master(reply);
            freeReplyObject(reply);
        }
    }
    redisReaderFree(r);
    /* a +switch-master payload, for a master named by its first word */
    if (sentinel_switch_parse((const char *)data, size, "mymaster", &host, &port, &err) == 0) {
        check_address(host, port, data, size);
        free(host);
    }
    /* a configured sentinel */
    text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    if (strlen(text) == size) {
        struct raddr a = {0};
        if (raddr_sentinel_spec_parse(text, &a, &err) == 0) {
            if (!a.host || a.port < 1 || a.port > 65535)
                abort();
            raddr_clear(&a);
        }
    }
    free(text);
    return 0;
}
