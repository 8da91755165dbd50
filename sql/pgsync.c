/* pgsync.c - blocking libpq: connect, run one statement, one-line error sentences. */
#include "sql/pgsync.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "lib/err.h"
#include "lib/log.h"
#include "sql/db.h"
#include "sql/pgurl.h"

/* The server's NOTICE and WARNING messages (a migration's "already exists, skipping") as
 * log lines, quoted, instead of libpq's default: raw text on stderr. */
static void notice_on_receive(void *arg, const PGresult *res)
{
    const char *severity = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
    const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);

    (void)arg;
    log_write(severity && strcmp(severity, "WARNING") == 0 ? LOG_LEVEL_WARN : LOG_LEVEL_DEBUG,
              "event=db_notice severity=%s msg=%s", log_q(severity ? severity : "NOTICE"),
              log_q(msg ? msg : ""));
}

PGconn *pgsync_connect(const char *conninfo, const char *application_name, struct err *err)
{
    static const char *const keys[] = {"dbname", "application_name", "connect_timeout", NULL};
    char *libpq = pgurl_libpq(conninfo, application_name); /* Prisma's parameters out */
    const char *values[] = {libpq, application_name, "10", NULL};
    char why[ERR_MSG_MAX];
    PGconn *conn = NULL;
    int r = db_conninfo_check(libpq, err); /* libpq's own message could show a password */

    if (r == 0)
        conn = PQconnectdbParams(keys, values, 1);
    free(libpq);
    if (r < 0)
        return NULL;
    if (!conn) {
        err_set(err, -ENOMEM, "out of memory");
        return NULL;
    }
    if (PQstatus(conn) != CONNECTION_OK) {
        err_set(err, -ENOTCONN, "cannot connect to PostgreSQL: %s",
                db_connect_error(PQerrorMessage(conn), conninfo, why, sizeof(why)));
        PQfinish(conn);
        return NULL;
    }
    (void)PQsetNoticeReceiver(conn, notice_on_receive, NULL);
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
