/* pgsync.c - blocking libpq: connect, run one statement, one-line error sentences. */
#include "pgsync.h"

#include <errno.h>
#include <string.h>

#include <libpq-fe.h>

#include "daemon/err.h"

PGconn *pgsync_connect(const char *conninfo, const char *application_name, struct err *err)
{
    static const char *const keys[] = {"dbname", "application_name", "connect_timeout", NULL};
    const char *values[] = {conninfo, application_name, "10", NULL};
    PGconn *conn = PQconnectdbParams(keys, values, 1);

    if (!conn) {
        err_set(err, -ENOMEM, "out of memory");
        return NULL;
    }
    if (PQstatus(conn) != CONNECTION_OK) {
        err_set(err, -ENOTCONN, "cannot connect to PostgreSQL: %s", PQerrorMessage(conn));
        err->msg[strcspn(err->msg, "\n")] = '\0';
        PQfinish(conn);
        return NULL;
    }
    return conn;
}

int pgsync_exec(PGconn *conn, const char *what, const char *sql, int n, const char *const *params,
                PGresult **ret, struct err *err)
{
    PGresult *res = n ? PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0) : PQexec(conn, sql);
    ExecStatusType st = PQresultStatus(res);

    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        err_set(err, -EIO, "%s: %s", what, res ? PQresultErrorMessage(res) : PQerrorMessage(conn));
        err->msg[strcspn(err->msg, "\n")] = '\0';
        PQclear(res);
        return -EIO;
    }
    if (ret)
        *ret = res;
    else
        PQclear(res);
    return 0;
}
