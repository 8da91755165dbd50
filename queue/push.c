/* push.c - one job pushed as a Sidekiq client does (push.lua). */
#include "queue/push.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "queue/keys.h"
#include "queue/lua.h"
#include "queue/unique.h"

static void word(struct queue_push *p, const char *s, size_t len)
{
    p->argv[p->argc] = s;
    p->lens[p->argc] = len;
    p->argc++;
}

void queue_push_make(struct queue_push *p, const char *ns, const char *queue, double at,
                     const char *text, size_t len, const struct unique_lock *lock)
{
    bool unique = lock && lock->key;

    memset(p, 0, sizeof(*p));
    p->k_queues = keys_queues(ns);
    p->k_queue = keys_queue(ns, queue);
    p->k_schedule = keys_schedule(ns);
    if (at != QUEUE_PUSH_NOW)
        (void)snprintf(p->at, sizeof(p->at), "%.6f", at);
    word(p, "EVAL", 4);
    word(p, lua_push, strlen(lua_push));
    word(p, unique ? "4" : "3", 1);
    word(p, p->k_queues, strlen(p->k_queues));
    word(p, p->k_queue, strlen(p->k_queue));
    word(p, p->k_schedule, strlen(p->k_schedule));
    if (unique)
        word(p, lock->key, strlen(lock->key));
    word(p, queue, strlen(queue));
    word(p, text, len);
    word(p, p->at, strlen(p->at));
    if (unique) {
        word(p, lock->jid, strlen(lock->jid));
        word(p, lock->ttl_ms, strlen(lock->ttl_ms));
    }
}

void queue_push_clear(struct queue_push *p)
{
    free(p->k_queues);
    free(p->k_queue);
    free(p->k_schedule);
    memset(p, 0, sizeof(*p));
}

int queue_push(struct rconn *rc, const char *ns, const char *queue, double at, const char *text,
               size_t len, const struct unique_lock *lock, rconn_reply_fn *done, void *arg)
{
    struct queue_push p;
    int r;

    queue_push_make(&p, ns, queue, at, text, len, lock);
    r = rconn_command(rc, done, arg, p.argc, p.argv, p.lens);
    queue_push_clear(&p);
    return r;
}

const char *queue_push_holder(const struct redisReply *reply)
{
    if (reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == 1 &&
        reply->element[0]->type == REDIS_REPLY_STRING)
        return reply->element[0]->str;
    return NULL;
}
