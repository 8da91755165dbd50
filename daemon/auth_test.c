/* auth_test.c - bearer token checks: schemes, missing, wrong, read-only, timing shape. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "daemon/auth.h"

#define TOKEN "s3cret-token-0123456789abcdef"

static void test_check_accepts_the_bearer_token(void **state)
{
    assert_int_equal(auth_check(TOKEN, "Bearer " TOKEN), AUTH_OK);
    assert_int_equal(auth_check(TOKEN, "bearer " TOKEN), AUTH_OK);
    assert_int_equal(auth_check(TOKEN, "BEARER   " TOKEN "  "), AUTH_OK);
}

static void test_check_refuses_everything_without_a_token(void **state)
{
    assert_int_equal(auth_check(NULL, "Bearer " TOKEN), AUTH_READ_ONLY);
    assert_int_equal(auth_check("", "Bearer "), AUTH_READ_ONLY);
    assert_int_equal(auth_check(NULL, NULL), AUTH_READ_ONLY);
}

static void test_check_tells_missing_from_wrong(void **state)
{
    static const char *const missing[] = {NULL, "", "Bearer", "Bearer ", "Bearer    ",
                                          "Basic dXNlcjpwYXNz", TOKEN};
    static const char *const wrong[] = {
        "Bearer x",           "Bearer " TOKEN "x", "Bearer s3cret-token-0123456789abcdeF",
        "Bearer s3cret-token", "Bearer " TOKEN TOKEN, "Bearer \x01",
    };

    for (size_t i = 0; i < sizeof(missing) / sizeof(missing[0]); i++)
        assert_int_equal(auth_check(TOKEN, missing[i]), AUTH_MISSING);
    for (size_t i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++)
        assert_int_equal(auth_check(TOKEN, wrong[i]), AUTH_WRONG);
}

static void test_equal_needs_same_length_and_bytes(void **state)
{
    assert_true(auth_equal("abc", 3, "abc", 3));
    assert_false(auth_equal("abd", 3, "abc", 3));
    assert_false(auth_equal("ab", 2, "abc", 3));
    assert_false(auth_equal("abca", 4, "abc", 3));
    /* a prefix repeated to the secret's length is still a different length */
    assert_false(auth_equal("ab", 2, "abab", 4));
    assert_false(auth_equal("", 0, "abc", 3));
    assert_false(auth_equal("", 0, "", 0));
    /* bytes after a NUL count */
    assert_false(auth_equal("ab\0d", 4, "ab\0c", 4));
}

static void test_result_names(void **state)
{
    assert_string_equal(auth_result_name(AUTH_OK), "ok");
    assert_string_equal(auth_result_name(AUTH_READ_ONLY), "read-only");
    assert_string_equal(auth_result_name(AUTH_MISSING), "missing token");
    assert_string_equal(auth_result_name(AUTH_WRONG), "wrong token");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_accepts_the_bearer_token),
        cmocka_unit_test(test_check_refuses_everything_without_a_token),
        cmocka_unit_test(test_check_tells_missing_from_wrong),
        cmocka_unit_test(test_equal_needs_same_length_and_bytes),
        cmocka_unit_test(test_result_names),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
