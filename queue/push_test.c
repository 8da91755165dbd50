/* push_test.c - the words of a push: push.lua with the job's queue, due now or later. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "queue/lua.h"
#include "queue/push.h"
#include "queue/unique.h"

/* queue_push()'s connection: the words it was given, instead of Redis. */
static struct {
    int argc;
    char words[9][128];
} sent;

int rconn_command(struct rconn *rc, rconn_reply_fn *done, void *arg, int argc, const char **argv,
                  const size_t *argvlen)
{
    (void)rc, (void)done, (void)arg;
    sent.argc = argc;
    for (int i = 0; i < argc && i < 9; i++)
        (void)snprintf(sent.words[i], sizeof(sent.words[i]), "%.*s", (int)argvlen[i], argv[i]);
    return 0;
}

static void assert_word(const struct queue_push *p, int i, const char *want)
{
    assert_true(i < p->argc);
    assert_int_equal(p->lens[i], strlen(want));
    assert_memory_equal(p->argv[i], want, p->lens[i]);
}

static void test_push_now_names_the_queue_and_no_time(void **state)
{
    struct queue_push p;

    (void)state;
    queue_push_make(&p, "app:", "mail", QUEUE_PUSH_NOW, "{\"jid\":\"a\"}xx", 11, NULL);
    assert_int_equal(p.argc, 9);
    assert_word(&p, 0, "EVAL");
    assert_ptr_equal(p.argv[1], lua_push);
    assert_word(&p, 2, "3");
    assert_word(&p, 3, "app:queues");
    assert_word(&p, 4, "app:queue:mail");
    assert_word(&p, 5, "app:schedule");
    assert_word(&p, 6, "mail");
    assert_word(&p, 7, "{\"jid\":\"a\"}"); /* `len` bytes, not up to the NUL */
    assert_word(&p, 8, "");
    queue_push_clear(&p);
    assert_int_equal(p.argc, 0);
}

static void test_push_later_gives_its_due_time(void **state)
{
    struct queue_push p;

    (void)state;
    queue_push_make(&p, "", "mail", 1700000000.25, "{}", 2, NULL);
    assert_word(&p, 5, "schedule");
    assert_word(&p, 8, "1700000000.250000");
    queue_push_clear(&p);
}

static void test_push_at_zero_is_due_at_once_in_schedule(void **state)
{
    struct queue_push p;

    (void)state;
    queue_push_make(&p, "", "q", 0, "{}", 2, NULL);
    assert_word(&p, 8, "0.000000");
    queue_push_clear(&p);
}

static void test_push_of_a_unique_job_passes_its_lock_jid_and_time_to_live(void **state)
{
    char key[] = "app:unique:ab";
    struct unique_lock lock = {.key = key, .jid = "j1", .ttl_ms = "2000"};
    struct queue_push p;

    (void)state;
    queue_push_make(&p, "app:", "mail", QUEUE_PUSH_NOW, "{}", 2, &lock);
    assert_int_equal(p.argc, 12);
    assert_word(&p, 2, "4");
    assert_word(&p, 6, "app:unique:ab");
    assert_word(&p, 7, "mail");
    assert_word(&p, 9, "");
    assert_word(&p, 10, "j1");
    assert_word(&p, 11, "2000");
    queue_push_clear(&p);
}

static void test_push_with_an_empty_lock_is_a_plain_push(void **state)
{
    struct unique_lock lock = {0};
    struct queue_push p;

    (void)state;
    queue_push_make(&p, "", "mail", QUEUE_PUSH_NOW, "{}", 2, &lock);
    assert_int_equal(p.argc, 9);
    assert_word(&p, 2, "3");
    queue_push_clear(&p);
}

static void test_queue_push_sends_those_words(void **state)
{
    (void)state;
    assert_int_equal(queue_push(NULL, "ns:", "q", 5.5, "{}", 2, NULL, NULL, NULL), 0);
    assert_int_equal(sent.argc, 9);
    assert_string_equal(sent.words[4], "ns:queue:q");
    assert_string_equal(sent.words[8], "5.500000");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_push_now_names_the_queue_and_no_time),
        cmocka_unit_test(test_push_later_gives_its_due_time),
        cmocka_unit_test(test_push_at_zero_is_due_at_once_in_schedule),
        cmocka_unit_test(test_push_of_a_unique_job_passes_its_lock_jid_and_time_to_live),
        cmocka_unit_test(test_push_with_an_empty_lock_is_a_plain_push),
        cmocka_unit_test(test_queue_push_sends_those_words),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
