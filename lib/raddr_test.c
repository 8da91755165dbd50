/* raddr_test.c - redis:// and unix:// URLs taken apart, and the ones refused. */
#include <errno.h>
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
        const char *url, *host, *password;
        int port, db;
    } cases[] = {
        {"redis://127.0.0.1:6379/0", "127.0.0.1", NULL, 6379, 0},
        {"redis://localhost", "localhost", NULL, 6379, 0},
        {"redis://localhost/", "localhost", NULL, 6379, 0},
        {"redis://cache.internal:6380/1000", "cache.internal", NULL, 6380, 1000},
        {"redis://:pa:ss@h:1/15", "h", "pa:ss", 1, 15},
        {"redis://user:pass@h:65535/0", "h", "pass", 65535, 0},
        {"redis://:p@ss@h/2", "h", "p@ss", 6379, 2},
        {"redis://[::1]:6380/2", "::1", NULL, 6380, 2},
        {"redis://[::1]", "::1", NULL, 6379, 0},
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
        assert_int_equal(a.port, cases[i].port);
        assert_int_equal(a.db, cases[i].db);
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

/* `nexusd -t` used to pass a database over 1000, an empty [] host, a space in the host and a
 * unix path of "/", which the connection then refused or tried. */
static void test_parse_refuses_with_a_reason(void **state)
{
    static const struct {
        const char *url, *msg;
    } cases[] = {
        {"redis://h/5000", "redis url 'redis://h/5000': database must be a number 0..1000"},
        {"redis://h/db", "redis url 'redis://h/db': database must be a number 0..1000"},
        {"redis://h/0?timeout=1",
         "redis url 'redis://h/0?timeout=1': database must be a number 0..1000"},
        {"unix:///s?db=1001", "redis url 'unix:///s?db=1001': the only query is ?db=N (N = 0..1000)"},
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
        {"rediss://h", "redis url 'rediss://h': TLS (rediss://) is not supported; use a TLS tunnel"},
        {"h:6379", "redis url 'h:6379': must start with redis:// or unix://"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct raddr a = {.port = -1};
        struct err err = {0};

        assert_int_equal(raddr_parse(cases[i].url, &a, &err), -EINVAL);
        if (strcmp(err.msg, cases[i].msg) != 0)
            fail_msg("%s: got \"%s\", want \"%s\"", cases[i].url, err.msg, cases[i].msg);
        assert_int_equal(a.port, -1); /* untouched */
        assert_int_equal(raddr_parse(cases[i].url, &a, NULL), -EINVAL);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_takes_tcp_urls_apart),
        cmocka_unit_test(test_parse_takes_unix_urls_apart),
        cmocka_unit_test(test_parse_refuses_with_a_reason),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
