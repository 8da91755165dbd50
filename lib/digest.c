/* digest.c - SHA-256 and SHA-1 in hex (digest.h). */
#include "lib/digest.h"

#include <errno.h>

#include <openssl/evp.h>

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

/* `name` fetched on first use and kept for the process's life (NULL when OpenSSL failed;
 * tried again next time). */
static const EVP_MD *md_get(EVP_MD **cache, const char *name)
{
    if (!*cache)
        *cache = EVP_MD_fetch(NULL, name, NULL);
    return *cache;
}

static int digest_hex(const EVP_MD *md, const void *data, size_t len, size_t want, char *out)
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned n = 0;

    out[0] = '\0';
    if (!md || !EVP_Digest(data, len, d, &n, md, NULL) || n != want)
        return -ENOMEM;
    (void)hex_encode(d, n, out);
    return 0;
}

int digest_sha256_hex(const void *data, size_t len, char out[DIGEST_SHA256_HEX])
{
    static EVP_MD *sha256;

    return digest_hex(md_get(&sha256, "SHA256"), data, len, 32, out);
}

int digest_sha1_hex(const void *data, size_t len, char out[DIGEST_SHA1_HEX])
{
    static EVP_MD *sha1;

    return digest_hex(md_get(&sha1, "SHA1"), data, len, 20, out);
}
