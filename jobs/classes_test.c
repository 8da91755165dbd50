/* classes_test.c - the class list of a configuration, and each built-in class's declared args
 * checked against its handler: what the declaration says is accepted, what it rules out is
 * refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "conf/cfg.h"
#include "jobs/classes.h"
#include "jobs/registry.h"
#include "lib/err.h"

static struct cfg *load_ok(const char *text)
{
    char path[] = "/tmp/classes_test_XXXXXX";
    struct err err = {0};
    struct cfg *cfg = NULL;
    int fd = mkstemp(path);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    assert_int_equal(close(fd), 0);
    if (cfg_load(path, NULL, &cfg, &err) != 0)
        fail_msg("unexpected error: %s", err.msg);
    (void)unlink(path);
    return cfg;
}

/* The args of `h` from its declaration's examples: the first `n` elements. */
static json_t *example_args(const struct handler *h, unsigned n)
{
    json_t *args = json_array();

    for (unsigned i = 0; i < n; i++) {
        json_t *v = json_loads(h->args[i].example, JSON_DECODE_ANY, NULL);

        if (!v)
            fail_msg("%s: args[%u] example is not JSON: %s", h->name, i, h->args[i].example);
        (void)json_array_append_new(args, v);
    }
    return args;
}

/* A value of another JSON type than `type` asks for. */
static json_t *wrong_value(enum class_arg_type type)
{
    switch (type) {
    case CLASS_ARG_NUMBER:
    case CLASS_ARG_INTEGER:
    case CLASS_ARG_BOOLEAN:
    case CLASS_ARG_OBJECT:
    case CLASS_ARG_ARRAY:
        return json_string("x");
    default:
        return json_pack("[i]", 1);
    }
}

static void test_each_declaration_is_accepted_by_its_handler(void **state)
{
    struct cfg *cfg = load_ok("");
    struct err err = {0};
    const struct handler *h;
    unsigned checked = 0;

    for (size_t i = 0; (h = handler_at(i)); i++) {
        unsigned required = 0;

        if (!h->args || !h->args_check)
            continue;
        while (required < h->nargs && !h->args[required].optional)
            required++;
        for (unsigned n = required; n <= h->nargs; n++) {
            json_t *args = example_args(h, n);

            if (h->args_check(args, cfg, &err) != 0)
                fail_msg("%s refuses its declaration's example with %u args: %s", h->name, n,
                         err.msg);
            json_decref(args);
        }
        checked++;
    }
    assert_true(checked >= 6);
    cfg_free(cfg);
}

static void test_each_declared_type_is_what_the_handler_asks(void **state)
{
    struct cfg *cfg = load_ok("");
    struct err err = {0};
    const struct handler *h;

    for (size_t i = 0; (h = handler_at(i)); i++) {
        for (unsigned k = 0; h->args && h->args_check && k < h->nargs; k++) {
            json_t *args = example_args(h, h->nargs);

            if (h->args[k].type == CLASS_ARG_ANY)
                continue;
            (void)json_array_set_new(args, k, wrong_value(h->args[k].type));
            if (h->args_check(args, cfg, &err) == 0)
                fail_msg("%s accepts args[%u] %s of another type than declared", h->name, k,
                         h->args[k].name);
            json_decref(args);
        }
    }
    cfg_free(cfg);
}

static void test_a_required_arg_left_out_is_refused(void **state)
{
    struct cfg *cfg = load_ok("");
    struct err err = {0};
    const struct handler *h;

    for (size_t i = 0; (h = handler_at(i)); i++) {
        json_t *none = json_array();

        if (h->args && h->args_check && h->nargs > 0 && !h->args[0].optional &&
            h->args_check(none, cfg, &err) == 0)
            fail_msg("%s accepts [] although %s is required", h->name, h->args[0].name);
        json_decref(none);
    }
    cfg_free(cfg);
}

static void test_the_list_holds_built_in_and_claimed_classes_once_sorted(void **state)
{
    struct cfg *cfg = load_ok(
        "classes = (\n"
        "  { name = \"orders.mark_paid\"; args = \"uuid, int\";\n"
        "    sql = \"UPDATE orders SET n = $2 WHERE id = $1::uuid\"; },\n"
        "  { name = \"email.welcome\"; timeout = \"2m\"; },\n"
        "  { name = \"only.settings\"; timeout = \"2m\"; },\n"
        "  { name = \"ci-nightly\"; command = [\"true\"]; }\n"
        ");\n");
    struct classes *cl = classes_new(cfg);
    const struct class_info *c, *prev = NULL;
    json_t *names;

    for (size_t i = 0; i < classes_count(cl); i++, prev = c) {
        c = classes_get(cl, i);
        if (prev)
            assert_true(strcmp(prev->name, c->name) < 0);
        assert_non_null(handler_find(cfg, c->name));
    }
    assert_null(classes_find(cl, "only.settings"));
    assert_null(handler_find(cfg, "only.settings"));
    c = classes_find(cl, "email.welcome");
    assert_non_null(c);
    assert_string_equal(c->kind, "built-in");
    c = classes_find(cl, "ci-nightly");
    assert_non_null(c);
    assert_string_equal(c->kind, "command");
    assert_null(c->args);
    c = classes_find(cl, "orders.mark_paid");
    assert_non_null(c);
    assert_string_equal(c->kind, "sql");
    assert_int_equal(c->nargs, 2);
    assert_string_equal(c->args[0].name, "$1");
    assert_int_equal(c->args[0].type, CLASS_ARG_UUID);
    assert_int_equal(c->args[1].type, CLASS_ARG_INTEGER);
    names = classes_names(cl);
    assert_int_equal(json_array_size(names), classes_count(cl));
    json_decref(names);
    classes_free(cl);
    cfg_free(cfg);
}

static void test_without_a_configuration_only_built_in_classes(void **state)
{
    struct classes *cl = classes_new(NULL);
    const struct handler *h;
    size_t builtin = 0;

    for (size_t i = 0; (h = handler_at(i)); i++)
        builtin += !h->claims;
    assert_int_equal(classes_count(cl), builtin);
    assert_non_null(classes_find(cl, "noop"));
    classes_free(cl);
    classes_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_each_declaration_is_accepted_by_its_handler),
        cmocka_unit_test(test_each_declared_type_is_what_the_handler_asks),
        cmocka_unit_test(test_a_required_arg_left_out_is_refused),
        cmocka_unit_test(test_the_list_holds_built_in_and_claimed_classes_once_sorted),
        cmocka_unit_test(test_without_a_configuration_only_built_in_classes),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
