/* lazy_pq.c - every libpq function nexusd and nexusctl call, defined as a call into libpq
 * loaded at its first use (lib/lazy.h). A function the sources start to call and this file
 * lacks fails the link ("undefined reference"): add it to the list, with the prototype of
 * <libpq-fe.h>, which the compiler checks against ours. */
#include "sql/lazy_pq.h"

#include <libpq-fe.h>

#include "lib/lazy.h"

/* The functions (lib/lazy.h's LIST). */
#define PQ_FUNCTIONS(X, V, N)                                                                      \
    V(PQclear, (PGresult * res), (res))                                                            \
    X(char *, PQcmdStatus, (PGresult * res), (res))                                                \
    X(char *, PQcmdTuples, (PGresult * res), (res))                                                \
    X(PostgresPollingStatusType, PQconnectPoll, (PGconn * conn), (conn))                           \
    X(PGconn *, PQconnectStartParams,                                                              \
      (const char *const *keywords, const char *const *values, int expand_dbname),                 \
      (keywords, values, expand_dbname))                                                           \
    X(PGconn *, PQconnectdbParams,                                                                 \
      (const char *const *keywords, const char *const *values, int expand_dbname),                 \
      (keywords, values, expand_dbname))                                                           \
    V(PQconninfoFree, (PQconninfoOption * options), (options))                                     \
    X(PQconninfoOption *, PQconninfoParse, (const char *conninfo, char **errmsg),                  \
      (conninfo, errmsg))                                                                          \
    X(int, PQconsumeInput, (PGconn * conn), (conn))                                                \
    X(int, PQenterPipelineMode, (PGconn * conn), (conn))                                           \
    X(char *, PQerrorMessage, (const PGconn *conn), (conn))                                        \
    X(PGresult *, PQexec, (PGconn * conn, const char *query), (conn, query))                       \
    X(PGresult *, PQexecParams,                                                                    \
      (PGconn * conn, const char *command, int nparams, const Oid *types,                          \
       const char *const *values, const int *lengths, const int *formats, int result_format),      \
      (conn, command, nparams, types, values, lengths, formats, result_format))                    \
    X(int, PQexitPipelineMode, (PGconn * conn), (conn))                                            \
    V(PQfinish, (PGconn * conn), (conn))                                                           \
    X(int, PQflush, (PGconn * conn), (conn))                                                       \
    V(PQfreemem, (void *ptr), (ptr))                                                               \
    X(int, PQgetCopyData, (PGconn * conn, char **buffer, int async), (conn, buffer, async))        \
    X(PGresult *, PQgetResult, (PGconn * conn), (conn))                                            \
    X(int, PQgetisnull, (const PGresult *res, int row, int field), (res, row, field))              \
    X(char *, PQgetvalue, (const PGresult *res, int row, int field), (res, row, field))            \
    X(int, PQisBusy, (PGconn * conn), (conn))                                                      \
    X(int, PQnfields, (const PGresult *res), (res))                                                \
    X(PGnotify *, PQnotifies, (PGconn * conn), (conn))                                             \
    X(int, PQntuples, (const PGresult *res), (res))                                                \
    X(int, PQpipelineSync, (PGconn * conn), (conn))                                                \
    X(int, PQputCopyEnd, (PGconn * conn, const char *errormsg), (conn, errormsg))                  \
    X(char *, PQresultErrorField, (const PGresult *res, int fieldcode), (res, fieldcode))          \
    X(char *, PQresultErrorMessage, (const PGresult *res), (res))                                  \
    X(ExecStatusType, PQresultStatus, (const PGresult *res), (res))                                \
    X(int, PQsendPrepare,                                                                          \
      (PGconn * conn, const char *name, const char *query, int nparams, const Oid *types),         \
      (conn, name, query, nparams, types))                                                         \
    X(int, PQsendQuery, (PGconn * conn, const char *query), (conn, query))                         \
    X(int, PQsendQueryParams,                                                                      \
      (PGconn * conn, const char *command, int nparams, const Oid *types,                          \
       const char *const *values, const int *lengths, const int *formats, int result_format),      \
      (conn, command, nparams, types, values, lengths, formats, result_format))                    \
    X(int, PQsendQueryPrepared,                                                                    \
      (PGconn * conn, const char *name, int nparams, const char *const *values,                    \
       const int *lengths, const int *formats, int result_format),                                 \
      (conn, name, nparams, values, lengths, formats, result_format))                              \
    X(PQnoticeReceiver, PQsetNoticeReceiver, (PGconn * conn, PQnoticeReceiver proc, void *arg),    \
      (conn, proc, arg))                                                                           \
    X(int, PQsetnonblocking, (PGconn * conn, int arg), (conn, arg))                                \
    X(int, PQsocket, (const PGconn *conn), (conn))                                                 \
    X(ConnStatusType, PQstatus, (const PGconn *conn), (conn))                                      \
    X(PGTransactionStatusType, PQtransactionStatus, (const PGconn *conn), (conn))

LAZY_TABLE(pq_lib, "libpq.so.5", PQ_FUNCTIONS);
#define LAZY_LIB pq_lib

int lazy_pq_load(const char **ret_why)
{
    return lazy_load(&pq_lib, ret_why);
}

PQ_FUNCTIONS(LAZY_DEFINE, LAZY_DEFINE_V, LAZY_SKIP)
