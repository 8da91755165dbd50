/* decimal_test.c - lib/decimal.c: against snprintf at every power of ten and its
 * neighbours, and at the ends of the range. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "lib/decimal.h"

static void check(unsigned long long v)
{
    char want[DECIMAL_MAX], got[DECIMAL_MAX + 1];
    int n = snprintf(want, sizeof(want), "%llu", v);

    memset(got, 'x', sizeof(got));
    assert_int_equal(decimal_digits(v), (size_t)n);
    assert_int_equal(decimal_put(got, v), (size_t)n);
    assert_string_equal(got, want);
}

static void test_same_as_snprintf(void **state)
{
    unsigned long long p = 1;

    check(0);
    check(~0ULL);
    check(~0ULL - 1);
    for (int i = 0; i < 20; i++, p *= 10) {
        check(p - 1);
        check(p);
        check(p + 1);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_as_snprintf),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
