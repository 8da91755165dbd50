/* actions.c - operators' actions on Redis, asynchronous over a rconn. */
#include "daemon/actions.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>
#include <jansson.h>

#include "conf/cfg.h"
#include "lib/err.h"
#include "lib/job.h"
#include "lib/parse.h"
#include "lib/util.h"
#include "lib/xalloc.h"
#include "queue/excerpt.h"
#include "queue/keys.h"
#include "queue/lua.h"
#include "queue/move.h"
#include "queue/push.h"
#include "queue/rconn.h"
#include "queue/rerun.h"
#include "queue/unique.h"

/* Members asked for by each ZSCAN step. */
#define SCAN_COUNT "1000"
/* Bytes of a large member's head searched for its jid. */
#define SCAN_HEAD (64u << 10)

static const char *const set_names[] = {"dead", "retry", "schedule"};
static char *(*const set_keys[])(const char *ns) = {keys_dead, keys_retry, keys_schedule};

/* One action under way: owns its copies and what it has gathered. */
struct op;
typedef void op_member_fn(struct op *op, const char *text, size_t len, struct job *job,
                          const struct err *why);
typedef void op_scanned_fn(struct op *op);

struct op {
    actions_done_fn *done;
    void *arg;
    struct rconn *conn; /* borrowed */
    enum actions_set set;
    char *ns;  /* owned */
    char *key; /* owned: the set's or the paused set's full key */
    char *jid; /* owned; NULL when the action names no job */
    bool jid_plain;
    char cursor[32];
    op_member_fn *on_member;
    op_scanned_fn *on_scanned;
    struct move_batch *batch; /* run: owned until sent */
    char **members;           /* delete: owned copies to ZREM */
    size_t *lens;
    size_t nmembers, cap;
    size_t invalid;   /* run: members with the jid that do not decode */
    size_t too_large; /* run: members with the jid over ACTIONS_DECODE_MAX */
    unsigned offset;  /* list */
    unsigned limit;   /* list */
    long long size;   /* list: ZCARD */
    struct actions_list_bounds bounds; /* list */
    struct actions_heads *heads;       /* list: borrowed, may be NULL */
    bool pause;       /* pause */
    char *queue;      /* pause, schedule run: owned */
    char jid_out[JOB_MAX_JID + 1];
};

static void op_free(struct op *op)
{
    for (size_t i = 0; i < op->nmembers; i++)
        free(op->members[i]);
    free(op->members);
    free(op->lens);
    move_batch_free(op->batch);
    free(op->ns);
    free(op->key);
    free(op->jid);
    free(op->queue);
    free(op);
}

/* Every path ends here: `done` once, then the op is gone. */
static void op_finish(struct op *op, int err, json_t *result, const char *why)
{
    if (err < 0) {
        json_decref(result);
        result = NULL;
    }
    assert(err < 0 || result); /* answers are built of numbers and text_json()'s strings */
    op->done(err, result, why, op->arg);
    op_free(op);
}

/* Takes ownership of `key` (queue/keys.h; NULL when the action needs none). */
static struct op *op_new(struct rconn *conn, const char *ns, enum actions_set set, char *key,
                         actions_done_fn *done, void *arg)
{
    struct op *op = xcalloc(1, sizeof(*op));

    op->done = done;
    op->arg = arg;
    op->conn = conn;
    op->set = set;
    op->ns = xstrdup(ns);
    op->key = key;
    return op;
}

/* Starts the op's first command; frees it when that fails (`done` is then not called). */
static int op_send(struct op *op, rconn_reply_fn *fn, int argc, const char **argv,
                   const size_t *lens)
{
    int r = rconn_command(op->conn, fn, op, argc, argv, lens);

    if (r < 0)
        op_free(op);
    return r;
}

/* A JSON string of text from outside (not always UTF-8). */
static json_t *text_json(const char *s)
{
    json_t *v = json_string(s);

    return v ? v : json_string("(not valid UTF-8)");
}

/* --- scanning a set for a jid ----------------------------------------------------------- */

static void scan_on_reply(struct redisReply *reply, void *arg);

static int scan_next(struct op *op)
{
    const char *argv[] = {"ZSCAN", op->key, op->cursor, "COUNT", SCAN_COUNT};

    return rconn_command(op->conn, scan_on_reply, op, 5, argv, NULL);
}

/* Whether a member may carry the jid: decoding is skipped for texts that cannot. A jid
 * with characters JSON may escape is looked for by decoding every member. */
static bool member_may_match(const struct op *op, const char *text, size_t len)
{
    return !op->jid_plain || len == 0 || text[0] != '{' ||
           memmem(text, len, op->jid, strlen(op->jid)) != NULL;
}

/* A member over ACTIONS_DECODE_MAX is not decoded (that would hold the loop for a second per
 * 100 MB): its jid is looked for in its head, and it is handed on without a job. */
static void scan_large(struct op *op, const char *text, size_t len)
{
    json_t *head = excerpt_head_object(text, len < SCAN_HEAD ? len : SCAN_HEAD);
    const char *jid = json_string_value(json_object_get(head, "jid"));
    struct err why = {0};

    if (jid && strcmp(jid, op->jid) == 0) {
        (void)err_set(&why, -EFBIG, "the job is %zu bytes, over %u", len, ACTIONS_DECODE_MAX);
        op->on_member(op, text, len, NULL, &why);
    }
    json_decref(head);
}

static int scan_pairs(struct op *op, const struct redisReply *pairs)
{
    for (size_t i = 0; i + 1 < pairs->elements; i += 2) {
        const struct redisReply *m = pairs->element[i];
        struct err why = {0};
        struct job *job = NULL;

        if (m->type != REDIS_REPLY_STRING)
            return -EPROTO;
        if (!member_may_match(op, m->str, m->len))
            continue;
        if (m->len > ACTIONS_DECODE_MAX) {
            scan_large(op, m->str, m->len);
            continue;
        }
        /* a member that does not decode still gives a job, and `why` says what is wrong */
        (void)job_decode(m->str, m->len, NULL, rerun_member_seed(m->str, m->len), &job, &why);
        if (strcmp(job_jid(job), op->jid) == 0)
            op->on_member(op, m->str, m->len, job, &why);
        job_free(job);
    }
    return 0;
}

static void scan_on_reply(struct redisReply *reply, void *arg)
{
    struct op *op = arg;
    const char *error = rconn_reply_error(reply);
    int r;

    if (error) {
        op_finish(op, -EIO, NULL, error);
        return;
    }
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
        reply->element[0]->type != REDIS_REPLY_STRING ||
        reply->element[1]->type != REDIS_REPLY_ARRAY) {
        op_finish(op, -EIO, NULL, "Redis replied to ZSCAN with something unexpected");
        return;
    }
    (void)snprintf(op->cursor, sizeof(op->cursor), "%s", reply->element[0]->str);
    r = scan_pairs(op, reply->element[1]);
    if (r < 0) {
        op_finish(op, r, NULL, "Redis gave a non-string member");
        return;
    }
    if (strcmp(op->cursor, "0") == 0)
        op->on_scanned(op);
    else if (scan_next(op) < 0)
        op_finish(op, -EIO, NULL, "the connection to Redis was lost");
}

/* A jid of characters JSON never escapes can be looked for in the text as it is. */
static bool jid_is_plain(const char *jid)
{
    for (const char *p = jid; *p; p++)
        if (*p == '"' || *p == '\\' || *p == '/' || (unsigned char)*p < 0x20 ||
            (unsigned char)*p >= 0x7f)
            return false;
    return true;
}

static int scan_start(struct rconn *conn, const char *ns, enum actions_set set, const char *jid,
                      op_member_fn *on_member, op_scanned_fn *on_scanned, actions_done_fn *done,
                      void *arg)
{
    struct op *op = op_new(conn, ns, set, set_keys[set](ns), done, arg);
    int r;

    op->jid = xstrdup(jid);
    op->jid_plain = jid_is_plain(jid);
    op->on_member = on_member;
    op->on_scanned = on_scanned;
    (void)snprintf(op->cursor, sizeof(op->cursor), "0");
    r = scan_next(op);
    if (r < 0)
        op_free(op);
    return r;
}

/* --- run: set -> queue through move.lua ------------------------------------------------- */

static void run_on_member(struct op *op, const char *text, size_t len, struct job *job,
                          const struct err *why)
{
    if (!job) {
        op->too_large++; /* stays in the set */
        return;
    }
    if (why->code < 0) {
        op->invalid++; /* stays in the set, as nexusctl leaves it */
        return;
    }
    if (!op->batch)
        op->batch = move_batch_new(op->ns, op->key, true);
    rerun_prepare(job, op->set != ACTIONS_SCHEDULE, util_now());
    move_batch_add(op->batch, text, len, job_encode(job, NULL), job_queue(job));
}

static void run_on_moved(long long moved, int err, void *arg)
{
    struct op *op = arg;

    if (err < 0)
        op_finish(op, -EIO, NULL, "Redis refused the move");
    else if (moved == 0)
        op_finish(op, -ENOENT, NULL, "another process moved the job first");
    else
        op_finish(op, 0, json_pack("{s:I}", "moved", (json_int_t)moved), NULL);
}

static void run_on_scanned(struct op *op)
{
    struct move_batch *b = op->batch;

    if ((!b || move_batch_size(b) == 0) && op->too_large) {
        op_finish(op, -EFBIG, NULL,
                  "the job is too large to move from here (over 16 MiB); it stays in the set");
        return;
    }
    if (!b || move_batch_size(b) == 0) {
        op_finish(op, op->invalid ? -EBADMSG : -ENOENT, NULL,
                  op->invalid ? "the job is not a valid job; it stays in the set"
                              : "no job with that jid in the set");
        return;
    }
    op->batch = NULL;
    if (move_batch_send(b, op->conn, util_now(), run_on_moved, op) < 0)
        op_finish(op, -EIO, NULL, "the connection to Redis was lost");
}

int actions_run(struct rconn *conn, const char *ns, enum actions_set set, const char *jid,
                actions_done_fn *done, void *arg)
{
    return scan_start(conn, ns, set, jid, run_on_member, run_on_scanned, done, arg);
}

/* --- delete ----------------------------------------------------------------------------- */

static void delete_on_member(struct op *op, const char *text, size_t len, struct job *job,
                             const struct err *why)
{
    if (op->nmembers == op->cap) {
        op->cap = op->cap ? 2 * op->cap : 4;
        op->members = xreallocarray(op->members, op->cap, sizeof(*op->members));
        op->lens = xreallocarray(op->lens, op->cap, sizeof(*op->lens));
    }
    op->members[op->nmembers] = xmemdup(text, len);
    op->lens[op->nmembers++] = len;
}

static void delete_on_reply(struct redisReply *reply, void *arg)
{
    struct op *op = arg;
    const char *error = rconn_reply_error(reply);

    if (error)
        op_finish(op, -EIO, NULL, error);
    else if (reply->type != REDIS_REPLY_INTEGER || reply->integer == 0)
        op_finish(op, -ENOENT, NULL, "another process moved or deleted the job first");
    else
        op_finish(op, 0, json_pack("{s:I}", "deleted", (json_int_t)reply->integer), NULL);
}

static void delete_on_scanned(struct op *op)
{
    size_t argc = 2 + op->nmembers;
    const char **argv;
    size_t *lens;
    int r;

    if (op->nmembers == 0) {
        op_finish(op, -ENOENT, NULL, "no job with that jid in the set");
        return;
    }
    argv = xreallocarray(NULL, argc, sizeof(*argv));
    lens = xreallocarray(NULL, argc, sizeof(*lens));
    argv[0] = "ZREM", lens[0] = 4;
    argv[1] = op->key, lens[1] = strlen(op->key);
    for (size_t i = 0; i < op->nmembers; i++)
        argv[2 + i] = op->members[i], lens[2 + i] = op->lens[i];
    r = rconn_command(op->conn, delete_on_reply, op, (int)argc, argv, lens);
    free(argv);
    free(lens);
    if (r < 0)
        op_finish(op, -EIO, NULL, "the connection to Redis was lost");
}

int actions_delete(struct rconn *conn, const char *ns, enum actions_set set, const char *jid,
                   actions_done_fn *done, void *arg)
{
    return scan_start(conn, ns, set, jid, delete_on_member, delete_on_scanned, done, arg);
}

/* --- list ------------------------------------------------------------------------------- */

struct head {
    enum actions_set set;
    char score[48]; /* as Redis wrote it; "" for a free slot */
    char *text;     /* owned: the first bytes read */
    size_t len, size;
    double read_at; /* util_now() */
};

struct actions_heads {
    struct head h[ACTIONS_HEADS_MAX];
};

struct actions_heads *actions_heads_new(void)
{
    return xcalloc(1, sizeof(struct actions_heads));
}

void actions_heads_free(struct actions_heads *hs)
{
    if (!hs)
        return;
    for (size_t i = 0; i < ACTIONS_HEADS_MAX; i++)
        free(hs->h[i].text);
    free(hs);
}

/* The head kept for `score` of `set` and not yet stale, or NULL. */
static struct head *heads_find(struct actions_heads *hs, enum actions_set set, const char *score,
                               double now)
{
    for (size_t i = 0; hs && i < ACTIONS_HEADS_MAX; i++)
        if (hs->h[i].score[0] && hs->h[i].set == set && strcmp(hs->h[i].score, score) == 0 &&
            now - hs->h[i].read_at < ACTIONS_HEADS_TTL_S)
            return &hs->h[i];
    return NULL;
}

/* Keeps a copy of what was read of a large member, in a free, stale or the oldest slot. */
static void heads_keep(struct actions_heads *hs, enum actions_set set, const char *score,
                       const char *text, size_t len, size_t size, double now)
{
    struct head *slot = NULL, *h;

    if (!hs || strlen(score) >= sizeof(slot->score))
        return;
    for (size_t i = 0; i < ACTIONS_HEADS_MAX; i++) {
        h = &hs->h[i];
        if (!h->score[0] || (h->set == set && strcmp(h->score, score) == 0)) {
            slot = h;
            break;
        }
        if (!slot || h->read_at < slot->read_at)
            slot = h;
    }
    free(slot->text);
    slot->set = set;
    (void)snprintf(slot->score, sizeof(slot->score), "%s", score);
    slot->text = xmemdup(text, len);
    slot->len = len;
    slot->size = size;
    slot->read_at = now;
}

/* The bounded entry of a member of which `len` of `size` bytes were read, with its score. */
static json_t *entry_json(const char *text, size_t len, size_t size, const char *score_text,
                          const struct actions_list_bounds *b)
{
    json_t *entry = excerpt_job(text, len, size, b->excerpt_max);
    double score = NAN;

    (void)parse_double(score_text, -INFINITY, INFINITY, &score);
    (void)json_object_set_new(entry, "score", isfinite(score) ? json_real(score) : json_null());
    return entry;
}

static void list_on_reply(struct redisReply *reply, void *arg)
{
    struct op *op = arg;
    const char *error = rconn_reply_error(reply);
    json_t *jobs, *entry;
    size_t total = 0, n;
    bool cut = false;

    if (error) {
        op_finish(op, -EIO, NULL, error);
        return;
    }
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 1 ||
        reply->element[0]->type != REDIS_REPLY_INTEGER) {
        op_finish(op, -EIO, NULL, "Redis replied to list.lua with something unexpected");
        return;
    }
    op->size = reply->element[0]->integer;
    jobs = json_array();
    for (size_t i = 1; i + 2 < reply->elements; i += 3) {
        const struct redisReply *m = reply->element[i], *l = reply->element[i + 1],
                                *s = reply->element[i + 2];
        const struct head *h;

        if (s->type != REDIS_REPLY_STRING || l->type != REDIS_REPLY_INTEGER)
            continue;
        if (m->type == REDIS_REPLY_NIL) { /* not read again: its head is kept (any age) */
            h = heads_find(op->heads, op->set, s->str, -INFINITY);
            if (!h)
                continue;
            entry = entry_json(h->text, h->len, h->size, s->str, &op->bounds);
        } else if (m->type != REDIS_REPLY_STRING || l->integer < (long long)m->len) {
            continue;
        } else {
            if ((size_t)l->integer > m->len)
                heads_keep(op->heads, op->set, s->str, m->str, m->len, (size_t)l->integer,
                           util_now());
            entry = entry_json(m->str, m->len, (size_t)l->integer, s->str, &op->bounds);
        }
        n = json_dumpb(entry, NULL, 0, JSON_COMPACT);
        if (json_array_size(jobs) > 0 && total + n > op->bounds.answer_max) {
            json_decref(entry);
            cut = true;
            break;
        }
        total += n;
        (void)json_array_append_new(jobs, entry);
    }
    /* fewer jobs than asked although the set has more: a byte bound stopped the page */
    cut = cut || (json_array_size(jobs) < op->limit &&
                  (long long)op->offset + (long long)json_array_size(jobs) < op->size);
    op_finish(op, 0,
              json_pack("{s:s, s:I, s:i, s:i, s:b, s:o}", "set", set_names[op->set], "size",
                        (json_int_t)op->size, "offset", (int)op->offset, "limit", (int)op->limit,
                        "truncated", cut, "jobs", jobs),
              NULL);
}

int actions_list(struct rconn *conn, const char *ns, enum actions_set set, unsigned offset,
                 unsigned limit, const struct actions_list_bounds *bounds,
                 struct actions_heads *heads, actions_done_fn *done, void *arg)
{
    struct op *op = op_new(conn, ns, set, set_keys[set](ns), done, arg);
    const char *args[5 + ACTIONS_HEADS_MAX];
    char a_offset[16], a_limit[16], a_keep[24], a_budget[24];
    size_t nargs = 5;
    double now = util_now();
    int r;

    op->offset = offset;
    op->limit = limit < 1 ? 1 : limit > ACTIONS_LIST_MAX ? ACTIONS_LIST_MAX : limit;
    op->bounds = *bounds;
    op->heads = heads;
    (void)snprintf(a_offset, sizeof(a_offset), "%u", op->offset);
    (void)snprintf(a_limit, sizeof(a_limit), "%u", op->limit);
    (void)snprintf(a_keep, sizeof(a_keep), "%zu", bounds->member_max);
    (void)snprintf(a_budget, sizeof(a_budget), "%zu", bounds->read_max);
    args[0] = set == ACTIONS_DEAD ? "rev" : "fwd";
    args[1] = a_offset;
    args[2] = a_limit;
    args[3] = a_keep;
    args[4] = a_budget;
    for (size_t i = 0; heads && i < ACTIONS_HEADS_MAX; i++) {
        const struct head *h = &heads->h[i];
        if (h->score[0] && h->set == set && now - h->read_at < ACTIONS_HEADS_TTL_S)
            args[nargs++] = h->score;
    }
    r = rconn_eval(conn, list_on_reply, op, lua_list, 1, (const char *[]){op->key}, nargs, args,
                   NULL);
    if (r < 0)
        op_free(op);
    return r;
}

/* --- pause and resume ------------------------------------------------------------------- */

static void pause_on_reply(struct redisReply *reply, void *arg)
{
    struct op *op = arg;
    const char *error = rconn_reply_error(reply);

    if (error)
        op_finish(op, -EIO, NULL, error);
    else
        op_finish(op, 0,
                  json_pack("{s:o, s:b, s:b}", "queue", text_json(op->queue), "paused", op->pause,
                            "changed", reply->type == REDIS_REPLY_INTEGER && reply->integer > 0),
                  NULL);
}

int actions_pause(struct rconn *conn, const char *ns, const char *queue, bool pause,
                  actions_done_fn *done, void *arg)
{
    struct op *op = op_new(conn, ns, ACTIONS_DEAD, keys_paused(ns), done, arg);

    op->pause = pause;
    op->queue = xstrdup(queue);
    return op_send(op, pause_on_reply, 3,
                   (const char *[]){pause ? "SADD" : "SREM", op->key, op->queue}, NULL);
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(json_string_value(*(json_t *const *)a), json_string_value(*(json_t *const *)b));
}

static void paused_on_reply(struct redisReply *reply, void *arg)
{
    struct op *op = arg;
    const char *error = rconn_reply_error(reply);
    size_t n = reply && reply->type == REDIS_REPLY_ARRAY ? reply->elements : 0, k = 0;
    json_t **names, *list;

    if (error) {
        op_finish(op, -EIO, NULL, error);
        return;
    }
    names = xcalloc(n, sizeof(*names));
    for (size_t i = 0; i < n; i++)
        if (reply->element[i]->type == REDIS_REPLY_STRING &&
            (names[k] = json_stringn(reply->element[i]->str, reply->element[i]->len)))
            k++; /* a name that is not UTF-8 is left out */
    if (k > 1)
        qsort(names, k, sizeof(*names), name_cmp);
    list = json_array();
    for (size_t i = 0; i < k; i++)
        (void)json_array_append_new(list, names[i]);
    free(names);
    op_finish(op, 0, json_pack("{s:o}", "paused", list), NULL);
}

int actions_paused(struct rconn *conn, const char *ns, actions_done_fn *done, void *arg)
{
    struct op *op = op_new(conn, ns, ACTIONS_DEAD, keys_paused(ns), done, arg);

    return op_send(op, paused_on_reply, 2, (const char *[]){"SMEMBERS", op->key}, NULL);
}

/* --- run a schedule now ----------------------------------------------------------------- */

static void schedule_on_pushed(struct redisReply *reply, void *arg)
{
    struct op *op = arg;
    const char *error = rconn_reply_error(reply);

    const char *holder = error ? NULL : queue_push_holder(reply);

    if (error)
        op_finish(op, -EIO, NULL, error);
    else /* a unique schedule's job whose lock another holds: that one runs, nothing pushed */
        op_finish(op, 0,
                  json_pack("{s:s, s:o, s:b}", "jid", holder ? holder : op->jid_out, "queue",
                            text_json(op->queue), "duplicate", holder != NULL),
                  NULL);
}

int actions_schedule_run(struct rconn *conn, const char *ns, const struct cfg_schedule *sc,
                         actions_done_fn *done, void *arg)
{
    struct op *op = op_new(conn, ns, ACTIONS_DEAD, NULL, done, arg);
    struct job *job = rerun_schedule_job(sc, util_now(), util_random());
    size_t len = 0;
    char *text = job_encode(job, &len);
    struct unique_lock lock;
    int r;

    op->queue = xstrdup(sc->queue);
    (void)snprintf(op->jid_out, sizeof(op->jid_out), "%s", job_jid(job));
    (void)unique_lock_make(&lock, ns, job, 0); /* left empty by a failure: taken at the start */
    r = queue_push(op->conn, ns, sc->queue, QUEUE_PUSH_NOW, text, len, &lock, schedule_on_pushed,
                   op);
    unique_lock_clear(&lock);
    if (r < 0)
        op_free(op);
    free(text);
    job_free(job);
    return r;
}
