/* sql_args_test.c - job args to typed SQL parameters. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "conf/cfg.h"
#include "jobs/sql_args.h"
#include "lib/err.h"

static struct cfg_class cls_of(const enum cfg_arg_type *types, unsigned n)
{
    struct cfg_class c = {.name = "rows.add", .nargs = n};

    memcpy(c.arg_types, types, n * sizeof(*types));
    return c;
}

static void test_bind_turns_each_type_into_text(void **state)
{
    static const enum cfg_arg_type types[] = {CFG_ARG_TEXT, CFG_ARG_INT,  CFG_ARG_FLOAT,
                                              CFG_ARG_BOOL, CFG_ARG_JSON, CFG_ARG_UUID,
                                              CFG_ARG_TIME, CFG_ARG_TIME, CFG_ARG_TEXT};
    struct cfg_class c = cls_of(types, 9);
    json_t *args = json_loads("[\"a'b\", 42, 1.5, true, {\"k\":[1,2]}, "
                              "\"5b1e6c0f-aaaa-4bbb-8ccc-0123456789ab\", 1700000000.25, "
                              "\"2026-11-25T03:00:00Z\", null]",
                              0, NULL);
    char *p[CFG_MAX_SQL_ARGS];
    struct err err = {0};

    assert_int_equal(sql_args_bind(&c, args, p, &err), 0);
    assert_string_equal(p[0], "a'b");
    assert_string_equal(p[1], "42");
    assert_string_equal(p[2], "1.5");
    assert_string_equal(p[3], "true");
    assert_string_equal(p[4], "{\"k\":[1,2]}");
    assert_string_equal(p[5], "5b1e6c0f-aaaa-4bbb-8ccc-0123456789ab");
    assert_string_equal(p[6], "2023-11-14T22:13:20.250000Z");
    assert_string_equal(p[7], "2026-11-25T03:00:00Z");
    assert_null(p[8]);
    sql_args_clear(p, 9);
    json_decref(args);
}

static void test_bind_rejects_mismatches_with_a_sentence(void **state)
{
    static const struct {
        enum cfg_arg_type type;
        const char *args, *msg;
    } bad[] = {
        {CFG_ARG_INT, "[\"42\"]", "args[0] must be a whole number (got \"42\")"},
        {CFG_ARG_INT, "[4.5]", "args[0] must be a whole number (got 4.5)"},
        {CFG_ARG_UUID, "[\"not-a-uuid\"]", "args[0] must be a uuid (got \"not-a-uuid\")"},
        {CFG_ARG_BOOL, "[1]", "args[0] must be a true or false (got 1)"},
        {CFG_ARG_TEXT, "[[1]]", "args[0] must be a string (got [1])"},
        {CFG_ARG_TIME, "[-5]",
         "args[0] must be a time (ISO 8601 string or epoch seconds) (got -5)"},
        /* found by sql_args_fuzz: converting 1e300 to time_t was undefined behaviour */
        {CFG_ARG_TIME, "[1e300]",
         "args[0] must be a time (ISO 8601 string or epoch seconds) (got 1.0000000000000001e300)"},
        {CFG_ARG_TEXT, "[]", "class 'rows.add' takes 1 argument (got 0)"},
        {CFG_ARG_TEXT, "[\"a\", \"b\"]", "class 'rows.add' takes 1 argument (got 2)"},
    };
    char *p[CFG_MAX_SQL_ARGS];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct cfg_class c = cls_of(&bad[i].type, 1);
        json_t *args = json_loads(bad[i].args, 0, NULL);
        struct err err = {0};
        assert_int_equal(sql_args_bind(&c, args, p, &err), -EINVAL);
        assert_string_equal(err.msg, bad[i].msg);
        json_decref(args);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bind_turns_each_type_into_text),
        cmocka_unit_test(test_bind_rejects_mismatches_with_a_sentence),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
