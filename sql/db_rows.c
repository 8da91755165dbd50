/* db_rows.c - how a request ended (libpq's result and error fields) and reading its rows. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <libpq-fe.h>

#include "lib/parse.h"
#include "sql/db_int.h"

const char *res_field(const PGresult *res, int field)
{
    const char *s = res ? PQresultErrorField(res, field) : NULL;

    return s ? s : "";
}

bool res_is_error(const PGresult *res)
{
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;

    return res && st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK;
}

/* 0, or how a statement failed. After FATAL or PANIC the server closes the connection. */
int res_err(const PGresult *res)
{
    const char *severity = res_field(res, PG_DIAG_SEVERITY_NONLOCALIZED);
    const char *state = res_field(res, PG_DIAG_SQLSTATE);

    if (!res_is_error(res))
        return 0;
    if (strcmp(severity, "FATAL") == 0 || strcmp(severity, "PANIC") == 0 ||
        strncmp(state, "08", 2) == 0)
        return -ENOTCONN;
    if (strcmp(state, "57014") == 0) /* statement_timeout, or a cancel */
        return -ETIMEDOUT;
    return -EIO;
}

struct db_rows rows_make(PGresult *res, const char *why)
{
    struct db_rows rows = {.res = res, .error = why, .sqlstate = res_field(res, PG_DIAG_SQLSTATE)};

    if (!rows.error)
        rows.error = res_field(res, PG_DIAG_MESSAGE_PRIMARY);
    if (!rows.error[0] && res_is_error(res))
        rows.error = PQresultStatus(res) == PGRES_EMPTY_QUERY ? "the statement is empty"
                                                              : "PostgreSQL reported an error";
    return rows;
}

/* Keeps an error result, clears any other (its rows mean nothing after a failure). */
PGresult *res_if_error(PGresult *res)
{
    if (res_is_error(res))
        return res;
    PQclear(res);
    return NULL;
}

bool rows_deliver(struct db_pool *pool, db_done_fn *done, void *arg, struct db_rows *rows, int err)
{
    done(rows, err, arg);
    PQclear(rows->res);
    return pool->closing;
}

/* ---- reading results (db.h) -------------------------------------------------------------- */

int db_rows_count(const struct db_rows *rows)
{
    return rows->res ? PQntuples(rows->res) : 0;
}

int db_rows_columns(const struct db_rows *rows)
{
    return rows->res ? PQnfields(rows->res) : 0;
}

const char *db_rows_get(const struct db_rows *rows, int row, int col)
{
    if (!rows->res || row < 0 || col < 0 || row >= PQntuples(rows->res) ||
        col >= PQnfields(rows->res) || PQgetisnull(rows->res, row, col))
        return NULL;
    return PQgetvalue(rows->res, row, col);
}

long long db_rows_affected(const struct db_rows *rows)
{
    int64_t n;

    if (!rows->res || parse_i64(PQcmdTuples(rows->res), 0, INT64_MAX, &n) < 0)
        return 0;
    return n;
}

const char *db_rows_error(const struct db_rows *rows)
{
    return rows->error ? rows->error : "";
}

const char *db_rows_sqlstate(const struct db_rows *rows)
{
    return rows->sqlstate ? rows->sqlstate : "";
}
