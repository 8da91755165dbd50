/* traceparent_test.c - W3C traceparent values parsed, refused with a sentence, passed on with
 * a parent-id of their own; tracestate values checked. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "lib/err.h"
#include "lib/traceparent.h"

#define TRACE "4bf92f3577b34da6a3ce929d0e0e4736"
#define SPAN "00f067aa0ba902b7"
#define GOOD "00-" TRACE "-" SPAN "-01"

static void test_parse_reads_the_w3c_example(void **state)
{
    struct traceparent tp;

    assert_int_equal(traceparent_parse("traceparent", GOOD, strlen(GOOD), &tp, NULL), 0);
    assert_string_equal(tp.trace_id, TRACE);
    assert_string_equal(tp.parent_id, SPAN);
    assert_int_equal(tp.flags, 1);
}

static void test_parse_keeps_every_flag(void **state)
{
    static const char text[] = "00-" TRACE "-" SPAN "-fe";
    struct traceparent tp;

    assert_int_equal(traceparent_parse("traceparent", text, strlen(text), &tp, NULL), 0);
    assert_int_equal(tp.flags, 0xfe);
}

static void test_parse_needs_no_nul_terminator(void **state)
{
    static const char text[] = GOOD "-and-more";
    struct traceparent tp;

    assert_int_equal(traceparent_parse("traceparent", text, 55, &tp, NULL), 0);
    assert_string_equal(tp.parent_id, SPAN);
}

static void test_parse_refuses_each_bad_value_with_a_sentence(void **state)
{
    static const struct {
        const char *in, *msg;
    } cases[] = {
        {"", "'traceparent' must be 55 characters, 00-<32 hex trace-id>-<16 hex parent-id>-"
             "<2 hex flags> (got \"\", 0 characters)"},
        {GOOD "-", "'traceparent' must be 55 characters, 00-<32 hex trace-id>-<16 hex "
                   "parent-id>-<2 hex flags> (got \"" GOOD "-\", 56 characters)"},
        {"00_" TRACE "-" SPAN "-01", "'traceparent' must be 00-<32 hex trace-id>-<16 hex "
                                     "parent-id>-<2 hex flags> (got \"00_" TRACE "-" SPAN "-01\")"},
        {"00-" TRACE "-" SPAN "001", "'traceparent' must be 00-<32 hex trace-id>-<16 hex "
                                     "parent-id>-<2 hex flags> (got \"00-" TRACE "-" SPAN "001\")"},
        {"01-" TRACE "-" SPAN "-01",
         "'traceparent' version must be 00 (got \"01-" TRACE "-" SPAN "-01\")"},
        {"ff-" TRACE "-" SPAN "-01",
         "'traceparent' version must be 00 (got \"ff-" TRACE "-" SPAN "-01\")"},
        {"0G-" TRACE "-" SPAN "-01", "'traceparent' version must be lowercase hex digits (got "
                                     "\"0G-" TRACE "-" SPAN "-01\")"},
        {"00-4BF92F3577B34DA6A3CE929D0E0E4736-" SPAN "-01",
         "'traceparent' trace-id must be lowercase hex digits (got "
         "\"00-4BF92F3577B34DA6A3CE929D0E0E4736-" SPAN "-01\")"},
        {"00-" TRACE "-00f067aa0ba902bz-01", "'traceparent' parent-id must be lowercase hex "
                                             "digits (got \"00-" TRACE "-00f067aa0ba902bz-01\")"},
        {"00-" TRACE "-" SPAN "-0x", "'traceparent' flags must be lowercase hex digits (got "
                                     "\"00-" TRACE "-" SPAN "-0x\")"},
        {"00-00000000000000000000000000000000-" SPAN "-01",
         "'traceparent' trace-id must not be all zeros (got "
         "\"00-00000000000000000000000000000000-" SPAN "-01\")"},
        {"00-" TRACE "-0000000000000000-01", "'traceparent' parent-id must not be all zeros "
                                             "(got \"00-" TRACE "-0000000000000000-01\")"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct traceparent tp;
        struct err err = {0};
        int r = traceparent_parse("traceparent", cases[i].in, strlen(cases[i].in), &tp, &err);

        if (r != -EINVAL || strcmp(err.msg, cases[i].msg) != 0)
            fail_msg("%s: got %d \"%s\", want \"%s\"", cases[i].in, r, err.msg, cases[i].msg);
    }
}

static void test_parse_quotes_control_characters(void **state)
{
    static const char text[] = "00-" TRACE "-" SPAN "\r\n1";
    struct traceparent tp;
    struct err err = {0};

    assert_int_equal(traceparent_parse("traceparent", text, strlen(text), &tp, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "\\x0d\\x0a"));
}

static void test_child_keeps_trace_id_and_flags_with_a_new_parent_id(void **state)
{
    struct traceparent tp, child;
    char out[TRACEPARENT_LEN + 1];

    assert_int_equal(traceparent_parse("traceparent", GOOD, strlen(GOOD), &tp, NULL), 0);
    traceparent_child(&tp, 0x1234abcdULL, &child);
    assert_string_equal(traceparent_format(&child, out), "00-" TRACE "-000000001234abcd-01");
    assert_string_equal(tp.parent_id, SPAN);
    traceparent_child(&tp, 0xffffffffffffffffULL, &child);
    assert_string_equal(child.parent_id, "ffffffffffffffff");
}

static void test_child_of_a_zero_draw_is_not_all_zeros(void **state)
{
    struct traceparent tp, child;
    char out[TRACEPARENT_LEN + 1];

    assert_int_equal(traceparent_parse("traceparent", GOOD, strlen(GOOD), &tp, NULL), 0);
    traceparent_child(&tp, 0, &child);
    assert_string_equal(child.parent_id, "0000000000000001");
    assert_int_equal(
        traceparent_parse("traceparent", traceparent_format(&child, out), 55, &tp, NULL), 0);
}

static void test_format_round_trips(void **state)
{
    static const char text[] = "00-" TRACE "-" SPAN "-00";
    struct traceparent tp;
    char out[TRACEPARENT_LEN + 1];

    assert_int_equal(traceparent_parse("traceparent", text, strlen(text), &tp, NULL), 0);
    assert_string_equal(traceparent_format(&tp, out), text);
}

static void test_tracestate_takes_printable_ascii_up_to_512_bytes(void **state)
{
    char big[TRACESTATE_MAX + 2];
    struct err err = {0};

    assert_int_equal(
        tracestate_check("tracestate", "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE", 39, NULL), 0);
    memset(big, 'a', sizeof(big));
    assert_int_equal(tracestate_check("tracestate", big, TRACESTATE_MAX, NULL), 0);
    assert_int_equal(tracestate_check("tracestate", big, TRACESTATE_MAX + 1, &err), -EINVAL);
    assert_string_equal(err.msg, "'tracestate' must be 1..512 bytes (got 513)");
    assert_int_equal(tracestate_check("tracestate", "", 0, &err), -EINVAL);
    assert_int_equal(tracestate_check("tracestate", "a=1\nX-Evil: 1", 13, &err), -EINVAL);
    assert_string_equal(err.msg,
                        "'tracestate' must be printable ASCII (got \"a=1\\x0aX-Evil: 1\")");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_reads_the_w3c_example),
        cmocka_unit_test(test_parse_keeps_every_flag),
        cmocka_unit_test(test_parse_needs_no_nul_terminator),
        cmocka_unit_test(test_parse_refuses_each_bad_value_with_a_sentence),
        cmocka_unit_test(test_parse_quotes_control_characters),
        cmocka_unit_test(test_child_keeps_trace_id_and_flags_with_a_new_parent_id),
        cmocka_unit_test(test_child_of_a_zero_draw_is_not_all_zeros),
        cmocka_unit_test(test_format_round_trips),
        cmocka_unit_test(test_tracestate_takes_printable_ascii_up_to_512_bytes),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
