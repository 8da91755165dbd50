/* order.h - what this process knows of one in-flight list's order, so that jobs done in
 * the order they were fetched leave it by one LTRIM of a count (finish.lua's 'T' record)
 * instead of being sent back whole and compared (pure; docs/PROTOCOL.md, "Reliable fetch",
 * step 3).
 *
 * Jobs enter a list at its head (LPUSH, BLMOVE ... LEFT) and the oldest sit at its tail. Each
 * job this process learns it pushed gets the next number (its seq, from 1). A count trim is
 * right only when the list's tail holds exactly the jobs the count covers, so it is offered
 * only while the order is trusted: a job whose place is not certain (one a BLMOVE brought, on
 * another connection; a reply lost; a call that failed) makes order_distrust() draw a line
 * after every job known so far, and jobs up to that line leave by their text, as before, until
 * all of them are gone. Removal by text takes the oldest entry with that text (LREM ... -1),
 * which is the job's own only when no other job in the list has the same text: a job whose
 * text (its digest, order_digest()) is already in the list, a client's push sent twice or a
 * job a peer recovered and this process fetched again, draws the line too. A peer that
 * recovers the list is caught in Redis (finish.lua compares the list's token), not here. */
#ifndef ORDER_H
#define ORDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Jobs tracked past the oldest one still in the list; beyond, the order is let go (a job
 * running for hours while millions pass would otherwise keep a byte for each). */
#define ORDER_TRACKED_MAX 65536

struct order; /* opaque */

/* Caller owns the order, release with order_free() (accepts NULL). */
struct order *order_new(void);
void order_free(struct order *o);

/* What tells jobs' texts apart here: a 64-bit digest of `len` bytes at `text` (not
 * cryptographic; two texts that share one only cost a line drawn for nothing). */
uint64_t order_digest(const char *text, size_t len);

/* A job pushed at the list's head after every one known so far: its seq (> 0). `digest` is
 * its text's: a text already in the list draws the line (order_distrust()) after it. */
unsigned long long order_push(struct order *o, uint64_t digest);
/* Every job known so far leaves by its text; count trims resume once all are gone. */
void order_distrust(struct order *o);

/* Building one finish.lua call, whose records by text come before its trims, in three
 * steps. 1: each job of the call that is done and holds no lock is offered (order_offer());
 * every other job of the call, and one the offer sends by its text, is order_removing(). 2:
 * order_take() counts the offered jobs that are now the list's oldest (jobs this call
 * removes by text are passed over): they go in the call's 'T' record, order_taken() says
 * which. 3: each offered job not taken is order_removing(), then order_sent() once the call
 * is sent (or order_distrust() when it could not be).
 * One trim at a time: while an earlier call's is not confirmed, jobs offered are held back
 * for a later call. Were that call to fail without trimming, a trim after it would take its
 * jobs' entries in the place of its own, and its jobs, sent again by their text, could take
 * the entry of a job of the same text still running. */
enum order_offer {
    ORDER_BY_TEXT, /* its place is not trusted, or jobs before it are still in the list */
    ORDER_OFFERED, /* order_take() may count it */
    ORDER_HELD,    /* waits for the next call: an earlier trim is not confirmed yet */
};
enum order_offer order_offer(struct order *o, unsigned long long seq);
size_t order_take(struct order *o);
bool order_taken(const struct order *o, unsigned long long seq);
void order_removing(struct order *o, unsigned long long seq);
/* The call is sent: a later call's trim stops at the jobs this one removes by text until
 * Redis confirms them gone, and waits for its trim to be confirmed. */
void order_sent(struct order *o);
/* Redis confirmed the job `seq` (of text `digest`) is no longer in the list (removed, or
 * found gone). */
void order_gone(struct order *o, unsigned long long seq, uint64_t digest);

/* Jobs up to the line that may still be in the list (0: count trims may be offered). */
size_t order_barred(const struct order *o);

#endif
