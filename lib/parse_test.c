/* parse_test.c - strict number and duration parsing. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "lib/parse.h"

static void test_u32_accepts_whole_numbers_in_range(void **state)
{
    uint32_t v = 0;

    assert_int_equal(parse_u32("0", 0, 10, &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(parse_u32("65535", 1, 65535, &v), 0);
    assert_int_equal(v, 65535);
}

static void test_u32_rejects_junk_signs_and_space(void **state)
{
    static const char *const bad[] = {"", " 1", "1 ", "1x", "-1", "+1", "0x10", "1.5", NULL};
    uint32_t v = 7;

    for (size_t i = 0; bad[i]; i++)
        assert_int_equal(parse_u32(bad[i], 0, 100, &v), -EINVAL);
    assert_int_equal(parse_u32(NULL, 0, 100, &v), -EINVAL);
    assert_int_equal(v, 7);
}

static void test_u32_rejects_out_of_range(void **state)
{
    uint32_t v = 7;

    assert_int_equal(parse_u32("0", 1, 10, &v), -ERANGE);
    assert_int_equal(parse_u32("11", 1, 10, &v), -ERANGE);
    assert_int_equal(parse_u32("99999999999999999999", 0, UINT32_MAX, &v), -ERANGE);
    assert_int_equal(v, 7);
}

static void test_i64_takes_negative_numbers(void **state)
{
    int64_t v = 0;

    assert_int_equal(parse_i64("-42", -100, 100, &v), 0);
    assert_int_equal(v, -42);
}

static void test_double_rejects_nan_and_junk(void **state)
{
    double v = 1;

    assert_int_equal(parse_double("nan", 0, 10, &v), -EINVAL);
    assert_int_equal(parse_double("1.5s", 0, 10, &v), -EINVAL);
    assert_int_equal(parse_double("11", 0, 10, &v), -ERANGE);
    assert_int_equal(parse_double("2.5", 0, 10, &v), 0);
    assert_true(fabs(v - 2.5) < 1e-12);
}

static void test_duration_understands_units(void **state)
{
    static const struct {
        const char *text;
        double seconds;
    } ok[] = {
        {"250ms", 0.25}, {"30s", 30}, {"5m", 300}, {"2h", 7200}, {"1d", 86400}, {"1.5", 1.5},
        {"0", 0},
    };
    double v;

    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        assert_int_equal(parse_duration(ok[i].text, 0, 1e9, &v), 0);
        assert_true(fabs(v - ok[i].seconds) < 1e-9);
    }
}

static void test_duration_rejects_unknown_units_and_range(void **state)
{
    static const char *const bad[] = {"", "s", "5 s", "5sec", "5mm", "-5s", "1e3", "5S", NULL};
    double v = 3;

    for (size_t i = 0; bad[i]; i++)
        assert_int_equal(parse_duration(bad[i], 0, 1e9, &v), -EINVAL);
    assert_int_equal(parse_duration("2d", 0, 86400, &v), -ERANGE);
    assert_int_equal(parse_duration("10ms", 0.1, 10, &v), -ERANGE);
    assert_true(fabs(v - 3) < 1e-12);
}

static void test_listen_takes_ipv4_ipv6_and_unix(void **state)
{
    struct sockaddr_storage ss;
    unsigned len;

    assert_int_equal(parse_listen("127.0.0.1:7411", &ss, &len), 0);
    assert_int_equal(ss.ss_family, AF_INET);
    assert_int_equal(len, sizeof(struct sockaddr_in));
    assert_int_equal(ntohs(((struct sockaddr_in *)&ss)->sin_port), 7411);
    assert_int_equal(parse_listen("[::1]:0", &ss, &len), 0);
    assert_int_equal(ss.ss_family, AF_INET6);
    assert_int_equal(parse_listen("unix:/run/nexusd/http.sock", &ss, &len), 0);
    assert_int_equal(ss.ss_family, AF_UNIX);
    assert_string_equal(((struct sockaddr_un *)&ss)->sun_path, "/run/nexusd/http.sock");
}

static void test_listen_rejects_names_and_bad_ports(void **state)
{
    static const char *const bad[] = {"", "7411", "localhost:7411", "127.0.0.1", "127.0.0.1:",
                                      "127.0.0.1:65536", "127.0.0.1:-1", "::1:7411", "[::1]",
                                      "[127.0.0.1]:80", "unix:", "unix:rel/path", ":80", NULL};
    struct sockaddr_storage ss;
    unsigned len = 7;

    for (size_t i = 0; bad[i]; i++)
        assert_int_equal(parse_listen(bad[i], &ss, &len), -EINVAL);
    assert_int_equal(len, 7);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_u32_accepts_whole_numbers_in_range),
        cmocka_unit_test(test_u32_rejects_junk_signs_and_space),
        cmocka_unit_test(test_u32_rejects_out_of_range),
        cmocka_unit_test(test_i64_takes_negative_numbers),
        cmocka_unit_test(test_double_rejects_nan_and_junk),
        cmocka_unit_test(test_duration_understands_units),
        cmocka_unit_test(test_duration_rejects_unknown_units_and_range),
        cmocka_unit_test(test_listen_takes_ipv4_ipv6_and_unix),
        cmocka_unit_test(test_listen_rejects_names_and_bad_ports),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
