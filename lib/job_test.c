/* job_test.c - job decode, validation sentences, wrappers and cut entries, failures, encoding. */
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
#include "lib/traceparent.h"

#define SIDEKIQ6_JOB                                                                               \
    "{\"retry\":true,\"queue\":\"default\",\"class\":\"HardJob\",\"args\":[1,\"x\"],"              \
    "\"jid\":\"b4a577edbccf1d805744efa9\",\"created_at\":1700000000.123456,"                       \
    "\"enqueued_at\":1700000000.1235}"
#define SIDEKIQ8_JOB                                                                               \
    "{\"retry\":3,\"queue\":\"mailers\",\"class\":\"WelcomeMailer\","                              \
    "\"args\":[{\"user_id\":42}],\"jid\":\"2f4ac0c0e6cd4a0b3c1e9a77\","                            \
    "\"created_at\":1700000000123,\"enqueued_at\":1700000000456}"
/* Sidekiq 7 running an ActiveJob: extra fields ("wrapped") that must survive untouched. */
#define ACTIVEJOB_JOB                                                                              \
    "{\"class\":\"ActiveJob::QueueAdapters::SidekiqAdapter::JobWrapper\","                         \
    "\"wrapped\":\"ReportJob\",\"queue\":\"default\",\"args\":[{\"job_class\":\"ReportJob\","      \
    "\"job_id\":\"d6e7c0a4-5a1e-4a7b-9c3e-2f0a1b2c3d4e\",\"arguments\":[7]}],"                     \
    "\"retry\":true,\"jid\":\"9e0a7c54a3f1b2c3d4e5f607\",\"created_at\":1700000000.5,"             \
    "\"enqueued_at\":1700000000.75}"

#define X10 "xxxxxxxxxx"
#define X40 X10 X10 X10 X10
#define X120 X40 X40 X40

/* --- helpers ---------------------------------------------------------------------------- */

static struct job *decode(const char *text, int want)
{
    struct err err = {0};
    struct job *job = NULL;
    int r;

    r = job_decode(text, strlen(text), "default", 7, &job, &err);
    if (r != want)
        print_error("decode gave %d (%s) for %s\n", r, err.msg, text);
    assert_int_equal(r, want);
    assert_non_null(job);
    return job;
}

static json_t *field(const struct job *job, const char *name)
{
    return json_object_get(job_root(job), name);
}

/* Encodes the job and parses the text back, checking it is a JSON object. */
static json_t *encode_and_parse(const struct job *job)
{
    json_error_t jerr;
    json_t *root;
    size_t len;
    char *text;

    text = job_encode(job, &len);
    assert_non_null(text);
    assert_int_equal(len, strlen(text));
    root = json_loadb(text, len, JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES, &jerr);
    free(text);
    assert_non_null(root);
    assert_true(json_is_object(root));
    return root;
}

static void assert_encodes_to(const struct job *job, const char *want)
{
    char *text = job_encode(job, NULL);

    assert_non_null(text);
    assert_string_equal(text, want);
    free(text);
}

static void assert_is_hex_jid(const char *jid)
{
    size_t i;

    assert_int_equal(strlen(jid), 24);
    for (i = 0; i < 24; i++)
        assert_non_null(strchr("0123456789abcdef", jid[i]));
}

/* Decodes a wrapper job's encoding and checks it is valid and carries `text` exactly. */
static void assert_wrapper_keeps(const struct job *job, const char *text, size_t len,
                                 const char *base64)
{
    struct err err = {0};
    struct job *again = NULL;
    const json_t *raw, *raw64;
    size_t raw_len;
    char *enc;

    assert_string_equal(job_class(job), JOB_INVALID_CLASS);
    assert_is_hex_jid(job_jid(job));
    assert_int_equal(json_array_size(job_args(job)), 0);
    assert_memory_equal(job_raw(job, &raw_len), text, len);
    assert_int_equal(raw_len, len);

    enc = job_encode(job, NULL);
    assert_non_null(enc);
    assert_int_equal(job_decode(enc, strlen(enc), "other", 1, &again, &err), 0);
    free(enc);
    assert_string_equal(job_jid(again), job_jid(job));
    assert_string_equal(job_queue(again), job_queue(job));
    raw = field(again, "nexus_raw");
    raw64 = field(again, "nexus_raw_base64");
    assert_true(json_is_string(raw));
    if (base64) {
        assert_true(json_is_string(raw64));
        assert_string_equal(json_string_value(raw64), base64);
    } else {
        assert_null(raw64);
        assert_int_equal(json_string_length(raw), len);
        assert_memory_equal(json_string_value(raw), text, len);
    }
    job_free(again);
}

/* --- decoding good jobs ----------------------------------------------------------------- */

static void test_decode_reads_a_sidekiq6_job(void **state)
{
    struct job *job = decode(SIDEKIQ6_JOB, 0);
    json_t *args = job_args(job);
    size_t len;

    assert_string_equal(job_class(job), "HardJob");
    assert_string_equal(job_jid(job), "b4a577edbccf1d805744efa9");
    assert_string_equal(job_queue(job), "default");
    assert_int_equal(json_array_size(args), 2);
    assert_int_equal(json_integer_value(json_array_get(args, 0)), 1);
    assert_string_equal(json_string_value(json_array_get(args, 1)), "x");
    assert_int_equal(job_retry_count(job), -1);
    assert_int_equal(job_recoveries(job), 0);
    assert_true(job_enqueued_at(job) == 1700000000.1235);
    assert_int_equal(job_max_retries(job, 25), 25);
    assert_true(job_dead_allowed(job));
    assert_string_equal(job_raw(job, &len), SIDEKIQ6_JOB);
    assert_int_equal(len, strlen(SIDEKIQ6_JOB));
    job_free(job);
}

static void test_decode_reads_a_sidekiq8_job_in_milliseconds(void **state)
{
    struct job *job = decode(SIDEKIQ8_JOB, 0);

    assert_string_equal(job_class(job), "WelcomeMailer");
    assert_string_equal(job_jid(job), "2f4ac0c0e6cd4a0b3c1e9a77");
    assert_string_equal(job_queue(job), "mailers");
    assert_true(job_enqueued_at(job) == 1700000000.456);
    assert_int_equal(job_max_retries(job, 25), 3);
    job_free(job);
}

static void test_decode_keeps_activejob_fields_and_order(void **state)
{
    struct job *job = decode(ACTIVEJOB_JOB, 0);

    assert_string_equal(job_class(job), "ActiveJob::QueueAdapters::SidekiqAdapter::JobWrapper");
    assert_encodes_to(job, ACTIVEJOB_JOB);
    job_free(job);
}

static void test_decode_uses_default_queue_when_job_names_none(void **state)
{
    static const char text[] = "{\"class\":\"A\",\"args\":[],\"jid\":\"j1\"}";
    struct err err = {0};
    struct job *job = NULL;

    assert_int_equal(job_decode(text, strlen(text), "low", 1, &job, &err), 0);
    assert_string_equal(job_queue(job), "low");
    assert_null(field(job, "queue"));
    job_free(job);
    assert_int_equal(job_decode(text, strlen(text), NULL, 1, &job, &err), 0);
    assert_string_equal(job_queue(job), "default");
    job_free(job);
}

static void test_decode_accepts_jids_of_other_clients(void **state)
{
    struct job *job = decode("{\"class\":\"A\",\"args\":[],"
                             "\"jid\":\"d6e7c0a4-5a1e-4a7b-9c3e-2f0a1b2c3d4e\"}",
                             0);

    assert_string_equal(job_jid(job), "d6e7c0a4-5a1e-4a7b-9c3e-2f0a1b2c3d4e");
    job_free(job);
}

static void test_decode_needs_no_nul_terminator(void **state)
{
    static const char text[] = "{\"class\":\"A\",\"args\":[],\"jid\":\"j1\"}garbage";
    struct err err = {0};
    struct job *job = NULL;
    size_t len;

    assert_int_equal(job_decode(text, strlen(text) - 7, "default", 1, &job, &err), 0);
    assert_memory_equal(job_raw(job, &len), text, strlen(text) - 7);
    assert_int_equal(len, strlen(text) - 7);
    assert_int_equal(job_raw(job, NULL)[len], '\0');
    job_free(job);
}

/* --- decoding bad jobs ------------------------------------------------------------------ */

static const struct bad_case {
    const char *text;
    const char *msg;
} bad_cases[] = {
    {"{\"args\":[],\"jid\":\"j1\"}", "missing 'class'"},
    {"{\"class\":\"\",\"args\":[],\"jid\":\"j1\"}", "'class' must not be empty"},
    {"{\"class\":5,\"args\":[],\"jid\":\"j1\"}", "'class' must be a string (got a number)"},
    {"{\"class\":\"" X120 "xxxxxxxxx\",\"args\":[],\"jid\":\"j1\"}",
     "'class' is 129 bytes, above the 128-byte limit"},
    {"{\"class\":\"A\\u0001B\",\"args\":[],\"jid\":\"j1\"}",
     "'class' must not contain control characters (got \"A\\x01B\")"},
    {"{\"class\":\"A\",\"jid\":\"j1\"}", "missing 'args'"},
    {"{\"class\":\"A\",\"args\":\"x\",\"jid\":\"j1\"}", "'args' must be an array (got a string)"},
    {"{\"class\":\"A\",\"args\":{},\"jid\":\"j1\"}", "'args' must be an array (got an object)"},
    {"{\"class\":\"A\",\"args\":null,\"jid\":\"j1\"}", "'args' must be an array (got null)"},
    {"{\"class\":\"A\",\"args\":[]}", "missing 'jid'"},
    {"{\"class\":\"A\",\"args\":[],\"jid\":\"\"}", "'jid' must not be empty"},
    {"{\"class\":\"A\",\"args\":[],\"jid\":null}", "'jid' must be a string (got null)"},
    {"{\"class\":\"A\",\"args\":[],\"jid\":12}", "'jid' must be a string (got a number)"},
    {"{\"class\":\"A\",\"args\":[],\"jid\":\"" X40 X10 X10 "xxxxx\"}",
     "'jid' is 65 bytes, above the 64-byte limit"},
    {"{\"class\":\"A\",\"args\":[],\"jid\":\"ab cd\"}",
     "'jid' must be printable ASCII without spaces (got \"ab cd\")"},
    {"{\"class\":\"A\",\"args\":[],\"jid\":\"caf\xc3\xa9\"}",
     "'jid' must be printable ASCII without spaces (got \"caf\xc3\xa9\")"},
    {"{\"class\":\"A\",\"args\":[],\"jid\":\"j1\",\"queue\":\"\"}", "'queue' must not be empty"},
    {"{\"class\":\"A\",\"args\":[],\"jid\":\"j1\",\"queue\":[\"q\"]}",
     "'queue' must be a string (got an array)"},
    {"{\"class\":\"A\",\"args\":[],\"jid\":\"j1\",\"queue\":\"a b\"}",
     "'queue' must not contain whitespace or control characters (got \"a b\")"},
    {"{\"class\":\"A\",\"args\":[],\"jid\":\"j1\",\"queue\":\"a\\tb\"}",
     "'queue' must not contain whitespace or control characters (got \"a\\x09b\")"},
    {"{\"class\":\"A\",\"args\":[],\"jid\":\"j1\",\"queue\":\"" X120 "xxxxxxxxx\"}",
     "'queue' is 129 bytes, above the 128-byte limit"},
    {"{\"class\":\"A\",\"args\":[],\"jid\":\"j1\",\"retry\":\"yes\"}",
     "'retry' must be true, false or a whole number 0..10000 (got \"yes\")"},
    {"{\"class\":\"A\",\"args\":[],\"jid\":\"j1\",\"retry\":-1}",
     "'retry' must be true, false or a whole number 0..10000 (got -1)"},
    {"{\"class\":\"A\",\"args\":[],\"jid\":\"j1\",\"retry\":10001}",
     "'retry' must be true, false or a whole number 0..10000 (got 10001)"},
    {"{\"class\":\"A\",\"args\":[],\"jid\":\"j1\",\"retry\":2.5}",
     "'retry' must be true, false or a whole number 0..10000 (got 2.5)"},
    {"{\"class\":\"A\",\"args\":[],\"jid\":\"j1\",\"retry\":3.0}",
     "'retry' must be true, false or a whole number 0..10000 (got 3.0)"},
    {"{\"class\":\"A\",\"args\":[],\"jid\":\"j1\",\"retry\":null}",
     "'retry' must be true, false or a whole number 0..10000 (got null)"},
    {"{\"class\":\"A\",\"args\":[],\"jid\":\"j1\",\"retry\":[]}",
     "'retry' must be true, false or a whole number 0..10000 (got an array)"},
    {"{\"class\":\"A\",\"args\":[],\"jid\":\"j1\",\"retry\":\"" X40 X10 "\"}",
     "'retry' must be true, false or a whole number 0..10000 (got \"" X40 "...\")"},
    {"{\"class\":\"A\",\"args\":[],\"jid\":\"j1\",\"retry\":\"a\\\"b\\\\c\\n\"}",
     "'retry' must be true, false or a whole number 0..10000 (got \"a\\\"b\\\\c\\x0a\")"},
    {"{\"class\":\"A\",\"args\":[],\"jid\":\"j1\",\"retry_count\":-2}",
     "'retry_count' must be a whole number -1 or more (got -2)"},
    {"{\"class\":\"A\",\"args\":[],\"jid\":\"j1\",\"retry_count\":\"1\"}",
     "'retry_count' must be a whole number -1 or more (got \"1\")"},
    {"{\"class\":\"A\",\"args\":[],\"jid\":\"j1\",\"created_at\":\"2023-11-14\"}",
     "'created_at' must be a number (got \"2023-11-14\")"},
    {"{\"class\":\"A\",\"args\":[],\"jid\":\"j1\",\"enqueued_at\":true}",
     "'enqueued_at' must be a number (got true)"},
    {"{\"class\":\"A\",\"args\":[],\"jid\":\"j1\",\"at\":{}}",
     "'at' must be a number (got an object)"},
    {"{\"class\":\"A\",\"args\":[],\"jid\":\"j1\",\"failed_at\":null}",
     "'failed_at' must be a number (got null)"},
    {"{\"class\":\"A\",\"args\":[],\"jid\":\"j1\",\"retried_at\":\"\"}",
     "'retried_at' must be a number (got \"\")"},
    {"{\"class\":\"A\",\"args\":[],\"jid\":\"j1\",\"dead\":\"no\"}",
     "'dead' must be true or false (got \"no\")"},
    {"{\"class\":\"A\",\"args\":[],\"jid\":\"j1\",\"dead\":0}",
     "'dead' must be true or false (got 0)"},
    {"{\"class\":\"A\",\"args\":[],\"jid\":\"j1\",\"nexus_recoveries\":1.5}",
     "'nexus_recoveries' must be a whole number 0 or more (got 1.5)"},
    /* The first broken field in rule order is the one reported. */
    {"{\"jid\":\"\",\"args\":5,\"class\":\"A\"}", "'args' must be an array (got a number)"},
};

static void test_decode_rejects_each_bad_field_with_a_sentence(void **state)
{
    size_t i;

    for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        const struct bad_case *c = &bad_cases[i];
        struct err err = {0};
        struct job *job = NULL;
        int r;

        r = job_decode(c->text, strlen(c->text), "default", 1, &job, &err);
        if (r != -EINVAL || strcmp(err.msg, c->msg) != 0)
            print_error("case %zu: %s\n", i, c->text);
        assert_int_equal(r, -EINVAL);
        assert_int_equal(err.code, -EINVAL);
        assert_string_equal(err.msg, c->msg);
        /* Still a job that keeps every field, for `dead`. */
        assert_non_null(job);
        assert_encodes_to(job, c->text);
        job_free(job);
    }
}

static const struct bad_case not_object_cases[] = {
    {"[1,2]", "job must be a JSON object (got an array)"},
    {"\"job\"", "job must be a JSON object (got a string)"},
    {"42", "job must be a JSON object (got a number)"},
    {"null", "job must be a JSON object (got null)"},
    {"", "invalid JSON: unexpected token near end of file (line 1 column 0)"},
    {"{\"class\":", "invalid JSON: unexpected token near end of file (line 1 column 9)"},
    {"{\"class\":\"A\",}", "invalid JSON: string or '}' expected near '}' (line 1 column 14)"},
    {"{\"class\":\"A\",\"class\":\"B\"}",
     "invalid JSON: duplicate object key near '\"class\"' (line 1 column 20)"},
    {"{\"a\":1}\n{\"b\":2}", "invalid JSON: end of file expected near '{' (line 2 column 1)"},
    {"{\"n\":123456789012345678901234567890}", "invalid JSON: too big integer (line 1 column 35)"},
    {"{\"a\":\"x\xff\"}", "invalid JSON: unable to decode byte 0xff near '\"x' (line 1 column 7)"},
};

static void test_decode_wraps_text_that_is_not_an_object(void **state)
{
    size_t i;

    for (i = 0; i < sizeof(not_object_cases) / sizeof(not_object_cases[0]); i++) {
        const struct bad_case *c = &not_object_cases[i];
        struct err err = {0};
        struct job *job = NULL;
        int r;

        r = job_decode(c->text, strlen(c->text), "low", 99, &job, &err);
        if (r != -EINVAL || strcmp(err.msg, c->msg) != 0)
            print_error("case %zu: %s\n", i, c->text);
        assert_int_equal(r, -EINVAL);
        assert_string_equal(err.msg, c->msg);
        assert_non_null(job);
        assert_string_equal(job_queue(job), "low");
        /* Only the case with byte 0xff needs the exact bytes in base64. */
        assert_wrapper_keeps(job, c->text, strlen(c->text),
                             strchr(c->text, '\xff') ? "eyJhIjoieP8ifQ==" : NULL);
        job_free(job);
    }
}

static void test_decode_wraps_invalid_utf8_with_replacement_and_base64(void **state)
{
    static const char text[] = "{\"class\":\"\xff\xc3\x28\xe2\x82\"}\xf0\x9f\x98\x80";
    struct err err = {0};
    struct job *job = NULL;
    const json_t *raw;

    assert_int_equal(job_decode(text, strlen(text), "default", 5, &job, &err), -EINVAL);
    assert_string_equal(err.msg,
                        "invalid JSON: unable to decode byte 0xff near '\"' (line 1 column 10)");
    /* Each byte that starts no valid character becomes U+FFFD; valid ones stay. */
    raw = field(job, "nexus_raw");
    assert_string_equal(json_string_value(raw), "{\"class\":\"\xef\xbf\xbd\xef\xbf\xbd(\xef\xbf\xbd"
                                                "\xef\xbf\xbd\"}\xf0\x9f\x98\x80");
    assert_wrapper_keeps(job, text, strlen(text), "eyJjbGFzcyI6Iv/DKOKCIn3wn5iA");
    job_free(job);
}

static void test_decode_wraps_text_with_nul_bytes_exactly(void **state)
{
    static const char text[] = "{\"a\":1}\0tail";
    struct err err = {0};
    struct job *job = NULL;

    assert_int_equal(job_decode(text, sizeof(text) - 1, "default", 5, &job, &err), -EINVAL);
    assert_wrapper_keeps(job, text, sizeof(text) - 1, NULL);
    job_free(job);
}

static void test_args_sha256_ignores_key_order_and_sees_every_value(void **state)
{
    static const char canonical[] = "[{\"a\":[2.5,\"x\"],\"b\":1}]";
    struct job *a =
        decode("{\"class\":\"A\",\"jid\":\"j\",\"args\":[{\"b\":1,\"a\":[2.5,\"x\"]}]}", 0);
    struct job *b =
        decode("{\"args\": [{\"a\": [2.5, \"x\"], \"b\": 1}], \"jid\":\"j\",\"class\":\"A\"}", 0);
    struct job *c =
        decode("{\"class\":\"A\",\"jid\":\"j\",\"args\":[{\"b\":2,\"a\":[2.5,\"x\"]}]}", 0);
    char ha[JOB_SHA256_HEX], hb[JOB_SHA256_HEX], hc[JOB_SHA256_HEX];

    assert_int_equal(job_args_sha256(a, ha), 0);
    assert_int_equal(job_args_sha256(b, hb), 0);
    assert_int_equal(job_args_sha256(c, hc), 0);
    assert_string_equal(ha, hb);
    assert_string_not_equal(ha, hc);
    /* the hash of the canonical text */
    assert_int_equal(job_sha256_hex(canonical, strlen(canonical), hb), 0);
    assert_string_equal(ha, hb);
    job_free(a);
    job_free(b);
    job_free(c);
}

/* The first 2000 bytes of a huge job, as the queue hands them over. */
static char *huge_head(const char *start, size_t len)
{
    char *head = malloc(len);

    assert_non_null(head);
    memset(head, 'y', len);
    memcpy(head, start, strlen(start));
    return head;
}

static void test_cut_keeps_excerpt_size_and_sha256_of_a_huge_job(void **state)
{
    static const char sha[] = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    char *head = huge_head("{\"jid\":\"0123abcd\",\"class\":\"Big\",\"args\":[\"", 2000);
    struct job *job = job_cut(head, 2000, 104857600, sha, "low", 5);
    const json_t *excerpt;
    size_t raw_len = 1;
    char *enc;

    assert_non_null(job);
    assert_string_equal(job_class(job), JOB_INVALID_CLASS);
    assert_string_equal(job_jid(job), "0123abcd");
    assert_string_equal(job_queue(job), "low");
    assert_int_equal(json_array_size(job_args(job)), 0);
    assert_string_equal(json_string_value(field(job, "nexus_original_class")), "Big");
    excerpt = field(job, "nexus_excerpt");
    assert_int_equal(json_string_length(excerpt), JOB_EXCERPT);
    assert_memory_equal(json_string_value(excerpt), head, JOB_EXCERPT);
    assert_int_equal(json_integer_value(field(job, "nexus_original_size")), 104857600);
    assert_string_equal(json_string_value(field(job, "nexus_original_sha256")), sha);
    assert_true(json_is_true(field(job, "nexus_truncated")));
    assert_null(field(job, "nexus_raw"));
    (void)job_raw(job, &raw_len);
    assert_int_equal(raw_len, 0);
    job_record_failure(job, "NexusJobTooLarge", "too large", 1700000000.0);
    enc = job_encode(job, NULL);
    assert_non_null(enc);
    assert_true(strlen(enc) < 2 * JOB_EXCERPT);
    free(enc);
    job_free(job);
    free(head);
}

static void test_cut_finds_jid_and_class_only_as_plain_strings(void **state)
{
    static const struct {
        const char *start, *jid, *class_name; /* NULL jid: drawn; NULL class: absent */
    } cases[] = {
        {"{\"class\": \"A\", \"jid\": \"abc\", \"args\": [\"", "abc", "A"},
        {"{\"retry\":true,\"args\":[\"", NULL, NULL},
        {"{\"jid\":\"a\\\"b\",\"class\":12,\"args\":[\"", NULL, NULL},
        {"{\"jid\":\"has space\",\"args\":[\"", NULL, NULL},
        {"{\"jid\":\"\",\"args\":[\"", NULL, NULL},
        {"{\"class\":\"a\xff\",\"args\":[\"", NULL, "a\xef\xbf\xbd"}, /* cleaned */
        {"{\"args\":[\"x\"],\"jid\"", NULL, NULL},                    /* cut off */
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t n = strlen(cases[i].start) + 40;
        char *head = huge_head(cases[i].start, n);
        struct job *job = job_cut(head, n, 1 << 30, "00", NULL, 9);

        assert_non_null(job);
        if (cases[i].jid)
            assert_string_equal(job_jid(job), cases[i].jid);
        else
            assert_int_equal(strlen(job_jid(job)), 24);
        if (cases[i].class_name)
            assert_string_equal(json_string_value(field(job, "nexus_original_class")),
                                cases[i].class_name);
        else
            assert_null(field(job, "nexus_original_class"));
        assert_string_equal(job_queue(job), "default");
        job_free(job);
        free(head);
    }
}

static void test_cut_without_a_queue_takes_the_excerpts(void **state)
{
    char *head = huge_head("{\"queue\": \"mailers\", \"args\":[\"", 100);
    struct job *job = job_cut(head, 100, 1 << 30, "00", NULL, 9);

    assert_string_equal(job_queue(job), "mailers");
    job_free(job);
    free(head);
    head = huge_head("{\"queue\":\"a b\",\"args\":[\"", 100);
    job = job_cut(head, 100, 1 << 30, "00", NULL, 9);
    assert_string_equal(job_queue(job), "default");
    job_free(job);
    free(head);
}

static void test_cut_excerpt_is_valid_utf8(void **state)
{
    char *head = huge_head("{\"args\":[\"\xff\xfe caf\xc3", 1100);
    struct job *job = job_cut(head, 1100, 50 << 20, "00", "default", 1);
    const json_t *excerpt = field(job, "nexus_excerpt");

    assert_non_null(job);
    assert_memory_equal(json_string_value(excerpt),
                        "{\"args\":[\"\xef\xbf\xbd\xef\xbf\xbd caf\xef\xbf\xbdy", 22);
    assert_true(json_string_length(excerpt) <= JOB_EXCERPT);
    job_free(job);
    free(head);
}

static void test_cut_raw_trades_raw_for_an_excerpt_above_keep_max(void **state)
{
    char *text = huge_head("not json {", 3000);
    char sha[JOB_SHA256_HEX];
    struct err err = {0};
    struct job *job = NULL;
    size_t raw_len;

    assert_int_equal(job_sha256_hex(text, 3000, sha), 0);
    /* at or under keep_max: kept whole */
    assert_int_equal(job_decode(text, 3000, "default", 5, &job, &err), -EINVAL);
    assert_int_equal(job_cut_raw(job, 3000), 0);
    assert_int_equal(json_string_length(field(job, "nexus_raw")), 3000);
    assert_null(field(job, "nexus_excerpt"));
    /* above: excerpt, size, SHA-256; the raw text stays what the job came from */
    assert_int_equal(job_cut_raw(job, 2999), 0);
    assert_null(field(job, "nexus_raw"));
    assert_null(field(job, "nexus_raw_base64"));
    assert_int_equal(json_string_length(field(job, "nexus_excerpt")), JOB_EXCERPT);
    assert_int_equal(json_integer_value(field(job, "nexus_original_size")), 3000);
    assert_string_equal(json_string_value(field(job, "nexus_original_sha256")), sha);
    assert_true(json_is_true(field(job, "nexus_truncated")));
    assert_memory_equal(job_raw(job, &raw_len), text, 3000);
    assert_int_equal(raw_len, 3000);
    job_free(job);
    /* a JSON object that fails validation is not a wrapper: left as it is */
    job = decode("{\"class\":\"A\",\"args\":\"x\",\"jid\":\"j1\"}", -EINVAL);
    assert_int_equal(job_cut_raw(job, 0), 0);
    assert_null(field(job, "nexus_excerpt"));
    job_free(job);
    free(text);
}

static void test_decode_gives_wrapper_jid_from_rnd(void **state)
{
    struct err err = {0};
    struct job *a = NULL, *b = NULL, *c = NULL;

    (void)job_decode("x", 1, "default", 1, &a, &err);
    (void)job_decode("x", 1, "default", 1, &b, &err);
    (void)job_decode("x", 1, "default", 2, &c, &err);
    assert_string_equal(job_jid(a), job_jid(b));
    assert_string_not_equal(job_jid(a), job_jid(c));
    job_free(a);
    job_free(b);
    job_free(c);
}

static void test_decode_keeps_every_field_of_an_invalid_object(void **state)
{
    static const char text[] = "{\"b\":1,\"class\":\"A\",\"args\":\"x\",\"jid\":\"j1\","
                               "\"queue\":\"a b\",\"zzz\":[1,{\"k\":null}]}";
    struct job *job = decode(text, -EINVAL);

    assert_encodes_to(job, text);
    assert_string_equal(job_class(job), "A");
    assert_string_equal(job_jid(job), "j1");
    assert_string_equal(job_queue(job), "default");
    assert_true(json_is_array(job_args(job)));
    assert_int_equal(json_array_size(job_args(job)), 0);
    job_free(job);
}

static void test_decode_gives_safe_values_for_missing_fields(void **state)
{
    struct job *job =
        decode("{\"retry\":\"x\",\"retry_count\":-4,\"nexus_recoveries\":\"2\"}", -EINVAL);

    assert_string_equal(job_class(job), "");
    assert_string_equal(job_jid(job), "");
    assert_string_equal(job_queue(job), "default");
    assert_int_equal(json_array_size(job_args(job)), 0);
    assert_int_equal(job_retry_count(job), -1);
    assert_int_equal(job_recoveries(job), 0);
    assert_int_equal(job_max_retries(job, 25), 0);
    assert_true(job_enqueued_at(job) == 0);
    job_free(job);
}

/* --- encoding --------------------------------------------------------------------------- */

static void test_encode_round_trips_unknown_fields_and_key_order(void **state)
{
    static const char text[] =
        "{\"zeta\":1,\"class\":\"Foo::Bar\",\"args\":[1,\"two\",{\"three\":[3.5,null,true]}],"
        "\"jid\":\"0123456789abcdef01234567\",\"alpha\":\"\xc3\xbcn\xc3\xaf\","
        "\"queue\":\"critical\",\"retry\":5,\"nested\":{\"z\":1,\"a\":2},"
        "\"nul\":\"a\\u0000b\",\"big\":-9223372036854775808,\"slash\":\"a/b\"}";
    struct job *job = decode(text, 0);
    char *enc;

    assert_encodes_to(job, text);
    /* A change appends new fields after the original ones, which keep their order. */
    job_record_failure(job, "E", "m", 1700000000.5);
    enc = job_encode(job, NULL);
    assert_non_null(enc);
    assert_memory_equal(enc, text, strlen(text) - 1);
    assert_string_equal(enc + strlen(text) - 1, ",\"error_message\":\"m\",\"error_class\":\"E\","
                                                "\"failed_at\":1700000000.5,\"retry_count\":0}");
    free(enc);
    job_free(job);
}

static void test_encode_writes_reals_back_exactly(void **state)
{
    static const char *const values[] = {"1700000000.123456",
                                         "1700000000.1235",
                                         "0.1",
                                         "1e-300",
                                         "1.7976931348623157e308",
                                         "5.0",
                                         "1700000000.0",
                                         "-0.0"};
    size_t i;

    for (i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        double want = strtod(values[i], NULL);
        char text[256];
        struct job *job, *again;
        char *enc;

        (void)snprintf(text, sizeof(text),
                       "{\"class\":\"A\",\"args\":[%s],\"jid\":\"j1\",\"created_at\":%s}",
                       values[i], values[i]);
        job = decode(text, 0);
        enc = job_encode(job, NULL);
        assert_non_null(enc);
        again = decode(enc, 0);
        assert_true(json_is_real(field(again, "created_at")));
        assert_true(json_real_value(field(again, "created_at")) == want);
        assert_true(json_real_value(json_array_get(job_args(again), 0)) == want);
        free(enc);
        job_free(job);
        job_free(again);
    }
}

/* --- failures --------------------------------------------------------------------------- */

static void test_record_failure_writes_float_seconds_in_sidekiq7_jobs(void **state)
{
    struct job *job = decode(SIDEKIQ6_JOB, 0);
    const json_t *t;

    job_record_failure(job, "RuntimeError", "boom", 1700000100.25);
    t = field(job, "failed_at");
    assert_true(json_is_real(t));
    assert_true(json_real_value(t) == 1700000100.25);
    assert_null(field(job, "retried_at"));
    job_free(job);
}

static void test_record_failure_writes_integer_ms_in_sidekiq8_jobs(void **state)
{
    struct job *job = decode(SIDEKIQ8_JOB, 0);
    const json_t *t;

    job_record_failure(job, "RuntimeError", "boom", 1700000100.25);
    t = field(job, "failed_at");
    assert_true(json_is_integer(t));
    assert_int_equal(json_integer_value(t), 1700000100250LL);
    job_record_failure(job, "RuntimeError", "boom", 1700000200.0015);
    t = field(job, "retried_at");
    assert_true(json_is_integer(t));
    assert_int_equal(json_integer_value(t), 1700000200002LL);
    job_free(job);
}

static void test_record_failure_counts_0_1_2(void **state)
{
    struct job *job = decode(SIDEKIQ6_JOB, 0);
    const json_t *t;

    assert_int_equal(job_retry_count(job), -1);
    job_record_failure(job, "E1", "first", 100.5);
    assert_int_equal(job_retry_count(job), 0);
    assert_true(json_real_value(field(job, "failed_at")) == 100.5);
    assert_null(field(job, "retried_at"));

    job_record_failure(job, "E2", "second", 200.5);
    assert_int_equal(job_retry_count(job), 1);
    assert_true(json_real_value(field(job, "failed_at")) == 100.5);
    assert_true(json_real_value(field(job, "retried_at")) == 200.5);

    job_record_failure(job, "E3", "third", 300.5);
    assert_int_equal(job_retry_count(job), 2);
    t = field(job, "retried_at");
    assert_true(json_real_value(t) == 300.5);
    assert_string_equal(json_string_value(field(job, "error_class")), "E3");
    assert_string_equal(json_string_value(field(job, "error_message")), "third");
    job_free(job);
}

static void test_record_failure_restarts_count_when_it_is_invalid(void **state)
{
    struct job *job =
        decode("{\"class\":\"A\",\"args\":[],\"jid\":\"j1\",\"retry_count\":\"x\"}", -EINVAL);

    job_record_failure(job, "E", "m", 1.5);
    assert_int_equal(job_retry_count(job), 0);
    assert_non_null(field(job, "failed_at"));
    job_free(job);
}

static void test_record_failure_cuts_error_message_on_a_utf8_boundary(void **state)
{
    char msg[2048];
    struct job *job = decode(SIDEKIQ6_JOB, 0);
    const json_t *m;

    memset(msg, 'a', sizeof(msg) - 1);
    msg[sizeof(msg) - 1] = '\0';
    job_record_failure(job, "E", msg, 1);
    m = field(job, "error_message");
    assert_int_equal(json_string_length(m), JOB_MAX_ERROR);

    /* 1023 bytes + a 2-byte character: the character does not fit. */
    memcpy(msg + JOB_MAX_ERROR - 1, "\xc3\xa9", 3);
    job_record_failure(job, "E", msg, 2);
    m = field(job, "error_message");
    assert_int_equal(json_string_length(m), JOB_MAX_ERROR - 1);

    /* 1022 bytes + a 2-byte character: exactly the limit. */
    memcpy(msg + JOB_MAX_ERROR - 2, "\xc3\xa9", 3);
    job_record_failure(job, "E", msg, 3);
    m = field(job, "error_message");
    assert_int_equal(json_string_length(m), JOB_MAX_ERROR);
    assert_memory_equal(json_string_value(m) + JOB_MAX_ERROR - 2, "\xc3\xa9", 2);
    job_free(job);
}

static void test_record_failure_replaces_invalid_utf8_in_the_error(void **state)
{
    struct job *job = decode(SIDEKIQ6_JOB, 0);

    job_record_failure(job,
                       "Bad\xc0"
                       "Class",
                       "bad \xff byte", 1);
    assert_string_equal(json_string_value(field(job, "error_message")), "bad \xef\xbf\xbd byte");
    assert_string_equal(json_string_value(field(job, "error_class")), "Bad\xef\xbf\xbd"
                                                                      "Class");
    job_record_failure(job, NULL, NULL, 2);
    assert_string_equal(json_string_value(field(job, "error_message")), "");
    assert_string_equal(json_string_value(field(job, "error_class")), "");
    job_free(job);
}

static void test_changes_keep_raw_and_borrowed_strings(void **state)
{
    struct job *job = decode(SIDEKIQ6_JOB, 0);
    const char *jid = job_jid(job), *class_name = job_class(job), *queue = job_queue(job);
    json_t *args = job_args(job), *root = job_root(job);
    size_t len;

    job_record_failure(job, "E", "m", 1);
    job_record_failure(job, "E", "m", 2);
    job_record_recovery(job);
    job_set_enqueued_at(job, 3);
    assert_ptr_equal(job_jid(job), jid);
    assert_ptr_equal(job_class(job), class_name);
    assert_ptr_equal(job_queue(job), queue);
    assert_ptr_equal(job_args(job), args);
    assert_ptr_equal(job_root(job), root);
    assert_string_equal(jid, "b4a577edbccf1d805744efa9");
    assert_string_equal(job_raw(job, &len), SIDEKIQ6_JOB);
    assert_int_equal(len, strlen(SIDEKIQ6_JOB));
    job_free(job);
}

static void test_record_recovery_counts_up(void **state)
{
    struct job *job = decode(SIDEKIQ6_JOB, 0);

    assert_int_equal(job_recoveries(job), 0);
    job_record_recovery(job);
    assert_int_equal(job_recoveries(job), 1);
    job_record_recovery(job);
    assert_int_equal(job_recoveries(job), 2);
    assert_int_equal(json_integer_value(field(job, "nexus_recoveries")), 2);
    job_free(job);
}

static void test_set_enqueued_at_writes_the_jobs_units(void **state)
{
    struct job *s7 = decode(SIDEKIQ6_JOB, 0), *s8 = decode(SIDEKIQ8_JOB, 0);

    job_set_enqueued_at(s7, 1700000500.5);
    assert_true(json_is_real(field(s7, "enqueued_at")));
    assert_true(job_enqueued_at(s7) == 1700000500.5);
    job_set_enqueued_at(s8, 1700000500.5);
    assert_int_equal(json_integer_value(field(s8, "enqueued_at")), 1700000500500LL);
    assert_true(job_enqueued_at(s8) == 1700000500.5);
    job_free(s7);
    job_free(s8);
}

/* --- times ------------------------------------------------------------------------------ */

static void test_time_value_follows_created_at_then_enqueued_at(void **state)
{
    static const struct {
        const char *times;
        bool ms;
    } cases[] = {
        {"", false},
        {",\"created_at\":1700000000.5", false},
        {",\"created_at\":1700000000", false},
        {",\"created_at\":100000000000", false},
        {",\"created_at\":100000000001", true},
        {",\"created_at\":1700000000123", true},
        {",\"enqueued_at\":1700000000123", true},
        {",\"created_at\":1700000000.5,\"enqueued_at\":1700000000123", false},
        {",\"created_at\":1700000000123,\"enqueued_at\":1700000000.5", true},
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char text[256];
        struct job *job;
        json_t *v;

        (void)snprintf(text, sizeof(text), "{\"class\":\"A\",\"args\":[],\"jid\":\"j1\"%s}",
                       cases[i].times);
        job = decode(text, 0);
        v = job_time_value(job, 1700000001.2345);
        assert_non_null(v);
        if (cases[i].ms) {
            assert_true(json_is_integer(v));
            assert_int_equal(json_integer_value(v), 1700000001235LL);
        } else {
            assert_true(json_is_real(v));
            assert_true(json_real_value(v) == 1700000001.2345);
        }
        json_decref(v);
        job_free(job);
    }
}

static void test_enqueued_at_reads_seconds_or_milliseconds(void **state)
{
    struct job *job;

    job = decode("{\"class\":\"A\",\"args\":[],\"jid\":\"j1\",\"created_at\":1700000000.5}", 0);
    assert_true(job_enqueued_at(job) == 1700000000.5);
    job_free(job);
    job = decode("{\"class\":\"A\",\"args\":[],\"jid\":\"j1\",\"created_at\":1700000000500}", 0);
    assert_true(job_enqueued_at(job) == 1700000000.5);
    job_free(job);
    job = decode("{\"class\":\"A\",\"args\":[],\"jid\":\"j1\"}", 0);
    assert_true(job_enqueued_at(job) == 0);
    job_free(job);
}

/* --- retries ---------------------------------------------------------------------------- */

static void test_max_retries_follows_the_retry_field(void **state)
{
    static const struct {
        const char *retry;
        int want;
    } cases[] = {
        {"", 25},
        {",\"retry\":true", 25},
        {",\"retry\":false", 0},
        {",\"retry\":0", 0},
        {",\"retry\":5", 5},
        {",\"retry\":10000", 10000},
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char text[128];
        struct job *job;

        (void)snprintf(text, sizeof(text), "{\"class\":\"A\",\"args\":[],\"jid\":\"j1\"%s}",
                       cases[i].retry);
        job = decode(text, 0);
        assert_int_equal(job_max_retries(job, 25), cases[i].want);
        job_free(job);
    }
}

static void test_dead_allowed_unless_dead_is_false(void **state)
{
    struct job *job;

    job = decode("{\"class\":\"A\",\"args\":[],\"jid\":\"j1\",\"dead\":true}", 0);
    assert_true(job_dead_allowed(job));
    job_free(job);
    job = decode("{\"class\":\"A\",\"args\":[],\"jid\":\"j1\",\"dead\":false}", 0);
    assert_false(job_dead_allowed(job));
    job_free(job);
}

#define TRACEPARENT "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

static void test_traceparent_is_read_when_valid(void **state)
{
    struct traceparent tp;
    struct job *job;

    job = decode("{\"class\":\"A\",\"args\":[],\"jid\":\"j1\",\"traceparent\":\"" TRACEPARENT
                 "\",\"tracestate\":\"rojo=00f067aa0ba902b7\"}",
                 0);
    assert_int_equal(job_traceparent(job, &tp, NULL), 0);
    assert_string_equal(tp.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_string_equal(job_tracestate(job), "rojo=00f067aa0ba902b7");
    job_free(job);
    job = decode("{\"class\":\"A\",\"args\":[],\"jid\":\"j1\"}", 0);
    assert_int_equal(job_traceparent(job, &tp, NULL), -ENOENT);
    assert_null(job_tracestate(job));
    job_free(job);
}

static void test_bad_traceparent_is_ignored_with_a_sentence_and_the_job_decodes(void **state)
{
    struct traceparent tp;
    struct err err = {0};
    struct job *job;

    job = decode("{\"class\":\"A\",\"args\":[],\"jid\":\"j1\",\"traceparent\":42,"
                 "\"tracestate\":\"rojo=1\"}",
                 0);
    assert_int_equal(job_traceparent(job, &tp, &err), -EINVAL);
    assert_string_equal(err.msg, "'traceparent' must be a string (got a number)");
    assert_null(job_tracestate(job));
    job_free(job);
    job = decode("{\"class\":\"A\",\"args\":[],\"jid\":\"j1\",\"traceparent\":\"00-x\"}", 0);
    assert_int_equal(job_traceparent(job, &tp, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "'traceparent' must be 55 characters"));
    job_free(job);
    job = decode("{\"class\":\"A\",\"args\":[],\"jid\":\"j1\",\"traceparent\":\"" TRACEPARENT
                 "\",\"tracestate\":\"a\\nb\"}",
                 0);
    assert_null(job_tracestate(job));
    job_free(job);
}

/* --- new jobs --------------------------------------------------------------------------- */

static void test_new_job_has_the_sidekiq7_shape(void **state)
{
    static const char *const keys[] = {"class", "args",       "jid",         "queue",
                                       "retry", "created_at", "enqueued_at", "at"};
    json_t *args = json_pack("[is]", 1, "x");
    struct job *job;
    json_t *root;
    void *it;
    size_t i = 0;

    job = job_new("HardJob", args, "critical", NULL, 1700000000.5, 1700000600.25, 42);
    json_decref(args);
    assert_non_null(job);
    root = encode_and_parse(job);
    for (it = json_object_iter(root); it; it = json_object_iter_next(root, it), i++) {
        assert_true(i < sizeof(keys) / sizeof(keys[0]));
        assert_string_equal(json_object_iter_key(it), keys[i]);
    }
    assert_int_equal(i, 8);
    assert_string_equal(json_string_value(json_object_get(root, "class")), "HardJob");
    assert_true(json_equal(json_object_get(root, "args"), job_args(job)));
    assert_string_equal(json_string_value(json_object_get(root, "queue")), "critical");
    assert_true(json_is_true(json_object_get(root, "retry")));
    assert_true(json_real_value(json_object_get(root, "created_at")) == 1700000000.5);
    assert_true(json_real_value(json_object_get(root, "enqueued_at")) == 1700000000.5);
    assert_true(json_real_value(json_object_get(root, "at")) == 1700000600.25);
    assert_is_hex_jid(job_jid(job));
    assert_int_equal(strlen(job_raw(job, &i)), 0);
    assert_int_equal(i, 0);
    json_decref(root);
    job_free(job);
}

static void test_new_job_draws_jid_from_rnd(void **state)
{
    json_t *args = json_array();
    struct job *a = job_new("A", args, NULL, NULL, 1, 0, 1);
    struct job *b = job_new("A", args, NULL, NULL, 1, 0, 1);
    struct job *c = job_new("A", args, NULL, NULL, 1, 0, 2);
    struct job *d = job_new("A", args, NULL, "given-jid", 1, 0, 2);

    json_decref(args);
    assert_string_equal(job_jid(a), job_jid(b));
    assert_string_not_equal(job_jid(a), job_jid(c));
    assert_is_hex_jid(job_jid(c));
    assert_string_equal(job_jid(d), "given-jid");
    assert_string_equal(job_queue(a), "default");
    assert_null(field(a, "at"));
    job_free(a);
    job_free(b);
    job_free(c);
    job_free(d);
}

static void test_new_job_decodes_as_a_valid_job(void **state)
{
    json_t *args = json_pack("[{s:i}]", "user_id", 7);
    struct job *job = job_new("email.welcome", args, "mail", NULL, 1700000000.25, 0, 3);
    struct job *again;
    char *enc;

    json_decref(args);
    enc = job_encode(job, NULL);
    again = decode(enc, 0);
    assert_string_equal(job_class(again), "email.welcome");
    assert_string_equal(job_jid(again), job_jid(job));
    assert_string_equal(job_queue(again), "mail");
    assert_true(job_enqueued_at(again) == 1700000000.25);
    free(enc);
    job_free(job);
    job_free(again);
}

static void test_new_job_refuses_args_that_are_not_an_array(void **state)
{
    json_t *args = json_object();

    assert_null(job_new("A", args, NULL, NULL, 1, 0, 1));
    assert_null(job_new(NULL, NULL, NULL, NULL, 1, 0, 1));
    json_decref(args);
}

/* Sidekiq's "retry now" pushes a job that failed once with retry_count -1. */
static void test_decode_accepts_sidekiq_retry_count_minus_one(void **state)
{
    struct err err = {0};
    struct job *job = NULL;
    const char *text = "{\"class\":\"A\",\"args\":[],\"jid\":\"j1\",\"retry_count\":-1,"
                       "\"failed_at\":1700000000.5}";
    json_t *root;

    assert_int_equal(job_decode(text, strlen(text), "default", 1, &job, &err), 0);
    assert_int_equal(job_retry_count(job), -1);
    job_record_failure(job, "E", "again", 1700000100.5);
    root = job_root(job);
    assert_int_equal(json_integer_value(json_object_get(root, "retry_count")), 0);
    assert_non_null(json_object_get(root, "retried_at"));
    assert_true(json_real_value(json_object_get(root, "failed_at")) == 1700000000.5);
    job_free(job);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_accepts_sidekiq_retry_count_minus_one),
        cmocka_unit_test(test_decode_reads_a_sidekiq6_job),
        cmocka_unit_test(test_decode_reads_a_sidekiq8_job_in_milliseconds),
        cmocka_unit_test(test_decode_keeps_activejob_fields_and_order),
        cmocka_unit_test(test_decode_uses_default_queue_when_job_names_none),
        cmocka_unit_test(test_decode_accepts_jids_of_other_clients),
        cmocka_unit_test(test_decode_needs_no_nul_terminator),
        cmocka_unit_test(test_decode_rejects_each_bad_field_with_a_sentence),
        cmocka_unit_test(test_decode_wraps_text_that_is_not_an_object),
        cmocka_unit_test(test_decode_wraps_invalid_utf8_with_replacement_and_base64),
        cmocka_unit_test(test_decode_wraps_text_with_nul_bytes_exactly),
        cmocka_unit_test(test_args_sha256_ignores_key_order_and_sees_every_value),
        cmocka_unit_test(test_cut_keeps_excerpt_size_and_sha256_of_a_huge_job),
        cmocka_unit_test(test_cut_finds_jid_and_class_only_as_plain_strings),
        cmocka_unit_test(test_cut_without_a_queue_takes_the_excerpts),
        cmocka_unit_test(test_cut_excerpt_is_valid_utf8),
        cmocka_unit_test(test_cut_raw_trades_raw_for_an_excerpt_above_keep_max),
        cmocka_unit_test(test_decode_gives_wrapper_jid_from_rnd),
        cmocka_unit_test(test_decode_keeps_every_field_of_an_invalid_object),
        cmocka_unit_test(test_decode_gives_safe_values_for_missing_fields),
        cmocka_unit_test(test_encode_round_trips_unknown_fields_and_key_order),
        cmocka_unit_test(test_encode_writes_reals_back_exactly),
        cmocka_unit_test(test_record_failure_writes_float_seconds_in_sidekiq7_jobs),
        cmocka_unit_test(test_record_failure_writes_integer_ms_in_sidekiq8_jobs),
        cmocka_unit_test(test_record_failure_counts_0_1_2),
        cmocka_unit_test(test_record_failure_restarts_count_when_it_is_invalid),
        cmocka_unit_test(test_record_failure_cuts_error_message_on_a_utf8_boundary),
        cmocka_unit_test(test_record_failure_replaces_invalid_utf8_in_the_error),
        cmocka_unit_test(test_changes_keep_raw_and_borrowed_strings),
        cmocka_unit_test(test_record_recovery_counts_up),
        cmocka_unit_test(test_set_enqueued_at_writes_the_jobs_units),
        cmocka_unit_test(test_time_value_follows_created_at_then_enqueued_at),
        cmocka_unit_test(test_enqueued_at_reads_seconds_or_milliseconds),
        cmocka_unit_test(test_max_retries_follows_the_retry_field),
        cmocka_unit_test(test_dead_allowed_unless_dead_is_false),
        cmocka_unit_test(test_traceparent_is_read_when_valid),
        cmocka_unit_test(test_bad_traceparent_is_ignored_with_a_sentence_and_the_job_decodes),
        cmocka_unit_test(test_new_job_has_the_sidekiq7_shape),
        cmocka_unit_test(test_new_job_draws_jid_from_rnd),
        cmocka_unit_test(test_new_job_decodes_as_a_valid_job),
        cmocka_unit_test(test_new_job_refuses_args_that_are_not_an_array),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
