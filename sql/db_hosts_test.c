/* db_hosts_test.c - which hosts are looked up, and hostaddr= spliced in for them. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "sql/db_int.h"

static struct hosts *parse(const char *conninfo)
{
    PQconninfoOption *opts = PQconninfoParse(conninfo, NULL);
    struct hosts *h;

    assert_non_null(opts);
    h = hosts_new(opts);
    PQconninfoFree(opts);
    return h;
}

/* The value of `key` in the spliced settings, NULL when absent. */
static const char *param(const struct conn_params *p, const char *key)
{
    for (unsigned i = 0; p->keys[i]; i++)
        if (strcmp(p->keys[i], key) == 0)
            return p->vals[i];
    return NULL;
}

static void test_an_address_a_socket_directory_or_hostaddr_needs_no_lookup(void **state)
{
    static const char *const none[] = {
        "postgresql://app@127.0.0.1:5432/db",
        "postgresql://app@[::1]:5432/db",
        "host=/var/run/postgresql dbname=db",
        "host=db.example hostaddr=10.0.0.7 dbname=db",
        "dbname=db",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++) {
        struct hosts *h = parse(none[i]);
        assert_false(h->lookup);
        hosts_free(h);
    }
}

static void test_a_name_is_looked_up_and_kept_as_host_beside_its_addresses(void **state)
{
    struct hosts *h = parse("postgresql://app:secret@db.example:6543/app?sslmode=verify-full");
    char *addrs0[] = {"10.0.0.1", "fd00::1", NULL};
    char **addrs[] = {addrs0};
    struct conn_params p = {0};

    (void)state;
    assert_true(h->lookup);
    assert_int_equal(h->nhost, 1);
    assert_true(h->named[0]);
    assert_string_equal(hosts_get(h, "host"), "db.example");
    assert_null(hosts_get(h, "hostaddr"));
    assert_int_equal(hosts_splice(h, (char *const *const *)addrs, &p), 0);
    assert_string_equal(param(&p, "host"), "db.example,db.example");
    assert_string_equal(param(&p, "hostaddr"), "10.0.0.1,fd00::1");
    assert_string_equal(param(&p, "port"), "6543,6543");
    assert_string_equal(param(&p, "sslmode"), "verify-full");
    assert_string_equal(param(&p, "password"), "secret");
    assert_string_equal(param(&p, "dbname"), "app");
    conn_params_clear(&p);
    hosts_free(h);
}

static void test_localhost_is_a_name(void **state)
{
    struct hosts *h = parse("host=localhost port=5432");

    (void)state;
    assert_true(h->lookup);
    hosts_free(h);
}

static void test_hosts_of_a_list_keep_their_ports_and_unnamed_ones_pass_as_they_are(void **state)
{
    struct hosts *h = parse("host=/tmp,a.example,127.0.0.1 port=1,2,3 dbname=db");
    char *a[] = {"10.0.0.2", NULL};
    char **addrs[] = {NULL, a, NULL};
    struct conn_params p = {0};

    (void)state;
    assert_true(h->lookup);
    assert_false(h->named[0]);
    assert_true(h->named[1]);
    assert_false(h->named[2]);
    assert_int_equal(hosts_splice(h, (char *const *const *)addrs, &p), 0);
    assert_string_equal(param(&p, "host"), "/tmp,a.example,127.0.0.1");
    assert_string_equal(param(&p, "hostaddr"), ",10.0.0.2,");
    assert_string_equal(param(&p, "port"), "1,2,3");
    conn_params_clear(&p);
    hosts_free(h);
}

static void test_one_port_for_several_hosts_stays_one(void **state)
{
    struct hosts *h = parse("host=a.example,b.example port=5433");
    char *a[] = {"10.0.0.1", "10.0.0.2", NULL}, *b[] = {"10.0.0.3", NULL};
    char **addrs[] = {a, b};
    struct conn_params p = {0};

    (void)state;
    assert_int_equal(hosts_splice(h, (char *const *const *)addrs, &p), 0);
    assert_string_equal(param(&p, "host"), "a.example,a.example,b.example");
    assert_string_equal(param(&p, "hostaddr"), "10.0.0.1,10.0.0.2,10.0.0.3");
    assert_string_equal(param(&p, "port"), "5433");
    conn_params_clear(&p);
    hosts_free(h);
}

static void test_a_host_without_addresses_is_dropped_and_none_left_is_an_error(void **state)
{
    struct hosts *h = parse("host=a.example,b.example");
    char *none[] = {NULL}, *b[] = {"10.0.0.3", NULL};
    char **some[] = {none, b}, **nothing[] = {none, none};
    struct conn_params p = {0};

    (void)state;
    assert_int_equal(hosts_splice(h, (char *const *const *)some, &p), 0);
    assert_string_equal(param(&p, "host"), "b.example");
    assert_string_equal(param(&p, "hostaddr"), "10.0.0.3");
    assert_null(param(&p, "port"));
    conn_params_clear(&p);
    assert_int_equal(hosts_splice(h, (char *const *const *)nothing, &p), -ENOENT);
    assert_null(p.keys);
    hosts_free(h);
}

static void test_each_address_libpq_tried_is_told_on_one_line_without_hints(void **state)
{
    const char *msg = "connection to server at \"::1\", port 5432 failed: Connection refused\n"
                      "\tIs the server running on that host and accepting TCP/IP connections?\n"
                      "connection to server at \"127.0.0.1\", port 5432 failed: SSL error: "
                      "certificate verify failed\n";
    char buf[DB_ERROR_MAX];

    (void)state;
    assert_string_equal(db_connect_error(msg, "postgresql://app@localhost/db", buf, sizeof(buf)),
                        "connection to server at \"::1\", port 5432 failed: Connection refused; "
                        "connection to server at \"127.0.0.1\", port 5432 failed: SSL error: "
                        "certificate verify failed");
    assert_string_equal(db_connect_error("connect timed out after 5s", "host=db", buf, 8),
                        "connect"); /* cut to fit */
}

static void test_a_password_libpq_quotes_is_masked_on_every_line(void **state)
{
    const char *url = "postgresql://app:hunter2@db.example/db";
    const char *msg = "first \"hunter2\" for connection option \"port\"\n"
                      "again \"hunter2\"\n";
    char buf[DB_ERROR_MAX];

    (void)state;
    assert_null(strstr(db_connect_error(msg, url, buf, sizeof(buf)), "hunter2"));
    assert_non_null(strstr(buf, "; again"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_an_address_a_socket_directory_or_hostaddr_needs_no_lookup),
        cmocka_unit_test(test_a_name_is_looked_up_and_kept_as_host_beside_its_addresses),
        cmocka_unit_test(test_localhost_is_a_name),
        cmocka_unit_test(test_hosts_of_a_list_keep_their_ports_and_unnamed_ones_pass_as_they_are),
        cmocka_unit_test(test_one_port_for_several_hosts_stays_one),
        cmocka_unit_test(test_a_host_without_addresses_is_dropped_and_none_left_is_an_error),
        cmocka_unit_test(test_each_address_libpq_tried_is_told_on_one_line_without_hints),
        cmocka_unit_test(test_a_password_libpq_quotes_is_masked_on_every_line),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
