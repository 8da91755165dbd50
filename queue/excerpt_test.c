/* excerpt_test.c - an object's members from its first bytes; strings cut at a boundary. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "queue/excerpt.h"

/* excerpt_head_object() of the first `cut` bytes of `text`, compact with sorted keys. */
static char *head_of(const char *text, size_t cut)
{
    json_t *obj = excerpt_head_object(text, cut);
    char *out;

    assert_non_null(obj);
    out = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(obj);
    return out;
}

static void expect_head(const char *text, size_t cut, const char *want)
{
    char *got = head_of(text, cut);

    assert_string_equal(got, want);
    free(got);
}

static void test_head_keeps_the_members_shown_whole(void **state)
{
    const char *job = "{\"class\": \"shell\", \"jid\":\"abc\" , \"n\": 12, \"args\": [\"yyyyyy\"],"
                      " \"error_message\": \"zzzz\"}";

    expect_head(job, strlen(job), "{\"args\":[\"yyyyyy\"],\"class\":\"shell\","
                                  "\"error_message\":\"zzzz\",\"jid\":\"abc\",\"n\":12}");
    /* cut inside args: the members before it */
    expect_head(job, (size_t)(strstr(job, "yyy") - job) + 2,
                "{\"class\":\"shell\",\"jid\":\"abc\",\"n\":12}");
    /* cut right after "12": it may be "123", so it does not count */
    expect_head(job, (size_t)(strstr(job, "12") - job) + 2, "{\"class\":\"shell\",\"jid\":\"abc\"}");
    /* cut after the comma that follows it: it does */
    expect_head(job, (size_t)(strstr(job, "12,") - job) + 3,
                "{\"class\":\"shell\",\"jid\":\"abc\",\"n\":12}");
    /* cut inside a key, inside a string, before the colon */
    expect_head(job, 4, "{}");
    expect_head(job, (size_t)(strstr(job, "shell") - job) + 3, "{}");
    expect_head("{\"a\":1,\"b\" ", 11, "{\"a\":1}");
}

static void test_head_of_what_is_not_an_object_is_empty(void **state)
{
    static const char *const bad[] = {"", "   ", "[1,2]", "\"s\"", "12", "{", "{,}", "{1:2}",
                                      "{\"a\" 1}", "{\"a\":}", "{\"a\":1 \"b\":2}", "\xff\xfe",
                                      "{\"\xff\":1}", "{\"a\":\"\xc3\"}", "{\"a\":[1,}"};

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *got = head_of(bad[i], strlen(bad[i]));
        assert_string_equal(got, "{}");
        free(got);
    }
    /* members before the bad part stay */
    expect_head("{\"a\":1,\"b\":tru", 14, "{\"a\":1}");
    expect_head("{\"a\":1,\"b\":true}", 16, "{\"a\":1,\"b\":true}");
}

static void expect_excerpt(const char *s, size_t len, size_t max, const char *want)
{
    json_t *v = excerpt_string(s, len, max);

    assert_non_null(v);
    assert_string_equal(json_string_value(v), want);
    json_decref(v);
}

static void test_string_is_cut_at_a_character_boundary(void **state)
{
    const char *s = "ab\xc3\xa9\xe2\x82\xac!"; /* a b é € ! */

    expect_excerpt(s, strlen(s), 100, s);
    expect_excerpt(s, strlen(s), 2, "ab");
    expect_excerpt(s, strlen(s), 3, "ab");         /* not half of é */
    expect_excerpt(s, strlen(s), 4, "ab\xc3\xa9");
    expect_excerpt(s, strlen(s), 5, "ab\xc3\xa9"); /* not a third of € */
    expect_excerpt(s, strlen(s), 6, "ab\xc3\xa9");
    expect_excerpt(s, strlen(s), 7, "ab\xc3\xa9\xe2\x82\xac");
    expect_excerpt(s, strlen(s), 0, "");
    expect_excerpt("abc", 3, 3, "abc");
}

static void test_string_that_is_not_utf8_keeps_its_ascii(void **state)
{
    expect_excerpt("a\xff" "b\xc3" "c", 5, 100, "a?b?c");
    expect_excerpt("\xe2\x82", 2, 100, "??");
    expect_excerpt("x\x00y", 3, 100, "x"); /* jansson keeps the NUL; the C view ends there */
}

/* entry after excerpt_put_args() of the JSON `args` within `max`, compact with sorted keys. */
static void expect_args(const char *args, size_t max, int want_r, const char *want)
{
    json_t *entry = json_object(), *v = json_loads(args, JSON_DECODE_ANY, NULL);
    char *got;

    assert_non_null(entry);
    assert_non_null(v);
    assert_int_equal(excerpt_put_args(entry, v, max), want_r);
    got = json_dumps(entry, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(got, want);
    free(got);
    json_decref(v);
    json_decref(entry);
}

static void test_args_within_the_bound_are_shown_whole(void **state)
{
    expect_args("[1, \"ab\"]", 8, 0, "{\"args\":[1,\"ab\"]}");
}

static void test_args_over_the_bound_are_an_excerpt_with_their_size(void **state)
{
    expect_args("[1, \"abcdef\"]", 8, 1,
                "{\"args\":null,\"args_excerpt\":\"[1,\\\"abcd\",\"args_size\":12}");
}

static void test_text_over_the_bound_is_cut_with_its_size(void **state)
{
    json_t *entry = json_object(), *v = json_string("h\xc3\xa9llo");
    char *got;

    assert_int_equal(excerpt_put_text(entry, "error_message", v, 2), 1);
    got = json_dumps(entry, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(got, "{\"error_message\":\"h\",\"error_message_size\":6}");
    free(got);
    assert_int_equal(excerpt_put_text(entry, "class", v, 6), 0);
    assert_string_equal(json_string_value(json_object_get(entry, "class")), "h\xc3\xa9llo");
    json_decref(v);
    json_decref(entry);
}

static void test_job_read_whole_shows_its_fields(void **state)
{
    static const char text[] = "{\"class\":\"email.welcome\",\"args\":[42],\"jid\":\"j1\","
                               "\"queue\":\"mail\",\"enqueued_at\":1795500000.5}";
    json_t *e = excerpt_job(text, strlen(text), strlen(text), 200);

    assert_string_equal(json_string_value(json_object_get(e, "jid")), "j1");
    assert_string_equal(json_string_value(json_object_get(e, "class")), "email.welcome");
    assert_true(json_real_value(json_object_get(e, "enqueued_at")) == 1795500000.5);
    assert_int_equal(json_integer_value(json_array_get(json_object_get(e, "args"), 0)), 42);
    assert_true(json_is_null(json_object_get(e, "invalid")));
    assert_true(json_is_false(json_object_get(e, "truncated")));
    json_decref(e);
}

static void test_job_that_does_not_decode_says_why(void **state)
{
    json_t *e = excerpt_job("not json", 8, 8, 200);

    assert_string_equal(json_string_value(json_object_get(e, "class")), "nexus.invalid");
    assert_non_null(strstr(json_string_value(json_object_get(e, "invalid")), "invalid JSON"));
    assert_string_equal(json_string_value(json_object_get(e, "excerpt")), "not json");
    json_decref(e);
}

static void test_job_read_in_part_shows_its_head(void **state)
{
    static const char text[] = "{\"class\":\"big\",\"jid\":\"j2\",\"args\":[\"xxxxxxxx";
    json_t *e = excerpt_job(text, strlen(text), 5000000, 16);

    assert_string_equal(json_string_value(json_object_get(e, "jid")), "j2");
    assert_true(json_is_null(json_object_get(e, "args")));
    assert_int_equal(json_string_length(json_object_get(e, "excerpt")), 16);
    assert_int_equal(json_integer_value(json_object_get(e, "size")), 5000000);
    assert_true(json_is_true(json_object_get(e, "truncated")));
    json_decref(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_head_keeps_the_members_shown_whole),
        cmocka_unit_test(test_head_of_what_is_not_an_object_is_empty),
        cmocka_unit_test(test_string_is_cut_at_a_character_boundary),
        cmocka_unit_test(test_string_that_is_not_utf8_keeps_its_ascii),
        cmocka_unit_test(test_args_within_the_bound_are_shown_whole),
        cmocka_unit_test(test_args_over_the_bound_are_an_excerpt_with_their_size),
        cmocka_unit_test(test_text_over_the_bound_is_cut_with_its_size),
        cmocka_unit_test(test_job_read_whole_shows_its_fields),
        cmocka_unit_test(test_job_that_does_not_decode_says_why),
        cmocka_unit_test(test_job_read_in_part_shows_its_head),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
