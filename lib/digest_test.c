/* digest_test.c - lib/digest.c: hex of known bytes, and the digests of known texts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "lib/digest.h"

static void test_hex_encode_writes_two_lowercase_digits_per_byte(void **state)
{
    const unsigned char in[] = {0x00, 0x0f, 0xa5, 0xff};
    char out[9];

    assert_ptr_equal(hex_encode(in, sizeof(in), out), out);
    assert_string_equal(out, "000fa5ff");
    assert_string_equal(hex_encode(in, 0, out), "");
}

static void test_sha256_of_known_texts(void **state)
{
    char out[DIGEST_SHA256_HEX];

    assert_int_equal(digest_sha256_hex("abc", 3, out), 0);
    assert_string_equal(out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_int_equal(digest_sha256_hex("", 0, out), 0);
    assert_string_equal(out, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void test_sha1_of_known_texts(void **state)
{
    char out[DIGEST_SHA1_HEX];

    assert_int_equal(digest_sha1_hex("abc", 3, out), 0);
    assert_string_equal(out, "a9993e364706816aba3e25717850c26c9cd0d89d");
    assert_int_equal(digest_sha1_hex("", 0, out), 0);
    assert_string_equal(out, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
}

/* 56 bytes: the padding takes a second block (FIPS 180-2's examples). */
static void test_digests_of_a_text_padded_into_two_blocks(void **state)
{
    const char *text = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    char out256[DIGEST_SHA256_HEX], out1[DIGEST_SHA1_HEX];

    assert_int_equal(digest_sha256_hex(text, strlen(text), out256), 0);
    assert_string_equal(out256,
                        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    assert_int_equal(digest_sha1_hex(text, strlen(text), out1), 0);
    assert_string_equal(out1, "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hex_encode_writes_two_lowercase_digits_per_byte),
        cmocka_unit_test(test_sha256_of_known_texts),
        cmocka_unit_test(test_sha1_of_known_texts),
        cmocka_unit_test(test_digests_of_a_text_padded_into_two_blocks),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
