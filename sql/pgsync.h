/* pgsync.h - blocking libpq for what runs before or without the loop: nexusd's migrations
 * at start-up and `nexusd migrate`, and nexusctl's reads. Never for use on the loop. */
#ifndef PGSYNC_H
#define PGSYNC_H

struct err;
struct pg_conn;   /* libpq's PGconn */
struct pg_result; /* libpq's PGresult */

/* Connects to `conninfo` (a URL or key=value string) as `application_name` (borrowed), with
 * a 10 s connect timeout. Caller owns the connection, release with PQfinish(). Returns NULL
 * with a one-line sentence in `err` ("cannot connect to PostgreSQL: ..."). */
struct pg_conn *pgsync_connect(const char *conninfo, const char *application_name, struct err *err);
/* Runs `sql` with `n` text parameters (none: simple query, several statements allowed).
 * Returns 0 and writes the result to *ret (caller owns it, release with PQclear()), or clears
 * it when `ret` is NULL; or -EIO with PostgreSQL's sentence, on one line, prefixed by `what`
 * ("reading nexus.job_history: ..."). */
int pgsync_exec(struct pg_conn *conn, const char *what, const char *sql, int n,
                const char *const *params, struct pg_result **ret, struct err *err);

#endif
