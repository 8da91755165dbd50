/* sdnotify_test.c - lib/sdnotify.c: NOTIFY_SOCKET's addresses, WATCHDOG_USEC/WATCHDOG_PID,
 * and a message received whole on a socket bound where NOTIFY_SOCKET points. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/sdnotify.h"

static void test_addr_of_a_path_counts_its_terminating_nul(void **state)
{
    struct sockaddr_un a;
    socklen_t len = 0;

    assert_int_equal(sdnotify_addr("/run/systemd/notify", &a, &len), 0);
    assert_int_equal(a.sun_family, AF_UNIX);
    assert_string_equal(a.sun_path, "/run/systemd/notify");
    assert_int_equal(len,
                     offsetof(struct sockaddr_un, sun_path) + strlen("/run/systemd/notify") + 1);
}

static void test_addr_of_an_abstract_name_starts_with_nul_and_has_none_after(void **state)
{
    struct sockaddr_un a;
    socklen_t len = 0;

    assert_int_equal(sdnotify_addr("@sd-notify", &a, &len), 0);
    assert_int_equal(a.sun_path[0], '\0');
    assert_memory_equal(a.sun_path + 1, "sd-notify", 9);
    assert_int_equal(len, offsetof(struct sockaddr_un, sun_path) + 10);
}

static void test_addr_rejects_what_is_neither(void **state)
{
    static const char *const bad[] = {"", "@", "/", "run/notify", "vsock:2:1234"};
    struct sockaddr_un a;
    char path[sizeof(a.sun_path) + 1];
    socklen_t len = 0;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(sdnotify_addr(bad[i], &a, &len), -EINVAL);
    assert_int_equal(sdnotify_addr(NULL, &a, &len), -EINVAL);
    memset(path, 'x', sizeof(path));
    path[0] = '/';
    path[sizeof(a.sun_path)] = '\0'; /* as long as sun_path: no room for the NUL */
    assert_int_equal(sdnotify_addr(path, &a, &len), -EINVAL);
    path[sizeof(a.sun_path) - 1] = '\0'; /* one shorter: fits */
    assert_int_equal(sdnotify_addr(path, &a, &len), 0);
}

static void test_watchdog_is_asked_for_this_pid_or_any(void **state)
{
    uint64_t usec = 0;

    assert_int_equal(sdnotify_watchdog("30000000", "42", 42, &usec), 1);
    assert_int_equal(usec, 30000000);
    usec = 0;
    assert_int_equal(sdnotify_watchdog("5000", NULL, 42, &usec), 1);
    assert_int_equal(usec, 5000);
}

static void test_watchdog_is_off_without_usec_for_zero_or_for_another_pid(void **state)
{
    uint64_t usec = 7;

    assert_int_equal(sdnotify_watchdog(NULL, "42", 42, &usec), 0);
    assert_int_equal(sdnotify_watchdog("0", NULL, 42, &usec), 0);
    assert_int_equal(sdnotify_watchdog("30000000", "43", 42, &usec), 0);
    assert_int_equal(usec, 7);
}

static void test_watchdog_rejects_values_that_are_not_numbers(void **state)
{
    uint64_t usec = 7;

    assert_int_equal(sdnotify_watchdog("30s", NULL, 42, &usec), -EINVAL);
    assert_int_equal(sdnotify_watchdog("-1", NULL, 42, &usec), -EINVAL);
    assert_int_equal(sdnotify_watchdog("1000", "self", 42, &usec), -EINVAL);
    assert_int_equal(usec, 7);
}

static void test_send_without_notify_socket_does_nothing(void **state)
{
    assert_int_equal(unsetenv("NOTIFY_SOCKET"), 0);
    assert_int_equal(sdnotify_send("READY=1"), 0);
}

static void test_send_delivers_one_datagram_to_the_socket_named(void **state)
{
    char dir[] = "/tmp/sdnotify_test.XXXXXX", path[64], got[128];
    struct sockaddr_un a;
    socklen_t len;
    ssize_t n;
    int fd;

    assert_non_null(mkdtemp(dir));
    (void)snprintf(path, sizeof(path), "%s/notify", dir);
    assert_int_equal(sdnotify_addr(path, &a, &len), 0);
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, len), 0);
    assert_int_equal(setenv("NOTIFY_SOCKET", path, 1), 0);

    assert_int_equal(sdnotify_sendf("READY=1\nSTATUS=%s", "running"), 1);
    n = recv(fd, got, sizeof(got) - 1, MSG_DONTWAIT);
    assert_int_equal(n, strlen("READY=1\nSTATUS=running"));
    got[n] = '\0';
    assert_string_equal(got, "READY=1\nSTATUS=running");

    assert_int_equal(setenv("NOTIFY_SOCKET", "relative/notify", 1), 0);
    assert_int_equal(sdnotify_send("READY=1"), -EINVAL);
    assert_int_equal(unsetenv("NOTIFY_SOCKET"), 0);
    (void)close(fd);
    (void)unlink(path);
    (void)rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_addr_of_a_path_counts_its_terminating_nul),
        cmocka_unit_test(test_addr_of_an_abstract_name_starts_with_nul_and_has_none_after),
        cmocka_unit_test(test_addr_rejects_what_is_neither),
        cmocka_unit_test(test_watchdog_is_asked_for_this_pid_or_any),
        cmocka_unit_test(test_watchdog_is_off_without_usec_for_zero_or_for_another_pid),
        cmocka_unit_test(test_watchdog_rejects_values_that_are_not_numbers),
        cmocka_unit_test(test_send_without_notify_socket_does_nothing),
        cmocka_unit_test(test_send_delivers_one_datagram_to_the_socket_named),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
