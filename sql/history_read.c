/* history_read.c - one bounded aggregate over a recent window of nexus.job_history. */
#include "sql/history_read.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#include "lib/xalloc.h"
#include "sql/db.h"

/* The window is found through the BRIN index on finished_at; deferrals and duplicates are not
 * attempts. percentile_cont sorts each class's durations of the window. */
static const char read_sql[] =
    "SELECT class, jobs, failed, p[1], p[2], p[3], count(*) OVER () FROM ("
    "SELECT class, count(*) AS jobs, count(*) FILTER (WHERE outcome <> 'ok') AS failed, "
    "percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY duration_ms) AS p "
    "FROM nexus.job_history "
    "WHERE finished_at >= now() - make_interval(secs => $1::float8) "
    "AND outcome IN ('ok', 'retry', 'dead', 'discarded') "
    "GROUP BY class) AS t ORDER BY jobs DESC, class LIMIT $2::int";

struct read {
    history_read_fn *done;
    void *arg;
};

static json_t *ms_of(const char *text)
{
    return text ? json_real(round(strtod(text, NULL) * 1000) / 1000) : json_null();
}

static void read_on_done(const struct db_rows *rows, int err, void *arg)
{
    struct read *rd = arg;
    json_t *classes;
    long total = 0;

    if (err < 0) {
        rd->done(NULL, 0, err, db_rows_error(rows), rd->arg);
        free(rd);
        return;
    }
    classes = json_array();
    for (int i = 0; i < db_rows_count(rows); i++) {
        long long jobs = strtoll(db_rows_get(rows, i, 1), NULL, 10);
        long long failed = strtoll(db_rows_get(rows, i, 2), NULL, 10);
        total = strtol(db_rows_get(rows, i, 6), NULL, 10);
        json_array_append_new(
            classes,
            json_pack("{s:s, s:I, s:I, s:f, s:{s:o, s:o, s:o}}", "class", db_rows_get(rows, i, 0),
                      "jobs", (json_int_t)jobs, "failed", (json_int_t)failed, "failure_rate",
                      jobs ? round((double)failed / (double)jobs * 10000) / 10000 : 0.0,
                      "duration_ms", "p50", ms_of(db_rows_get(rows, i, 3)), "p95",
                      ms_of(db_rows_get(rows, i, 4)), "p99", ms_of(db_rows_get(rows, i, 5))));
    }
    rd->done(classes, total, 0, NULL, rd->arg);
    free(rd);
}

int history_read(struct db_pool *pool, double window_s, unsigned max_classes,
                 history_read_fn *done, void *arg)
{
    char secs[32], limit[16];
    const char *params[] = {secs, limit};
    struct read *rd = xcalloc(1, sizeof(*rd));
    int r;

    (void)snprintf(secs, sizeof(secs), "%.3f",
                   window_s < HISTORY_READ_WINDOW_MAX_S ? window_s : HISTORY_READ_WINDOW_MAX_S);
    (void)snprintf(limit, sizeof(limit), "%u", max_classes);
    rd->done = done;
    rd->arg = arg;
    r = db_query(pool, read_sql, params, 2, read_on_done, rd);
    if (r < 0)
        free(rd);
    return r;
}
