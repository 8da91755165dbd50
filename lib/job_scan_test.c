/* job_scan_test.c - the fast decode (job_scan) against the full parse: for every input both
 * give the same result, sentence, accessors and encoding; the valid jobs take the fast path. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "lib/err.h"
#include "lib/job.h"
#include "lib/job_diff.h"
#include "lib/job_int.h"

struct text {
    const char *s;
    size_t len;
};
/* A literal with its length: some hold NUL bytes. */
#define T(lit)                                                                                     \
    {                                                                                              \
        lit, sizeof(lit) - 1                                                                       \
    }

#define JOB_HEAD "{\"class\":\"HardJob\",\"jid\":\"b4a577edbccf1d805744efa9\","
#define WITH_ARGS(args) JOB_HEAD "\"args\":" args "}"
#define WITH_FIELD(field) JOB_HEAD "\"args\":[1]," field "}"
#define TRACEPARENT "\"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\""

/* Jobs the full parse accepts and the scan reads. */
static const struct text valid[] = {
    T("{\"class\":\"A\",\"args\":[],\"jid\":\"j\"}"),
    T(" {\n\t\"class\" : \"A\" ,\r\n \"args\":[ ] , \"jid\":\"j\" } \n"),
    T("{\"retry\":true,\"queue\":\"default\",\"class\":\"HardJob\",\"args\":[1,\"x\"],"
      "\"jid\":\"b4a577edbccf1d805744efa9\",\"created_at\":1700000000.123456,"
      "\"enqueued_at\":1700000000.1235}"),
    T("{\"retry\":3,\"queue\":\"mailers\",\"class\":\"WelcomeMailer\","
      "\"args\":[{\"user_id\":42}],\"jid\":\"2f4ac0c0e6cd4a0b3c1e9a77\","
      "\"created_at\":1700000000123,\"enqueued_at\":1700000000456}"),
    T("{\"class\":\"ActiveJob::QueueAdapters::SidekiqAdapter::JobWrapper\","
      "\"wrapped\":\"ReportJob\",\"queue\":\"default\",\"args\":[{\"job_class\":\"ReportJob\","
      "\"job_id\":\"d6e7c0a4\",\"arguments\":[7]}],\"retry\":true,"
      "\"jid\":\"9e0a7c54a3f1b2c3d4e5f607\",\"created_at\":1700000000.5}"),
    T("{\"\\u0063lass\":\"\\u0041\\u00e9\\/\",\"args\":[],\"j\\u0069d\":\"j\\\\\"}"),
    T(WITH_ARGS("[\"\\u0000\",\"a\\u0000b\",\"\\ud83d\\ude00\",\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"]")),
    T(WITH_ARGS(
        "[\"h\xc3\xa9llo\",\"\xf0\x9f\x98\x80\",\"\xef\xbf\xbf\",\"\x7f\",\"\xf4\x8f\xbf\xbf\"]")),
    T(WITH_ARGS("[9223372036854775807,-9223372036854775808,1e308,1e-400,-0,-0.0,0.1,1E+2,2e-2]")),
    T(WITH_ARGS(
        "[{\"a\":{\"a\":1},\"b\":[{\"a\":1},{\"a\":2}]},{\"a\":null},{},[[[]]],true,false]")),
    T(WITH_ARGS("[{\"\":1,\"x\":{\"\":2}}]")),
    T(WITH_FIELD("\"retry\":false")),
    T(WITH_FIELD("\"retry\":0")),
    T(WITH_FIELD("\"retry\":10000")),
    T(WITH_FIELD("\"retry_count\":-1")),
    T(WITH_FIELD("\"retry_count\":9223372036854775807,\"nexus_recoveries\":3")),
    T(WITH_FIELD("\"retry_count\":4,\"failed_at\":1700000000,\"retried_at\":1.7e9,\"at\":5")),
    T(WITH_FIELD("\"nexus_recoveries\":9000000000")),
    T(WITH_FIELD("\"unique_for\":60,\"unique_key\":\"k\\u0000x\"")),
    T(WITH_FIELD("\"unique_for\":0.5,\"unique_key\":\"\xe2\x82\xac\"")),
    T(WITH_FIELD("\"traceparent\":" TRACEPARENT ",\"tracestate\":\"rojo=00f067aa0ba902b7\"")),
    T(WITH_FIELD("\"traceparent\":\"garbage\",\"tracestate\":\"rojo=1\"")),
    T(WITH_FIELD("\"traceparent\":" TRACEPARENT ",\"tracestate\":5")),
    T(WITH_FIELD("\"traceparent\":" TRACEPARENT ",\"tracestate\":\"\\u0001\"")),
    T(WITH_FIELD("\"tracestate\":\"rojo=1\"")),
    T(WITH_FIELD("\"dead\":false")),
    T(WITH_FIELD("\"dead\":true,\"queue\":\"q.1\"")),
    T(WITH_FIELD("\"enqueued_at\":1700000000456")),
    T(WITH_FIELD("\"created_at\":1700000000")),
    T(WITH_FIELD("\"created_at\":-5,\"enqueued_at\":1e11")),
    T(WITH_FIELD("\"extra\":{\"k\":[1,{\"k\":2}]},\"more\":null,\"list\":[\"\\ud800\\udc00\"]")),
};

/* Texts the full parse refuses, with a sentence: the scan must refuse them too. */
static const struct text invalid[] = {
    T(""),
    T(" "),
    T("null"),
    T("[]"),
    T("\"s\""),
    T("42"),
    T("{"),
    T("{}"),
    T("{\"class\":\"A\"}"),
    T("{\"class\":1,\"args\":[],\"jid\":\"j\"}"),
    T("{\"class\":\"A\",\"args\":\"x\",\"jid\":\"j\"}"),
    T("{\"class\":\"A\\n\",\"args\":[],\"jid\":\"j\"}"),
    T("{\"class\":\"A\",\"args\":[],\"jid\":\"j k\"}"),
    T(WITH_FIELD("\"queue\":\"\"")),
    T(WITH_FIELD("\"retry\":10001")),
    T(WITH_FIELD("\"retry\":\"yes\"")),
    T(WITH_FIELD("\"retry_count\":-2")),
    T(WITH_FIELD("\"retry_count\":1.5")),
    T(WITH_FIELD("\"created_at\":\"x\"")),
    T(WITH_FIELD("\"at\":null")),
    T(WITH_FIELD("\"dead\":\"no\"")),
    T(WITH_FIELD("\"nexus_recoveries\":-1")),
    T(WITH_FIELD("\"unique_for\":0")),
    T(WITH_FIELD("\"unique_for\":1e12")),
    T(WITH_FIELD("\"unique_key\":\"\"")),
    T(WITH_FIELD("\"unique_key\":7")),
    T(WITH_FIELD("\"jid\":\"again\"")),
    T(WITH_ARGS("[{\"a\":1,\"a\":2}]")),
    T(WITH_ARGS("[{\"a\":{\"b\":1,\"c\":[{\"d\":1,\"d\":1}]}}]")),
    T(WITH_ARGS("[{\"a\":1,\"\\u0061\":2}]")),
    T(WITH_ARGS("[{\"a\\u0000\":1}]")),
    T(WITH_ARGS("[\"\xc0\xaf\"]")),
    T(WITH_ARGS("[\"\xe0\x80\xaf\"]")),
    T(WITH_ARGS("[\"\xed\xa0\x80\"]")),
    T(WITH_ARGS("[\"\xf4\x90\x80\x80\"]")),
    T(WITH_ARGS("[\"\xf5\x80\x80\x80\"]")),
    T(WITH_ARGS("[\"\x80\"]")),
    T(WITH_ARGS("[\"\xc3\"]")),
    T(WITH_ARGS("[\"\\ud800\"]")),
    T(WITH_ARGS("[\"\\ud800x\"]")),
    T(WITH_ARGS("[\"\\ud800\\u0041\"]")),
    T(WITH_ARGS("[\"\\udc00\"]")),
    T(WITH_ARGS("[\"\\ud800\\ud800\"]")),
    T(WITH_ARGS("[\"\\x\"]")),
    T(WITH_ARGS("[\"\\u12\"]")),
    T(WITH_ARGS("[\"a\x01\"]")),
    T(WITH_ARGS("[\"a\0b\"]")),
    T(WITH_ARGS("[9223372036854775808]")),
    T(WITH_ARGS("[-9223372036854775809]")),
    T(WITH_ARGS("[1e309]")),
    T(WITH_ARGS("[-1e309]")),
    T(WITH_ARGS("[01]")),
    T(WITH_ARGS("[1.]")),
    T(WITH_ARGS("[.5]")),
    T(WITH_ARGS("[+1]")),
    T(WITH_ARGS("[1e]")),
    T(WITH_ARGS("[0x10]")),
    T(WITH_ARGS("[NaN]")),
    T(WITH_ARGS("[1,]")),
    T(WITH_ARGS("[tru]")),
    T(WITH_ARGS("[\v1]")),
    T(WITH_ARGS("[\f1]")),
    T(WITH_ARGS("[/* c */1]")),
    T(WITH_ARGS("[\x00]")),
    T(WITH_ARGS("[]") " x"),
    T(WITH_ARGS("[]") "{}"),
    T("\xef\xbb\xbf" WITH_ARGS("[]")),
    T("{\"class\":\"A\",\"args\":[],\"jid\":\"j\",}"),
    T("{\"class\":\"A\" \"args\":[],\"jid\":\"j\"}"),
    T("{'class':\"A\",\"args\":[],\"jid\":\"j\"}"),
};

/* Decodes `t` both ways and holds them to the same answers. Returns whether the fast path
 * took it. */
static bool decode_both(const struct text *t)
{
    struct err fast_err = {0}, full_err = {0};
    struct job *fast = NULL, *full = NULL;
    const char *what;
    bool scanned;
    int fast_r, full_r;

    fast_r = job_decode(t->s, t->len, "default", 7, &fast, &fast_err);
    full_r = job_decode_full(t->s, t->len, "default", 7, &full, &full_err);
    scanned = fast->root == NULL;
    what = job_diff(fast, full);
    if (fast_r != full_r || strcmp(fast_err.msg, full_err.msg) != 0 || what)
        print_error("%.*s: %d/%d (%s / %s) %s\n", (int)t->len, t->s, fast_r, full_r, fast_err.msg,
                    full_err.msg, what ? what : "");
    assert_int_equal(fast_r, full_r);
    assert_string_equal(fast_err.msg, full_err.msg);
    assert_null(what);
    job_free(fast);
    job_free(full);
    return scanned;
}

static void test_valid_jobs_take_the_fast_path_with_the_full_parse_values(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
        if (!decode_both(&valid[i]))
            print_error("not scanned: %s\n", valid[i].s);
        assert_true(decode_both(&valid[i]));
    }
}

static void test_invalid_texts_get_the_full_parse_sentence(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++)
        assert_false(decode_both(&invalid[i]));
}

/* A text built by repeating `open` and `close` `depth` times around args' value. */
static struct text nested(const char *open, const char *close, int depth)
{
    size_t olen = strlen(open), clen = strlen(close), n = 0;
    char *s = malloc(64 + (olen + clen) * (size_t)depth);

    n += (size_t)sprintf(s, "{\"class\":\"A\",\"jid\":\"j\",\"args\":[");
    for (int i = 0; i < depth; i++, n += olen)
        memcpy(s + n, open, olen);
    for (int i = 0; i < depth; i++, n += clen)
        memcpy(s + n, close, clen);
    n += (size_t)sprintf(s + n, "]}");
    return (struct text){s, n};
}

static void test_deep_nesting_goes_the_full_way_and_agrees(void **state)
{
    static const int depths[] = {1, 20, 62, 63, 64, 100, 2045, 2046, 2047, 3000};
    (void)state;
    for (size_t i = 0; i < sizeof(depths) / sizeof(depths[0]); i++) {
        struct text arrays = nested("[", "]", depths[i]);
        struct text objects = nested("{\"a\":[", "]}", depths[i] / 2);

        /* root and args are two of the scan's 64 containers */
        assert_true(decode_both(&arrays) == (depths[i] <= 62));
        assert_true(decode_both(&objects) == (depths[i] / 2 * 2 <= 62));
        free((char *)arrays.s);
        free((char *)objects.s);
    }
}

/* Many keys in one object: beyond what the scan keeps, the full parse decides. */
static void test_objects_with_many_keys_agree(void **state)
{
    static const int counts[] = {2, 100, 511, 512, 513, 2000};
    (void)state;
    for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
        char *s = malloc(64 + 16 * (size_t)counts[i]);
        size_t n = (size_t)sprintf(s, "{\"class\":\"A\",\"jid\":\"j\",\"args\":[{");

        for (int k = 0; k < counts[i]; k++)
            n += (size_t)sprintf(s + n, "%s\"k%d\":%d", k ? "," : "", k, k);
        n += (size_t)sprintf(s + n, "}]}");
        (void)decode_both(&(struct text){s, n});
        /* and a duplicate at the end */
        n -= 3;
        n += (size_t)sprintf(s + n, ",\"k0\":1}]}");
        assert_false(decode_both(&(struct text){s, n}));
        free(s);
    }
}

/* Values the scan does not keep (long, or not strings where it wants one) are still jobs. */
static void test_jobs_the_scan_is_unsure_of_decode_the_full_way(void **state)
{
    static const struct text unsure[] = {
        T(WITH_FIELD("\"traceparent\":5")),
        T(WITH_FIELD("\"traceparent\":{\"a\":1}")),
        T(WITH_ARGS("[0.00000000000000000000000000000000000000000000000000000000000000001]")),
    };
    char *s = malloc(4096);
    size_t n;

    (void)state;
    for (size_t i = 0; i < sizeof(unsure) / sizeof(unsure[0]); i++)
        assert_false(decode_both(&unsure[i]));
    n = (size_t)sprintf(s, JOB_HEAD "\"args\":[],\"traceparent\":\"");
    memset(s + n, 'a', 2000);
    n += 2000;
    n += (size_t)sprintf(s + n, "\"}");
    assert_false(decode_both(&(struct text){s, n}));
    free(s);
}

/* Every byte of every valid job replaced by bytes that matter to a JSON parser, and every
 * prefix: both ways agree on each. */
static void test_every_one_byte_change_agrees(void **state)
{
    static const char swaps[] = {'"', '\\', '\0', '\x80', '\xc0', '\xed', '}', ']', '{', '[',
                                 '1', 'e',  '-',  '.',    ' ',    '\v',   'u', ',', ':', 'a'};
    char buf[512];
    (void)state;
    for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
        const struct text *t = &valid[i];

        assert_true(t->len <= sizeof(buf));
        for (size_t at = 0; at < t->len; at++) {
            (void)decode_both(&(struct text){t->s, at});
            for (size_t k = 0; k < sizeof(swaps); k++) {
                memcpy(buf, t->s, t->len);
                buf[at] = swaps[k];
                (void)decode_both(&(struct text){buf, t->len});
            }
        }
    }
}

static void test_args_read_first_are_the_ones_the_tree_holds(void **state)
{
    static const char text[] = WITH_ARGS("[{\"b\":1,\"a\":[2]},\"x\"]");
    struct job *job = NULL;
    json_t *args;

    (void)state;
    assert_int_equal(job_decode(text, sizeof(text) - 1, NULL, 1, &job, NULL), 0);
    args = job_args(job);
    assert_null(job->root);
    assert_int_equal(json_array_size(args), 2);
    assert_ptr_equal(json_object_get(job_root(job), "args"), args);
    assert_ptr_equal(job_args(job), args);
    job_free(job);
}

/* Failures, recoveries and new times change a scanned job as they change a parsed one. */
static void test_changes_to_a_scanned_job_match_the_full_parse(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
        struct job *fast = NULL, *full = NULL;

        assert_int_equal(job_decode(valid[i].s, valid[i].len, "q", 3, &fast, NULL), 0);
        assert_int_equal(job_decode_full(valid[i].s, valid[i].len, "q", 3, &full, NULL), 0);
        job_record_failure(fast, "E", "boom", 1700000001.25);
        job_record_failure(full, "E", "boom", 1700000001.25);
        job_record_recovery(fast);
        job_record_recovery(full);
        job_set_enqueued_at(fast, 1700000002.5);
        job_set_enqueued_at(full, 1700000002.5);
        assert_null(job_diff(fast, full));
        job_free(fast);
        job_free(full);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_jobs_take_the_fast_path_with_the_full_parse_values),
        cmocka_unit_test(test_invalid_texts_get_the_full_parse_sentence),
        cmocka_unit_test(test_deep_nesting_goes_the_full_way_and_agrees),
        cmocka_unit_test(test_objects_with_many_keys_agree),
        cmocka_unit_test(test_jobs_the_scan_is_unsure_of_decode_the_full_way),
        cmocka_unit_test(test_every_one_byte_change_agrees),
        cmocka_unit_test(test_args_read_first_are_the_ones_the_tree_holds),
        cmocka_unit_test(test_changes_to_a_scanned_job_match_the_full_parse),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
