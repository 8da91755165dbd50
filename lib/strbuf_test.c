/* strbuf_test.c - the growing string: appends, NUL bytes, growth. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/strbuf.h"

static void test_strbuf_is_null_until_the_first_append(void **state)
{
    struct strbuf b = {0};

    assert_null(b.p);
    strbuf_add(&b, "", 0);
    assert_non_null(b.p);
    assert_string_equal(b.p, "");
    assert_int_equal(b.len, 0);
    free(b.p);
}

static void test_strbuf_appends_and_keeps_nul_bytes(void **state)
{
    struct strbuf b = {0};

    strbuf_add(&b, "ab", 2);
    strbuf_add(&b, "c\0d", 3);
    assert_int_equal(b.len, 5);
    assert_memory_equal(b.p, "abc\0d", 6);
    assert_true(b.cap > b.len);
    free(b.p);
}

static void test_strbuf_grows_across_many_appends(void **state)
{
    struct strbuf b = {0};
    char chunk[1000];

    memset(chunk, 'x', sizeof(chunk));
    for (int i = 0; i < 1000; i++)
        strbuf_add(&b, chunk, sizeof(chunk));
    assert_int_equal(b.len, 1000000);
    assert_int_equal(b.p[b.len], '\0');
    assert_int_equal(b.p[b.len - 1], 'x');
    assert_true(b.cap > b.len);
    free(b.p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strbuf_is_null_until_the_first_append),
        cmocka_unit_test(test_strbuf_appends_and_keeps_nul_bytes),
        cmocka_unit_test(test_strbuf_grows_across_many_appends),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
