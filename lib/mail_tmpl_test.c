/* mail_tmpl_test.c - placeholders, HTML escaping, error sentences, loading a directory,
 * and the templates shipped in conf/templates. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "lib/err.h"
#include "lib/mail_tmpl.h"

static json_t *vars(void)
{
    json_t *v = json_loads("{\"name\": \"Ada <script>&\\\"'\", \"n\": 42, \"x\": 1.5, "
                           "\"ok\": true, \"none\": null, \"order\": {\"id\": \"o-1\"}, "
                           "\"list\": [1]}",
                           0, NULL);
    assert_non_null(v);
    return v;
}

static char *render(const char *t, enum mail_tmpl_mode mode)
{
    json_t *v = vars();
    struct err err = {0};
    char *out = NULL;

    if (mail_tmpl_render(t, "t.txt", v, mode, &out, &err) != 0)
        fail_msg("render failed: %s", err.msg);
    json_decref(v);
    return out;
}

static void test_render_fills_values_raw_and_escaped(void **state)
{
    char *s = render("Hi {{name}}, {{ n }} {{x}} {{ok}} [{{none}}] {{order.id}}", MAIL_TMPL_RAW);

    assert_string_equal(s, "Hi Ada <script>&\"', 42 1.5 true [] o-1");
    free(s);
    s = render("<p>{{name}}</p>", MAIL_TMPL_HTML);
    assert_string_equal(s, "<p>Ada &lt;script&gt;&amp;&quot;&#39;</p>");
    free(s);
    s = render("", MAIL_TMPL_RAW);
    assert_string_equal(s, "");
    free(s);
    s = render("no placeholders { here }", MAIL_TMPL_HTML);
    assert_string_equal(s, "no placeholders { here }");
    free(s);
}

static void test_render_errors_name_the_place(void **state)
{
    static const struct {
        const char *t, *msg;
    } bad[] = {
        {"a\nb {{missing}}", "t.txt:2: no value for {{missing}}"},
        {"{{order.nope}}", "t.txt:1: no value for {{order.nope}}"},
        {"x\n\n{{name", "t.txt:3: '{{' is not closed by '}}'"},
        {"{{list}}", "t.txt:1: {{list}} is an array, not a string or number"},
        {"{{order}}", "t.txt:1: {{order}} is an object, not a string or number"},
        {"{{a b}}", "t.txt:1: a placeholder must be {{name}} with letters, digits, '_' and '.' "
                    "(got {{a b}})"},
        {"{{}}", "t.txt:1: a placeholder must be {{name}} with letters, digits, '_' and '.' "
                 "(got {{}})"},
        {"{{.x}}", "t.txt:1: a placeholder must be {{name}} with letters, digits, '_' and '.' "
                   "(got {{.x}})"},
    };
    json_t *v = vars();

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct err err = {0};
        char *out = NULL;

        assert_int_equal(mail_tmpl_render(bad[i].t, "t.txt", v, MAIL_TMPL_RAW, &out, &err),
                         -EINVAL);
        assert_string_equal(err.msg, bad[i].msg);
        assert_null(out);
    }
    json_decref(v);
}

static void put(const char *dir, const char *name, const char *text)
{
    char path[512];
    FILE *f;

    (void)snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_load_reads_a_directory(void **state)
{
    static const char *const files[] = {"hello.subject",  "hello.txt",     "only_html.subject",
                                        "only_html.html", "README",        "two.subject",
                                        "two.txt",        "nobody.subject"};
    char dir[] = "/tmp/mail_tmpl_testXXXXXX";
    struct mail_tmpl_set *set = NULL;
    const struct mail_tmpl *t;
    struct err err = {0};

    assert_non_null(mkdtemp(dir));
    put(dir, "hello.subject", "Hello {{name}}\n");
    put(dir, "hello.txt", "Hi {{name}}");
    put(dir, "only_html.subject", "H");
    put(dir, "only_html.html", "<p>x</p>");
    put(dir, "README", "ignored");
    assert_int_equal(mail_tmpl_set_load(dir, &set, &err), 0);
    assert_int_equal(mail_tmpl_count(set), 2);
    t = mail_tmpl_find(set, "hello");
    assert_non_null(t);
    assert_string_equal(t->subject, "Hello {{name}}");
    assert_string_equal(t->text, "Hi {{name}}");
    assert_null(t->html);
    t = mail_tmpl_find(set, "only_html");
    assert_null(t->text);
    assert_string_equal(t->html, "<p>x</p>");
    assert_null(mail_tmpl_find(set, "nope"));
    mail_tmpl_set_free(set);

    put(dir, "two.subject", "line one\nline two\n");
    put(dir, "two.txt", "x");
    set = NULL;
    assert_int_equal(mail_tmpl_set_load(dir, &set, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "/two.subject must be one line"));
    assert_null(set);
    put(dir, "two.subject", "ok\n");
    put(dir, "two.txt", "x {{oops");
    assert_int_equal(mail_tmpl_set_load(dir, &set, &err), -EINVAL);
    assert_string_equal(err.msg, "two.txt:1: '{{' is not closed by '}}'");
    put(dir, "two.txt", "x");
    put(dir, "nobody.subject", "s");
    assert_int_equal(mail_tmpl_set_load(dir, &set, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "/nobody needs nobody.txt or nobody.html"));
    assert_int_equal(mail_tmpl_set_load("/nonexistent/dir", &set, &err), -ENOENT);
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char path[512];

        (void)snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
        (void)unlink(path);
    }
    assert_int_equal(rmdir(dir), 0);
}

/* The templates the repo ships render with the values their classes give. */
static void test_shipped_templates_render(void **state)
{
    const char *src = getenv("NEXUS_SOURCE_DIR");
    char dir[1024];
    struct mail_tmpl_set *set = NULL;
    struct err err = {0};
    json_t *v = json_loads("{\"user\": {\"id\": \"1\", \"email\": \"a&b@example.com\", "
                           "\"created_at\": \"2026-01-01\"}, \"order\": {\"id\": \"u\", "
                           "\"email\": \"e\", \"name\": \"<Ada>\", \"status\": \"paid\", "
                           "\"amount\": \"19.00\", \"amount_cents\": \"1900\", \"created_at\": "
                           "\"d\"}, \"product\": {\"id\": \"1\", \"name\": \"Kit\", "
                           "\"description\": \"D\", \"price\": \"19.00\", \"price_cents\": "
                           "\"1900\"}}",
                           0, NULL);
    static const char *const names[] = {"welcome", "order_receipt"};

    (void)snprintf(dir, sizeof(dir), "%s/conf/templates", src ? src : "..");
    assert_int_equal(mail_tmpl_set_load(dir, &set, &err), 0);
    for (size_t i = 0; i < 2; i++) {
        const struct mail_tmpl *t = mail_tmpl_find(set, names[i]);
        char *out = NULL;

        assert_non_null(t);
        assert_int_equal(mail_tmpl_render(t->subject, "s", v, MAIL_TMPL_RAW, &out, &err), 0);
        free(out);
        assert_int_equal(mail_tmpl_render(t->text, "t", v, MAIL_TMPL_RAW, &out, &err), 0);
        free(out);
        assert_int_equal(mail_tmpl_render(t->html, "h", v, MAIL_TMPL_HTML, &out, &err), 0);
        if (i == 1)
            assert_non_null(strstr(out, "Hi &lt;Ada&gt;,"));
        free(out);
    }
    mail_tmpl_set_free(set);
    json_decref(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render_fills_values_raw_and_escaped),
        cmocka_unit_test(test_render_errors_name_the_place),
        cmocka_unit_test(test_load_reads_a_directory),
        cmocka_unit_test(test_shipped_templates_render),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
