/* cfg_doc_test.c - nexusd.conf(5) from the table: each setting's kind from its row, its words
 * from the reference file's comments, text safe for roff. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "conf/cfg_doc.h"

/* The page for `reference`, as a string the caller frees. */
static char *page_of(const char *reference)
{
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);

    assert_non_null(out);
    assert_int_equal(cfg_doc_write(out, reference, "9.9.9", "December 3, 2026"), 0);
    assert_int_equal(fclose(out), 0);
    return text;
}

/* The lines of `page` from the entry ".It Cm NAME" up to the next entry or list end. */
static char *entry_of(const char *page, const char *name)
{
    char head[128];
    const char *start, *end;

    (void)snprintf(head, sizeof(head), ".It Cm %s\n", name);
    start = strstr(page, head);
    if (!start)
        fail_msg("no entry %s", name);
    end = start + strlen(head);
    while (*end && strncmp(end, ".It ", 4) != 0 && strncmp(end, ".El\n", 4) != 0)
        end = strchr(end, '\n') + 1;
    return strndup(start, (size_t)(end - start));
}

static void test_every_group_of_the_table_has_a_section(void **state)
{
    char *page = page_of(NULL);
    static const char *const groups[] = {"log",  "redis",     "database", "worker",  "dead",
                                         "http", "analytics", "smtp",     "classes", "schedules"};

    for (size_t i = 0; i < sizeof(groups) / sizeof(groups[0]); i++) {
        char head[64];

        (void)snprintf(head, sizeof(head), "\n.Ss %s\n", groups[i]);
        if (!strstr(page, head))
            fail_msg("no section %s", groups[i]);
    }
    assert_non_null(strstr(page, ".Dt NEXUSD.CONF 5\n.Os nexusd 9.9.9\n"));
    free(page);
}

static void test_a_setting_shows_its_range_default_and_restart_rule(void **state)
{
    char *page = page_of(NULL);
    char *e = entry_of(page, "redis.read_timeout");

    assert_string_equal(e, ".It Cm redis.read_timeout\n"
                           "A duration, 100ms..1h;\n"
                           "default 30s.\n"
                           "Read at start-up only: a reload that changes it is refused.\n");
    free(e);
    e = entry_of(page, "worker.concurrency");
    assert_string_equal(e, ".It Cm worker.concurrency\nAn integer, 1..100000;\ndefault 50.\n");
    free(e);
    e = entry_of(page, "log.level");
    assert_string_equal(e, ".It Cm log.level\nOne of error, warn, info or debug;\n"
                           "default \\(dqinfo\\(dq.\n");
    free(e);
    free(page);
}

static void test_a_setting_names_the_variable_that_wins_over_it(void **state)
{
    char *page = page_of(NULL);
    char *e = entry_of(page, "database.url");

    assert_non_null(strstr(e, "The environment variable\n.Ev DATABASE_URL ,\nwhen set and not "
                              "empty, wins.\n"));
    free(e);
    free(page);
}

static void test_the_comment_above_a_setting_describes_it(void **state)
{
    static const char reference[] = "# the file's own header\n"
                                    "\n"
                                    "redis = {\n"
                                    "  # Prefix of every key. Braces keep one slot.\n"
                                    "  namespace = \"\";\n"
                                    "  # A client certificate and its key, both or neither:\n"
                                    "  # tls_cert_file = \"/etc/nexusd/c.crt\";\n"
                                    "  # tls_key_file = \"/etc/nexusd/c.key\";\n"
                                    "  # wait_replicas = N (0..100) is not a setting line\n"
                                    "  # but words.\n"
                                    "  wait_replicas = 0;\n"
                                    "};\n";
    char *page = page_of(reference);
    char *e = entry_of(page, "redis.namespace");

    /* a sentence's end starts a new line (mdoc) */
    assert_non_null(strstr(e, ".Pp\nPrefix of every key.\nBraces keep one slot.\n"));
    free(e);
    e = entry_of(page, "redis.tls_key_file"); /* right after another: the same words */
    assert_non_null(strstr(e, ".Pp\nA client certificate and its key, both or neither:\n"));
    free(e);
    e = entry_of(page, "redis.wait_replicas");
    assert_non_null(
        strstr(e, ".Pp\nwait_replicas = N (0..100) is not a setting line\nbut words.\n"));
    free(e);
    e = entry_of(page, "redis.url"); /* no comment: no words */
    assert_null(strstr(e, ".Pp"));
    free(e);
    free(page);
}

static void test_rows_above_a_list_describe_its_keys(void **state)
{
    static const char reference[] = "# Settings per job class.\n"
                                    "#   timeout      time limit of one run\n"
                                    "#                (continued here)\n"
                                    "#   sql          makes it a `sql` class\n"
                                    "# For example:\n"
                                    "#   classes = (\n"
                                    "#     { name = \"x\"; timeout = \"2m\"; }\n"
                                    "#   );\n"
                                    "classes = (\n"
                                    "  { name = \"orders.mark_paid\"; sql = \"SELECT 1\"; }\n"
                                    ");\n";
    char *page = page_of(reference);
    char *e = entry_of(page, "classes.timeout");

    assert_non_null(strstr(e, ".Pp\ntime limit of one run\n(continued here)\n"));
    free(e);
    e = entry_of(page, "classes.sql");
    assert_non_null(strstr(e, ".Pp\nmakes it a `sql` class\n"));
    free(e);
    assert_non_null(strstr(page, ".Ss classes\nA list of at most 10000 entries"));
    assert_non_null(strstr(page, "Settings per job class.\n.Bl -tag -width Ds\n"));
    free(page);
}

static void test_words_cannot_become_roff_requests(void **state)
{
    static const char reference[] = "log = {\n"
                                    "  # .so /etc/passwd and 'a quote, a \\fBbackslash\n"
                                    "  level = \"info\";\n"
                                    "};\n";
    char *page = page_of(reference);

    assert_non_null(strstr(page, ".Pp\n\\&.so /etc/passwd and 'a quote, a \\efBbackslash\n"));
    free(page);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_group_of_the_table_has_a_section),
        cmocka_unit_test(test_a_setting_shows_its_range_default_and_restart_rule),
        cmocka_unit_test(test_a_setting_names_the_variable_that_wins_over_it),
        cmocka_unit_test(test_the_comment_above_a_setting_describes_it),
        cmocka_unit_test(test_rows_above_a_list_describe_its_keys),
        cmocka_unit_test(test_words_cannot_become_roff_requests),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
