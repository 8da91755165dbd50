/* move.c - exactly-once moves between Sidekiq's sets and lists. */
#include "queue/move.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "queue/keys.h"
#include "queue/rconn.h"

extern const char lua_move[];

struct entry {
    char *old;
    size_t old_len;
    char *new_job;
    char *queue;    /* NULL: dead */
    char *dest_key; /* queue:NAME or dead */
};

struct move_batch {
    char *ns;
    char *source_key;
    bool from_zset;
    struct entry *entries;
    size_t n, cap;
    move_done_fn *done;
    void *arg;
    /* move.lua's KEYS and ARGV (batch_lay_out()), borrowed from the fields above */
    char *k_queues, *k_dead;
    const char **keys; /* source, queues, dead, each entry's dest_key */
    const char **args; /* 'z' or 'l', now, then (old, new, queue) per entry */
    size_t *lens;      /* of args */
    size_t nkeys, nargs;
    char now[32];
};

struct move_batch *move_batch_new(const char *ns, const char *source_key, bool from_zset)
{
    struct move_batch *b = calloc(1, sizeof(*b));

    if (!b)
        return NULL;
    b->ns = strdup(ns);
    b->source_key = strdup(source_key);
    b->from_zset = from_zset;
    b->k_queues = keys_make(ns, "queues");
    b->k_dead = keys_make(ns, "dead");
    if (!b->ns || !b->source_key || !b->k_queues || !b->k_dead) {
        move_batch_free(b);
        return NULL;
    }
    return b;
}

void move_batch_free(struct move_batch *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < b->n; i++) {
        free(b->entries[i].old);
        free(b->entries[i].new_job);
        free(b->entries[i].queue);
        free(b->entries[i].dest_key);
    }
    free(b->entries);
    free(b->ns);
    free(b->source_key);
    free(b->k_queues);
    free(b->k_dead);
    free(b->keys);
    free(b->args);
    free(b->lens);
    free(b);
}

size_t move_batch_size(const struct move_batch *b)
{
    return b->n;
}

int move_batch_add(struct move_batch *b, const char *old, size_t old_len, char *new_job,
                   const char *queue)
{
    struct entry e = {.old_len = old_len, .new_job = new_job};

    if (b->n == b->cap) {
        size_t cap = b->cap ? 2 * b->cap : 16;
        struct entry *entries = realloc(b->entries, cap * sizeof(*entries));
        if (!entries) {
            free(new_job);
            return -ENOMEM;
        }
        b->entries = entries;
        b->cap = cap;
    }
    e.old = malloc(old_len + 1);
    e.queue = queue ? strdup(queue) : NULL;
    e.dest_key = queue ? keys_make(b->ns, "queue:%s", queue) : keys_make(b->ns, "dead");
    if (!e.old || (queue && !e.queue) || !e.dest_key) {
        free(e.old);
        free(e.queue);
        free(e.dest_key);
        free(new_job);
        return -ENOMEM;
    }
    memcpy(e.old, old, old_len);
    e.old[old_len] = '\0';
    b->entries[b->n++] = e;
    return 0;
}

static void send_on_reply(struct redisReply *reply, void *arg)
{
    struct move_batch *b = arg;
    const char *error = rconn_reply_error(reply);

    b->done(error ? 0 : reply->integer, error ? -EIO : 0, b->arg);
    move_batch_free(b);
}

/* Fills b->keys, args and lens for move.lua. Returns 0 or -ENOMEM. */
static int batch_lay_out(struct move_batch *b, double now)
{
    size_t a = 0;

    free(b->keys);
    free(b->args);
    free(b->lens);
    b->nkeys = 3 + b->n;
    b->nargs = 2 + 3 * b->n;
    b->keys = malloc(b->nkeys * sizeof(*b->keys));
    b->args = malloc(b->nargs * sizeof(*b->args));
    b->lens = malloc(b->nargs * sizeof(*b->lens));
    if (!b->keys || !b->args || !b->lens)
        return -ENOMEM;
    b->keys[0] = b->source_key;
    b->keys[1] = b->k_queues;
    b->keys[2] = b->k_dead;
    for (size_t i = 0; i < b->n; i++)
        b->keys[3 + i] = b->entries[i].dest_key;
    (void)snprintf(b->now, sizeof(b->now), "%.6f", now);
#define PUT(s, l) (b->args[a] = (s), b->lens[a] = (l), a++)
#define PUTS(s) PUT((s), strlen(s))
    PUTS(b->from_zset ? "z" : "l");
    PUTS(b->now);
    for (size_t i = 0; i < b->n; i++) {
        PUT(b->entries[i].old, b->entries[i].old_len);
        PUTS(b->entries[i].new_job);
        PUTS(b->entries[i].queue ? b->entries[i].queue : "");
    }
#undef PUT
#undef PUTS
    return 0;
}

int move_batch_send(struct move_batch *b, struct rconn *conn, double now, move_done_fn *done,
                    void *arg)
{
    int r = batch_lay_out(b, now);

    b->done = done;
    b->arg = arg;
    if (r == 0)
        r = rconn_eval(conn, send_on_reply, b, lua_move, b->nkeys, b->keys, b->nargs, b->args,
                       b->lens);
    if (r < 0)
        move_batch_free(b);
    return r;
}

int move_batch_words(struct move_batch *b, double now, struct rconn_eval_words *ret)
{
    int r = batch_lay_out(b, now);

    if (r < 0)
        return r;
    return rconn_eval_words_make(ret, lua_move, b->nkeys, b->keys, b->nargs, b->args, b->lens);
}
