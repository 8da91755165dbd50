/* move.h - moves jobs out of a sorted set (schedule, retry) or a dead process's in-flight
 * list into queues or `dead`, each exactly once however many processes try (move.lua). */
#ifndef MOVE_H
#define MOVE_H

#include <stdbool.h>
#include <stddef.h>

struct rconn;
struct rconn_eval_words;
struct move_batch; /* opaque */

/* `source_key` is the full key; `from_zset` says whether it is a sorted set (moved jobs are
 * pushed as a client would) or a list (recovered jobs are pushed to run next). Caller owns
 * the batch until move_batch_send(); release an unsent one with move_batch_free(). */
struct move_batch *move_batch_new(const char *ns, const char *source_key, bool from_zset);
void move_batch_free(struct move_batch *b);
/* Adds a job: `old` as stored (copied), `new_job` to write (taken), `queue` its queue
 * (copied), NULL for `dead`. */
void move_batch_add(struct move_batch *b, const char *old, size_t old_len, char *new_job,
                    const char *queue);
size_t move_batch_size(const struct move_batch *b);

typedef void move_done_fn(long long moved, int err, void *arg);
/* Sends the batch in one call and frees it, also on failure. `done` runs once unless a
 * negative errno is returned. */
int move_batch_send(struct move_batch *b, struct rconn *conn, double now, move_done_fn *done,
                    void *arg);
/* The same call as EVAL words, for a synchronous client (nexusctl): the reply is the number
 * of jobs moved. The words are borrowed from the batch, which stays the caller's: clear
 * `ret` with rconn_eval_words_clear() before move_batch_free(). */
void move_batch_words(struct move_batch *b, double now, struct rconn_eval_words *ret);

#endif
