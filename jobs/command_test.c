/* command_test.c - the pure parts of command classes: the output tail, npm audit counts, and
 * the argv and environment a step gets. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "conf/cfg.h"
#include "jobs/command_args.h"
#include "jobs/command_output.h"
#include "jobs/npm_audit.h"
#include "jobs/tail.h"
#include "lib/err.h"

/* ---- tail ---- */

static void assert_tail(const struct tail *t, const char *want, unsigned long long dropped)
{
    size_t len;
    char *text = tail_text(t, &len);

    assert_non_null(text);
    assert_string_equal(text, want);
    assert_int_equal(len, strlen(want));
    assert_int_equal(tail_dropped(t), dropped);
    free(text);
}

static void test_tail_keeps_everything_below_its_limit(void **state)
{
    struct tail *t = tail_new(8);

    tail_write(t, "abc", 3);
    tail_write(t, "de", 2);
    assert_tail(t, "abcde", 0);
    assert_int_equal(tail_len(t), 5);
    tail_free(t);
}

static void test_tail_keeps_the_newest_bytes_across_the_wrap(void **state)
{
    struct tail *t = tail_new(8);

    tail_write(t, "abcdef", 6);
    tail_write(t, "ghij", 4); /* wraps: ab dropped */
    assert_tail(t, "cdefghij", 2);
    tail_write(t, "k", 1);
    assert_tail(t, "defghijk", 3);
    tail_write(t, "0123456789", 10); /* larger than the limit alone */
    assert_tail(t, "23456789", 13);
    tail_clear(t);
    assert_tail(t, "", 0);
    tail_free(t);
}

static void test_tail_counts_megabytes_in_small_writes(void **state)
{
    struct tail *t = tail_new(1024);
    char line[100];
    unsigned long long total = 0;

    for (int i = 0; i < 100000; i++) {
        int n = snprintf(line, sizeof(line), "line %d\n", i);
        tail_write(t, line, (size_t)n);
        total += (unsigned long long)n;
    }
    assert_int_equal(tail_len(t), 1024);
    assert_int_equal(tail_dropped(t), total - 1024);
    char *text = tail_text(t, NULL);
    assert_non_null(strstr(text, "line 99999\n"));
    assert_int_equal(text[strlen(text) - 1], '\n');
    free(text);
    tail_free(t);
}

static void test_tail_text_replaces_nul_and_invalid_utf8(void **state)
{
    struct tail *t = tail_new(4);

    tail_write(t, "x\xc3\xa9y", 4); /* é */
    assert_tail(t, "x\xc3\xa9y", 0);
    tail_write(t, "z", 1); /* drops 'x': still whole */
    assert_tail(t, "\xc3\xa9yz", 1);
    tail_write(t, "w", 1); /* cuts é in half */
    assert_tail(t, "\xef\xbf\xbdyzw", 2);
    tail_write(t, "a\0b\xff", 4);
    assert_tail(t,
                "a\xef\xbf\xbd"
                "b\xef\xbf\xbd",
                6);
    tail_free(t);
}

static void test_tail_utf8_cleans_any_bytes(void **state)
{
    size_t len;
    char *s = tail_utf8("ok \xc3\xa9 \xe2\x82", 8, &len); /* a character cut short */

    assert_string_equal(s, "ok \xc3\xa9 \xef\xbf\xbd\xef\xbf\xbd");
    assert_int_equal(len, 12);
    free(s);
    s = tail_utf8("\xed\xa0\x80\xf4\x90\x80\x80", 7, NULL); /* a surrogate, > U+10FFFF */
    assert_int_equal(strlen(s), 21);
    free(s);
}

static void test_tail_last_lines_quote_the_end(void **state)
{
    const char *text = "one\ntwo\nthree\nfour\n\n";
    size_t len;
    const char *p;

    p = tail_last_lines(text, strlen(text), 2, 100, &len);
    assert_int_equal(len, strlen("three\nfour"));
    assert_memory_equal(p, "three\nfour", len);
    p = tail_last_lines(text, strlen(text), 10, 100, &len);
    assert_memory_equal(p, "one\ntwo\nthree\nfour", len);
    assert_int_equal(len, 18);
    p = tail_last_lines(text, strlen(text), 10, 12, &len); /* bytes bound: whole lines */
    assert_int_equal(len, strlen("three\nfour"));
    p = tail_last_lines("abcdefgh", 8, 3, 4, &len); /* one long line: its last bytes */
    assert_memory_equal(p, "efgh", len);
    p = tail_last_lines("", 0, 3, 4, &len);
    assert_int_equal(len, 0);
}

/* ---- npm audit ---- */

static char *file_read(const char *rel, size_t *ret_len)
{
    const char *dir = getenv("NEXUS_SOURCE_DIR");
    char path[4096];
    FILE *f;
    char *buf;
    long n;

    (void)snprintf(path, sizeof(path), "%s/%s", dir ? dir : ".", rel);
    f = fopen(path, "rb");
    if (!f)
        return NULL;
    (void)fseek(f, 0, SEEK_END);
    n = ftell(f);
    (void)fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)n + 1);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    (void)fclose(f);
    *ret_len = (size_t)n;
    return buf;
}

static void test_npm_audit_reads_a_recorded_npm_10_report(void **state)
{
    struct npm_audit a;
    struct err err = {0};
    json_t *result = NULL;
    size_t len = 0;
    char *text = file_read("tests/data/npm-audit-10.json", &len), *dump;
    char summary[128];

    if (!text) {
        print_message("tests/data/npm-audit-10.json not found (NEXUS_SOURCE_DIR): skipping\n");
        skip();
    }
    assert_int_equal(npm_audit_parse(text, len, &a, &result, &err), 0);
    assert_int_equal(a.count[NPM_AUDIT_MODERATE], 1);
    assert_int_equal(a.count[NPM_AUDIT_HIGH], 2);
    assert_int_equal(a.count[NPM_AUDIT_CRITICAL], 0);
    assert_int_equal(a.total, 3);
    assert_int_equal(npm_audit_worst(&a), NPM_AUDIT_HIGH);
    npm_audit_summary(&a, NPM_AUDIT_HIGH, summary, sizeof(summary));
    assert_string_equal(summary, "2 high");
    npm_audit_summary(&a, 0, summary, sizeof(summary));
    assert_string_equal(summary, "1 moderate, 2 high");
    dump = json_dumps(result, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(dump, "{\"dependencies\":541,\"packages\":{\"braces\":\"high\","
                              "\"micromatch\":\"high\",\"postcss\":\"moderate\"},\"parser\":"
                              "\"npm-audit\",\"vulnerabilities\":{\"critical\":0,\"high\":2,"
                              "\"info\":0,\"low\":0,\"moderate\":1,\"total\":3}}");
    free(dump);
    json_decref(result);
    free(text);
}

static void test_npm_audit_reads_npm_6_and_clean_reports(void **state)
{
    const char *v6 = "{\"actions\": [], \"advisories\": {\"1179\": {\"module_name\": \"minimist\","
                     " \"severity\": \"low\"}, \"1500\": {\"module_name\": \"minimist\", "
                     "\"severity\": \"critical\"}}, \"muted\": [], \"metadata\": "
                     "{\"vulnerabilities\": {\"info\": 0, \"low\": 1, \"moderate\": 0, "
                     "\"high\": 0, \"critical\": 1}, \"dependencies\": 12, "
                     "\"devDependencies\": 0}}";
    const char *clean = "{\"auditReportVersion\": 2, \"vulnerabilities\": {}, \"metadata\": "
                        "{\"vulnerabilities\": {\"info\": 0, \"low\": 0, \"moderate\": 0, "
                        "\"high\": 0, \"critical\": 0, \"total\": 0}}}";
    struct npm_audit a;
    json_t *result = NULL;
    char summary[64];

    assert_int_equal(npm_audit_parse(v6, strlen(v6), &a, &result, NULL), 0);
    assert_int_equal(a.total, 2);
    assert_int_equal(npm_audit_worst(&a), NPM_AUDIT_CRITICAL);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(result, "packages"), "minimist")),
        "critical");
    assert_int_equal(json_integer_value(json_object_get(result, "dependencies")), 12);
    json_decref(result);
    assert_int_equal(npm_audit_parse(clean, strlen(clean), &a, &result, NULL), 0);
    assert_int_equal(npm_audit_worst(&a), 0);
    npm_audit_summary(&a, 1, summary, sizeof(summary));
    assert_string_equal(summary, "none");
    json_decref(result);
}

static void test_npm_audit_rejects_what_is_no_report(void **state)
{
    static const struct {
        const char *text, *want;
    } bad[] = {
        {"", "npm audit output is not JSON: '[' or '{' expected near end of file (line 1)"},
        {"npm ERR! code ENOLOCK", "npm audit output is not JSON: '[' or '{' expected near 'npm' "
                                  "(line 1)"},
        {"[1]", "npm audit output is not a JSON object"},
        {"{\"error\": {\"code\": \"ENOLOCK\", \"summary\": \"This command requires an existing "
         "lockfile.\", \"detail\": \"Try creating one first with: npm i --package-lock-only\"}}",
         "npm audit failed: ENOLOCK: This command requires an existing lockfile."},
        {"{\"metadata\": {}}",
         "npm audit output has no metadata.vulnerabilities: not an audit report"},
        {"{\"metadata\": {\"vulnerabilities\": {\"high\": -1}}}",
         "npm audit output: metadata.vulnerabilities.high must be a count"},
        {"{\"metadata\": {\"vulnerabilities\": {\"high\": \"2\"}}}",
         "npm audit output: metadata.vulnerabilities.high must be a count"},
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct npm_audit a;
        struct err err = {0};
        json_t *result = NULL;

        assert_int_equal(npm_audit_parse(bad[i].text, strlen(bad[i].text), &a, &result, &err),
                         -EINVAL);
        if (strcmp(err.msg, bad[i].want) != 0)
            fail_msg("case %zu: got '%s', want '%s'", i, err.msg, bad[i].want);
        assert_null(result);
    }
}

/* ---- argv and environment ---- */

static const char *fake_getenv(const char *name)
{
    static const char *const vars[][2] = {{"PATH", "/opt/node/bin:/usr/bin"},
                                          {"HOME", "/var/lib/nexusd"},
                                          {"LANG", "C.UTF-8"},
                                          {"DATABASE_URL", "postgresql://secret@db/app"},
                                          {"NPM_TOKEN", "t0ken"}};

    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
        if (strcmp(vars[i][0], name) == 0)
            return vars[i][1];
    return NULL;
}

static char *argv0[] = {"npm", "run", "test:ci", NULL};
static char *argv1[] = {"npm", "run", "test:e2e", NULL};
static char **steps[] = {argv0, argv1, NULL};

static size_t count(char **v)
{
    size_t n = 0;

    while (v[n])
        n++;
    return n;
}

static const char *env_get(char **env, const char *name)
{
    size_t len = strlen(name);

    for (; *env; env++)
        if (strncmp(*env, name, len) == 0 && (*env)[len] == '=')
            return *env + len + 1;
    return NULL;
}

static void test_argv_appends_args_as_items_never_through_a_shell(void **state)
{
    struct cfg_class cls = {
        .name = "tests.nightly", .command = steps, .nsteps = 2, .args_append = true};
    json_t *args = json_pack("[s, i, b, f]", "x; rm -rf / $(id) `id` 'q'", 42, 1, 2.5);
    struct command_job job = {.jid = "j1",
                              .class_name = "tests.nightly",
                              .queue = "low",
                              .attempt = 1,
                              .step = 1,
                              .nsteps = 2,
                              .args = args};
    struct err err = {0};
    char **argv = NULL;

    assert_int_equal(command_args_argv(&cls, &job, &argv, &err), 0);
    assert_int_equal(count(argv), 7);
    assert_string_equal(argv[2], "test:e2e");
    assert_string_equal(argv[3], "x; rm -rf / $(id) `id` 'q'");
    assert_string_equal(argv[4], "42");
    assert_string_equal(argv[5], "true");
    assert_string_equal(argv[6], "2.5");
    command_args_free(argv);
    cls.args_append = false;
    assert_int_equal(command_args_argv(&cls, &job, &argv, &err), 0);
    assert_int_equal(count(argv), 3);
    command_args_free(argv);
    json_decref(args);
}

static void test_argv_rejects_args_that_are_no_single_item(void **state)
{
    struct cfg_class cls = {.name = "c", .command = steps, .nsteps = 2, .args_append = true};
    json_t *args = json_pack("[s, {s:i}]", "ok", "a", 1);
    json_t *nul = json_pack("[s#]", "a\0b", (size_t)3);
    struct command_job job = {
        .jid = "j", .class_name = "c", .queue = "q", .attempt = 1, .nsteps = 2, .args = args};
    struct err err = {0};
    char **argv = NULL;

    assert_int_equal(command_args_argv(&cls, &job, &argv, &err), -EINVAL);
    assert_string_equal(err.msg, "args[1] must be a string, number or boolean to be appended "
                                 "to the command (got an object)");
    assert_null(argv);
    job.args = nul;
    assert_int_equal(command_args_argv(&cls, &job, &argv, &err), -EINVAL);
    assert_string_equal(err.msg, "args[0] contains a NUL byte, which no argv item can hold");
    json_decref(args);
    json_decref(nul);
}

static void test_argv_refuses_args_that_would_be_options_of_the_program(void **state)
{
    char *tar[] = {"tar", "-cf", "/tmp/out.tar", NULL};
    char **tar_steps[] = {tar, NULL};
    struct cfg_class cls = {.name = "backup", .command = tar_steps, .nsteps = 1, .args_append = true};
    json_t *inject = json_pack("[s, s, s]", "notes.txt", "--checkpoint=1",
                               "--checkpoint-action=exec=sh -c 'id > /tmp/pwned'");
    json_t *others[] = {json_pack("[s]", "-"), json_pack("[i]", -5), json_pack("[f]", -0.5),
                        json_pack("[s]", "-rf")};
    json_t *fine = json_pack("[s, s, i, s]", "a-b", "x--y", 5, " -v");
    struct command_job job = {
        .jid = "j", .class_name = "backup", .queue = "q", .attempt = 1, .nsteps = 1, .args = inject};
    struct err err = {0};
    char **argv = NULL;

    assert_int_equal(command_args_argv(&cls, &job, &argv, &err), -EINVAL);
    assert_string_equal(err.msg, "args[1] starts with '-': the job would choose an option of the "
                                 "program, which class backup does not allow (args_options = "
                                 "true does)");
    assert_null(argv);
    for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
        job.args = others[i];
        assert_int_equal(command_args_argv(&cls, &job, &argv, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "args[0] starts with '-'"));
        json_decref(others[i]);
    }
    job.args = fine; /* a '-' elsewhere is no option */
    assert_int_equal(command_args_argv(&cls, &job, &argv, &err), 0);
    assert_int_equal(count(argv), 7);
    command_args_free(argv);
    job.args = inject; /* the class says the job may choose options */
    cls.args_options = true;
    assert_int_equal(command_args_argv(&cls, &job, &argv, &err), 0);
    assert_string_equal(argv[4], "--checkpoint=1");
    command_args_free(argv);
    cls.args_options = false; /* without args_append the args are no argv items at all */
    cls.args_append = false;
    assert_int_equal(command_args_argv(&cls, &job, &argv, &err), 0);
    assert_int_equal(count(argv), 3);
    command_args_free(argv);
    json_decref(inject);
    json_decref(fine);
}

static void test_env_of_a_class_with_user_names_that_user(void **state)
{
    char *env[] = {"HOME=/srv/app", NULL};
    struct cfg_class cls = {.name = "tests.nightly",
                            .command = steps,
                            .nsteps = 2,
                            .user = "nexus-ci",
                            .home = "/home/nexus-ci"};
    json_t *args = json_array();
    struct command_job job = {
        .jid = "j", .class_name = "tests.nightly", .queue = "q", .attempt = 1, .nsteps = 2,
        .args = args};
    struct err err = {0};
    char **e = NULL;

    assert_int_equal(command_args_env(&cls, &job, fake_getenv, &e, &err), 0);
    assert_string_equal(env_get(e, "HOME"), "/home/nexus-ci"); /* not nexusd's /var/lib/nexusd */
    assert_string_equal(env_get(e, "USER"), "nexus-ci");
    assert_string_equal(env_get(e, "LOGNAME"), "nexus-ci");
    command_args_free(e);
    cls.env = env; /* the class's env still wins */
    assert_int_equal(command_args_env(&cls, &job, fake_getenv, &e, &err), 0);
    assert_string_equal(env_get(e, "HOME"), "/srv/app");
    command_args_free(e);
    json_decref(args);
}

static void test_env_is_minimal_plus_what_the_class_names(void **state)
{
    char *env_pass[] = {"NPM_TOKEN", "NOT_SET", NULL};
    char *env[] = {"CI=true", "NODE_ENV=test", "PATH=/srv/app/node_modules/.bin:/usr/bin", NULL};
    struct cfg_class cls = {
        .name = "tests.nightly", .command = steps, .nsteps = 2, .env = env, .env_pass = env_pass};
    json_t *args = json_pack("[s, i]", "a\"b", 1);
    struct command_job job = {.jid = "abc123",
                              .class_name = "tests.nightly",
                              .queue = "low",
                              .attempt = 3,
                              .step = 0,
                              .nsteps = 2,
                              .args = args};
    struct err err = {0};
    char **e = NULL;

    assert_int_equal(command_args_env(&cls, &job, fake_getenv, &e, &err), 0);
    assert_string_equal(env_get(e, "PATH"), "/srv/app/node_modules/.bin:/usr/bin");
    assert_string_equal(env_get(e, "HOME"), "/var/lib/nexusd");
    assert_string_equal(env_get(e, "LANG"), "C.UTF-8");
    assert_string_equal(env_get(e, "NPM_TOKEN"), "t0ken");
    assert_null(env_get(e, "DATABASE_URL")); /* not inherited unless named */
    assert_null(env_get(e, "NOT_SET"));
    assert_string_equal(env_get(e, "CI"), "true");
    assert_string_equal(env_get(e, "NODE_ENV"), "test");
    assert_string_equal(env_get(e, "NEXUS_JID"), "abc123");
    assert_string_equal(env_get(e, "NEXUS_CLASS"), "tests.nightly");
    assert_string_equal(env_get(e, "NEXUS_QUEUE"), "low");
    assert_string_equal(env_get(e, "NEXUS_ATTEMPT"), "3");
    assert_string_equal(env_get(e, "NEXUS_STEP"), "1/2");
    assert_string_equal(env_get(e, "NEXUS_JOB_ARGS"), "[\"a\\\"b\",1]");
    assert_int_equal(count(e), 12);
    command_args_free(e);
    assert_int_equal(command_args_env(&cls, &job, NULL, &e, &err), 0);
    assert_string_equal(env_get(e, "PATH"), "/srv/app/node_modules/.bin:/usr/bin");
    command_args_free(e);
    cls.env = NULL;
    assert_int_equal(command_args_env(&cls, &job, NULL, &e, &err), 0);
    assert_string_equal(env_get(e, "PATH"), "/usr/local/bin:/usr/bin:/bin");
    command_args_free(e);
    json_decref(args);
}

static void test_env_passes_the_attempts_trace_context_on(void **state)
{
    char *env[] = {"TRACEPARENT=from-the-class", NULL};
    struct cfg_class cls = {.name = "tests.nightly", .command = steps, .nsteps = 2, .env = env};
    json_t *args = json_array();
    struct command_job job = {
        .jid = "abc123",
        .class_name = "tests.nightly",
        .queue = "low",
        .attempt = 1,
        .nsteps = 2,
        .args = args,
        .traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        .tracestate = "rojo=00f067aa0ba902b7",
    };
    struct err err = {0};
    char **e = NULL;

    assert_int_equal(command_args_env(&cls, &job, fake_getenv, &e, &err), 0);
    assert_string_equal(env_get(e, "TRACEPARENT"),
                        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    assert_string_equal(env_get(e, "TRACESTATE"), "rojo=00f067aa0ba902b7");
    command_args_free(e);
    job.traceparent = NULL;
    assert_int_equal(command_args_env(&cls, &job, fake_getenv, &e, &err), 0);
    assert_string_equal(env_get(e, "TRACEPARENT"), "from-the-class");
    assert_null(env_get(e, "TRACESTATE"));
    command_args_free(e);
    json_decref(args);
}

/* ---- a step's output ---- */

static void test_output_text_says_how_many_earlier_bytes_were_dropped(void **state)
{
    struct command_output *o = command_output_new(4, false);
    char *text;

    command_output_write(o, "ab", 2, false);
    text = command_output_text(o);
    assert_string_equal(text, "ab");
    free(text);
    command_output_write(o, "cdef", 4, true);
    text = command_output_text(o);
    assert_string_equal(text, "[nexusd: 2 earlier bytes dropped]\ncdef");
    assert_int_equal(command_output_len(o), 4);
    assert_int_equal(command_output_dropped(o), 2);
    free(text);
    command_output_clear(o);
    text = command_output_text(o);
    assert_string_equal(text, "");
    free(text);
    command_output_free(o);
}

static void test_output_quote_prefers_stderr_over_the_whole_output(void **state)
{
    struct command_output *o = command_output_new(1024, false);
    char buf[COMMAND_MESSAGE_BYTES + 8];

    command_output_quote(o, buf, sizeof(buf));
    assert_string_equal(buf, "");
    command_output_write(o, "building\n", 9, false);
    command_output_quote(o, buf, sizeof(buf));
    assert_string_equal(buf, ": building");
    command_output_write(o, "1\n2\n3\n4\n5\n6\n", 12, true);
    command_output_write(o, "more stdout\n", 12, false);
    command_output_quote(o, buf, sizeof(buf));
    assert_string_equal(buf, ": 2\n3\n4\n5\n6");
    command_output_free(o);
}

static void test_output_keeps_stdout_for_a_parser_up_to_its_maximum(void **state)
{
    struct command_output *plain = command_output_new(16, false);
    struct command_output *o = command_output_new(16, true);
    size_t chunk = 1u << 20, len;
    char *mb = calloc(1, chunk);

    command_output_write(plain, "{}", 2, false);
    assert_string_equal(command_output_stdout(plain, &len), "");
    assert_int_equal(len, 0);
    command_output_write(o, "{\"a\"", 4, false);
    command_output_write(o, "warning", 7, true); /* stderr is not the parser's */
    command_output_write(o, ":1}", 3, false);
    assert_string_equal(command_output_stdout(o, &len), "{\"a\":1}");
    assert_int_equal(len, 7);
    command_output_clear(o);
    for (size_t i = 0; i < COMMAND_PARSE_MAX / chunk; i++)
        command_output_write(o, mb, chunk, false);
    assert_non_null(command_output_stdout(o, &len));
    assert_int_equal(len, COMMAND_PARSE_MAX);
    command_output_write(o, "x", 1, false);
    assert_null(command_output_stdout(o, &len));
    free(mb);
    command_output_free(plain);
    command_output_free(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tail_keeps_everything_below_its_limit),
        cmocka_unit_test(test_tail_keeps_the_newest_bytes_across_the_wrap),
        cmocka_unit_test(test_tail_counts_megabytes_in_small_writes),
        cmocka_unit_test(test_tail_text_replaces_nul_and_invalid_utf8),
        cmocka_unit_test(test_tail_utf8_cleans_any_bytes),
        cmocka_unit_test(test_tail_last_lines_quote_the_end),
        cmocka_unit_test(test_npm_audit_reads_a_recorded_npm_10_report),
        cmocka_unit_test(test_npm_audit_reads_npm_6_and_clean_reports),
        cmocka_unit_test(test_npm_audit_rejects_what_is_no_report),
        cmocka_unit_test(test_argv_appends_args_as_items_never_through_a_shell),
        cmocka_unit_test(test_argv_rejects_args_that_are_no_single_item),
        cmocka_unit_test(test_argv_refuses_args_that_would_be_options_of_the_program),
        cmocka_unit_test(test_env_of_a_class_with_user_names_that_user),
        cmocka_unit_test(test_env_is_minimal_plus_what_the_class_names),
        cmocka_unit_test(test_env_passes_the_attempts_trace_context_on),
        cmocka_unit_test(test_output_text_says_how_many_earlier_bytes_were_dropped),
        cmocka_unit_test(test_output_quote_prefers_stderr_over_the_whole_output),
        cmocka_unit_test(test_output_keeps_stdout_for_a_parser_up_to_its_maximum),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
