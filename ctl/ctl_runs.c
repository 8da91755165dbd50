/* ctl_runs.c - `nexusctl runs [CLASS]`: recent steps of command classes from
 * nexus.command_runs, newest first. */
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

/* One JSON object per row, so that both outputs read the same fields. */
static const char runs_sql[] =
    "SELECT row_to_json(r)::text FROM (SELECT jid, class, queue, attempt, step, nsteps, argv, "
    "workdir, status, exit_code, signal, extract(epoch FROM started_at)::float8 AS started_at, "
    "extract(epoch FROM finished_at)::float8 AS finished_at, duration_ms, output, "
    "output_dropped, result, error, host, pid FROM nexus.command_runs "
    "WHERE ($1::text IS NULL OR class = $1) AND ($2::text IS NULL OR jid = $2) "
    "ORDER BY started_at DESC, id DESC LIMIT $3::integer) r";

static int runs_query(const struct cfg *cfg, const char *const params[3], json_t *ret_list,
                      struct err *err)
{
    PGconn *conn = pgsync_connect(ctl_db_url(cfg), "nexusctl", err);
    PGresult *res = NULL;
    json_error_t jerr;
    int r;

    if (!conn)
        return err->code;
    r = pgsync_exec(conn, "reading nexus.command_runs", runs_sql, 3, params, &res, err);
    for (int i = 0; r == 0 && i < PQntuples(res); i++) {
        json_t *row = json_loads(PQgetvalue(res, i, 0), 0, &jerr);
        if (row)
            (void)json_array_append_new(ret_list, row);
        else
            r = err_set(err, -EIO, "nexus.command_runs gave a row that is not JSON: %s",
                        jerr.text);
    }
    PQclear(res);
    PQfinish(conn);
    return r;
}

static const char *str(const json_t *row, const char *key)
{
    return json_string_value(json_object_get(row, key));
}

/* "12" or "KILL" or "-": how the step's process ended. */
static const char *ended(const json_t *row, char *buf, size_t size)
{
    const json_t *code = json_object_get(row, "exit_code");

    if (json_is_integer(code)) {
        (void)snprintf(buf, size, "%lld", (long long)json_integer_value(code));
        return buf;
    }
    if (str(row, "signal")) {
        (void)snprintf(buf, size, "SIG%s", str(row, "signal"));
        return buf;
    }
    return NULL;
}

static void runs_print_table(const json_t *list, bool output)
{
    static const char *const headers[] = {"STARTED", "CLASS", "JID",      "STEP",
                                          "STATUS",  "EXIT",  "DURATION", "ERROR"};
    struct ctl_table *t = ctl_table_new(8, headers, 0);
    char when[CTL_FMT_TIME_BUF], age[CTL_FMT_AGE_BUF], step[32], how[32];
    size_t i;
    json_t *row;

    json_array_foreach(list, i, row)
    {
        const char *cells[8] = {
            ctl_fmt_time(json_number_value(json_object_get(row, "started_at")), when),
            str(row, "class"),
            str(row, "jid"),
            step,
            str(row, "status"),
            ended(row, how, sizeof(how)),
            ctl_fmt_age(json_number_value(json_object_get(row, "duration_ms")) / 1000.0, age),
            str(row, "error"),
        };
        (void)snprintf(step, sizeof(step), "%lld/%lld",
                       (long long)json_integer_value(json_object_get(row, "step")),
                       (long long)json_integer_value(json_object_get(row, "nsteps")));
        ctl_table_add(t, cells);
    }
    ctl_table_print(t, stdout);
    ctl_table_free(t);
    json_array_foreach(list, i, row)
    {
        const char *text = str(row, "output") ? str(row, "output") : "";
        char *cls;

        if (!output)
            break;
        cls = ctl_fmt_escape(str(row, "class") ? str(row, "class") : "");
        printf("\n== %s %s step %lld/%lld: %s (%lld earlier bytes dropped)\n", cls ? cls : "?",
               str(row, "jid"), (long long)json_integer_value(json_object_get(row, "step")),
               (long long)json_integer_value(json_object_get(row, "nsteps")), str(row, "status"),
               (long long)json_integer_value(json_object_get(row, "output_dropped")));
        free(cls);
        ctl_fmt_write(stdout, text, strlen(text), true); /* a terminal obeys none of it */
    }
}

static int runs_run(struct ctl *ctl, int argc, char **argv, struct err *err)
{
    const char *limit = NULL, *jid = NULL, *pos[1] = {NULL};
    bool output = false;
    const struct ctl_opt opts[] = {
        {"limit", true, &limit, NULL, 0},
        {"jid", true, &jid, NULL, 0},
        {"output", false, NULL, &output, 0},
    };
    const struct cfg *cfg;
    const char *params[3];
    json_t *list;
    uint32_t n;
    int r;

    r = ctl_parse_args(ctl, argc, argv, opts, 3, pos, 1, err);
    if (r != 0)
        return r;
    if (limit && parse_u32(limit, 1, 100000, &n) < 0)
        return err_set(err, CTL_EUSAGE, "--limit must be 1..100000 (got '%s')", limit);
    cfg = ctl_cfg_db(ctl, "runs", err);
    if (!cfg)
        return err->code;
    list = json_array();
    params[0] = pos[0];
    params[1] = jid;
    params[2] = limit ? limit : "20";
    r = runs_query(cfg, params, list, err);
    if (r == 0 && json_array_size(list) == 0 && (jid || pos[0]))
        r = err_set(err, CTL_ENOTFOUND, "no command runs%s%s%s%s", pos[0] ? " of class " : "",
                    pos[0] ? pos[0] : "", jid ? " for jid " : "", jid ? jid : "");
    if (r == 0 && ctl->json) {
        json_t *out = json_pack("{s:O}", "runs", list);
        r = ctl_fmt_json(out, err);
        json_decref(out);
    } else if (r == 0) {
        runs_print_table(list, output);
    }
    json_decref(list);
    return r;
}

const struct ctl_command ctl_cmd_runs = {
    .name = "runs",
    .args = "[CLASS] [--jid JID] [--limit N] [--output] [--json]",
    .summary = "show recent steps of command classes (nexus.command_runs)",
    .help = "Lists the steps of command classes, newest first: start time, class, jid,\n"
            "step, status (ok, failed, timeout, cancelled, spawn_error), exit status or\n"
            "signal, duration and error. CLASS or --jid JID narrow the list; --limit N\n"
            "shows at most N steps (20); --output prints each step's output tail after\n"
            "the table (--json always has it, with the parsed result). Reads database.url\n"
            "(or DATABASE_URL). Exit status 3 when a class or jid has no runs.\n",
    .json = true,
    .run = runs_run,
};
