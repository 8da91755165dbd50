/* digest.c - SHA-256 and SHA-1 in hex (digest.h), with nettle's plain functions: no
 * provider to fetch, no global state, nothing loaded or initialised on first use. */
#include "lib/digest.h"

#include <nettle/nettle-meta.h>
#include <nettle/sha1.h>
#include <nettle/sha2.h>

char *hex_encode(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 0xf];
    }
    out[2 * n] = '\0';
    return out;
}

/* One digest of `h` (nettle's description of an algorithm) in hex. */
static int digest_hex(const struct nettle_hash *h, const void *data, size_t len, char *out)
{
    union {
        struct sha256_ctx sha256;
        struct sha1_ctx sha1;
    } ctx;
    unsigned char d[SHA256_DIGEST_SIZE];

    h->init(&ctx);
    h->update(&ctx, len, data);
    h->digest(&ctx, h->digest_size, d);
    (void)hex_encode(d, h->digest_size, out);
    return 0;
}

int digest_sha256_hex(const void *data, size_t len, char out[DIGEST_SHA256_HEX])
{
    return digest_hex(&nettle_sha256, data, len, out);
}

int digest_sha1_hex(const void *data, size_t len, char out[DIGEST_SHA1_HEX])
{
    return digest_hex(&nettle_sha1, data, len, out);
}
