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
    assert_int_equal(digest_sha256_hex("", 0, out), 0); /* and again: the kept algorithm */
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hex_encode_writes_two_lowercase_digits_per_byte),
        cmocka_unit_test(test_sha256_of_known_texts),
        cmocka_unit_test(test_sha1_of_known_texts),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
