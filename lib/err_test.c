/* err_test.c - error sentences and the values they quote. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "lib/err.h"

static void test_quote_escapes_quotes_backslashes_and_controls(void **state)
{
    char buf[64];

    assert_string_equal(err_quote("a\"b\\c\n\x7f", 7, 40, buf, sizeof(buf)),
                        "\"a\\\"b\\\\c\\x0a\\x7f\"");
    assert_string_equal(err_quote("a\0b", 3, 40, buf, sizeof(buf)), "\"a\\x00b\"");
    assert_string_equal(err_quote("", 0, 40, buf, sizeof(buf)), "\"\"");
}

static void test_quote_cuts_after_max_on_a_character_boundary(void **state)
{
    char buf[64];

    assert_string_equal(err_quote("abcdef", 6, 4, buf, sizeof(buf)), "\"abcd...\"");
    assert_string_equal(err_quote("abcd", 4, 4, buf, sizeof(buf)), "\"abcd\"");
    /* "é" is 2 bytes at 3..4: a cut after 4 bytes keeps 3 */
    assert_string_equal(err_quote("abc\xc3\xa9z", 6, 4, buf, sizeof(buf)), "\"abc...\"");
    /* continuation bytes that start no character: at most 3 are given back */
    assert_string_equal(err_quote("\x80\x80\x80\x80\x80\x80", 6, 5, buf, sizeof(buf)),
                        "\"\x80\x80...\"");
}

static void test_quote_cuts_where_the_buffer_is_full(void **state)
{
    char buf[16];

    assert_string_equal(err_quote("\n\n\n\n\n\n", 6, 40, buf, sizeof(buf)), "\"\\x0a\\x0a...\"");
    assert_string_equal(err_quote("abcdefghijklmnop", 16, 40, buf, sizeof(buf)),
                        "\"abcdefg...\""); /* room for an escape, "...", '"' and NUL */
}

static void test_set_returns_the_code_and_prefix_keeps_it(void **state)
{
    struct err err = {0};

    assert_int_equal(err_set(&err, -EINVAL, "bad %s", "thing"), -EINVAL);
    assert_int_equal(err_prefix(&err, "file:%d", 3), -EINVAL);
    assert_string_equal(err.msg, "file:3: bad thing");
    assert_int_equal(err_set(NULL, -ENOMEM, "x"), -ENOMEM);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quote_escapes_quotes_backslashes_and_controls),
        cmocka_unit_test(test_quote_cuts_after_max_on_a_character_boundary),
        cmocka_unit_test(test_quote_cuts_where_the_buffer_is_full),
        cmocka_unit_test(test_set_returns_the_code_and_prefix_keeps_it),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
