/* lazy_test.c - loading a library at first use: its functions, a missing library, a missing
 * symbol. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "lib/lazy.h"

static const char *const math_names[] = {"sqrt", "fabs"};

static void test_symbols_are_found_and_called(void **state)
{
    lazy_fn *fns[2] = {NULL, NULL};
    struct lazy_lib lib = {"libm.so.6", math_names, fns, 2, 0, ""};
    double (*absolute)(double);

    (void)state;
    assert_int_equal(lazy_load(&lib, NULL), 0);
    assert_int_equal(lib.loaded, 1);
    absolute = (double (*)(double))lazy_get(&lib, 1);
    assert_true(absolute(-2.5) == 2.5);
    assert_int_equal(lazy_load(&lib, NULL), 0); /* once loaded, a test */
    assert_ptr_equal((lazy_fn *)absolute, fns[1]);
}

static void test_get_loads_on_first_use(void **state)
{
    lazy_fn *fns[2] = {NULL, NULL};
    struct lazy_lib lib = {"libm.so.6", math_names, fns, 2, 0, ""};
    double (*root)(double);

    (void)state;
    root = (double (*)(double))lazy_get(&lib, 0);
    assert_true(root(16.0) == 4.0);
    assert_int_equal(lib.loaded, 1);
}

static void test_a_missing_library_is_named_and_tried_again(void **state)
{
    lazy_fn *fns[2] = {NULL, NULL};
    struct lazy_lib lib = {"libnexus-absent.so.9", math_names, fns, 2, 0, ""};

    (void)state;
    assert_int_equal(lazy_load(&lib, NULL), -ENOENT);
    assert_int_equal(lib.loaded, 0);
    assert_non_null(strstr(lib.why, "cannot load libnexus-absent.so.9: "));
    lib.why[0] = '\0';
    assert_int_equal(lazy_load(&lib, NULL), -ENOENT);
    assert_non_null(strstr(lib.why, "cannot load libnexus-absent.so.9: "));
}

static void test_a_missing_symbol_is_named(void **state)
{
    static const char *const names[] = {"sqrt", "nexus_no_such_function"};
    lazy_fn *fns[2] = {NULL, NULL};
    struct lazy_lib lib = {"libm.so.6", names, fns, 2, 0, ""};
    const char *why = NULL;

    (void)state;
    assert_int_equal(lazy_load(&lib, &why), -ENOENT);
    assert_int_equal(lib.loaded, 0);
    assert_string_equal(why, "libm.so.6 has no nexus_no_such_function (too old a version?)");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_symbols_are_found_and_called),
        cmocka_unit_test(test_get_loads_on_first_use),
        cmocka_unit_test(test_a_missing_library_is_named_and_tried_again),
        cmocka_unit_test(test_a_missing_symbol_is_named),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
