/* move.c - exactly-once moves between Sidekiq's sets and lists. */
#include "move.h"

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
};

struct move_batch *move_batch_new(const char *ns, const char *source_key, bool from_zset)
{
    struct move_batch *b = calloc(1, sizeof(*b));

    if (!b)
        return NULL;
    b->ns = strdup(ns);
    b->source_key = strdup(source_key);
    b->from_zset = from_zset;
    if (!b->ns || !b->source_key) {
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

int move_batch_send(struct move_batch *b, struct rconn *conn, double now, move_done_fn *done,
                    void *arg)
{
    size_t argc = 3 + 3 + b->n + 2 + 3 * b->n, a = 0;
    const char **argv = malloc(argc * sizeof(*argv));
    size_t *lens = malloc(argc * sizeof(*lens));
    char *k_queues = keys_make(b->ns, "queues"), *k_dead = keys_make(b->ns, "dead");
    char nkeys[24], score[32];
    int r = -ENOMEM;

    if (!argv || !lens || !k_queues || !k_dead)
        goto out;
#define PUT(s, l) (argv[a] = (s), lens[a] = (l), a++)
#define PUTS(s) PUT((s), strlen(s))
    (void)snprintf(nkeys, sizeof(nkeys), "%zu", 3 + b->n);
    (void)snprintf(score, sizeof(score), "%.6f", now);
    PUTS("EVAL");
    PUTS(lua_move);
    PUTS(nkeys);
    PUTS(b->source_key);
    PUTS(k_queues);
    PUTS(k_dead);
    for (size_t i = 0; i < b->n; i++)
        PUTS(b->entries[i].dest_key);
    PUTS(b->from_zset ? "z" : "l");
    PUTS(score);
    for (size_t i = 0; i < b->n; i++) {
        PUT(b->entries[i].old, b->entries[i].old_len);
        PUTS(b->entries[i].new_job);
        PUTS(b->entries[i].queue ? b->entries[i].queue : "");
    }
#undef PUT
#undef PUTS
    b->done = done;
    b->arg = arg;
    r = rconn_command(conn, send_on_reply, b, (int)a, argv, lens);
out:
    if (r < 0)
        move_batch_free(b);
    free(argv);
    free(lens);
    free(k_queues);
    free(k_dead);
    return r;
}
