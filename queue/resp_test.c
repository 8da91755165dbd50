/* resp_test.c - queue/resp.c: known commands byte for byte, and hiredis's own formatter as
 * the oracle over words of every length class (empty, binary, 9/10/99/100 ... bytes). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "queue/resp.h"

static void test_known_commands(void **state)
{
    const char *ping[] = {"PING"};
    const char *set[] = {"SET", "k", ""};
    size_t len;
    char *out;

    out = resp_format(1, ping, NULL, &len);
    assert_int_equal(len, strlen("*1\r\n$4\r\nPING\r\n"));
    assert_memory_equal(out, "*1\r\n$4\r\nPING\r\n", len);
    free(out);
    out = resp_format(3, set, NULL, &len);
    assert_int_equal(len, strlen("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n"));
    assert_memory_equal(out, "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n", len);
    free(out);
}

static void test_binary_words_keep_their_length(void **state)
{
    const char *argv[] = {"SET", "k\r\n", "a\0b"};
    const size_t lens[] = {3, 3, 3};
    const char want[] = "*3\r\n$3\r\nSET\r\n$3\r\nk\r\n\r\n$3\r\na\0b\r\n";
    size_t len;
    char *out = resp_format(3, argv, lens, &len);

    assert_int_equal(len, sizeof(want) - 1);
    assert_memory_equal(out, want, len);
    free(out);
}

/* Words of lengths around each power of ten, and argument counts across one, two and three
 * digits: the same bytes as redisFormatCommandArgv. */
static void test_same_bytes_as_hiredis(void **state)
{
    static const size_t sizes[] = {0, 1, 9, 10, 11, 99, 100, 101, 999, 1000, 1001, 65536};
    static const int counts[] = {1, 2, 9, 10, 11, 99, 100, 101};
    size_t biggest = sizes[sizeof(sizes) / sizeof(sizes[0]) - 1];
    char *text = malloc(biggest);

    assert_non_null(text);
    for (size_t i = 0; i < biggest; i++)
        text[i] = (char)(i * 7 + 3); /* every byte value, NUL and CR LF among them */
    for (size_t c = 0; c < sizeof(counts) / sizeof(counts[0]); c++) {
        int argc = counts[c];
        const char **argv = calloc((size_t)argc, sizeof(*argv));
        size_t *lens = calloc((size_t)argc, sizeof(*lens)), len;
        char *theirs = NULL, *ours;
        int n;

        assert_non_null(argv);
        assert_non_null(lens);
        for (int i = 0; i < argc; i++) {
            argv[i] = text;
            lens[i] = sizes[((size_t)i + c) % (sizeof(sizes) / sizeof(sizes[0]))];
        }
        n = redisFormatCommandArgv(&theirs, argc, argv, lens);
        assert_true(n > 0);
        ours = resp_format(argc, argv, lens, &len);
        assert_int_equal(len, (size_t)n);
        assert_memory_equal(ours, theirs, len);
        free(ours);
        redisFreeCommand(theirs);
        free(lens);
        free(argv);
    }
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_commands),
        cmocka_unit_test(test_binary_words_keep_their_length),
        cmocka_unit_test(test_same_bytes_as_hiredis),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
