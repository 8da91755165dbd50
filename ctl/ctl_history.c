/* ctl_history.c - `nexusctl history JID`: a job's attempts from nexus.job_history. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "conf/cfg.h"
#include "ctl/ctl.h"
#include "ctl/ctl_fmt.h"
#include "ctl/ctl_table.h"
#include "lib/err.h"
#include "lib/parse.h"
#include "sql/pgsync.h"

static const char history_sql[] =
    "SELECT attempt, outcome, queue, extract(epoch FROM started_at), "
    "extract(epoch FROM finished_at), round(duration_ms::numeric, 3), error_class, error, "
    "process, class FROM nexus.job_history WHERE jid = $1 ORDER BY finished_at, id LIMIT $2";

enum {
    C_ATTEMPT,
    C_OUTCOME,
    C_QUEUE,
    C_STARTED,
    C_FINISHED,
    C_MS,
    C_ECLASS,
    C_ERROR,
    C_PROCESS,
    C_CLASS
};

static int history_query(const struct cfg *cfg, const char *jid, const char *limit, PGresult **ret,
                         struct err *err)
{
    const char *params[] = {jid, limit};
    PGconn *conn = pgsync_connect(ctl_db_url(cfg), "nexusctl", err);
    int r;

    if (!conn)
        return err->code;
    r = pgsync_exec(conn, "reading nexus.job_history", history_sql, 2, params, ret, err);
    PQfinish(conn);
    return r;
}

static const char *cell(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

static double seconds(const PGresult *res, int row, int col)
{
    double v = 0;

    (void)parse_double(PQgetvalue(res, row, col), 0, 1e12, &v);
    return v;
}

static int history_print_json(const PGresult *res, const char *jid, struct err *err)
{
    json_t *out = json_pack("{s:s, s:[]}", "jid", jid, "attempts"), *list;
    int r;

    if (!out)
        return err_set(err, -EINVAL, "the jid is not UTF-8: it cannot be shown as JSON");
    list = json_object_get(out, "attempts");
    for (int i = 0; i < PQntuples(res); i++) {
        double ms = 0;
        int64_t attempt = 0;
        (void)parse_double(PQgetvalue(res, i, C_MS), 0, 1e15, &ms);
        (void)parse_i64(PQgetvalue(res, i, C_ATTEMPT), 0, INT32_MAX, &attempt);
        (void)json_array_append_new(
            list, json_pack("{s:I, s:s, s:s, s:s, s:f, s:f, s:f, s:s?, s:s?, s:s}", "attempt",
                            (json_int_t)attempt, "class", cell(res, i, C_CLASS), "outcome",
                            cell(res, i, C_OUTCOME), "queue", cell(res, i, C_QUEUE), "started_at",
                            seconds(res, i, C_STARTED), "finished_at", seconds(res, i, C_FINISHED),
                            "duration_ms", ms, "error_class", cell(res, i, C_ECLASS), "error",
                            cell(res, i, C_ERROR), "process", cell(res, i, C_PROCESS)));
    }
    r = ctl_fmt_json(out, err);
    json_decref(out);
    return r;
}

static void history_print_table(const PGresult *res)
{
    static const char *const headers[] = {"ATTEMPT",     "OUTCOME", "QUEUE", "FINISHED",
                                          "DURATION_MS", "PROCESS", "ERROR"};
    struct ctl_table *t = ctl_table_new(7, headers, 1u | 16u);
    char when[CTL_FMT_TIME_BUF], error[1200];

    for (int i = 0; i < PQntuples(res); i++) {
        const char *ec = cell(res, i, C_ECLASS), *e = cell(res, i, C_ERROR);
        const char *cells[7] = {
            PQgetvalue(res, i, C_ATTEMPT),
            PQgetvalue(res, i, C_OUTCOME),
            PQgetvalue(res, i, C_QUEUE),
            ctl_fmt_time(seconds(res, i, C_FINISHED), when),
            PQgetvalue(res, i, C_MS),
            PQgetvalue(res, i, C_PROCESS),
            NULL,
        };
        if (ec) {
            (void)snprintf(error, sizeof(error), "%s: %.1100s", ec, e ? e : "");
            cells[6] = error;
        }
        ctl_table_add(t, cells);
    }
    ctl_table_print(t, stdout);
    ctl_table_free(t);
}

static int history_run(struct ctl *ctl, int argc, char **argv, struct err *err)
{
    const char *limit = NULL, *pos[1] = {NULL};
    const struct ctl_opt opts[] = {{"limit", true, &limit, NULL, 0}};
    const struct cfg *cfg;
    PGresult *res = NULL;
    uint32_t n;
    int r;

    r = ctl_parse_args(ctl, argc, argv, opts, 1, pos, 1, err);
    if (r != 0)
        return r;
    if (!pos[0])
        return err_set(err, CTL_EUSAGE, "history needs a JID");
    if (limit && parse_u32(limit, 1, 100000, &n) < 0)
        return err_set(err, CTL_EUSAGE, "--limit must be 1..100000 (got '%s')", limit);
    cfg = ctl_cfg_db(ctl, "history", err);
    if (!cfg)
        return err->code;
    r = history_query(cfg, pos[0], limit ? limit : "100", &res, err);
    if (r < 0)
        return r;
    if (PQntuples(res) == 0) {
        PQclear(res);
        return err_set(err, CTL_ENOTFOUND, "no history for jid %s", pos[0]);
    }
    if (ctl->json)
        r = history_print_json(res, pos[0], err);
    else
        history_print_table(res);
    PQclear(res);
    return r;
}

const struct ctl_command ctl_cmd_history = {
    .name = "history",
    .args = "JID [--limit N] [--json]",
    .summary = "show a job's attempts from PostgreSQL (nexus.job_history)",
    .help = "Shows every recorded attempt of the job, oldest first: attempt, outcome, queue,\n"
            "finish time, duration, the process that ran it and the error. Reads\n"
            "database.url (or DATABASE_URL). --limit N shows at most N attempts (100).\n"
            "Exit status 3 when the jid has no history.\n",
    .json = true,
    .run = history_run,
};
