/* migrate.c - schema migrations with blocking libpq, under an advisory lock. */
#include "sql/migrate.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "lib/err.h"
#include "lib/parse.h"
#include "lib/xalloc.h"
#include "sql/pgsync.h"

/* pg_advisory_lock key: "nexusmig" as a number, shared by every nexusd. */
#define MIGRATE_LOCK "7957695318937610599"

static const char bootstrap_sql[] = "CREATE SCHEMA IF NOT EXISTS nexus;"
                                    "CREATE TABLE IF NOT EXISTS nexus.schema_migrations ("
                                    "  version integer PRIMARY KEY,"
                                    "  name text NOT NULL,"
                                    "  checksum text NOT NULL,"
                                    "  applied_at timestamptz NOT NULL DEFAULT now())";

static void checksum(const char *text, char out[17])
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */

    for (const unsigned char *p = (const unsigned char *)text; *p; p++)
        h = (h ^ *p) * 0x100000001b3ull;
    (void)snprintf(out, 17, "%016llx", (unsigned long long)h);
}

/* The checksum of each applied version (NULL where not applied), from schema_migrations. */
static int applied_read(PGconn *conn, char (*sums)[17], struct err *err)
{
    PGresult *res;
    int r;

    r = pgsync_exec(conn, "reading nexus.schema_migrations",
                    "SELECT version, checksum FROM nexus.schema_migrations", 0, NULL, &res, err);
    if (r < 0)
        return r;
    for (int i = 0; i < PQntuples(res); i++) {
        int64_t version = 0;
        if (parse_i64(PQgetvalue(res, i, 0), 1, INT32_MAX, &version) < 0)
            continue;
        for (size_t m = 0; m < nmigrations; m++)
            if (migrations[m].version == version)
                (void)snprintf(sums[m], 17, "%s", PQgetvalue(res, i, 1));
    }
    PQclear(res);
    return 0;
}

static int apply_one(PGconn *conn, const struct migration *m, struct err *err)
{
    char version[16], sum[17], what[128];
    const char *params[3] = {version, m->name, sum};
    int r;

    (void)snprintf(version, sizeof(version), "%d", m->version);
    (void)snprintf(what, sizeof(what), "migration %03d_%s.sql failed", m->version, m->name);
    checksum(m->sql, sum);
    r = pgsync_exec(conn, what, "BEGIN", 0, NULL, NULL, err);
    if (r == 0)
        r = pgsync_exec(conn, what, m->sql, 0, NULL, NULL, err);
    if (r == 0)
        r = pgsync_exec(conn, what,
                        "INSERT INTO nexus.schema_migrations (version, name, checksum) "
                        "VALUES ($1::integer, $2, $3)",
                        3, params, NULL, err);
    if (r == 0)
        r = pgsync_exec(conn, what, "COMMIT", 0, NULL, NULL, err);
    if (r < 0)
        PQclear(PQexec(conn, "ROLLBACK"));
    return r;
}

/* A connection and room for the checksum of every migration. */
static int session_open(const char *conninfo, PGconn **ret_conn, char (**ret_sums)[17],
                        struct err *err)
{
    *ret_conn = pgsync_connect(conninfo, "nexusd-migrate", err);
    if (!*ret_conn)
        return err->code;
    *ret_sums = xcalloc(nmigrations + 1, sizeof(**ret_sums));
    return 0;
}

int migrate_apply(const char *conninfo, migrate_report_fn *report, void *arg, struct err *err)
{
    char(*sums)[17] = NULL;
    PGconn *conn;
    int r, applied = 0;

    r = session_open(conninfo, &conn, &sums, err);
    if (r < 0)
        return r;
    r = pgsync_exec(conn, "taking the migration lock", "SELECT pg_advisory_lock(" MIGRATE_LOCK ")",
                    0, NULL, NULL, err);
    if (r == 0)
        r = pgsync_exec(conn, "creating nexus.schema_migrations", bootstrap_sql, 0, NULL, NULL,
                        err);
    if (r == 0)
        r = applied_read(conn, sums, err);
    for (size_t m = 0; r == 0 && m < nmigrations; m++) {
        char sum[17];
        if (sums[m][0]) {
            checksum(migrations[m].sql, sum);
            if (strcmp(sum, sums[m]) != 0 && report)
                report(&migrations[m], "changed since it was applied (not applied again)", arg);
            continue;
        }
        r = apply_one(conn, &migrations[m], err);
        if (r == 0) {
            applied++;
            if (report)
                report(&migrations[m], "applied", arg);
        }
    }
    PQclear(PQexec(conn, "SELECT pg_advisory_unlock(" MIGRATE_LOCK ")"));
    PQfinish(conn);
    free(sums);
    return r < 0 ? r : applied;
}

int migrate_pending(const char *conninfo, const struct migration **ret_first, struct err *err)
{
    char(*sums)[17] = NULL;
    PGresult *res = NULL;
    PGconn *conn;
    int r, pending = 0;

    *ret_first = NULL;
    r = session_open(conninfo, &conn, &sums, err);
    if (r < 0)
        return r;
    r = pgsync_exec(conn, "looking for nexus.schema_migrations",
                    "SELECT to_regclass('nexus.schema_migrations') IS NOT NULL", 0, NULL, &res,
                    err);
    if (r == 0 && strcmp(PQgetvalue(res, 0, 0), "t") == 0)
        r = applied_read(conn, sums, err);
    PQclear(res);
    for (size_t m = 0; r == 0 && m < nmigrations; m++) {
        if (sums[m][0])
            continue;
        if (!*ret_first)
            *ret_first = &migrations[m];
        pending++;
    }
    PQfinish(conn);
    free(sums);
    return r < 0 ? r : pending;
}
