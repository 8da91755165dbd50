/* sentinel_test.c - sentinel specs, GET-MASTER-ADDR-BY-NAME answers, +switch-master
 * messages and ROLE replies, as redisReader makes them from the wire. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "lib/err.h"
#include "lib/raddr.h"
#include "queue/sentinel.h"

/* The reply redisReader makes of `wire` (RESP), as a connection would hand it over. */
static redisReply *reply_of(const char *wire)
{
    redisReader *r = redisReaderCreate();
    void *reply = NULL;

    assert_int_equal(redisReaderFeed(r, wire, strlen(wire)), REDIS_OK);
    assert_int_equal(redisReaderGetReply(r, &reply), REDIS_OK);
    assert_non_null(reply);
    redisReaderFree(r);
    return reply;
}

static void test_spec_takes_host_and_port(void **state)
{
    static const struct {
        const char *spec, *host;
        int port;
    } cases[] = {
        {"127.0.0.1:26380", "127.0.0.1", 26380},
        {"sentinel-1.internal", "sentinel-1.internal", RADDR_SENTINEL_PORT},
        {"[::1]:5000", "::1", 5000},
        {"[::1]", "::1", RADDR_SENTINEL_PORT},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct raddr a = {0};
        struct err err = {0};
        assert_int_equal(raddr_sentinel_spec_parse(cases[i].spec, &a, &err), 0);
        assert_string_equal(a.host, cases[i].host);
        assert_int_equal(a.port, cases[i].port);
        raddr_clear(&a);
    }
}

static void test_spec_refuses_urls_and_bad_ports(void **state)
{
    static const char *const bad[] = {"",         "h:0",        "h:70000",    "redis://h:1",
                                      "u@h:26379", "h:26379/0", "h:port",     "[::1:5000",
                                      "h: 1",     "h:1?x=1"};

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct raddr a = {0};
        struct err err = {0};
        assert_int_equal(raddr_sentinel_spec_parse(bad[i], &a, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "must be host:port"));
    }
}

static void test_master_reply_gives_the_address(void **state)
{
    redisReply *r = reply_of("*2\r\n$9\r\n127.0.0.1\r\n$4\r\n6380\r\n");
    struct err err = {0};
    char *host = NULL;
    int port = 0;

    assert_int_equal(sentinel_master_reply(r, &host, &port, &err), 0);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 6380);
    free(host);
    freeReplyObject(r);
}

static void test_master_reply_nil_means_unknown_master(void **state)
{
    redisReply *r = reply_of("*-1\r\n");
    struct err err = {0};
    char *host = NULL;
    int port = 0;

    assert_int_equal(sentinel_master_reply(r, &host, &port, &err), -ENOENT);
    assert_null(host);
    freeReplyObject(r);
}

static void test_master_reply_refuses_what_is_not_an_address(void **state)
{
    static const struct {
        const char *wire, *msg;
    } bad[] = {
        {"-IDONTKNOW No such master\r\n", "error \"IDONTKNOW No such master\""},
        {"*1\r\n$9\r\n127.0.0.1\r\n", "not an address and a port"},
        {"*2\r\n$0\r\n\r\n$4\r\n6380\r\n", "address is not a host"},
        {"*2\r\n$5\r\na b c\r\n$4\r\n6380\r\n", "address is not a host"},
        {"*2\r\n$9\r\n127.0.0.1\r\n$1\r\n0\r\n", "port is not 1..65535"},
        {"*2\r\n$9\r\n127.0.0.1\r\n$5\r\n65536\r\n", "port is not 1..65535"},
        {"*2\r\n$9\r\n127.0.0.1\r\n:6380\r\n", "port is not 1..65535"},
        {"+OK\r\n", "not an address and a port"},
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        redisReply *r = reply_of(bad[i].wire);
        struct err err = {0};
        char *host = NULL;
        int port = 0;
        assert_int_equal(sentinel_master_reply(r, &host, &port, &err), -EPROTO);
        assert_null(host);
        assert_non_null(strstr(err.msg, bad[i].msg));
        freeReplyObject(r);
    }
    {
        struct err err = {0};
        char *host = NULL;
        int port = 0;
        assert_int_equal(sentinel_master_reply(NULL, &host, &port, &err), -EPROTO);
    }
}

static void test_switch_master_names_the_new_master(void **state)
{
    const char *msg = "mymaster 127.0.0.1 6380 127.0.0.1 6381";
    struct err err = {0};
    char *host = NULL;
    int port = 0;

    assert_int_equal(sentinel_switch_parse(msg, strlen(msg), "mymaster", &host, &port, &err), 0);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 6381);
    free(host);
    assert_int_equal(sentinel_switch_parse(msg, strlen(msg), "other", &host, &port, &err), -ENOENT);
    assert_int_equal(sentinel_switch_parse(msg, strlen(msg), "mymaste", &host, &port, &err),
                     -ENOENT);
}

static void test_switch_master_refuses_malformed_messages(void **state)
{
    static const char *const bad[] = {"",
                                      "mymaster 127.0.0.1 6380 127.0.0.1",
                                      "mymaster 127.0.0.1 6380 127.0.0.1 6381 extra",
                                      "mymaster 127.0.0.1 x 127.0.0.1 6381",
                                      "mymaster 127.0.0.1 6380 127.0.0.1 0"};

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct err err = {0};
        char *host = NULL;
        int port = 0;
        assert_int_equal(
            sentinel_switch_parse(bad[i], strlen(bad[i]), "mymaster", &host, &port, &err),
            -EPROTO);
        assert_null(host);
    }
}

/* The payload comes as a length, not a C string: nothing past it is read (ASan). */
static void test_switch_master_reads_only_its_bytes(void **state)
{
    static const char text[] = "mymaster 10.0.0.1 6380 10.0.0.2 6381  ";
    char *payload = malloc(sizeof(text) - 1), *host = NULL;
    struct err err = {0};
    int port = 0;

    assert_non_null(payload);
    memcpy(payload, text, sizeof(text) - 1); /* no NUL */
    assert_int_equal(
        sentinel_switch_parse(payload, sizeof(text) - 1, "mymaster", &host, &port, &err), 0);
    assert_string_equal(host, "10.0.0.2");
    assert_int_equal(port, 6381);
    free(host);
    free(payload);
}

static void test_role_tells_master_from_replica(void **state)
{
    redisReply *m = reply_of("*3\r\n$6\r\nmaster\r\n:100\r\n*0\r\n");
    redisReply *s = reply_of("*5\r\n$5\r\nslave\r\n$9\r\n127.0.0.1\r\n:6380\r\n$9\r\nconnected\r\n"
                             ":100\r\n");
    redisReply *e = reply_of("-ERR unknown command\r\n");

    assert_true(sentinel_role_is_master(m));
    assert_false(sentinel_role_is_master(s));
    assert_false(sentinel_role_is_master(e));
    assert_false(sentinel_role_is_master(NULL));
    freeReplyObject(m);
    freeReplyObject(s);
    freeReplyObject(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_takes_host_and_port),
        cmocka_unit_test(test_spec_refuses_urls_and_bad_ports),
        cmocka_unit_test(test_master_reply_gives_the_address),
        cmocka_unit_test(test_master_reply_nil_means_unknown_master),
        cmocka_unit_test(test_master_reply_refuses_what_is_not_an_address),
        cmocka_unit_test(test_switch_master_names_the_new_master),
        cmocka_unit_test(test_switch_master_refuses_malformed_messages),
        cmocka_unit_test(test_switch_master_reads_only_its_bytes),
        cmocka_unit_test(test_role_tells_master_from_replica),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
