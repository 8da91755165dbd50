/* ctl_enqueue.c - nexusctl enqueue: pushes a job as a Sidekiq client does. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>
#include <jansson.h>

#include "conf/cfg.h"
#include "ctl/ctl.h"
#include "ctl/ctl_fmt.h"
#include "ctl/ctl_redis.h"
#include "lib/err.h"
#include "lib/job.h"
#include "lib/parse.h"
#include "lib/util.h"
#include "queue/durable.h"
#include "queue/push.h"
#include "queue/unique.h"

/* The furthest --in reaches: 100 years. */
#define ENQUEUE_MAX_DELAY_S (36500.0 * 86400)
/* The latest --at in epoch seconds (year 5138): larger numbers are milliseconds by mistake. */
#define ENQUEUE_MAX_AT_S 1e11
/* Bytes of a bad value quoted back in an error sentence. */
#define ENQUEUE_GOT_MAX 60

struct enqueue {
    const char *class_name; /* borrowed from argv */
    const char *queue;      /* borrowed from argv */
    const char *jid;        /* borrowed from argv; NULL: a random one */
    json_t *args;           /* owned; a JSON array */
    json_t *retry;          /* owned; NULL: job_new()'s default, true */
    bool later;             /* --in or --at: to the schedule, due at `at` */
    double at;              /* epoch s */
    double unique_for;      /* --unique-for, s; 0: not a unique job */
    const char *unique_key; /* --unique-key, borrowed from argv; NULL: class and args */
};


static int args_parse(const char *text, json_t **ret, struct err *err)
{
    json_error_t jerr;
    json_t *v;

    v = json_loads(text, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
    if (!v)
        return err_set(err, CTL_EUSAGE, "ARGS_JSON is not valid JSON: %s (column %d)", jerr.text,
                       jerr.column);
    if (!json_is_array(v)) {
        (void)err_set(err, CTL_EUSAGE, "ARGS_JSON must be a JSON array (got %s)",
                      job_json_phrase(v));
        json_decref(v);
        return CTL_EUSAGE;
    }
    *ret = v;
    return 0;
}

static int retry_parse(const char *s, json_t **ret, struct err *err)
{
    uint32_t n;
    json_t *v;

    if (strcmp(s, "true") == 0)
        v = json_true();
    else if (strcmp(s, "false") == 0)
        v = json_false();
    else if (parse_u32(s, 0, JOB_MAX_RETRIES, &n) == 0)
        v = json_integer(n);
    else
        return err_set(err, CTL_EUSAGE,
                       "--retry must be true, false or a whole number 0..%d (got '%.*s')",
                       JOB_MAX_RETRIES, ENQUEUE_GOT_MAX, s);
    *ret = v;
    return 0;
}

/* --in or --at: whether the job goes to the schedule, and when it is due. */
static int due_parse(const char *in, const char *at, double now, struct enqueue *e, struct err *err)
{
    double v;

    if (in && at)
        return err_set(err, CTL_EUSAGE, "--in and --at cannot be used together");
    if (in) {
        if (parse_duration(in, 0, ENQUEUE_MAX_DELAY_S, &v) < 0)
            return err_set(err, CTL_EUSAGE,
                           "--in must be a duration such as 30s, 5m, 2h or 1d, at most "
                           "36500d (got '%.*s')",
                           ENQUEUE_GOT_MAX, in);
        e->later = true;
        e->at = now + v;
    } else if (at) {
        if (ctl_fmt_parse_time(at, &v) < 0 && parse_double(at, 0, ENQUEUE_MAX_AT_S, &v) < 0)
            return err_set(err, CTL_EUSAGE,
                           "--at must be epoch seconds or a UTC time such as "
                           "2026-11-25T03:00:00Z (got '%.*s')",
                           ENQUEUE_GOT_MAX, at);
        e->later = true;
        e->at = v;
    }
    return 0;
}

/* --unique-for and --unique-key: a unique job (docs/PROTOCOL.md, "Unique jobs"). */
static int unique_parse(const char *for_s, struct enqueue *e, struct err *err)
{
    if (e->unique_key && !for_s)
        return err_set(err, CTL_EUSAGE, "--unique-key needs --unique-for");
    if (for_s && (parse_duration(for_s, 0.001, JOB_MAX_UNIQUE_FOR_S, &e->unique_for) < 0))
        return err_set(err, CTL_EUSAGE,
                       "--unique-for must be a duration such as 30s, 5m, 2h or 1d, above 0 and "
                       "at most 36500d (got '%.*s')",
                       ENQUEUE_GOT_MAX, for_s);
    return 0;
}

/* Checks the command line into `e`; e->args and e->retry are owned by the caller also on
 * failure. */
static int enqueue_parse(struct ctl *ctl, int argc, char **argv, double now, struct enqueue *e,
                         struct err *err)
{
    const char *in = NULL, *at = NULL, *retry = NULL, *unique_for = NULL, *pos[2];
    const struct ctl_opt opts[] = {
        {"queue", true, &e->queue, NULL, 0},
        {"in", true, &in, NULL, 0},
        {"at", true, &at, NULL, 0},
        {"retry", true, &retry, NULL, 0},
        {"jid", true, &e->jid, NULL, 0},
        {"unique-for", true, &unique_for, NULL, 0},
        {"unique-key", true, &e->unique_key, NULL, 0},
    };
    int r;

    r = ctl_parse_args(ctl, argc, argv, opts, sizeof(opts) / sizeof(opts[0]), pos, 2, err);
    if (r != 0)
        return r;
    e->class_name = pos[0];
    if (!e->class_name)
        return err_set(err, CTL_EUSAGE, "enqueue needs a CLASS");
    if ((r = args_parse(pos[1] ? pos[1] : "[]", &e->args, err)) < 0 ||
        (retry && (r = retry_parse(retry, &e->retry, err)) < 0) ||
        (r = due_parse(in, at, now, e, err)) < 0 || (r = unique_parse(unique_for, e, err)) < 0)
        return r;
    return 0;
}

/* CTL_EUSAGE with nexusd's reason when `text` is not a job nexusd would run. */
static int job_validate(const char *text, size_t len, struct err *err)
{
    struct err why = {0};
    struct job *check = NULL;
    int r;

    r = job_decode(text, len, "default", 0, &check, &why);
    job_free(check);
    if (r < 0)
        return err_set(err, CTL_EUSAGE, "the job would not run: %s", why.msg);
    return 0;
}

/* The job's JSON as a client writes it: for the schedule, without "at" and "enqueued_at"
 * (Sidekiq drops both; the score says when). It must pass nexusd's own job_decode(), the one
 * place that says what a valid job is (class, queue and jid rules, size). On success writes
 * *ret_job (caller owns it, job_free()) and *ret_text (caller owns it, free()). */
static int job_text(const struct enqueue *e, double now, struct job **ret_job, char **ret_text,
                    size_t *ret_len, struct err *err)
{
    struct job *job;
    char *text;
    size_t len;
    int r;

    job = job_new(e->class_name, e->args, e->queue, e->jid, now, 0, util_random());
    if (!job)
        return err_set(err, CTL_EUSAGE, "CLASS, --queue and --jid must be valid UTF-8");
    if (e->retry)
        (void)json_object_set(job_root(job), "retry", e->retry);
    if (e->later)
        (void)json_object_del(job_root(job), "enqueued_at");
    if (e->unique_for > 0)
        (void)json_object_set_new(job_root(job), "unique_for", json_real(e->unique_for));
    if (e->unique_key)
        (void)json_object_set_new(job_root(job), "unique_key", json_string(e->unique_key));
    text = job_encode(job, &len);
    r = job_validate(text, len, err);
    if (r < 0) {
        free(text);
        job_free(job);
        return r;
    }
    *ret_job = job;
    *ret_text = text;
    *ret_len = len;
    return 0;
}

/* With redis.wait_replicas: WAIT, and a warning when replicas fall short (the job was pushed:
 * the exit status stays 0). */
static void push_wait(struct ctl_redis *c)
{
    unsigned want;
    int acked = ctl_redis_durable(c, &want);

    if (!durable_short(acked, want))
        return;
    if (acked >= 0)
        fprintf(stderr,
                "nexusctl: warning: the job was pushed, but only %d of %u replicas confirmed it "
                "within redis.wait_timeout: a failover now could lose it\n",
                acked, want);
    else
        fprintf(stderr,
                "nexusctl: warning: the job was pushed, but WAIT for %u replicas got no answer "
                "(%s): a failover now could lose it\n",
                want, acked == -EIO ? "Redis refused it" : "the connection was lost");
}

/* push.lua's words for `text` with `lock` (NULL or empty for none) sent on `c`: when another
 * jid holds the lock nothing is pushed and that jid goes to ret_holder (JOB_MAX_JID + 1 bytes),
 * else "" does. */
static int push_words(struct ctl_redis *c, const char *ns, const char *queue, double at,
                      const char *text, size_t len, const struct unique_lock *lock,
                      char *ret_holder, struct err *err)
{
    struct queue_push p;
    redisReply *reply = NULL;
    int r;

    queue_push_make(&p, ns, queue, at, text, len, lock);
    r = ctl_redis_argv(c, p.argc, p.argv, p.lens, &reply, err);
    if (r == 0) {
        const char *holder = queue_push_holder(reply);
        (void)snprintf(ret_holder, JOB_MAX_JID + 1, "%s", holder ? holder : "");
        freeReplyObject(reply);
        if (!ret_holder[0])
            push_wait(c);
    }
    queue_push_clear(&p);
    return r;
}

int ctl_push_job(struct ctl_redis *c, const char *ns, const char *queue, double at,
                 const struct job *job, const char *text, size_t len, bool *ret_pushed,
                 struct err *err)
{
    char holder[JOB_MAX_JID + 1];
    struct unique_lock lock;
    int r;

    if (unique_lock_make(&lock, ns, job, at == QUEUE_PUSH_NOW ? 0 : at - util_now()) < 0)
        return err_set(err, -ENOMEM, "OpenSSL could not hash the job's unique key");
    r = push_words(c, ns, queue, at, text, len, &lock, holder, err);
    unique_lock_clear(&lock);
    if (r < 0)
        return r;
    if (holder[0]) {
        printf("%s\n", holder);
        fprintf(stderr,
                "nexusctl: duplicate of %s: that job holds the lock of this unique key; nothing "
                "was pushed\n",
                holder);
    } else {
        printf("%s\n", job_jid(job));
    }
    if (ret_pushed)
        *ret_pushed = !holder[0];
    return 0;
}

/* CTL_EUSAGE when the job is larger than nexusd would decode (worker.max_job_size). */
static int job_size_check(struct ctl *ctl, size_t len, struct err *err)
{
    const struct cfg *cfg = ctl_cfg(ctl, err);

    if (!cfg)
        return err->code;
    if (len > cfg->max_job_size)
        return err_set(err, CTL_EUSAGE,
                       "the job is %zu bytes, above worker.max_job_size (%u bytes): nexusd "
                       "would not run it",
                       len, cfg->max_job_size);
    return 0;
}

/* After a push: a warning (exit status 0, the job is queued) when no live process reads the
 * queue, or none of them knows the class, so a job that would wait or go to dead does not do
 * so unnoticed. A failed read of the processes says nothing: the push is what was asked. */
static void readers_warn(struct ctl *ctl, const char *queue, const char *class_name)
{
    struct err ignored = {0};
    const struct cfg *cfg = ctl_cfg(ctl, &ignored); /* loaded already, by the push */
    size_t live, readers, knowers;
    char grace[CTL_FMT_AGE_BUF];

    if (ctl_queue_readers(ctl, queue, class_name, &live, &readers, &knowers, &ignored) < 0)
        return;
    if (live > 0 && knowers == 0 && cfg && cfg->unknown_class_grace_s > 0)
        fprintf(stderr,
                "nexusctl: warning: none of the %zu live processes knows class %s: the one that "
                "takes the job puts it off while it is younger than worker.unknown_class_grace "
                "(%s here), then it goes to dead\n",
                live, class_name, ctl_fmt_age(cfg->unknown_class_grace_s, grace));
    else if (live > 0 && knowers == 0)
        fprintf(stderr,
                "nexusctl: warning: none of the %zu live processes knows class %s: the one that "
                "takes the job puts it in dead at once (worker.unknown_class_grace is 0 here)\n",
                live, class_name);
    if (readers > 0)
        return;
    if (live == 0)
        fprintf(stderr,
                "nexusctl: warning: no nexusd process is running (none has beaten within its "
                "worker.process_ttl): the job waits in queue %s until one starts\n",
                queue);
    else
        fprintf(stderr,
                "nexusctl: warning: none of the %zu live processes reads queue %s (their "
                "worker.queues do not name it): the job waits until one does\n",
                live, queue);
}

static int enqueue_run(struct ctl *ctl, int argc, char **argv, struct err *err)
{
    struct enqueue e = {0};
    struct job *job = NULL;
    struct ctl_redis *c;
    bool pushed = false;
    double now = util_now();
    char *text = NULL;
    size_t len = 0;
    int r;

    r = enqueue_parse(ctl, argc, argv, now, &e, err);
    if (r != 0)
        goto out;
    if (!e.queue) {
        const struct cfg *cfg = ctl_cfg(ctl, err);
        if (!cfg) {
            r = err->code;
            goto out;
        }
        e.queue = cfg_class_queue(cfg, e.class_name);
    }
    r = job_text(&e, now, &job, &text, &len, err);
    if (r < 0)
        goto out;
    r = job_size_check(ctl, len, err);
    if (r < 0)
        goto out;
    c = ctl_redis(ctl, err);
    if (!c) {
        r = err->code;
        goto out;
    }
    r = ctl_push_job(c, ctl_ns(ctl), e.queue, e.later ? e.at : QUEUE_PUSH_NOW, job, text, len,
                     &pushed, err);
    if (r == 0 && pushed)
        readers_warn(ctl, e.queue, e.class_name);
out:
    job_free(job);
    free(text);
    json_decref(e.args);
    json_decref(e.retry);
    return r;
}

const struct ctl_command ctl_cmd_enqueue = {
    .name = "enqueue",
    .args = "CLASS [ARGS_JSON] [--queue Q] [--in DURATION | --at TIME] [--retry R] [--jid JID] "
            "[--unique-for DURATION [--unique-key KEY]]",
    .summary = "push a job now or later and print its jid",
    .help = "Pushes a job of class CLASS with the arguments ARGS_JSON (a JSON array, default\n"
            "[]) as a Sidekiq client does, and prints its jid. Without --in or --at the job\n"
            "goes to its queue at once; with them, to the schedule.\n"
            "\n"
            "  --queue Q        the job's queue (default: the class's `queue` in the\n"
            "                   configuration, else default)\n"
            "  --in DURATION    run it after DURATION: 30s, 5m, 2h, 1d, or seconds\n"
            "  --at TIME        run it at TIME: epoch seconds or 2026-11-25T03:00:00Z (UTC)\n"
            "  --retry R        true (default: the class's retries), false, or at most\n"
            "                   R retries (0..10000)\n"
            "  --jid JID        the job's id (default: 24 random hex digits)\n"
            "  --unique-for DURATION  a unique job: not pushed while another job with the\n"
            "                   same key holds its lock (at most DURATION, until it succeeds\n"
            "                   or dies, or starts: the class's unique_until)\n"
            "  --unique-key KEY the lock's key (default: the class and args)\n"
            "\n"
            "A duplicate prints the jid of the job holding the lock, and on stderr\n"
            "\"duplicate of JID\"; exit status 0: that job runs instead.\n"
            "A warning on stderr (exit status 0) when no live process reads the queue, or\n"
            "when live processes run but none knows the class.\n",
    .json = false,
    .run = enqueue_run,
};
