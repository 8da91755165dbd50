/* xalloc_test.c - the allocators return what they promise, and abort with a message when
 * memory cannot be had (checked in a child process). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/wait.h>

#include <cmocka.h>
#include <jansson.h>

#include "lib/xalloc.h"

/* Under ASan, a failed allocation returns NULL as in production instead of ASan's report. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "allocator_may_return_null=1";
}

static void test_xasprintf_formats(void **state)
{
    char *s = xasprintf("%s:%d", "queue", 42);

    assert_string_equal(s, "queue:42");
    free(s);
}

static void test_xmemdup_ends_with_nul(void **state)
{
    char *s = xmemdup("abc\0def", 7);

    assert_memory_equal(s, "abc\0def", 8);
    free(s);
    s = xstrndup("abcdef", 3);
    assert_string_equal(s, "abc");
    free(s);
    s = xstrndup("ab", 10);
    assert_string_equal(s, "ab");
    free(s);
}

static void test_zero_sizes_give_memory(void **state)
{
    void *a = xmalloc(0), *b = xcalloc(0, 8), *c = xreallocarray(NULL, 0, 0);

    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(c);
    free(a);
    free(b);
    free(c);
}

static void test_xcalloc_zeroes(void **state)
{
    unsigned char *p = xcalloc(64, 4);

    for (size_t i = 0; i < 256; i++)
        assert_int_equal(p[i], 0);
    p = xreallocarray(p, 128, 4);
    p[511] = 1;
    free(p);
}

/* Runs `fn` in a child with stderr on a pipe; returns what it wrote, asserts it aborted. */
static char *child_aborts(void (*fn)(void))
{
    static char out[4096];
    size_t len = 0;
    int fds[2], status;
    ssize_t n;
    pid_t pid;

    assert_int_equal(pipe(fds), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        (void)dup2(fds[1], STDERR_FILENO);
        fn();
        _exit(0);
    }
    close(fds[1]);
    /* to the end: a sanitizer may write its own warning first */
    while (len < sizeof(out) - 1 && (n = read(fds[0], out + len, sizeof(out) - 1 - len)) > 0)
        len += (size_t)n;
    close(fds[0]);
    out[len] = '\0';
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGABRT);
    return out;
}

static void overflow_reallocarray(void)
{
    (void)xreallocarray(NULL, SIZE_MAX / 2, 4);
}

static void overflow_calloc(void)
{
    (void)xcalloc(SIZE_MAX / 2, 4);
}

static void huge_malloc(void)
{
    (void)xmalloc(SIZE_MAX - 16);
}

static void test_out_of_memory_aborts_with_a_message(void **state)
{
    assert_non_null(strstr(child_aborts(overflow_reallocarray), "fatal: out of memory"));
    assert_non_null(strstr(child_aborts(overflow_calloc), "out of memory allocating"));
    assert_non_null(strstr(child_aborts(huge_malloc), "fatal: out of memory"));
}

static void jansson_huge(void)
{
    xalloc_install();
    /* jansson asks its allocator for len + 1 bytes: SIZE_MAX - 1 cannot be had */
    (void)json_stringn_nocheck("x", SIZE_MAX - 1);
}

static void test_jansson_allocates_with_the_policy(void **state)
{
    assert_non_null(strstr(child_aborts(jansson_huge), "fatal: out of memory"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_xasprintf_formats),
        cmocka_unit_test(test_xmemdup_ends_with_nul),
        cmocka_unit_test(test_zero_sizes_give_memory),
        cmocka_unit_test(test_xcalloc_zeroes),
        cmocka_unit_test(test_out_of_memory_aborts_with_a_message),
        cmocka_unit_test(test_jansson_allocates_with_the_policy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
