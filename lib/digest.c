/* digest.c - SHA-256 and SHA-1 in hex (digest.h), with nettle's plain functions: no
 * provider to fetch, no global state, nothing loaded or initialised on first use. */
#include "lib/digest.h"

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

int digest_sha256_hex(const void *data, size_t len, char out[DIGEST_SHA256_HEX])
{
    struct sha256_ctx ctx;
    unsigned char d[SHA256_DIGEST_SIZE];

    sha256_init(&ctx);
    sha256_update(&ctx, len, data);
    sha256_digest(&ctx, sizeof(d), d);
    (void)hex_encode(d, sizeof(d), out);
    return 0;
}

int digest_sha1_hex(const void *data, size_t len, char out[DIGEST_SHA1_HEX])
{
    struct sha1_ctx ctx;
    unsigned char d[SHA1_DIGEST_SIZE];

    sha1_init(&ctx);
    sha1_update(&ctx, len, data);
    sha1_digest(&ctx, sizeof(d), d);
    (void)hex_encode(d, sizeof(d), out);
    return 0;
}
