/* ctl_sets.c - nexusctl dead|retry|scheduled: list, show, run and delete the jobs of a
 * sorted set; one implementation, parameterised by the set. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>
#include <jansson.h>

#include "ctl/ctl.h"
#include "ctl/ctl_fmt.h"
#include "ctl/ctl_redis.h"
#include "ctl/ctl_table.h"
#include "lib/err.h"
#include "lib/job.h"
#include "lib/parse.h"
#include "lib/util.h"
#include "lib/xalloc.h"
#include "queue/keys.h"
#include "queue/move.h"
#include "queue/rconn.h"
#include "queue/rerun.h"

#define LIST_DEFAULT_LIMIT 50
#define LIST_MAX_LIMIT 1000000
/* Characters of "error_class: error_message" shown in a table. */
#define LIST_ERROR_WIDTH 80
/* Members asked for by each ZSCAN step. */
#define SCAN_COUNT "500"
/* Jobs moved by one EVAL of move.lua. */
#define MOVE_BATCH 100
/* Bytes of a jid quoted back in a sentence. */
#define JID_SHOWN 80

/* One of Sidekiq's sorted sets of jobs. */
struct set_kind {
    const char *name;                /* the command: dead, retry, scheduled */
    const char *key;                 /* the set, before the namespace (as shown) */
    char *(*key_of)(const char *ns); /* the set's key: queue/keys.h */
    bool newest_first;               /* list order: dead shows the latest deaths first */
    bool retry_again; /* run gives one more attempt (retry_count - 1), as Sidekiq does */
};

static const struct set_kind kinds[] = {
    {"dead", "dead", keys_dead, true, true},
    {"retry", "retry", keys_retry, false, true},
    {"scheduled", "schedule", keys_schedule, false, false},
};

/* A run on one set. */
struct set_ctx {
    const struct set_kind *kind;
    struct ctl_redis *c; /* borrowed */
    const char *ns;         /* borrowed */
    char *key;              /* owned: the set's full key */
    double now;             /* epoch s */
};

/* One member as read: borrowed from the reply and the scan, valid during a callback. */
struct member {
    const char *text; /* the job as stored */
    size_t len;
    const char *score;     /* Redis's text of the score */
    struct job *job;       /* decoded; a wrapper when the text is not a JSON object */
    const struct err *why; /* why->code < 0: the job is invalid, why->msg says why */
};

/* Returns 0 to go on, 1 to stop the scan, or a negative errno. */
typedef int member_fn(struct set_ctx *sc, const struct member *m, void *arg, struct err *err);

/* --- reading members -------------------------------------------------------------------- */

static int set_open(struct ctl *ctl, const struct set_kind *kind, struct set_ctx *sc,
                    struct err *err)
{
    sc->kind = kind;
    sc->c = ctl_redis(ctl, err);
    if (!sc->c)
        return err->code;
    sc->ns = ctl_ns(ctl);
    sc->now = util_now();
    sc->key = kind->key_of(sc->ns);
    return 0;
}

static void set_close(struct set_ctx *sc)
{
    free(sc->key);
}

/* Decodes each (member, score) pair of `pairs` and calls `fn` for those with jid `jid`
 * (NULL: all). Adds the members passed to `fn` to *matched. */
static int pairs_visit(struct set_ctx *sc, const redisReply *pairs, const char *jid, member_fn *fn,
                       void *arg, size_t *matched, struct err *err)
{
    int r = 0;

    for (size_t i = 0; r == 0 && i + 1 < pairs->elements; i += 2) {
        const redisReply *m = pairs->element[i], *s = pairs->element[i + 1];
        struct err why = {0};
        struct member mem = {m->str, m->len, s->str, NULL, &why};

        if (m->type != REDIS_REPLY_STRING || s->type != REDIS_REPLY_STRING)
            return err_set(err, -EPROTO, "Redis gave a member or score that is not a string");
        /* a member that does not decode still gives a job, and `why` says what is wrong */
        (void)job_decode(m->str, m->len, NULL, rerun_member_seed(m->str, m->len), &mem.job, &why);
        if (!jid || strcmp(job_jid(mem.job), jid) == 0) {
            ++*matched;
            r = fn(sc, &mem, arg, err);
        }
        job_free(mem.job);
    }
    return r;
}

/* Every member of the set (ZSCAN: each present throughout at least once) with jid `jid`
 * (NULL: all), until `fn` says stop. Writes how many were passed to `fn`. */
static int set_scan(struct set_ctx *sc, const char *jid, member_fn *fn, void *arg,
                    size_t *ret_matched, struct err *err)
{
    char cursor[32] = "0";
    redisReply *reply = NULL;
    size_t matched = 0;
    int r;

    do {
        r = ctl_redis_cmd(sc->c, &reply, err, "ZSCAN", sc->key, cursor, "COUNT", SCAN_COUNT, NULL);
        if (r < 0)
            return r;
        if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
            reply->element[0]->type != REDIS_REPLY_STRING ||
            reply->element[1]->type != REDIS_REPLY_ARRAY)
            r = err_set(err, -EPROTO, "Redis replied to ZSCAN with something unexpected");
        else
            (void)snprintf(cursor, sizeof(cursor), "%s", reply->element[0]->str);
        if (r == 0)
            r = pairs_visit(sc, reply->element[1], jid, fn, arg, &matched, err);
        freeReplyObject(reply);
    } while (r == 0 && strcmp(cursor, "0") != 0);
    *ret_matched = matched;
    return r < 0 ? r : 0;
}

static int not_found(const struct set_ctx *sc, const char *jid, struct err *err)
{
    return err_set(err, CTL_ENOTFOUND, "no job with jid %.*s in %s", JID_SHOWN, jid, sc->kind->key);
}

/* --- the JSON of a member --------------------------------------------------------------- */

static double score_value(const struct member *m)
{
    double v = 0;

    (void)parse_double(m->score, -INFINITY, INFINITY, &v);
    return v;
}

/* A JSON string of a sentence that may hold bytes from outside (not always UTF-8). */
static json_t *sentence_json(const char *s)
{
    json_t *v = json_string(s);

    return v ? v : json_string("(not valid UTF-8)");
}

/* What list shows of a job. New reference. */
static json_t *entry_json(const struct member *m)
{
    json_t *root = job_root(m->job);
    char when[CTL_FMT_TIME_BUF];
    double score = score_value(m);
    int count = job_retry_count(m->job);

    return json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:s, s:o, s:o, s:o}", "jid", job_jid(m->job),
                     "class", job_class(m->job), "queue", job_queue(m->job), "args",
                     ctl_fmt_ref(json_object_get(root, "args")), "retry_count",
                     count >= 0 ? json_integer(count) : json_null(), "score",
                     isfinite(score) ? json_real(score) : json_null(), "when",
                     ctl_fmt_time(score, when), "error_class",
                     ctl_fmt_ref(json_object_get(root, "error_class")), "error_message",
                     ctl_fmt_ref(json_object_get(root, "error_message")), "invalid",
                     m->why->code < 0 ? sentence_json(m->why->msg) : json_null());
}

/* --- list ------------------------------------------------------------------------------- */

struct list_acc {
    json_t *jobs; /* borrowed: the array being filled */
};

static int list_on_member(struct set_ctx *sc, const struct member *m, void *arg, struct err *err)
{
    struct list_acc *acc = arg;

    (void)json_array_append_new(acc->jobs, entry_json(m));
    return 0;
}

/* "error_class: error_message" on one line, or why the job is invalid. Caller frees. */
static char *error_cell(const json_t *entry)
{
    const char *cls = json_string_value(json_object_get(entry, "error_class"));
    const char *msg = json_string_value(json_object_get(entry, "error_message"));
    const char *invalid = json_string_value(json_object_get(entry, "invalid"));
    char *text, *cell;

    if (cls || msg)
        text = xasprintf("%s%s%s", cls ? cls : "", cls && msg ? ": " : "", msg ? msg : "");
    else if (invalid)
        text = xasprintf("invalid job: %s", invalid);
    else
        text = xstrdup("");
    cell = ctl_fmt_line(text, LIST_ERROR_WIDTH);
    free(text);
    return cell;
}

/* A string field for a table cell: NULL (shown as "-") when empty. */
static const char *text_or_null(const json_t *v)
{
    const char *s = json_string_value(v);

    return s && *s ? s : NULL;
}

static void list_print(const struct set_ctx *sc, const json_t *jobs, long long size)
{
    static const char *const headers[] = {"JID", "CLASS", "QUEUE", "RETRY_COUNT", "WHEN", "ERROR"};
    struct ctl_table *t;
    const json_t *e;
    char count[24];
    size_t i;

    if (size == 0) {
        printf("no jobs in %s\n", sc->kind->key);
        return;
    }
    t = ctl_table_new(6, headers, 1u << 3);
    json_array_foreach(jobs, i, e)
    {
        const json_t *rc = json_object_get(e, "retry_count");
        char *error = error_cell(e);

        (void)snprintf(count, sizeof(count), "%lld", (long long)json_integer_value(rc));
        ctl_table_add(t, (const char *const[]){
                             text_or_null(json_object_get(e, "jid")),
                             text_or_null(json_object_get(e, "class")),
                             json_string_value(json_object_get(e, "queue")),
                             json_is_integer(rc) ? count : NULL,
                             json_string_value(json_object_get(e, "when")),
                             error,
                         });
        free(error);
    }
    ctl_table_print(t, stdout);
    if ((long long)json_array_size(jobs) < size)
        printf("(%zu of %lld jobs; --limit N shows more, --limit 0 all)\n", json_array_size(jobs),
               size);
    ctl_table_free(t);
}

/* The first `limit` jobs (0: all) in the set's order, as JSON entries. */
static int list_collect(struct set_ctx *sc, uint32_t limit, json_t *jobs, struct err *err)
{
    struct list_acc acc = {jobs};
    redisReply *reply = NULL;
    size_t matched = 0;
    char stop[24];
    int r;

    (void)snprintf(stop, sizeof(stop), "%lld", (long long)limit - 1);
    r = ctl_redis_cmd(sc->c, &reply, err, sc->kind->newest_first ? "ZREVRANGE" : "ZRANGE", sc->key,
                      "0", stop, "WITHSCORES", NULL);
    if (r < 0)
        return r;
    r = ctl_redis_expect(reply, REDIS_REPLY_ARRAY, "ZRANGE", err);
    if (r == 0)
        r = pairs_visit(sc, reply, NULL, list_on_member, &acc, &matched, err);
    freeReplyObject(reply);
    return r;
}

static int list_run(struct ctl *ctl, const struct set_kind *kind, int argc, char **argv,
                    struct err *err)
{
    const char *limit_arg = NULL;
    const struct ctl_opt opts[] = {{"limit", true, &limit_arg, NULL, 0}};
    uint32_t limit = LIST_DEFAULT_LIMIT;
    struct set_ctx sc = {0};
    json_t *jobs = NULL, *out;
    long long size = 0;
    int r;

    r = ctl_parse_args(ctl, argc, argv, opts, 1, NULL, 0, err);
    if (r != 0)
        return r;
    if (limit_arg && parse_u32(limit_arg, 0, LIST_MAX_LIMIT, &limit) < 0)
        return err_set(err, CTL_EUSAGE, "--limit must be a whole number 0..%d (got '%.40s')",
                       LIST_MAX_LIMIT, limit_arg);
    r = set_open(ctl, kind, &sc, err);
    if (r == 0)
        r = ctl_redis_count(sc.c, &size, err, "ZCARD", sc.key, NULL);
    jobs = json_array();
    if (r == 0)
        r = list_collect(&sc, limit, jobs, err);
    if (r == 0 && !ctl->json)
        list_print(&sc, jobs, size);
    if (r == 0 && ctl->json) {
        out =
            json_pack("{s:s, s:I, s:O}", "set", kind->key, "size", (json_int_t)size, "jobs", jobs);
        r = ctl_fmt_json(out, err);
        json_decref(out);
    }
    json_decref(jobs);
    set_close(&sc);
    return r;
}

/* --- show ------------------------------------------------------------------------------- */

/* The job as stored, indented; a text that is not JSON as it is. */
static void show_print(const struct set_ctx *sc, const struct member *m)
{
    json_t *parsed = json_loadb(m->text, m->len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    char when[CTL_FMT_TIME_BUF];

    printf("jid:     %s\nset:     %s\nscore:   %s (%s)\n", job_jid(m->job), sc->kind->key, m->score,
           ctl_fmt_time(score_value(m), when));
    if (m->why->code < 0) {
        (void)fputs("invalid: ", stdout);
        ctl_fmt_write(stdout, m->why->msg, strlen(m->why->msg), false);
        (void)fputc('\n', stdout);
    }
    if (parsed) {
        ctl_fmt_indent(m->text, m->len, stdout);
    } else {
        ctl_fmt_write(stdout, m->text, m->len, false); /* a terminal obeys none of it */
        (void)fputc('\n', stdout);
    }
    json_decref(parsed);
}

static int show_on_member(struct set_ctx *sc, const struct member *m, void *arg, struct err *err)
{
    const struct ctl *ctl = arg;
    char when[CTL_FMT_TIME_BUF];
    double score = score_value(m);
    json_t *out;
    int r;

    if (!ctl->json) {
        show_print(sc, m);
        return 1;
    }
    out = json_pack("{s:s, s:o, s:s, s:o, s:O}", "set", sc->kind->key, "score",
                    isfinite(score) ? json_real(score) : json_null(), "when",
                    ctl_fmt_time(score, when), "invalid",
                    m->why->code < 0 ? sentence_json(m->why->msg) : json_null(), "job",
                    job_root(m->job));
    r = ctl_fmt_json(out, err);
    json_decref(out);
    return r < 0 ? r : 1;
}

static int show_run(struct ctl *ctl, const struct set_kind *kind, int argc, char **argv,
                    struct err *err)
{
    struct set_ctx sc = {0};
    const char *jid;
    size_t matched = 0;
    int r;

    r = ctl_parse_args(ctl, argc, argv, NULL, 0, &jid, 1, err);
    if (r != 0)
        return r;
    if (!jid || !*jid)
        return err_set(err, CTL_EUSAGE, "'%s' needs a JID", ctl->path);
    r = set_open(ctl, kind, &sc, err);
    if (r == 0)
        r = set_scan(&sc, jid, show_on_member, ctl, &matched, err);
    if (r == 0 && matched == 0)
        r = not_found(&sc, jid, err);
    set_close(&sc);
    return r;
}

/* --- run and delete: one JID or --all --------------------------------------------------- */

/* The JID or --all of run and delete. */
static int target_parse(struct ctl *ctl, int argc, char **argv, const char **ret_jid,
                        struct err *err)
{
    bool all = false;
    const struct ctl_opt opts[] = {{"all", false, NULL, &all, 0}};
    int r;

    r = ctl_parse_args(ctl, argc, argv, opts, 1, ret_jid, 1, err);
    if (r != 0)
        return r;
    if (*ret_jid && !**ret_jid)
        return err_set(err, CTL_EUSAGE, "JID must not be empty");
    if (*ret_jid && all)
        return err_set(err, CTL_EUSAGE, "give a JID or --all, not both");
    if (!*ret_jid && !all)
        return err_set(err, CTL_EUSAGE, "'%s' needs a JID or --all", ctl->path);
    return 0;
}

static void moved_print(const char *verb, long long n)
{
    printf("%s %lld job%s\n", verb, n, n == 1 ? "" : "s");
}

/* --- run -------------------------------------------------------------------------------- */

/* Jobs on their way to their queues through move.lua. */
struct mover {
    struct move_batch *batch; /* owned; NULL when empty */
    long long moved;          /* as move.lua counted: only jobs this run removed from the set */
    size_t invalid;           /* jobs left in the set because they do not decode */
    bool one;                 /* a JID was given: an invalid job is the error */
};

static void mover_clear(struct mover *mv)
{
    move_batch_free(mv->batch);
    mv->batch = NULL;
}

/* One EVAL of move.lua for the batch (from the set to each job's queue). */
static int mover_flush(struct set_ctx *sc, struct mover *mv, struct err *err)
{
    struct rconn_eval_words w;
    redisReply *reply = NULL;
    int r;

    if (!mv->batch)
        return 0;
    move_batch_words(mv->batch, sc->now, &w);
    r = ctl_redis_argv(sc->c, w.argc, w.argv, w.lens, &reply, err);
    rconn_eval_words_clear(&w);
    if (r == 0) {
        r = ctl_redis_expect(reply, REDIS_REPLY_INTEGER, "EVAL", err);
        if (r == 0)
            mv->moved += reply->integer;
        freeReplyObject(reply);
    }
    mover_clear(mv);
    return r;
}

/* Adds the job as it goes back to its queue (rerun_prepare()). */
static void mover_add(struct set_ctx *sc, struct mover *mv, const struct member *m)
{
    if (!mv->batch)
        mv->batch = move_batch_new(sc->ns, sc->key, true);
    rerun_prepare(m->job, sc->kind->retry_again, sc->now);
    move_batch_add(mv->batch, m->text, m->len, job_encode(m->job, NULL), job_queue(m->job));
}

static int run_on_member(struct set_ctx *sc, const struct member *m, void *arg, struct err *err)
{
    struct mover *mv = arg;

    if (m->why->code < 0 && mv->one)
        return err_set(err, -EBADMSG, "job %.*s in %s is not a valid job (%s); it stays there",
                       JID_SHOWN, job_jid(m->job), sc->kind->key, m->why->msg);
    if (m->why->code < 0) {
        fprintf(stderr, "nexusctl: job %.*s in %s is not a valid job (", JID_SHOWN, job_jid(m->job),
                sc->kind->key);
        ctl_fmt_write(stderr, m->why->msg, strlen(m->why->msg), false);
        fputs("); it stays there\n", stderr);
        mv->invalid++;
        return 0;
    }
    mover_add(sc, mv, m);
    return move_batch_size(mv->batch) == MOVE_BATCH ? mover_flush(sc, mv, err) : 0;
}

static int run_run(struct ctl *ctl, const struct set_kind *kind, int argc, char **argv,
                   struct err *err)
{
    struct set_ctx sc = {0};
    struct mover mv = {0};
    size_t matched = 0;
    const char *jid;
    int r;

    r = target_parse(ctl, argc, argv, &jid, err);
    if (r != 0)
        return r;
    mv.one = jid != NULL;
    r = set_open(ctl, kind, &sc, err);
    if (r == 0)
        r = set_scan(&sc, jid, run_on_member, &mv, &matched, err);
    if (r == 0)
        r = mover_flush(&sc, &mv, err);
    else
        mover_clear(&mv);
    if (r == 0 && (!jid || mv.moved > 0))
        moved_print("moved", mv.moved);
    if (r == 0 && mv.invalid > 0)
        r = err_set(err, -EBADMSG, "%zu job%s in %s %s not valid and stayed there", mv.invalid,
                    mv.invalid == 1 ? "" : "s", kind->key, mv.invalid == 1 ? "is" : "are");
    else if (r == 0 && jid && mv.moved == 0)
        r = not_found(&sc, jid, err);
    set_close(&sc);
    return r;
}

/* --- delete ----------------------------------------------------------------------------- */

static int delete_on_member(struct set_ctx *sc, const struct member *m, void *arg, struct err *err)
{
    long long *deleted = arg;
    redisReply *reply = NULL;
    int r;

    r = ctl_redis_argv(sc->c, 3, (const char *[]){"ZREM", sc->key, m->text},
                       (const size_t[]){4, strlen(sc->key), m->len}, &reply, err);
    if (r < 0)
        return r;
    if (reply->type == REDIS_REPLY_INTEGER)
        *deleted += reply->integer;
    freeReplyObject(reply);
    return 0;
}

static int delete_run(struct ctl *ctl, const struct set_kind *kind, int argc, char **argv,
                      struct err *err)
{
    struct set_ctx sc = {0};
    long long deleted = 0;
    size_t matched = 0;
    const char *jid;
    int r;

    r = target_parse(ctl, argc, argv, &jid, err);
    if (r != 0)
        return r;
    r = set_open(ctl, kind, &sc, err);
    if (r == 0 && jid)
        r = set_scan(&sc, jid, delete_on_member, &deleted, &matched, err);
    else if (r == 0)
        r = ctl_redis_take_all(sc.c, "ZCARD", sc.key, &deleted, err);
    if (r == 0 && jid && deleted == 0)
        r = not_found(&sc, jid, err);
    if (r == 0)
        moved_print("deleted", deleted);
    set_close(&sc);
    return r;
}

/* --- the commands ----------------------------------------------------------------------- */

typedef int set_run_fn(struct ctl *ctl, const struct set_kind *kind, int argc, char **argv,
                       struct err *err);

struct set_command {
    struct ctl_command cmd; /* cmd.run is unused: `run` takes the set */
    set_run_fn *run;
    bool dead_only;
};

#define TARGET_HELP                                                                                \
    "  JID     the job's jid\n"                                                                    \
    "  --all   every job of the set\n"

static const struct set_command set_commands[] = {
    {{"list", "[--limit N] [--json]",
      "list the jobs: dead newest first, retry and scheduled soonest first",
      "Shows jid, class, queue, retry_count, the score as a time, and the last error.\n"
      "\n"
      "  --limit N   show at most N jobs (default 50; 0: all)\n",
      true, NULL},
     list_run,
     false},
    {{"show", "JID [--json]", "print a job's full JSON and its score", "", true, NULL},
     show_run,
     false},
    {{"run", "JID | --all", "push the job(s) to their queues now and print how many moved",
      "Each job moves exactly once, also while nexusd moves it too. A dead or retrying\n"
      "job gets one more attempt (its retry_count goes down by one, as in Sidekiq).\n"
      "\n" TARGET_HELP,
      false, NULL},
     run_run,
     false},
    {{"retry", "JID | --all", "the same as run (Sidekiq's word)", TARGET_HELP, false, NULL},
     run_run,
     true},
    {{"delete", "JID | --all", "delete the job(s) and print how many", TARGET_HELP, false, NULL},
     delete_run,
     false},
};

static const struct set_kind *kind_find(const char *name)
{
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        if (strcmp(kinds[i].name, name) == 0)
            return &kinds[i];
    return NULL;
}

static const struct set_command *set_command_find(const struct set_kind *kind, const char *name)
{
    for (size_t i = 0; i < sizeof(set_commands) / sizeof(set_commands[0]); i++) {
        const struct set_command *sub = &set_commands[i];

        if (strcmp(sub->cmd.name, name) == 0 && (!sub->dead_only || kind == &kinds[0]))
            return sub;
    }
    return NULL;
}

static int sets_run(struct ctl *ctl, int argc, char **argv, struct err *err)
{
    const struct set_kind *kind = kind_find(argv[0]);
    const struct set_command *sub;

    if (argc < 2)
        return err_set(err, CTL_EUSAGE, "'%s' needs a command: list, show, run%s or delete",
                       kind->name, kind == &kinds[0] ? ", retry" : "");
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        ctl_print_help(ctl);
        return 1;
    }
    sub = set_command_find(kind, argv[1]);
    if (!sub)
        return err_set(err, CTL_EUSAGE, "unknown %s command '%s'", kind->name, argv[1]);
    ctl->cmd = &sub->cmd;
    ctl_path_push(ctl, sub->cmd.name);
    if (ctl->json && !sub->cmd.json)
        return err_set(err, CTL_EUSAGE, "'%s' has no --json output", ctl->path);
    return sub->run(ctl, kind, argc - 1, argv + 1, err);
}

#define SETS_HELP                                                                                  \
    "Commands:\n"                                                                                  \
    "  list [--limit N] [--json]   list the jobs (default: the first 50)\n"                        \
    "  show JID [--json]           print a job's full JSON and its score\n"                        \
    "  run JID | --all             push the job(s) to their queues now\n"                          \
    "  delete JID | --all          delete the job(s)\n"

const struct ctl_command ctl_cmd_dead = {
    .name = "dead",
    .args = "list|show|run|retry|delete [ARGS]",
    .summary = "jobs out of retries: list, show, run (or retry), delete",
    .help = SETS_HELP "  retry JID | --all           the same as run (Sidekiq's word)\n",
    .json = true,
    .run = sets_run,
};

const struct ctl_command ctl_cmd_retry = {
    .name = "retry",
    .args = "list|show|run|delete [ARGS]",
    .summary = "failed jobs waiting for their next attempt: list, show, run, delete",
    .help = SETS_HELP,
    .json = true,
    .run = sets_run,
};

const struct ctl_command ctl_cmd_scheduled = {
    .name = "scheduled",
    .args = "list|show|run|delete [ARGS]",
    .summary = "jobs due later (the schedule): list, show, run, delete",
    .help = SETS_HELP,
    .json = true,
    .run = sets_run,
};
