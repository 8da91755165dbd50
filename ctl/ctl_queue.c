/* ctl_queue.c - `nexusctl queue list|peek|clear`: the queues with their size, latency, pause
 * and readers; a queue's next jobs, read with bounded cost; deleting its pending jobs. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <jansson.h>

#include "ctl/ctl.h"
#include "ctl/ctl_fmt.h"
#include "ctl/ctl_redis.h"
#include "ctl/ctl_table.h"
#include "lib/err.h"
#include "lib/job.h"
#include "lib/parse.h"
#include "lib/xalloc.h"
#include "queue/excerpt.h"
#include "queue/keys.h"
#include "queue/lua.h"

#define PEEK_DEFAULT "10" /* jobs peek shows without -n */
#define PEEK_MAX 1000     /* the most -n allows */
/* Bytes of a job peek reads whole; of a longer one only its first bytes (as the dashboard's
 * lists do), and the bytes of jobs one peek has Redis read (the first job always). */
#define PEEK_MEMBER_MAX (64u << 10)
#define PEEK_READ_MAX (8u << 20)
/* Bytes of each text of a job shown (args as JSON, class, jid): a longer one is cut, with its
 * size (queue/excerpt.h). */
#define PEEK_EXCERPT 1024
/* Characters of args in the table. */
#define PEEK_ARGS_WIDTH 60

/* The options and the QUEUE operand of peek and clear (ctl_parse_args()): exit 2 when QUEUE is
 * missing or not a queue name. Returns 0, 1 after --help, or CTL_EUSAGE. */
static int queue_args(struct ctl *ctl, int argc, char **argv, const struct ctl_opt *opts,
                      const char **ret_queue, struct err *err)
{
    int r;

    r = ctl_parse_args(ctl, argc, argv, opts, 1, ret_queue, 1, err);
    if (r != 0)
        return r;
    if (!*ret_queue)
        return err_set(err, CTL_EUSAGE, "'%s' needs a QUEUE", ctl->path);
    r = job_check_queue("QUEUE", *ret_queue, strlen(*ret_queue), err);
    return r == -EINVAL ? CTL_EUSAGE : r;
}

/* --- list ------------------------------------------------------------------------------- */

static void list_print(const json_t *queues)
{
    char latency[CTL_FMT_AGE_BUF], size[24], readers[24];
    struct ctl_table *t;
    const json_t *q;
    size_t i;

    if (json_array_size(queues) == 0) {
        printf("no queues\n");
        return;
    }
    t = ctl_table_new(5, (const char *const[]){"QUEUE", "SIZE", "LATENCY", "PAUSED", "READERS"},
                      1u << 1 | 1u << 2 | 1u << 4);
    json_array_foreach(queues, i, q)
    {
        (void)snprintf(size, sizeof(size), "%lld",
                       (long long)json_integer_value(json_object_get(q, "size")));
        (void)snprintf(readers, sizeof(readers), "%lld",
                       (long long)json_integer_value(json_object_get(q, "readers")));
        (void)ctl_fmt_age(json_real_value(json_object_get(q, "latency")), latency);
        ctl_table_add(t, (const char *const[]){
                             json_string_value(json_object_get(q, "name")), size, latency,
                             json_is_true(json_object_get(q, "paused")) ? "yes" : "no", readers});
    }
    ctl_table_print(t, stdout);
    ctl_table_free(t);
}

static int list_run(struct ctl *ctl, int argc, char **argv, struct err *err)
{
    json_t *queues = NULL;
    int r;

    r = ctl_parse_args(ctl, argc, argv, NULL, 0, NULL, 0, err);
    if (r != 0)
        return r;
    r = ctl_queues_report(ctl, &queues, err);
    if (r < 0)
        return r;
    if (ctl->json)
        return ctl_fmt_json_list("queues", queues, err);
    list_print(queues);
    json_decref(queues);
    return 0;
}

/* --- peek ------------------------------------------------------------------------------- */

/* The job's enqueued_at in epoch seconds (Sidekiq 8 writes milliseconds), 0 when it has none. */
static double enqueued_s(const json_t *entry)
{
    double at = json_number_value(json_object_get(entry, "enqueued_at"));

    return at > 1e11 ? at / 1000 : at;
}

/* What the ARGS cell shows: the args, their first bytes, or why there are none. Caller owns
 * it, release with free(). */
static char *args_cell(const json_t *entry)
{
    const json_t *args = json_object_get(entry, "args");
    const char *invalid = json_string_value(json_object_get(entry, "invalid"));
    const char *head = json_string_value(json_object_get(entry, "args_excerpt"));
    char *text, *cell;

    if (invalid) {
        text = xasprintf("not a valid job: %s", invalid);
    } else if (args && !json_is_null(args)) {
        text = json_dumps(args, JSON_COMPACT | JSON_ENCODE_ANY);
    } else {
        if (!head)
            head = json_string_value(json_object_get(entry, "excerpt"));
        text = xstrdup(head ? head : "-");
    }
    cell = ctl_fmt_line(text ? text : "?", PEEK_ARGS_WIDTH);
    free(text);
    return cell;
}

static void peek_print(const char *queue, long long size, const json_t *jobs)
{
    static const char *const headers[] = {"JID", "CLASS", "ENQUEUED", "ARGS"};
    struct ctl_table *t;
    char when[CTL_FMT_TIME_BUF];
    const json_t *e;
    size_t i;

    if (json_array_size(jobs) == 0) {
        printf("no jobs in queue %s\n", queue);
        return;
    }
    t = ctl_table_new(4, headers, 0);
    json_array_foreach(jobs, i, e)
    {
        double at = enqueued_s(e);
        char *args = args_cell(e);

        ctl_table_add(t, (const char *const[]){json_string_value(json_object_get(e, "jid")),
                                               json_string_value(json_object_get(e, "class")),
                                               at > 0 ? ctl_fmt_time(at, when) : NULL, args});
        free(args);
    }
    ctl_table_print(t, stdout);
    ctl_table_free(t);
    if ((long long)json_array_size(jobs) < size)
        printf("(%zu of %lld jobs; -n K shows more)\n", json_array_size(jobs), size);
}

/* The first `n` jobs fetch would take from `key` (its right end first), through list.lua:
 * each read whole up to PEEK_MEMBER_MAX bytes, at most PEEK_READ_MAX bytes in all. Writes the
 * list's length and the entries (queue/excerpt.h), each with its "position" (0: next). */
static int peek_read(struct ctl_redis *c, const char *key, const char *n, long long *ret_size,
                     json_t **ret_jobs, struct err *err)
{
    char keep[24], budget[24];
    const char *argv[] = {"EVAL", lua_list, "1", key, "tail", "0", n, keep, budget};
    redisReply *reply = NULL;
    json_t *jobs;
    int r;

    (void)snprintf(keep, sizeof(keep), "%u", PEEK_MEMBER_MAX);
    (void)snprintf(budget, sizeof(budget), "%u", PEEK_READ_MAX);
    r = ctl_redis_argv(c, sizeof(argv) / sizeof(argv[0]), argv, NULL, &reply, err);
    if (r == 0 && (r = ctl_redis_expect(reply, REDIS_REPLY_ARRAY, "EVAL list.lua", err)) == 0 &&
        (reply->elements < 1 || reply->element[0]->type != REDIS_REPLY_INTEGER))
        r = err_set(err, -EPROTO, "Redis replied to list.lua with something unexpected");
    if (r < 0) {
        freeReplyObject(reply);
        return r;
    }
    jobs = json_array();
    for (size_t i = 1; i + 2 < reply->elements; i += 3) {
        const redisReply *m = reply->element[i], *l = reply->element[i + 1];
        json_t *entry;

        if (m->type != REDIS_REPLY_STRING || l->type != REDIS_REPLY_INTEGER ||
            l->integer < (long long)m->len)
            continue;
        entry = excerpt_job(m->str, m->len, (size_t)l->integer, PEEK_EXCERPT);
        (void)json_object_set_new(entry, "position", json_integer((json_int_t)(i - 1) / 3));
        (void)json_array_append_new(jobs, entry);
    }
    *ret_size = reply->element[0]->integer;
    *ret_jobs = jobs;
    freeReplyObject(reply);
    return 0;
}

static int peek_run(struct ctl *ctl, int argc, char **argv, struct err *err)
{
    const char *count = NULL, *queue;
    const struct ctl_opt opts[] = {{"count", true, &count, NULL, 'n'}};
    struct ctl_redis *c;
    json_t *jobs = NULL, *out;
    long long size = 0;
    uint32_t n;
    char *key;
    int r;

    r = queue_args(ctl, argc, argv, opts, &queue, err);
    if (r != 0)
        return r;
    if (count && parse_u32(count, 1, PEEK_MAX, &n) < 0)
        return err_set(err, CTL_EUSAGE, "-n must be 1..%d (got '%s')", PEEK_MAX, count);
    c = ctl_redis(ctl, err);
    if (!c)
        return err->code;
    key = keys_queue(ctl_ns(ctl), queue);
    r = peek_read(c, key, count ? count : PEEK_DEFAULT, &size, &jobs, err);
    free(key);
    if (r < 0)
        return r;
    if (!ctl->json) {
        peek_print(queue, size, jobs);
        json_decref(jobs);
        return 0;
    }
    out = json_pack("{s:s, s:I, s:o}", "queue", queue, "size", (json_int_t)size, "jobs", jobs);
    r = ctl_fmt_json(out, err);
    json_decref(out);
    return r;
}

/* --- clear ------------------------------------------------------------------------------ */

/* On a terminal, asks on stderr and reads the answer: whether it was y or yes. */
static bool confirmed(const char *queue, long long size)
{
    char line[16];

    fprintf(stderr, "delete the %lld pending job%s of queue %s? [y/N] ", size,
            size == 1 ? "" : "s", queue);
    if (!fgets(line, sizeof(line), stdin))
        return false;
    line[strcspn(line, "\n")] = '\0';
    return strcmp(line, "y") == 0 || strcmp(line, "Y") == 0 || strcmp(line, "yes") == 0;
}

static int clear_run(struct ctl *ctl, int argc, char **argv, struct err *err)
{
    bool yes = false;
    const struct ctl_opt opts[] = {{"yes", false, NULL, &yes, 'y'}};
    const char *queue;
    struct ctl_redis *c;
    long long removed = 0;
    json_t *out;
    char *key;
    int r;

    r = queue_args(ctl, argc, argv, opts, &queue, err);
    if (r != 0)
        return r;
    if (!yes && !isatty(STDIN_FILENO))
        return err_set(err, CTL_EUSAGE,
                       "queue clear deletes the jobs of queue %s: confirm with --yes (stdin is "
                       "not a terminal to ask on)",
                       queue);
    c = ctl_redis(ctl, err);
    if (!c)
        return err->code;
    key = keys_queue(ctl_ns(ctl), queue);
    if (!yes) {
        r = ctl_redis_count(c, &removed, err, "LLEN", key, NULL);
        if (r == 0 && removed > 0 && !confirmed(queue, removed))
            r = err_set(err, -ECANCELED, "queue %s was not cleared", queue);
    }
    if (r == 0)
        r = ctl_redis_take_all(c, "LLEN", key, &removed, err);
    free(key);
    if (r < 0)
        return r;
    if (!ctl->json) {
        printf("removed %lld job%s from queue %s\n", removed, removed == 1 ? "" : "s", queue);
        return 0;
    }
    out = json_pack("{s:s, s:I}", "queue", queue, "removed", (json_int_t)removed);
    r = ctl_fmt_json(out, err);
    json_decref(out);
    return r;
}

/* --- the command ------------------------------------------------------------------------ */

static const struct ctl_command queue_commands[] = {
    {"list", "[--json]", "list the queues with size, latency, pause and readers",
     "Every queue of the queues set (and those paused before any job came): its size, the\n"
     "age of its oldest job, whether it is paused and how many live processes read it.\n",
     true, list_run},
    {"peek", "QUEUE [-n K] [--json]", "show the next K jobs to run, oldest first",
     "Shows jid, class, enqueued time and the args (cut) of the jobs nexusd would take\n"
     "next, without taking them. A job that is not valid is shown with the reason.\n"
     "\n"
     "  -n, --count K   show K jobs (1..1000, default 10)\n",
     true, peek_run},
    {"clear", "QUEUE [--yes] [--json]", "delete a queue's pending jobs and print how many",
     "Jobs being run (in flight) are not touched. On a terminal it asks first; otherwise\n"
     "it needs --yes.\n"
     "\n"
     "  -y, --yes   delete without asking\n",
     true, clear_run},
};

static int queue_run(struct ctl *ctl, int argc, char **argv, struct err *err)
{
    const size_t n = sizeof(queue_commands) / sizeof(queue_commands[0]);

    if (argc < 2)
        return err_set(err, CTL_EUSAGE, "'queue' needs a command: list, peek or clear");
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        ctl_print_help(ctl);
        return 1;
    }
    for (size_t i = 0; i < n; i++) {
        const struct ctl_command *sub = &queue_commands[i];

        if (strcmp(sub->name, argv[1]) != 0)
            continue;
        ctl->cmd = sub;
        ctl_path_push(ctl, sub->name);
        return sub->run(ctl, argc - 1, argv + 1, err);
    }
    return err_set(err, CTL_EUSAGE, "unknown queue command '%s'", argv[1]);
}

const struct ctl_command ctl_cmd_queue = {
    .name = "queue",
    .args = "list|peek|clear [ARGS]",
    .summary = "queues: list them, peek at their next jobs, clear one",
    .help = "Commands:\n"
            "  list [--json]                   queues with size, latency, pause, readers\n"
            "  peek QUEUE [-n K] [--json]      the next K jobs to run, oldest first\n"
            "  clear QUEUE [--yes] [--json]    delete the queue's pending jobs\n",
    .json = true,
    .run = queue_run,
};
