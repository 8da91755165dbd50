/* emotion_parse_test.c - args, request, answers, cache values, Retry-After and SHA-256 of
 * emotion.analyze. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "jobs/emotion_parse.h"
#include "lib/err.h"
#include "lib/xfer.h"

#define NOW 1700000000.0 /* Tue, 14 Nov 2023 22:13:20 GMT */

static int input_of(const char *args_text, size_t max_text, struct emotion_input *in,
                    struct err *err, json_t **ret_args)
{
    *ret_args = json_loads(args_text, JSON_ALLOW_NUL, NULL); /* as lib/job.c decodes */
    assert_non_null(*ret_args);
    return emotion_input_parse(*ret_args, max_text, in, err);
}

static void test_input_accepts_the_three_forms(void **state)
{
    struct emotion_input in;
    struct err err = {0};
    json_t *args;

    assert_int_equal(input_of("[\"I love it\"]", 100, &in, &err, &args), 0);
    assert_int_equal(in.len, 9);
    assert_memory_equal(in.text, "I love it", 9);
    assert_string_equal(in.source, "");
    json_decref(args);

    assert_int_equal(input_of("[\"so sad\", \"review:42\"]", 100, &in, &err, &args), 0);
    assert_memory_equal(in.text, "so sad", 6);
    assert_string_equal(in.source, "review:42");
    json_decref(args);

    assert_int_equal(input_of("[\"x\", 42]", 100, &in, &err, &args), 0);
    assert_string_equal(in.source, "42");
    json_decref(args);

    assert_int_equal(input_of("[\"x\", null]", 100, &in, &err, &args), 0);
    assert_string_equal(in.source, "");
    json_decref(args);

    assert_int_equal(input_of("[{\"text\": \"w\\u00e9ll\", \"source\": \"order:7\"}]", 100, &in,
                              &err, &args),
                     0);
    assert_int_equal(in.len, 5);
    assert_memory_equal(in.text, "w\xc3\xa9ll", 5);
    assert_string_equal(in.source, "order:7");
    json_decref(args);

    assert_int_equal(input_of("[{\"text\": \"hi\"}]", 2, &in, &err, &args), 0);
    assert_string_equal(in.source, "");
    json_decref(args);
}

static void test_input_rejects_bad_args_with_a_sentence(void **state)
{
    static const struct {
        const char *args, *msg;
    } bad[] = {
        {"[]", "emotion.analyze takes [text], [text, source] or [{\"text\": ..., \"source\": "
               "...}] (got 0 arguments)"},
        {"[\"a\", \"b\", \"c\"]", "emotion.analyze takes [text], [text, source] or "
                                  "[{\"text\": ..., \"source\": ...}] (got 3 arguments)"},
        {"[42]", "args[0] must be the text to analyze, a string (got a number)"},
        {"[null]", "args[0] must be the text to analyze, a string (got null)"},
        {"[\"\"]", "args[0] must be a string of 1..10 bytes (got 0 bytes)"},
        {"[\"12345678901\"]", "args[0] must be a string of 1..10 bytes (got 11 bytes)"},
        {"[\" \\n\\t \"]", "args[0] must not be only white space"},
        {"[\"a\\u0000b\"]", "args[0] must not contain NUL characters"},
        {"[\"a\", true]", "args[1] must be the source reference, a string or an integer (got "
                          "true)"},
        {"[\"a\", \"\"]", "args[1] must be a string of 1..256 bytes (got 0 bytes)"},
        {"[\"a\", \"x\\ny\"]", "args[1] must not contain control characters (byte 1)"},
        {"[{\"text\": \"a\"}, \"s\"]", "args[0] is an object: it must be the only argument"},
        {"[{\"source\": \"s\"}]", "args[0] must have a \"text\" member"},
        {"[{\"text\": \"a\", \"lang\": \"en\"}]",
         "args[0] has an unknown member \"lang\" (allowed: text, source)"},
        {"[{\"text\": 1}]", "args[0].text must be the text to analyze, a string (got a number)"},
        {"[{\"text\": \"a\", \"source\": []}]",
         "args[0].source must be the source reference, a string or an integer (got an array)"},
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct emotion_input in;
        struct err err = {0};
        json_t *args;

        assert_int_equal(input_of(bad[i].args, 10, &in, &err, &args), -EINVAL);
        assert_string_equal(err.msg, bad[i].msg);
        json_decref(args);
    }
}

static void test_request_is_the_inference_api_body(void **state)
{
    char *body = emotion_request_json("say \"hi\"\n", 9, 0);

    assert_string_equal(
        body, "{\"inputs\":\"say \\\"hi\\\"\\n\",\"options\":{\"wait_for_model\":false}}");
    free(body);
    body = emotion_request_json("x", 1, 7);
    assert_string_equal(body, "{\"inputs\":\"x\",\"options\":{\"wait_for_model\":false},"
                              "\"parameters\":{\"top_k\":7}}");
    free(body);
}

static void test_labels_nested_and_flat_come_sorted(void **state)
{
    static const char *const bodies[] = {
        "[[{\"label\":\"sadness\",\"score\":0.05},{\"label\":\"joy\",\"score\":0.9},"
        "{\"label\":\"anger\",\"score\":0.05}]]",
        "[{\"label\":\"anger\",\"score\":0.05},{\"label\":\"joy\",\"score\":0.9,\"extra\":1},"
        "{\"label\":\"sadness\",\"score\":0.05}]",
    };

    for (size_t i = 0; i < 2; i++) {
        struct emotion_labels l = {0};
        struct err err = {0};
        char *json;

        assert_int_equal(emotion_labels_parse(bodies[i], strlen(bodies[i]), &l, &err), 0);
        assert_int_equal(l.n, 3);
        assert_string_equal(l.v[0].name, "joy");
        assert_true(l.v[0].score == 0.9);
        assert_string_equal(l.v[1].name, "anger"); /* equal scores: by name */
        assert_string_equal(l.v[2].name, "sadness");
        json = emotion_labels_json(&l);
        assert_string_equal(json, "[{\"label\":\"joy\",\"score\":0.9},{\"label\":\"anger\","
                                  "\"score\":0.05},{\"label\":\"sadness\",\"score\":0.05}]");
        free(json);
        emotion_labels_clear(&l);
        assert_null(l.v);
    }
}

static void test_labels_accept_integer_scores_at_the_bounds(void **state)
{
    const char *body = "[{\"label\":\"joy\",\"score\":1},{\"label\":\"fear\",\"score\":0}]";
    struct emotion_labels l = {0};
    struct err err = {0};

    assert_int_equal(emotion_labels_parse(body, strlen(body), &l, &err), 0);
    assert_int_equal(l.n, 2);
    assert_true(l.v[0].score == 1.0 && l.v[1].score == 0.0);
    emotion_labels_clear(&l);
}

static void test_labels_reject_garbage_with_a_sentence(void **state)
{
    static const struct {
        const char *body, *msg;
    } bad[] = {
        {"", "invalid JSON: '[' or '{' expected near end of file (column 0)"},
        {"<html>busy</html>", "invalid JSON: '[' or '{' expected near '<' (column 1)"},
        {"[{\"label\":\"joy\",\"score\":0.9}", "invalid JSON: ']' expected near end of file "
                                             "(column 28)"},
        {"{\"label\":\"joy\",\"score\":0.9}",
         "expected a list of {\"label\", \"score\"} (got an object)"},
        {"[]", "no labels"},
        {"[[]]", "no labels"},
        {"[[{\"label\":\"a\",\"score\":1}],[{\"label\":\"b\",\"score\":1}]]",
         "2 label lists for one text"},
        {"[[{\"label\":\"a\",\"score\":1}], 3]", "2 label lists for one text"},
        {"[\"joy\"]", "entry 0 must be an object {\"label\", \"score\"} (got a string)"},
        {"[{\"score\":0.5}]", "entry 0: \"label\" must be a string (got nothing)"},
        {"[{\"label\":7,\"score\":0.5}]", "entry 0: \"label\" must be a string (got a number)"},
        {"[{\"label\":\"\",\"score\":0.5}]",
         "entry 0: \"label\" must be 1..256 bytes without NUL (got 0 bytes)"},
        {"[{\"label\":\"a\\u0000\",\"score\":0.5}]",
         "invalid JSON: \\u0000 is not allowed without JSON_ALLOW_NUL near '\"a\\u0000\"' "
         "(column 19)"},
        {"[{\"label\":\"a\",\"score\":\"0.5\"}]",
         "entry 0: \"score\" must be a number (got a string)"},
        {"[{\"label\":\"a\",\"score\":null}]", "entry 0: \"score\" must be a number (got null)"},
        {"[{\"label\":\"a\",\"score\":0.5},{\"label\":\"b\",\"score\":1.5}]",
         "entry 1: \"score\" must be 0..1 (got 1.5)"},
        {"[{\"label\":\"a\",\"score\":-0.1}]", "entry 0: \"score\" must be 0..1 (got -0.1)"},
        {"[{\"label\":\"a\",\"score\":1e400}]",
         "invalid JSON: real number overflow near '1e400' (column 27)"},
        {"[{\"label\":\"a\",\"score\":0.5},{\"label\":\"b\",\"score\":0.2},"
         "{\"label\":\"a\",\"score\":0.1}]",
         "label \"a\" appears twice"},
        {"[{\"label\":\"a\",\"label\":\"b\",\"score\":0.5}]",
         "invalid JSON: duplicate object key near '\"label\"' (column 21)"},
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct emotion_labels l = {0};
        struct err err = {0};

        assert_int_equal(emotion_labels_parse(bad[i].body, strlen(bad[i].body), &l, &err),
                         -EINVAL);
        assert_string_equal(err.msg, bad[i].msg);
        assert_null(l.v);
    }
}

static void test_labels_reject_more_than_the_maximum(void **state)
{
    json_t *list = json_array();
    struct emotion_labels l = {0};
    struct err err = {0};
    char name[16], *body;

    for (int i = 0; i <= EMOTION_MAX_LABELS; i++) {
        (void)snprintf(name, sizeof(name), "l%d", i);
        json_array_append_new(list, json_pack("{s:s, s:f}", "label", name, "score", 0.001));
    }
    body = json_dumps(list, 0);
    assert_int_equal(emotion_labels_parse(body, strlen(body), &l, &err), -EINVAL);
    assert_string_equal(err.msg, "257 labels, more than 256");
    free(body);
    json_decref(list);
}

static void test_hf_error_shapes(void **state)
{
    struct emotion_hf_error e;
    const char *loading = "{\"error\":\"Model j-hartmann/emotion-english-distilroberta-base is "
                          "currently loading\",\"estimated_time\":20.0}";
    const char *plain = "{\"error\":\"Rate limit reached\"}";
    const char *list = "{\"error\":[\"first\",\"second\"],\"warnings\":[]}";
    const char *ctl = "{\"error\":\"a\\nb\"}";

    assert_int_equal(emotion_hf_error_parse(loading, strlen(loading), &e), 0);
    assert_string_equal(e.message,
                        "Model j-hartmann/emotion-english-distilroberta-base is currently loading");
    assert_true(e.estimated_time_s == 20.0);
    assert_int_equal(emotion_hf_error_parse(plain, strlen(plain), &e), 0);
    assert_string_equal(e.message, "Rate limit reached");
    assert_true(e.estimated_time_s == -1);
    assert_int_equal(emotion_hf_error_parse(list, strlen(list), &e), 0);
    assert_string_equal(e.message, "first; second");
    assert_int_equal(emotion_hf_error_parse(ctl, strlen(ctl), &e), 0);
    assert_string_equal(e.message, "a?b");
}

static void test_hf_error_cuts_long_messages(void **state)
{
    char body[2000], want[EMOTION_MAX_MESSAGE + 1];
    struct emotion_hf_error e;

    (void)snprintf(body, sizeof(body), "{\"error\":\"%01000d\"}", 0);
    assert_int_equal(emotion_hf_error_parse(body, strlen(body), &e), 0);
    memset(want, '0', EMOTION_MAX_MESSAGE - 3);
    memcpy(want + EMOTION_MAX_MESSAGE - 3, "...", 4);
    assert_string_equal(e.message, want);
}

static void test_hf_error_rejects_other_shapes(void **state)
{
    static const char *const bad[] = {
        "", "not json", "[]", "{}", "{\"error\":1}", "{\"error\":[]}", "{\"error\":[1]}",
        "{\"error\":\"x\",\"estimated_time\":\"20\"}", "{\"error\":\"x\",\"estimated_time\":-1}",
    };
    struct emotion_hf_error e;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(emotion_hf_error_parse(bad[i], strlen(bad[i]), &e), -EINVAL);
}

static void test_cache_value_round_trips_and_knows_its_model(void **state)
{
    const char *body = "[{\"label\":\"fear\",\"score\":0.25},{\"label\":\"joy\",\"score\":0.75}]";
    struct emotion_labels l = {0}, back = {0};
    struct err err = {0};
    char *value;

    assert_int_equal(emotion_labels_parse(body, strlen(body), &l, &err), 0);
    value = emotion_cache_encode("org/model", &l);
    assert_string_equal(value, "{\"model\":\"org/model\",\"labels\":[{\"label\":\"joy\","
                               "\"score\":0.75},{\"label\":\"fear\",\"score\":0.25}]}");
    assert_int_equal(emotion_cache_decode(value, strlen(value), "org/model", &back, &err), 0);
    assert_int_equal(back.n, 2);
    assert_string_equal(back.v[0].name, "joy");
    assert_true(back.v[1].score == 0.25);
    emotion_labels_clear(&back);
    assert_int_equal(emotion_cache_decode(value, strlen(value), "org/other", &back, &err),
                     -ESTALE);
    assert_null(back.v);
    free(value);
    emotion_labels_clear(&l);
}

static void test_cache_value_rejects_garbage(void **state)
{
    static const struct {
        const char *value, *msg;
    } bad[] = {
        {"joy", "invalid JSON: '[' or '{' expected near 'joy' (column 3)"},
        {"[]", "expected {\"model\": \"...\", \"labels\": [...]}"},
        {"{\"model\":\"m\"}", "expected {\"model\": \"...\", \"labels\": [...]}"},
        {"{\"model\":\"m\",\"labels\":[]}", "no labels"},
        {"{\"model\":\"m\",\"labels\":[{\"label\":\"a\",\"score\":2}]}",
         "entry 0: \"score\" must be 0..1 (got 2)"},
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct emotion_labels l = {0};
        struct err err = {0};

        assert_int_equal(emotion_cache_decode(bad[i].value, strlen(bad[i].value), "m", &l, &err),
                         -EINVAL);
        assert_string_equal(err.msg, bad[i].msg);
    }
}

static void test_retry_after_seconds_and_dates(void **state)
{
    static const struct {
        const char *value;
        double want;
    } good[] = {
        {"120", 120},
        {" 5 ", 5},
        {"0", 0},
        {"Tue, 14 Nov 2023 22:14:20 GMT", 60},        /* IMF-fixdate */
        {"Tuesday, 14-Nov-23 22:13:50 GMT", 30},       /* RFC 850 */
        {"Tue Nov 14 22:13:30 2023", 10},              /* asctime */
        {"Tue, 14 Nov 2023 22:00:00 GMT", 0},          /* in the past */
    };
    static const char *const bad[] = {"", "  ", "soon", "1.5", "-1", "99999999999", "12abc"};
    double s;

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        s = -1;
        assert_int_equal(xfer_retry_after_parse(good[i].value, NOW, &s), 0);
        assert_true(s == good[i].want);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(xfer_retry_after_parse(bad[i], NOW, &s), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_input_accepts_the_three_forms),
        cmocka_unit_test(test_input_rejects_bad_args_with_a_sentence),
        cmocka_unit_test(test_request_is_the_inference_api_body),
        cmocka_unit_test(test_labels_nested_and_flat_come_sorted),
        cmocka_unit_test(test_labels_accept_integer_scores_at_the_bounds),
        cmocka_unit_test(test_labels_reject_garbage_with_a_sentence),
        cmocka_unit_test(test_labels_reject_more_than_the_maximum),
        cmocka_unit_test(test_hf_error_shapes),
        cmocka_unit_test(test_hf_error_cuts_long_messages),
        cmocka_unit_test(test_hf_error_rejects_other_shapes),
        cmocka_unit_test(test_cache_value_round_trips_and_knows_its_model),
        cmocka_unit_test(test_cache_value_rejects_garbage),
        cmocka_unit_test(test_retry_after_seconds_and_dates),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
