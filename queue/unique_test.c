/* unique_test.c - a unique job's lock: digest, key, time to live, and the fields' rules. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/err.h"
#include "lib/job.h"
#include "queue/unique.h"

static struct job *decoded(const char *text)
{
    struct job *job = NULL;
    struct err err = {0};

    assert_int_equal(job_decode(text, strlen(text), NULL, 1, &job, &err), 0);
    return job;
}

static void digest_of(const char *text, char out[JOB_SHA256_HEX])
{
    struct job *job = decoded(text);

    assert_int_equal(unique_digest(job, out), 0);
    job_free(job);
}

static void test_digest_is_the_sha256_of_the_unique_key_when_given(void **state)
{
    char d[JOB_SHA256_HEX];

    (void)state;
    digest_of("{\"class\":\"a\",\"args\":[1],\"jid\":\"j\",\"unique_for\":60,\"unique_key\":\"abc\"}",
              d);
    assert_string_equal(d, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void test_digest_without_a_key_is_class_newline_canonical_args(void **state)
{
    char d[JOB_SHA256_HEX], want[JOB_SHA256_HEX];
    const char text[] = "email.welcome\n[42,{\"a\":1,\"b\":[true,null]}]";

    (void)state;
    digest_of("{\"class\":\"email.welcome\",\"args\":[42, {\"b\": [true, null], \"a\": 1}],"
              "\"jid\":\"j\",\"unique_for\":60}",
              d);
    assert_int_equal(job_sha256_hex(text, strlen(text), want), 0);
    assert_string_equal(d, want);
}

static void test_digest_does_not_depend_on_key_order_or_jid(void **state)
{
    char d1[JOB_SHA256_HEX], d2[JOB_SHA256_HEX];

    (void)state;
    digest_of("{\"class\":\"c\",\"args\":[{\"x\":1,\"y\":2}],\"jid\":\"j1\",\"unique_for\":5}", d1);
    digest_of("{\"jid\":\"j2\",\"args\":[{\"y\":2,\"x\":1}],\"unique_for\":9,\"class\":\"c\"}", d2);
    assert_string_equal(d1, d2);
}

static void test_digest_differs_by_class(void **state)
{
    char d1[JOB_SHA256_HEX], d2[JOB_SHA256_HEX];

    (void)state;
    digest_of("{\"class\":\"c1\",\"args\":[1],\"jid\":\"j\",\"unique_for\":5}", d1);
    digest_of("{\"class\":\"c2\",\"args\":[1],\"jid\":\"j\",\"unique_for\":5}", d2);
    assert_string_not_equal(d1, d2);
}

static void test_lock_is_namespaced_key_jid_and_unique_for_in_ms(void **state)
{
    struct job *job =
        decoded("{\"class\":\"a\",\"args\":[],\"jid\":\"j7\",\"unique_for\":1.5,\"unique_key\":\"abc\"}");
    struct unique_lock l;

    (void)state;
    assert_int_equal(unique_lock_make(&l, "app:", job, 0), 0);
    assert_string_equal(
        l.key, "app:unique:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_string_equal(l.jid, "j7");
    assert_string_equal(l.ttl_ms, "1500");
    unique_lock_clear(&l);
    assert_null(l.key);
    job_free(job);
}

static void test_lock_of_a_job_due_later_lives_until_due_plus_unique_for(void **state)
{
    struct job *job = decoded("{\"class\":\"a\",\"args\":[],\"jid\":\"j\",\"unique_for\":60}");
    struct unique_lock l;

    (void)state;
    assert_int_equal(unique_lock_make(&l, "", job, 600.0004), 0);
    assert_string_equal(l.ttl_ms, "660001");
    unique_lock_clear(&l);
    assert_int_equal(unique_lock_make(&l, "", job, -5), 0); /* past due: as now */
    assert_string_equal(l.ttl_ms, "60000");
    unique_lock_clear(&l);
    job_free(job);
}

static void test_job_without_unique_for_has_no_lock(void **state)
{
    struct job *job = decoded("{\"class\":\"a\",\"args\":[],\"jid\":\"j\",\"unique_key\":\"k\"}");
    struct unique_lock l;

    (void)state;
    assert_int_equal(unique_lock_make(&l, "", job, 0), 0);
    assert_null(l.key);
    unique_lock_clear(&l);
    job_free(job);
}

static void test_decode_rejects_bad_unique_fields(void **state)
{
    static const struct {
        const char *fields;
        const char *msg;
    } bad[] = {
        {"\"unique_for\":0", "'unique_for' must be a number of seconds above 0, at most "
                             "3153600000 (got 0)"},
        {"\"unique_for\":-1.5", "'unique_for' must be a number of seconds above 0, at most "
                                "3153600000 (got -1.5)"},
        {"\"unique_for\":\"1h\"", "'unique_for' must be a number of seconds above 0, at most "
                                  "3153600000 (got \"1h\")"},
        {"\"unique_for\":1e10", "'unique_for' must be a number of seconds above 0, at most "
                                "3153600000 (got 10000000000.0)"},
        {"\"unique_for\":1,\"unique_key\":\"\"", "'unique_key' must be 1..512 bytes (got 0)"},
        {"\"unique_for\":1,\"unique_key\":7", "'unique_key' must be a string (got a number)"},
    };
    char text[256];

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct job *job = NULL;
        struct err err = {0};

        (void)snprintf(text, sizeof(text), "{\"class\":\"a\",\"args\":[],\"jid\":\"j\",%s}",
                       bad[i].fields);
        assert_int_equal(job_decode(text, strlen(text), NULL, 1, &job, &err), -EINVAL);
        assert_string_equal(err.msg, bad[i].msg);
        assert_true(job_unique_for(job) == 0 || job_unique_key(job, &(size_t){0}) == NULL);
        job_free(job);
    }
}

static void test_decode_takes_a_unique_key_of_512_bytes_not_513(void **state)
{
    char text[700], key[514];
    struct job *job = NULL;
    struct err err = {0};
    size_t len = 0;

    (void)state;
    memset(key, 'k', 513);
    key[513] = '\0';
    (void)snprintf(text, sizeof(text),
                   "{\"class\":\"a\",\"args\":[],\"jid\":\"j\",\"unique_for\":1,\"unique_key\":\"%s\"}",
                   key);
    assert_int_equal(job_decode(text, strlen(text), NULL, 1, &job, &err), -EINVAL);
    assert_string_equal(err.msg, "'unique_key' must be 1..512 bytes (got 513)");
    job_free(job);
    key[512] = '\0';
    (void)snprintf(text, sizeof(text),
                   "{\"class\":\"a\",\"args\":[],\"jid\":\"j\",\"unique_for\":1,\"unique_key\":\"%s\"}",
                   key);
    job = decoded(text);
    assert_non_null(job_unique_key(job, &len));
    assert_int_equal(len, 512);
    job_free(job);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_digest_is_the_sha256_of_the_unique_key_when_given),
        cmocka_unit_test(test_digest_without_a_key_is_class_newline_canonical_args),
        cmocka_unit_test(test_digest_does_not_depend_on_key_order_or_jid),
        cmocka_unit_test(test_digest_differs_by_class),
        cmocka_unit_test(test_lock_is_namespaced_key_jid_and_unique_for_in_ms),
        cmocka_unit_test(test_lock_of_a_job_due_later_lives_until_due_plus_unique_for),
        cmocka_unit_test(test_job_without_unique_for_has_no_lock),
        cmocka_unit_test(test_decode_rejects_bad_unique_fields),
        cmocka_unit_test(test_decode_takes_a_unique_key_of_512_bytes_not_513),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
