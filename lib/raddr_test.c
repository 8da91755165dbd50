/* raddr_test.c - redis://, rediss:// and unix:// URLs taken apart, and the ones refused. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "lib/err.h"
#include "lib/raddr.h"

static void test_parse_takes_tcp_urls_apart(void **state)
{
    static const struct {
        const char *url, *host, *username, *password;
        int port, db;
        bool tls;
    } cases[] = {
        {"redis://127.0.0.1:6379/0", "127.0.0.1", NULL, NULL, 6379, 0, false},
        {"redis://localhost", "localhost", NULL, NULL, 6379, 0, false},
        {"redis://localhost/", "localhost", NULL, NULL, 6379, 0, false},
        {"redis://cache.internal:6380/1000", "cache.internal", NULL, NULL, 6380, 1000, false},
        {"redis://:pa:ss@h:1/15", "h", NULL, "pa:ss", 1, 15, false},
        {"redis://user:pass@h:65535/0", "h", "user", "pass", 65535, 0, false},
        {"redis://pass@h", "h", NULL, "pass", 6379, 0, false},
        {"redis://:p@ss@h/2", "h", NULL, "p@ss", 6379, 2, false},
        {"redis://[::1]:6380/2", "::1", NULL, NULL, 6380, 2, false},
        {"redis://[::1]", "::1", NULL, NULL, 6379, 0, false},
        {"rediss://default:tok@eu1.upstash.io:6379", "eu1.upstash.io", "default", "tok", 6379, 0,
         true},
        {"rediss://[::1]:6390/3", "::1", NULL, NULL, 6390, 3, true},
        {"rediss://h", "h", NULL, NULL, 6379, 0, true},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct raddr a = {0};
        struct err err = {0};

        if (raddr_parse(cases[i].url, &a, &err) != 0)
            fail_msg("%s: %s", cases[i].url, err.msg);
        assert_string_equal(a.host, cases[i].host);
        assert_null(a.path);
        if (cases[i].password)
            assert_string_equal(a.password, cases[i].password);
        else
            assert_null(a.password);
        if (cases[i].username)
            assert_string_equal(a.username, cases[i].username);
        else
            assert_null(a.username);
        assert_int_equal(a.port, cases[i].port);
        assert_int_equal(a.db, cases[i].db);
        assert_int_equal(a.tls, cases[i].tls);
        assert_true(a.tls_verify); /* verification is on unless the configuration says */
        assert_null(a.tls_ca_file);
        raddr_clear(&a);
        assert_null(a.host);
    }
}

static void test_parse_takes_unix_urls_apart(void **state)
{
    struct raddr a = {0};
    struct err err = {0};

    assert_int_equal(raddr_parse("unix:///run/redis.sock", &a, &err), 0);
    assert_null(a.host);
    assert_string_equal(a.path, "/run/redis.sock");
    assert_int_equal(a.db, 0);
    raddr_clear(&a);
    assert_int_equal(raddr_parse("unix:///run/redis.sock?db=1000", &a, &err), 0);
    assert_string_equal(a.path, "/run/redis.sock");
    assert_int_equal(a.db, 1000);
    raddr_clear(&a);
}

/* As redis-cli and redis-py read them: %XX decoded, a lone '%' kept. */
static void test_parse_decodes_user_and_password(void **state)
{
    static const struct {
        const char *url, *username, *password;
    } cases[] = {
        {"redis://app%40eu:p%3Ass%2F@h", "app@eu", "p:ss/"},
        {"rediss://u:100%25@h", "u", "100%"},
        {"redis://u:50%@h", "u", "50%"},
        {"redis://u:%zz%4@h", "u", "%zz%4"},
        {"redis://%75:%70@h", "u", "p"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct raddr a = {0};
        struct err err = {0};

        if (raddr_parse(cases[i].url, &a, &err) != 0)
            fail_msg("%s: %s", cases[i].url, err.msg);
        assert_string_equal(a.username, cases[i].username);
        assert_string_equal(a.password, cases[i].password);
        raddr_clear(&a);
    }
}

static void test_copy_duplicates_every_string(void **state)
{
    struct raddr a = {0}, b;
    struct err err = {0};

    assert_int_equal(raddr_parse("rediss://u:p@h:7/2", &a, &err), 0);
    a.tls_ca_file = strdup("/etc/ca.pem");
    a.tls_server_name = strdup("redis.internal");
    a.read_timeout_s = 2.5;
    raddr_copy(&b, &a);
    raddr_clear(&a);
    assert_string_equal(b.host, "h");
    assert_string_equal(b.username, "u");
    assert_string_equal(b.password, "p");
    assert_string_equal(b.tls_ca_file, "/etc/ca.pem");
    assert_string_equal(b.tls_server_name, "redis.internal");
    assert_null(b.tls_cert_file);
    assert_true(b.tls);
    assert_int_equal(b.port, 7);
    assert_int_equal(b.db, 2);
    assert_true(b.read_timeout_s == 2.5);
    raddr_clear(&b);
}

/* `nexusd -t` used to pass a database over 1000, an empty [] host, a space in the host and a
 * unix path of "/", which the connection then refused or tried. */
static void test_parse_refuses_with_a_reason(void **state)
{
    const char *why;
    static const struct {
        const char *url, *msg;
    } cases[] = {
        {"redis://h/5000", "redis url 'redis://h/5000': database must be a number 0..1000"},
        {"redis://h/db", "redis url 'redis://h/db': database must be a number 0..1000"},
        {"redis://h/0?timeout=1",
         "redis url 'redis://h/0?timeout=1': database must be a number 0..1000"},
        {"redis://h:6379?db=1", "redis url 'redis://h:6379?db=1': no query or fragment after "
                                "the host"},
        {"rediss://u:pa#ss@h:6379", "redis url 'rediss://***@h:6379': a '/', '?' or '#' in the "
                                    "password must be %-encoded (%2F, %3F, %23)"},
        {"redis://:pa/ss@h:6379/0", "redis url 'redis://***@h:6379/0': a '/', '?' or '#' in the "
                                    "password must be %-encoded (%2F, %3F, %23)"},
        {"unix:///s?db=1001",
         "redis url 'unix:///s?db=1001': the only query is ?db=N (N = 0..1000)"},
        {"unix:///s?database=1",
         "redis url 'unix:///s?database=1': the only query is ?db=N (N = 0..1000)"},
        {"unix:///", "redis url 'unix:///': a unix socket path must be absolute"},
        {"unix://run.sock", "redis url 'unix://run.sock': a unix socket path must be absolute"},
        {"redis://[]:6379", "redis url 'redis://[]:6379': an IPv6 host must be [address]"},
        {"redis://[::1:6379", "redis url 'redis://[::1:6379': an IPv6 host must be [address]"},
        {"redis://h x", "redis url 'redis://h x': no spaces or control characters"},
        {"redis://", "redis url 'redis://': no host"},
        {"redis://:pw@:6379", "redis url 'redis://***@:6379': no host"},
        {"redis://h:0", "redis url 'redis://h:0': port must be 1..65535"},
        {"redis://h:", "redis url 'redis://h:': port must be 1..65535"},
        {"redis://::1:6379", "redis url 'redis://::1:6379': no host"},
        {"redis://[::1]x", "redis url 'redis://[::1]x': port must be 1..65535"},
        {"rediss://:pw@:6379", "redis url 'rediss://***@:6379': no host"},
        {"redis://u:a%00b@h", "redis url 'redis://***@h': user and password may not hold %00"},
        {"redis://u%00:p@h", "redis url 'redis://***@h': user and password may not hold %00"},
        {"h:6379", "redis url 'h:6379': must start with redis://, rediss:// or unix://"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct raddr a = {.port = -1};
        struct err err = {0};

        assert_int_equal(raddr_parse(cases[i].url, &a, &err), -EINVAL);
        if (strcmp(err.msg, cases[i].msg) != 0)
            fail_msg("%s: got \"%s\", want \"%s\"", cases[i].url, err.msg, cases[i].msg);
        assert_int_equal(a.port, -1); /* untouched */
        assert_int_equal(raddr_parse(cases[i].url, &a, NULL), -EINVAL);
        /* the same reason alone, for a caller that shows the URL itself */
        why = raddr_problem(cases[i].url);
        assert_non_null(why);
        assert_true(strlen(err.msg) > strlen(why));
        assert_string_equal(err.msg + strlen(err.msg) - strlen(why), why);
        assert_memory_equal(err.msg + strlen(err.msg) - strlen(why) - 3, "': ", 3);
    }
    assert_null(raddr_problem("rediss://u:p%23w@h:6380/2"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_takes_tcp_urls_apart),
        cmocka_unit_test(test_parse_takes_unix_urls_apart),
        cmocka_unit_test(test_parse_decodes_user_and_password),
        cmocka_unit_test(test_copy_duplicates_every_string),
        cmocka_unit_test(test_parse_refuses_with_a_reason),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
