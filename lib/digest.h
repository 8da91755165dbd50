/* digest.h - digests of bytes in lowercase hex: SHA-256 and SHA-1 through nettle, which
 * keeps no state (OpenSSL's first digest loads its configuration and default provider:
 * about 2 MB of an idle nexusd's RSS, docs/benchmarks.md). Thread-safe. */
#ifndef DIGEST_H
#define DIGEST_H

#include <stddef.h>

#define DIGEST_SHA256_HEX 65 /* 64 hex digits and NUL */
#define DIGEST_SHA1_HEX 41   /* 40 hex digits and NUL */

/* `n` bytes of `in` as 2n lowercase hex digits and a NUL in `out` (2n + 1 bytes). Returns
 * out. */
char *hex_encode(const unsigned char *in, size_t n, char *out);

/* The digest of `len` bytes at `data` into `out`. Returns 0, always: nettle neither
 * allocates nor fails. */
int digest_sha256_hex(const void *data, size_t len, char out[DIGEST_SHA256_HEX]);
int digest_sha1_hex(const void *data, size_t len, char out[DIGEST_SHA1_HEX]);

#endif
