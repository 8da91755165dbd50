/* move.c - exactly-once moves between Sidekiq's sets and lists. */
#include "queue/move.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "lib/xalloc.h"
#include "queue/keys.h"
#include "queue/lua.h"
#include "queue/rconn.h"

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
    struct move_batch *b = xcalloc(1, sizeof(*b));

    b->ns = xstrdup(ns);
    b->source_key = xstrdup(source_key);
    b->from_zset = from_zset;
    b->k_queues = keys_queues(ns);
    b->k_dead = keys_dead(ns);
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

void move_batch_add(struct move_batch *b, const char *old, size_t old_len, char *new_job,
                    const char *queue)
{
    struct entry *e;

    if (b->n == b->cap) {
        b->cap = b->cap ? 2 * b->cap : 16;
        b->entries = xreallocarray(b->entries, b->cap, sizeof(*b->entries));
    }
    e = &b->entries[b->n++];
    e->old = xmemdup(old, old_len);
    e->old_len = old_len;
    e->new_job = new_job;
    e->queue = queue ? xstrdup(queue) : NULL;
    e->dest_key = queue ? keys_queue(b->ns, queue) : keys_dead(b->ns);
}

static void send_on_reply(struct redisReply *reply, void *arg)
{
    struct move_batch *b = arg;
    const char *error = rconn_reply_error(reply);

    b->done(error ? 0 : reply->integer, error ? -EIO : 0, b->arg);
    move_batch_free(b);
}

/* Fills b->keys, args and lens for move.lua. */
static void batch_lay_out(struct move_batch *b, double now)
{
    size_t a = 0;

    free(b->keys);
    free(b->args);
    free(b->lens);
    b->nkeys = 3 + b->n;
    b->nargs = 2 + 3 * b->n;
    b->keys = xreallocarray(NULL, b->nkeys, sizeof(*b->keys));
    b->args = xreallocarray(NULL, b->nargs, sizeof(*b->args));
    b->lens = xreallocarray(NULL, b->nargs, sizeof(*b->lens));
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
}

int move_batch_send(struct move_batch *b, struct rconn *conn, double now, move_done_fn *done,
                    void *arg)
{
    int r;

    batch_lay_out(b, now);
    b->done = done;
    b->arg = arg;
    r = rconn_eval(conn, send_on_reply, b, lua_move, b->nkeys, b->keys, b->nargs, b->args, b->lens);
    if (r < 0)
        move_batch_free(b);
    return r;
}

void move_batch_words(struct move_batch *b, double now, struct rconn_eval_words *ret)
{
    batch_lay_out(b, now);
    rconn_eval_words_make(ret, lua_move, b->nkeys, b->keys, b->nargs, b->args, b->lens);
}
