/* httpd_host_test.c - the Host check: loopback, the listen address, allowed names, refusals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "lib/httpd_host.h"

#define LOOPBACK "127.0.0.1:7411"

static void test_allowed_takes_loopback_names_and_addresses(void **state)
{
    static const char *const ok[] = {
        "localhost",       "localhost:7411", "LocalHost",  "localhost.",
        "localhost.:7411", "app.localhost",  "127.0.0.1",  "127.0.0.1:7411",
        "127.1.2.3:80",    "[::1]",          "[::1]:7411", "[::ffff:127.0.0.1]:1",
    };

    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        assert_true(httpd_host_allowed(ok[i], LOOPBACK, NULL));
        assert_true(httpd_host_allowed(ok[i], "unix:/run/nexusd/http.sock", NULL));
    }
    /* HTTP/1.0 may send no Host at all */
    assert_true(httpd_host_allowed(NULL, LOOPBACK, NULL));
}

static void test_allowed_refuses_other_names_as_dns_rebinding(void **state)
{
    static const char *const refused[] = {
        "attacker.example",
        "attacker.example:7411",
        "localhost.attacker.example",
        "notlocalhost",
        "127.0.0.1.nip.io",
        "10.0.0.5:7411",
        "[::2]",
        "[fe80::1]:7411",
        "0.0.0.0",
    };

    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
        assert_false(httpd_host_allowed(refused[i], LOOPBACK, NULL));
}

static void test_allowed_refuses_malformed_hosts(void **state)
{
    static const char *const bad[] = {
        "",
        ":7411",
        "localhost:",
        "localhost:x",
        "localhost:70000",
        "local host",
        "localhost:80:80",
        "::1",
        "[::1",
        "[::1]x",
        "[nope]",
        "a/b",
        "localhost\t",
        "user@localhost",
        ".",
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_false(httpd_host_allowed(bad[i], LOOPBACK, (const char *const[]){"*", NULL}));
}

static void test_allowed_takes_the_listen_address(void **state)
{
    assert_true(httpd_host_allowed("10.0.0.5:7411", "10.0.0.5:7411", NULL));
    assert_true(httpd_host_allowed("10.0.0.5", "10.0.0.5:7411", NULL));
    assert_false(httpd_host_allowed("10.0.0.6", "10.0.0.5:7411", NULL));
    assert_true(httpd_host_allowed("[fd00::5]:7411", "[fd00::5]:7411", NULL));
    assert_true(httpd_host_allowed("[FD00:0::5]", "[fd00::5]:7411", NULL));
    /* a wildcard listener answers any address literal, never a name */
    assert_true(httpd_host_allowed("10.0.0.6:7411", "0.0.0.0:7411", NULL));
    assert_true(httpd_host_allowed("[fd00::6]", "[::]:7411", NULL));
    assert_false(httpd_host_allowed("nexus.example", "0.0.0.0:7411", NULL));
    assert_false(httpd_host_allowed("nexus.example", "[::]:7411", NULL));
}

static void test_allowed_takes_the_configured_names(void **state)
{
    const char *const allowed[] = {"nexus.example", ".ops.example", "10.1.1.1", "[fd00::7]", NULL};

    assert_true(httpd_host_allowed("nexus.example", LOOPBACK, allowed));
    assert_true(httpd_host_allowed("NEXUS.example.:8080", LOOPBACK, allowed));
    assert_false(httpd_host_allowed("www.nexus.example", LOOPBACK, allowed));
    assert_true(httpd_host_allowed("ops.example", LOOPBACK, allowed));
    assert_true(httpd_host_allowed("a.b.ops.example:1", LOOPBACK, allowed));
    assert_false(httpd_host_allowed("xops.example", LOOPBACK, allowed));
    assert_true(httpd_host_allowed("10.1.1.1:7411", LOOPBACK, allowed));
    assert_false(httpd_host_allowed("10.1.1.2", LOOPBACK, allowed));
    assert_true(httpd_host_allowed("[fd00:0:0::7]:80", LOOPBACK, allowed));
    assert_true(httpd_host_allowed("anything.example", LOOPBACK, (const char *const[]){"*", NULL}));
}

static void test_listen_is_local_for_loopback_and_unix_only(void **state)
{
    assert_true(httpd_host_listen_is_local("127.0.0.1:7411"));
    assert_true(httpd_host_listen_is_local("127.0.0.2:0"));
    assert_true(httpd_host_listen_is_local("[::1]:7411"));
    assert_true(httpd_host_listen_is_local("unix:/run/nexusd/http.sock"));
    assert_false(httpd_host_listen_is_local("0.0.0.0:7411"));
    assert_false(httpd_host_listen_is_local("[::]:7411"));
    assert_false(httpd_host_listen_is_local("10.0.0.5:7411"));
    assert_false(httpd_host_listen_is_local("nonsense"));
}

static void test_entry_valid(void **state)
{
    static const char *const good[] = {"*",        "nexus.example", ".example",
                                       "10.0.0.1", "[fd00::1]",     "NEXUS.Example."};
    static const char *const bad[] = {
        "",        ".",           "..example",      "nexus.example:80",
        "a b",     "*.example",   "http://example", ".10.0.0.1",
        "fd00::1", "[fd00::1]:80"};

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        assert_true(httpd_host_entry_valid(good[i]));
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_false(httpd_host_entry_valid(bad[i]));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_allowed_takes_loopback_names_and_addresses),
        cmocka_unit_test(test_allowed_refuses_other_names_as_dns_rebinding),
        cmocka_unit_test(test_allowed_refuses_malformed_hosts),
        cmocka_unit_test(test_allowed_takes_the_listen_address),
        cmocka_unit_test(test_allowed_takes_the_configured_names),
        cmocka_unit_test(test_listen_is_local_for_loopback_and_unix_only),
        cmocka_unit_test(test_entry_valid),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
