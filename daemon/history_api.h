/* history_api.h - the dashboard's GET /api/metrics: per class and queue over the last hour or
 * day, from the per-minute and per-quarter-hour hashes finish.lua keeps (queue/tally.h) and,
 * with PostgreSQL, nexus.job_history (sql/history_read.h). */
#ifndef HISTORY_API_H
#define HISTORY_API_H

struct ev_loop;
struct httpd_req;
struct rconn;
struct db_pool;
struct history_api; /* opaque */

/* Reads through `conn` (borrowed: the dashboard's connection, which must be freed before
 * the history_api so that a read under way answers its requests). `ns` is copied. Caller
 * owns it, release with history_api_free() (accepts NULL). */
struct history_api *history_api_new(struct ev_loop *loop, struct rconn *conn, const char *ns);
void history_api_free(struct history_api *ha);
/* With a pool (borrowed, outliving its use: set NULL before freeing it), each read also asks
 * nexus.job_history for the classes' attempts, failures and exact duration percentiles
 * (sql/history_read.h), which replace the counters' in the answer ("source": "postgresql");
 * when that query fails the answer is the counters' with "postgresql_error". */
void history_api_set_pool(struct history_api *ha, struct db_pool *pool);
/* Answers `req` (GET /api/metrics?window=hour|day), exactly once: from the answer read at
 * most HISTORY_API_FRESH_S ago, else after one read that every request waiting for the same
 * window shares; 400 for another window, 503 when Redis is down or too many wait. */
void history_api_serve(struct history_api *ha, struct httpd_req *req);

#define HISTORY_API_FRESH_S 5.0

#endif
