/* urlmask_test.c - credentials hidden in URLs, conninfo strings and libpq's messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "lib/urlmask.h"

struct mask_case {
    const char *in, *out;
};

static void check_cases(const struct mask_case *cases, size_t n)
{
    char buf[256];

    for (size_t i = 0; i < n; i++) {
        const char *got = url_mask(cases[i].in, buf, sizeof(buf));

        if (strcmp(got, cases[i].out) != 0)
            fail_msg("url_mask(\"%s\") = \"%s\", want \"%s\"", cases[i].in, got, cases[i].out);
    }
}

static void test_mask_keeps_urls_without_credentials(void **state)
{
    static const struct mask_case cases[] = {
        {"redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"},
        {"unix:///run/redis.sock?db=2", "unix:///run/redis.sock?db=2"},
        {"smtp://mail.example.com:587/ehlo.example", "smtp://mail.example.com:587/ehlo.example"},
        {"postgresql:///app?host=/run/postgresql", "postgresql:///app?host=/run/postgresql"},
        {"host=db port=5432 dbname=app", "host=db port=5432 dbname=app"},
        {"", ""},
        {"localhost", "localhost"},
    };
    check_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_mask_hides_userinfo_with_any_bytes(void **state)
{
    static const struct mask_case cases[] = {
        {"redis://:s3cret@cache:6379/0", "redis://***@cache:6379/0"},
        {"redis://default:s3cret@cache", "redis://***@cache"},
        /* '/', '?', '#', '@' and '%' in a password do not end the userinfo */
        {"redis://:pa/ss@cache:6379/0", "redis://***@cache:6379/0"},
        {"redis://:pa?ss@cache/0", "redis://***@cache/0"},
        {"smtp://user:p#w@mail:25", "smtp://***@mail:25"},
        {"smtp://user:p@w@mail:25", "smtp://***@mail:25"},
        {"smtps://us%40er:p%zzw/?#@mail", "smtps://***@mail"},
        {"postgresql://app:pw@db/app", "postgresql://***@db/app"},
        {"rediss://u:p@h", "rediss://***@h"},
        /* an '@' after the host hides the host too: more, never less */
        {"postgresql://u:pw@db/app?application_name=a@b", "postgresql://***@b"},
        {"redis://@cache", "redis://@cache"},
    };
    check_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_mask_hides_secret_query_values(void **state)
{
    static const struct mask_case cases[] = {
        {"postgresql://db/app?password=pw", "postgresql://db/app?password=***"},
        {"postgresql://db/app?user=a&password=p/w?x&sslmode=require",
         "postgresql://db/app?user=a&password=***&sslmode=require"},
        {"postgres://db/app?PassWord=x&sslpassword=y",
         "postgres://db/app?PassWord=***&sslpassword=***"},
        {"postgresql://db/app?pass%77ord=x", "postgresql://db/app?pass%77ord=***"},
        {"postgresql://db/app?password=", "postgresql://db/app?password="},
        {"redis://h/0?password=x#y&db=1", "redis://h/0?password=***&db=1"},
        {"postgresql://u:a@h/d?password=b", "postgresql://***@h/d?password=***"},
        {"postgresql://h/d?password=a@b&x=1", "postgresql://***&x=1"},
    };
    check_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_mask_hides_conninfo_passwords(void **state)
{
    static const struct mask_case cases[] = {
        {"host=db password=s3cret dbname=app", "host=db password=*** dbname=app"},
        {"host=db password = 's3 cr\\'et' dbname=app", "host=db password = *** dbname=app"},
        {"password=x\\ y host=db", "password=*** host=db"},
        {"host=db sslpassword=x", "host=db sslpassword=***"},
        {"dbname=postgresql://u:p@h/d host=x", "dbname=*** host=x"},
        /* syntax errors: from there on nothing is shown */
        {"host=db password='open", "host=db password=***"},
        {"host=db s3cret", "host=db ***"},
        {"host=db password= s3cret", "host=db password= ***"},
        /* an empty value takes the next word: "password=x" is the host here */
        {"host= password=s3cret", "host= ***"},
        {"host= password='s3 cr3t' dbname=app", "host= ***"},
        {"password='a b'c=d host=db", "password=***"},
        {"options='-c search_path=app' host=db", "options=*** host=db"},
    };
    check_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_mask_hides_before_the_last_at_in_other_text(void **state)
{
    static const struct mask_case cases[] = {
        {"user:pw@host:6379", "***@host:6379"},
        {"redis:/:pw@host", "***@host"},
        {"@host", "@host"},
    };
    check_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_mask_cuts_long_text_and_control_characters(void **state)
{
    char buf[16], wide[32];

    assert_string_equal(url_mask("redis://\x1b[31m:6379", wide, sizeof(wide)),
                        "redis://?[31m:6379");
    assert_string_equal(url_mask("redis://a-very-long-host-name:6379", buf, sizeof(buf)),
                        "redis://a-ve...");
    assert_string_equal(url_mask("redis://h:6379/", buf, sizeof(buf)), "redis://h:6379/");
    assert_string_equal(url_mask("redis://h:6379/0", buf, sizeof(buf)), "redis://h:63...");
    assert_string_equal(url_mask("redis://h:6379/1", wide, 17), "redis://h:6379/1");
    assert_string_equal(url_mask("redis://:password@h", buf, 8), "redi...");
    assert_string_equal(url_mask("redis://:password@h", buf, 13), "redis://*...");
    assert_string_equal(url_mask("redis://:password@h", buf, 14), "redis://***@h");
    assert_string_equal(url_mask("redis://:password@h", buf, 15), "redis://***@h");
}

static void test_mask_msg_hides_quoted_secret_text(void **state)
{
    char buf[256];

    /* libpq on a bad %-escape in the password */
    assert_string_equal(url_mask_msg("invalid percent-encoded token: \"p%zzword\"\n",
                                     "postgresql://app:p%zzword@db/app", buf, sizeof(buf)),
                        "invalid percent-encoded token: \"***\"");
    /* a '/' in the password: libpq reads part of it as the port */
    assert_string_equal(url_mask_msg("invalid integer value \"pa\" for connection option \"port\"",
                                     "postgresql://app:pa/ss@db/app", buf, sizeof(buf)),
                        "invalid integer value \"***\" for connection option \"port\"");
    /* quoted text that is no secret stays */
    assert_string_equal(url_mask_msg("could not translate host name \"db.example\" to address",
                                     "postgresql://app:pw@db.example/app", buf, sizeof(buf)),
                        "could not translate host name \"db.example\" to address");
    /* shown elsewhere in the URL: the database named as its user */
    assert_string_equal(url_mask_msg("database \"app\" does not exist",
                                     "postgresql://app:pw@db/app", buf, sizeof(buf)),
                        "database \"app\" does not exist");
    assert_string_equal(url_mask_msg("missing \"=\" after \"s3cret\" in connection info string",
                                     "host=db s3cret", buf, sizeof(buf)),
                        "missing \"=\" after \"***\" in connection info string");
    assert_string_equal(url_mask_msg("open \"s3cr", "password=s3cret", buf, sizeof(buf)),
                        "open \"***");
}

static void test_escape_bad_names_the_part_and_position(void **state)
{
    const char *part = NULL;
    size_t pos = 0;

    assert_true(url_escape_bad("postgresql://app:p%zzword@db/app", &part, &pos));
    assert_string_equal(part, "the password");
    assert_int_equal(pos, 19);
    assert_true(url_escape_bad("postgresql://a%4@db/app", &part, &pos));
    assert_string_equal(part, "the user");
    assert_true(url_escape_bad("postgresql://db%/app", &part, &pos));
    assert_string_equal(part, "the host");
    assert_true(url_escape_bad("postgresql://db/a%00pp", &part, &pos));
    assert_string_equal(part, "the path");
    assert_true(url_escape_bad("postgresql://db/app?password=%", &part, &pos));
    assert_string_equal(part, "the query");
    assert_int_equal(pos, 30);
    assert_false(url_escape_bad("postgresql://u:p%40ss@db/a%2fb", &part, &pos));
    assert_false(url_escape_bad("host=db password=%zz", &part, &pos));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mask_keeps_urls_without_credentials),
        cmocka_unit_test(test_mask_hides_userinfo_with_any_bytes),
        cmocka_unit_test(test_mask_hides_secret_query_values),
        cmocka_unit_test(test_mask_hides_conninfo_passwords),
        cmocka_unit_test(test_mask_hides_before_the_last_at_in_other_text),
        cmocka_unit_test(test_mask_cuts_long_text_and_control_characters),
        cmocka_unit_test(test_mask_msg_hides_quoted_secret_text),
        cmocka_unit_test(test_escape_bad_names_the_part_and_position),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
