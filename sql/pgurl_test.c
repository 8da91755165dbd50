/* pgurl_test.c - Prisma's and Supabase's URLs made fit for libpq, pooler marks, URL roles. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sql/pgurl.h"

#define NELEMS(a) (sizeof(a) / sizeof((a)[0]))

struct text_case {
    const char *in, *out;
};

static void test_libpq_url_drops_prismas_parameters_and_names_the_application(void **state)
{
    static const struct text_case cases[] = {
        {"postgresql://postgres.ref:pw@aws-0-eu.pooler.supabase.com:6543/postgres"
         "?pgbouncer=true&connection_limit=1",
         "postgresql://postgres.ref:pw@aws-0-eu.pooler.supabase.com:6543/postgres"
         "?application_name=nexusd"},
        {"postgres://u@db:5432/app?sslmode=require&pgbouncer=true&sslrootcert=/etc/ca.crt",
         "postgres://u@db:5432/app?sslmode=require&sslrootcert=/etc/ca.crt"
         "&application_name=nexusd"},
        {"postgresql://u@db/app?pool_timeout=10&socket_timeout=5&statement_cache_size=0",
         "postgresql://u@db/app?application_name=nexusd"},
        {"postgresql://u@db/app", "postgresql://u@db/app?application_name=nexusd"},
        {"postgresql://u@db/app?application_name=app&pgbouncer=true",
         "postgresql://u@db/app?application_name=app"},
        /* a name that only starts like one of Prisma's stays */
        {"postgresql://u@db/app?pgbouncerx=1", "postgresql://u@db/app?pgbouncerx=1"
                                               "&application_name=nexusd"},
        {"postgresql:///app?host=/run/postgresql",
         "postgresql:///app?host=/run/postgresql&application_name=nexusd"},
        {"host=db dbname=app", "application_name='nexusd' host=db dbname=app"},
        {"host=db password=", "application_name='nexusd' host=db password="},
        {"host=db application_name = 'x y'", "host=db application_name = 'x y'"},
        {"", "application_name='nexusd'"},
    };

    for (size_t i = 0; i < NELEMS(cases); i++) {
        char *got = pgurl_libpq(cases[i].in, "nexusd");
        if (strcmp(got, cases[i].out) != 0)
            fail_msg("pgurl_libpq(\"%s\") = \"%s\", want \"%s\"", cases[i].in, got, cases[i].out);
        free(got);
    }
}

static void test_pooler_is_marked_by_pgbouncer_true_or_port_6543(void **state)
{
    static const struct text_case cases[] = {
        {"postgresql://u:pw@pooler.supabase.com:6543/postgres?pgbouncer=true", "pgbouncer=true"},
        {"postgresql://u:pw@db.example:6543/postgres", "port 6543"},
        {"postgresql://u@h1:5432,h2:6543/app", "port 6543"},
        {"postgresql://u@[::1]:6543/app", "port 6543"},
        {"postgresql://u@db/app?port=6543", "port 6543"},
        {"postgresql://u@db/app?sslmode=require&pgbouncer=true", "pgbouncer=true"},
        {"host=db port=6543 dbname=app", "port 6543"},
        {"host=db port = '6543'", "port 6543"},
        {"postgresql://u:pw@db.ref.supabase.co:5432/postgres", NULL},
        {"postgresql://u:6543@db/app", NULL}, /* a password, not a port */
        {"postgresql://u@db:65430/app", NULL},
        {"postgresql://u@db/app?pgbouncer=false", NULL},
        {"postgresql://u@db/app?application_name=pgbouncer=true", NULL},
        {"host=db port=5432 password=6543", NULL},
        {"", NULL},
    };

    for (size_t i = 0; i < NELEMS(cases); i++) {
        const char *got = pgurl_pooler(cases[i].in);
        if (!got != !cases[i].out || (got && strcmp(got, cases[i].out) != 0))
            fail_msg("pgurl_pooler(\"%s\") = %s, want %s", cases[i].in, got ? got : "NULL",
                     cases[i].out ? cases[i].out : "NULL");
    }
    assert_null(pgurl_pooler(NULL));
}

static void test_roles_send_the_pool_through_the_pooler_and_sessions_direct(void **state)
{
    const char *direct = "postgresql://u@db:5432/app";
    const char *pooler = "postgresql://u@db:6543/app?pgbouncer=true";
    struct pgurl_roles r;

    pgurl_roles(direct, pooler, &r);
    assert_ptr_equal(r.pool, pooler);
    assert_ptr_equal(r.session, direct);
    assert_true(r.pooled);

    pgurl_roles(direct, NULL, &r);
    assert_ptr_equal(r.pool, direct);
    assert_ptr_equal(r.session, direct);
    assert_false(r.pooled);

    pgurl_roles(NULL, pooler, &r);
    assert_ptr_equal(r.pool, pooler);
    assert_null(r.session);
    assert_true(r.pooled);

    pgurl_roles(pooler, NULL, &r); /* the pooler's URL given as the direct one */
    assert_ptr_equal(r.pool, pooler);
    assert_null(r.session);
    assert_true(r.pooled);

    pgurl_roles(NULL, NULL, &r);
    assert_null(r.pool);
    assert_null(r.session);
}

static void test_no_session_names_the_url_to_give(void **state)
{
    char buf[512];

    assert_string_equal(
        pgurl_no_session(NULL, "postgresql://u@db:6543/app", "migrations need", buf, sizeof(buf)),
        "migrations need a direct session to PostgreSQL: set DATABASE_URL (database.url) to the "
        "direct URL (port 5432 on Supabase); DATABASE_POOL_URL (database.pool_url) goes through "
        "a transaction-mode pooler");
    assert_string_equal(
        pgurl_no_session("postgresql://u@db/app?pgbouncer=true", NULL, "migrations need", buf,
                         sizeof(buf)),
        "migrations need a direct session to PostgreSQL, and DATABASE_URL (database.url) is a "
        "transaction-mode pooler (pgbouncer=true): set it to the direct URL (port 5432 on "
        "Supabase) and give the pooler's in DATABASE_POOL_URL (database.pool_url)");
    assert_string_equal(pgurl_no_session(NULL, NULL, "migrations need", buf, sizeof(buf)),
                        "migrations need database.url or DATABASE_URL");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_libpq_url_drops_prismas_parameters_and_names_the_application),
        cmocka_unit_test(test_pooler_is_marked_by_pgbouncer_true_or_port_6543),
        cmocka_unit_test(test_roles_send_the_pool_through_the_pooler_and_sessions_direct),
        cmocka_unit_test(test_no_session_names_the_url_to_give),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
