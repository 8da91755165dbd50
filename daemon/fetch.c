/* fetch.c - taking jobs from Redis: batched fetches (fetch.lua) while there is room, one
 * BLMOVE per queue on its own connection while idle (worker.block_timeout long, then one
 * SMEMBERS of nexus:paused), and reconciling the in-flight lists when a reply may have been
 * lost with its jobs already moved. */
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "conf/cfg.h"
#include "daemon/worker_int.h"
#include "lib/err.h"
#include "lib/job.h"
#include "lib/log.h"
#include "lib/raddr.h"
#include "lib/util.h"
#include "lib/xalloc.h"
#include "queue/move.h"
#include "queue/queue.h"
#include "queue/rconn.h"

#define FETCHES_IN_FLIGHT 2        /* fetch round trips overlapped when busy */
#define FETCH_RETRY_S 1.0          /* after a fetch error other than a lost connection */
#define UNKNOWN_CLASS_RETRY_S 30.0 /* an unknown class within its grace: looked at again */
#define AHEAD_WINDOW_S 0.05 /* jobs fetched ahead: at most as many as start in such a while */
#define AHEAD_MEAN_OF 16    /* runs' mean length: moving average over about this many */

static void blocker_on_state(struct rconn *rc, bool up, void *arg);

/* A job of a class no handler knows: with worker.unknown_class_grace, put off while it is
 * younger than that (a rolling deploy may ship the producer before the workers that know
 * the class), else buried with the reason. */
static void unknown_class(struct worker *wk, struct run *run)
{
    double now = util_now(), created = job_created_at(run->job);
    double left = created + wk->cfg->unknown_class_grace_s - now;
    char why[192];

    (void)snprintf(why, sizeof(why), "unknown job class '%.128s'", job_class(run->job));
    if (created > 0 && left > 0) {
        record_defer(wk, run, now, left < UNKNOWN_CLASS_RETRY_S ? left : UNKNOWN_CLASS_RETRY_S,
                     why);
    } else {
        record_bury(wk, run->job, run->ref, run->seq, "NexusUnknownClass", why);
    }
    run_free(run);
}

/* A fetched job: decode, check, then run it, hold it, or bury it. Takes item->job. */
static void accept_item(struct worker *wk, struct queue_item *item)
{
    struct err err = {0};
    struct job *job = NULL;
    struct run *run;
    int r;

    if (item->cut) {
        record_bury_cut(wk, item);
        return;
    }
    r = job_decode(item->job, item->len, queue_ref_name(wk->queue, item->ref), util_random(), &job,
                   &err);
    free(item->job);
    if (wk->phase != STOP_NONE) {
        job_free(job); /* fetched while stopping: stays in flight, put back by the requeue */
        return;
    }
    if (r < 0) {
        (void)job_cut_raw(job, wk->cfg->dead_keep_max); /* on failure, kept whole */
        record_bury(wk, job, item->ref, item->seq, "NexusInvalidJob", err.msg);
        job_free(job);
        return;
    }
    run = run_new(wk, job, item->ref);
    run->seq = item->seq;
    if (!run->h) {
        unknown_class(wk, run);
        return;
    }
    run_configure(wk, run);
    if (job_unique_for(job) > 0)
        unique_ask(wk, run);
    else
        limits_admit(wk, run);
}

/* ---- fetching ahead ----
 * Jobs may be fetched ahead of a free slot, so that the next batch is on its way (or here)
 * while this one runs: Redis and this process work at the same time. At most
 * worker.prefetch, and at most as many as the slots free up in AHEAD_WINDOW_S at the pace
 * runs have lasted lately (concurrency x window / their mean length), so a job waits about
 * that long at most for a slot, and a process busy with long jobs takes nothing ahead that
 * an idle peer could run. They sit in the in-flight lists like any fetched job: a killed
 * process's are recovered with the rest, a stop requeues them. `concurrency` still bounds
 * the jobs running at once. */

void fetch_note_end(struct worker *wk, double ran_s)
{
    if (!(ran_s >= 0))
        ran_s = 0;
    if (wk->runs_ended++ == 0)
        wk->run_mean_s = ran_s;
    else
        wk->run_mean_s += (ran_s - wk->run_mean_s) / AHEAD_MEAN_OF;
}

static unsigned ahead_limit(const struct worker *wk)
{
    double slots;

    if (wk->runs_ended == 0)
        return 0; /* no pace known yet */
    slots = wk->cfg->concurrency * AHEAD_WINDOW_S / (wk->run_mean_s > 1e-9 ? wk->run_mean_s : 1e-9);
    return slots < wk->cfg->prefetch ? (unsigned)slots : wk->cfg->prefetch;
}

/* Jobs that may start now: concurrency less what runs, waits for a class slot or is checked. */
static unsigned free_slots(const struct worker *wk)
{
    unsigned used = wk->nrunning + wk->nheld + wk->nchecking;

    return used >= wk->cfg->concurrency ? 0 : wk->cfg->concurrency - used;
}

/* Jobs to ask Redis for: free slots and the prefetch's room, less what is coming or here. */
static unsigned capacity(const struct worker *wk)
{
    unsigned used = wk->nrunning + wk->nheld + wk->nchecking + wk->requested + wk->nblocking +
                    (unsigned)wk->nahead;
    unsigned most = wk->cfg->concurrency + ahead_limit(wk);

    return used >= most ? 0 : most - used;
}

static void ahead_push(struct worker *wk, struct queue_item *item)
{
    if (wk->nahead == wk->ahead_cap) {
        size_t cap = wk->ahead_cap ? 2 * wk->ahead_cap : 64;
        struct queue_item *ring = xreallocarray(NULL, cap, sizeof(*ring));
        for (size_t i = 0; i < wk->nahead; i++)
            ring[i] = wk->ahead[(wk->ahead_first + i) % wk->ahead_cap];
        free(wk->ahead);
        wk->ahead = ring;
        wk->ahead_cap = cap;
        wk->ahead_first = 0;
    }
    wk->ahead[(wk->ahead_first + wk->nahead) % wk->ahead_cap] = *item;
    wk->nahead++;
}

static void ahead_pop(struct worker *wk, struct queue_item *ret)
{
    *ret = wk->ahead[wk->ahead_first];
    wk->ahead_first = (wk->ahead_first + 1) % wk->ahead_cap;
    wk->nahead--;
}

void fetch_drop_ahead(struct worker *wk)
{
    struct queue_item item;

    while (wk->nahead > 0) {
        ahead_pop(wk, &item);
        free(item.job);
    }
    free(wk->ahead);
    wk->ahead = NULL;
    wk->ahead_cap = wk->ahead_first = 0;
}

/* Starts jobs fetched ahead, oldest first, while slots are free. Not again from below
 * itself (a job that ends at once calls fetch_more()): the loop here goes on instead. */
static void start_ahead(struct worker *wk)
{
    struct queue_item item;

    if (wk->starting_ahead)
        return;
    wk->starting_ahead = true;
    while (wk->nahead > 0 && free_slots(wk) > 0 && wk->phase == STOP_NONE) {
        ahead_pop(wk, &item);
        accept_item(wk, &item);
    }
    wk->starting_ahead = false;
}

/* Jobs a fetch brought: in line behind those fetched ahead, then started while slots are
 * free. Takes each item's job. */
static void take_items(struct worker *wk, struct queue_item *items, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ahead_push(wk, &items[i]);
    start_ahead(wk);
}

static bool may_fetch(const struct worker *wk)
{
    return wk->phase == STOP_NONE && !wk->quiet && !wk->reconciling && rconn_is_up(wk->conn);
}

/* One weighted draw: an index of w[0..n) with chances proportional to the weights (a zero is
 * never drawn); `total` is their sum, above 0. */
static size_t weighted_draw(const unsigned *w, size_t n, unsigned total)
{
    unsigned pick = (unsigned)(util_random() % total), acc = 0;
    size_t i;

    for (i = 0; i + 1 < n; i++) {
        acc += w[i];
        if (pick < acc)
            break;
    }
    return i;
}

/* The queues in the order to take from: as configured (strict), or a weighted shuffle
 * (each place drawn among the queues left, with chances proportional to their weights); then
 * wk->scratch holds each place's weight. */
static void fetch_order(struct worker *wk, unsigned *out)
{
    unsigned total = 0, *w = wk->scratch;
    size_t n = wk->norder;

    memcpy(out, wk->order, n * sizeof(*out));
    if (wk->cfg->queue_order == CFG_QUEUES_STRICT)
        return;
    memcpy(w, wk->weights, n * sizeof(*w));
    for (size_t i = 0; i < n; i++)
        total += w[i];
    for (size_t i = 0; i + 1 < n; i++) {
        size_t j = i + weighted_draw(w + i, n - i, total);
        unsigned t;
        total -= w[j];
        t = out[i], out[i] = out[j], out[j] = t;
        t = w[i], w[i] = w[j], w[j] = t;
    }
}

/* Weighted order: `want` draws, each of a queue with chances proportional to its weight,
 * counted per place of the order fetch_order() just made (its weights in wk->scratch):
 * fetch.lua takes that many from each, then what some could not give from the others. */
static void fetch_quotas(const struct worker *wk, unsigned want, unsigned *quotas)
{
    unsigned total = 0;

    for (size_t i = 0; i < wk->norder; i++) {
        total += wk->scratch[i];
        quotas[i] = 0;
    }
    for (unsigned k = 0; k < want; k++)
        quotas[weighted_draw(wk->scratch, wk->norder, total)]++;
}

/* Weighted order: the jobs of one fetch, which come queue by queue, start mixed as the draws
 * fall (each next job from a queue drawn by weight among those with jobs left); each queue's
 * own jobs keep their order. */
static void interleave(const struct worker *wk, struct queue_item *items, size_t n)
{
    size_t nrefs = queue_nrefs(wk->queue), *next = xcalloc(n, sizeof(*next));
    size_t *head = xcalloc(nrefs, sizeof(*head));
    unsigned *w = xcalloc(nrefs, sizeof(*w)), total = 0;
    struct queue_item *out = xreallocarray(NULL, n, sizeof(*out));

    for (size_t i = 0; i < wk->norder; i++)
        w[wk->order[i]] = wk->weights[i];
    for (size_t i = n; i-- > 0;) { /* lists of each ref's items, in order, 1-based */
        next[i] = head[items[i].ref];
        head[items[i].ref] = i + 1;
    }
    for (size_t ref = 0; ref < nrefs; ref++) {
        w[ref] = head[ref] ? (w[ref] ? w[ref] : 1) : 0;
        total += w[ref];
    }
    for (size_t k = 0; k < n; k++) {
        size_t ref = weighted_draw(w, nrefs, total);
        out[k] = items[head[ref] - 1];
        head[ref] = next[head[ref] - 1];
        if (!head[ref]) {
            total -= w[ref];
            w[ref] = 0;
        }
    }
    memcpy(items, out, n * sizeof(*out));
    free(out);
    free(w);
    free(head);
    free(next);
}

/* A fetch or BLMOVE under way. */
struct fetch_call {
    struct worker *wk;
    unsigned want; /* jobs asked for */
    unsigned ref;  /* BLMOVE: its queue */
};

static void block_on_job(struct queue_item *items, size_t n, int err, void *arg);
static void fetch_on_jobs(struct queue_item *items, size_t n, int err, void *arg);

/* Idle: one BLMOVE per queue, so that a push wakes this process within a round trip. A
 * paused queue gets none: a fetch every worker.block_timeout notices its resume. */
static void block_missing(struct worker *wk)
{
    unsigned order[wk->norder ? wk->norder : 1];
    struct fetch_call *call;

    fetch_order(wk, order);
    for (size_t i = 0; i < wk->norder && capacity(wk) > 0 && may_fetch(wk); i++) {
        unsigned ref = order[i];
        struct rconn *b = wk->blockers[ref];
        if (queue_ref_paused(wk->queue, ref)) {
            if (!ev_is_active(&wk->refetch)) {
                ev_timer_set(&wk->refetch, wk->cfg->block_timeout_s, 0);
                ev_timer_start(wk->loop, &wk->refetch);
            }
            continue;
        }
        if (!b) /* made on first need; it calls back when connected */
            wk->blockers[ref] = rconn_new(wk->loop, wk->addr, "blocking-fetch",
                                          wk->cfg->redis_connect_timeout_s, blocker_on_state, wk);
        if (wk->blocking[ref] || !b || !rconn_is_up(b))
            continue;
        call = xmalloc(sizeof(*call));
        call->wk = wk;
        call->want = 1;
        call->ref = ref;
        if (queue_block(wk->queue, b, ref, wk->cfg->block_timeout_s, block_on_job, call) < 0) {
            free(call);
            continue;
        }
        wk->blocking[ref] = true;
        wk->nblocking++;
    }
}

static void paused_on_read(bool resumed, int err, void *arg)
{
    struct worker *wk = arg;

    wk->paused_reading = false;
    if (wk->phase != STOP_NONE)
        return;
    if (resumed || err < 0 || wk->reconcile_needed)
        fetch_more(wk); /* a resumed queue's jobs wait; an error is fetch's to handle */
    else
        block_missing(wk);
}

/* An idle wait timed out: one SMEMBERS notes pauses and resumes (queues timing out together
 * share it), then the waits go out again. */
static void block_timed_out(struct worker *wk)
{
    if (wk->paused_reading)
        return; /* its reply sends the waits again */
    if (ev_now(wk->loop) - wk->paused_read_at < wk->cfg->block_timeout_s / 2) {
        block_missing(wk);
        return;
    }
    if (queue_paused_read(wk->queue, paused_on_read, wk) < 0)
        return; /* the connection is down: its return calls fetch_more() */
    wk->paused_reading = true;
    wk->paused_read_at = ev_now(wk->loop);
}

static void block_on_job(struct queue_item *items, size_t n, int err, void *arg)
{
    struct fetch_call *call = arg;
    struct worker *wk = call->wk;

    wk->blocking[call->ref] = false;
    wk->nblocking--;
    free(call);
    take_items(wk, items, n);
    if (err < 0)
        wk->reconcile_needed = true; /* its job may be in flight with the reply lost */
    if (wk->phase != STOP_NONE)
        return;
    if (n == 0 && err == 0 && !wk->reconcile_needed)
        block_timed_out(wk);
    else
        fetch_more(wk); /* a job came (others may follow), or reconcile */
}

void fetch_more(struct worker *wk)
{
    unsigned order[wk->norder ? wk->norder : 1], quotas[wk->norder ? wk->norder : 1], want;
    bool weighted = wk->cfg->queue_order != CFG_QUEUES_STRICT && wk->norder > 1;
    struct fetch_call *call;

    start_ahead(wk);
    if (wk->reconcile_needed || wk->reconciling) {
        fetch_reconcile(wk);
        return;
    }
    while (may_fetch(wk) && wk->nfetching < FETCHES_IN_FLIGHT && (want = capacity(wk)) > 0) {
        if (wk->nfetching > 0 && want < wk->cfg->fetch_batch / 2 + 1)
            return; /* a second call only for a worthwhile batch */
        if (want > wk->cfg->fetch_batch)
            want = wk->cfg->fetch_batch;
        call = xmalloc(sizeof(*call));
        call->wk = wk;
        call->want = want;
        fetch_order(wk, order);
        if (weighted)
            fetch_quotas(wk, want, quotas);
        if (queue_fetch(wk->queue, order, weighted ? quotas : NULL, wk->norder, want, fetch_on_jobs,
                        call) < 0) {
            free(call);
            return;
        }
        wk->nfetching++;
        wk->requested += want;
    }
}

static void fetch_on_jobs(struct queue_item *items, size_t n, int err, void *arg)
{
    struct fetch_call *call = arg;
    struct worker *wk = call->wk;
    bool drained = n < call->want;

    wk->nfetching--;
    wk->requested -= call->want;
    free(call);
    if (wk->cfg->queue_order != CFG_QUEUES_STRICT && n > 1)
        interleave(wk, items, n);
    take_items(wk, items, n);
    if (err < 0) {
        wk->reconcile_needed = true; /* its jobs may be in flight with the reply lost */
        if (rconn_is_up(wk->conn) && !ev_is_active(&wk->refetch)) {
            ev_timer_set(&wk->refetch, FETCH_RETRY_S, 0);
            ev_timer_start(wk->loop, &wk->refetch);
        }
        return;
    }
    if (wk->reconciling)
        fetch_reconcile(wk);
    else if (drained && wk->nfetching == 0)
        block_missing(wk);
    else if (!drained)
        fetch_more(wk);
    /* drained with another fetch out: its reply decides (fetching again here would keep two
       fetches of empty queues going back and forth for ever) */
}

void fetch_on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    fetch_more(w->data);
}

/* ---- reconciling in-flight lists after a lost reply ---- */

/* Closes the idle BLMOVE connections (all, or those of queues no longer configured). A job
 * a closing BLMOVE moved stays in flight with its reply lost: reconciling puts it back. */
void fetch_blockers_close(struct worker *wk, bool all)
{
    for (size_t ref = 0; ref < wk->nblocker_slots; ref++) {
        struct rconn *b = wk->blockers[ref];
        bool configured = false;
        for (size_t i = 0; i < wk->norder && !all; i++)
            configured |= wk->order[i] == ref;
        if (!b || configured)
            continue;
        wk->blockers[ref] = NULL;
        if (wk->blocking[ref])
            wk->reconcile_needed = true;
        rconn_free(b);
    }
}

/* Whether this process holds the job stored as `text` in queue `ref`'s in-flight list. */
static bool job_is_ours(struct worker *wk, unsigned ref, const char *text, size_t len)
{
    struct run *heads[] = {&wk->runs, &wk->held};
    size_t raw_len;

    for (size_t h = 0; h < 2; h++) {
        for (struct run *run = heads[h]->next; run != heads[h]; run = run->next) {
            const char *raw = job_raw(run->job, &raw_len);
            if (run->ref == ref && raw_len == len && memcmp(raw, text, len) == 0)
                return true;
        }
    }
    for (size_t i = 0; i < wk->nahead; i++) {
        const struct queue_item *item = &wk->ahead[(wk->ahead_first + i) % wk->ahead_cap];
        if (item->ref == ref && queue_item_is(item, text, len))
            return true;
    }
    return queue_finishing(wk->queue, ref, text, len);
}

struct reconcile_call {
    struct worker *wk;
    unsigned ref;
};

static void reconcile_list_done(struct worker *wk)
{
    if (--wk->nreconciling > 0)
        return;
    wk->reconciling = false;
    if (!wk->reconcile_needed)
        queue_order_reconciled(wk->queue);
    if (wk->reconcile_needed) {
        /* a list could not be read (the connection is going): try again in a while, or when
         * the connection is back; never at once, which would spin */
        if (!ev_is_active(&wk->refetch)) {
            ev_timer_set(&wk->refetch, FETCH_RETRY_S, 0);
            ev_timer_start(wk->loop, &wk->refetch);
        }
        return;
    }
    fetch_more(wk);
}

static void reconcile_on_moved(long long moved, int err, void *arg)
{
    struct reconcile_call *call = arg;
    struct worker *wk = call->wk;

    if (err < 0)
        wk->reconcile_needed = true;
    else if (moved > 0)
        log_warn("event=orphans_requeued queue=%s jobs=%lld why=\"fetch reply lost\"",
                 log_q(queue_ref_name(wk->queue, call->ref)), moved);
    free(call);
    reconcile_list_done(wk);
}

/* Jobs in our in-flight list that no run, held job or outcome accounts for were fetched
 * with the reply lost: back to the front of their queue, unchanged. */
static void reconcile_on_list(struct redisReply *reply, void *arg)
{
    struct reconcile_call *call = arg;
    struct worker *wk = call->wk;
    struct move_batch *b = NULL;

    if (rconn_reply_error(reply)) {
        wk->reconcile_needed = true;
    } else if (reply->type == REDIS_REPLY_ARRAY && wk->phase == STOP_NONE) {
        for (size_t i = 0; i < reply->elements; i++) {
            struct redisReply *e = reply->element[i];
            char *copy;
            if (job_is_ours(wk, call->ref, e->str, e->len))
                continue;
            if (!b)
                b = move_batch_new(wk->cfg->redis_namespace,
                                   queue_ref_inflight_key(wk->queue, call->ref), false);
            copy = xmemdup(e->str, e->len);
            move_batch_add(b, e->str, e->len, copy, queue_ref_name(wk->queue, call->ref));
        }
    }
    if (b && move_batch_send(b, wk->conn, util_now(), reconcile_on_moved, call) == 0)
        return;
    free(call);
    reconcile_list_done(wk);
}

/* Reconciles once no fetch is under way (a reply still coming is not lost). */
void fetch_reconcile(struct worker *wk)
{
    struct reconcile_call *call;

    if (wk->phase != STOP_NONE || !rconn_is_up(wk->conn))
        return;
    if (!wk->reconciling) {
        if (!wk->reconcile_needed)
            return;
        wk->reconciling = true;
        fetch_blockers_close(wk, true);
    }
    /* a fetch or limit check still to answer holds jobs that are ours but not yet in a list */
    if (wk->nfetching > 0 || wk->nblocking > 0 || wk->nchecking > 0 || wk->nreconciling > 0 ||
        !wk->reconcile_needed)
        return;
    wk->reconcile_needed = false;
    wk->nreconciling = 1; /* held while the calls go out */
    for (size_t ref = 0; ref < queue_nrefs(wk->queue); ref++) {
        call = xmalloc(sizeof(*call));
        call->wk = wk;
        call->ref = (unsigned)ref;
        if (rconn_commandf(wk->conn, reconcile_on_list, call, "LRANGE %s 0 -1",
                           queue_ref_inflight_key(wk->queue, (unsigned)ref)) < 0) {
            free(call);
            wk->reconcile_needed = true;
            continue;
        }
        wk->nreconciling++;
    }
    reconcile_list_done(wk);
}

/* ---- queues of the configuration ---- */

/* A blocking connection is back: if the process is idle, this lets it wait on it again. */
static void blocker_on_state(struct rconn *rc, bool up, void *arg)
{
    if (up)
        fetch_more(arg);
}

void fetch_queues_apply(struct worker *wk, const struct cfg *cfg)
{
    unsigned *order = xcalloc(cfg->nqueues, sizeof(*order));
    unsigned *weights = xcalloc(cfg->nqueues, sizeof(*weights));
    unsigned *scratch = xcalloc(cfg->nqueues, sizeof(*scratch));
    size_t need;

    for (size_t i = 0; i < cfg->nqueues; i++) {
        order[i] = (unsigned)queue_ref(wk->queue, cfg->queues[i].name);
        weights[i] = cfg->queues[i].weight;
    }
    need = queue_nrefs(wk->queue);
    if (need > wk->nblocker_slots) {
        wk->blockers = xreallocarray(wk->blockers, need, sizeof(*wk->blockers));
        wk->blocking = xreallocarray(wk->blocking, need, sizeof(*wk->blocking));
        for (size_t i = wk->nblocker_slots; i < need; i++) {
            wk->blockers[i] = NULL;
            wk->blocking[i] = false;
        }
        wk->nblocker_slots = need;
    }
    for (size_t i = 0; i < cfg->nqueues; i++) {
        if (!wk->blockers[order[i]])
            wk->blockers[order[i]] = rconn_new(wk->loop, wk->addr, "blocking-fetch",
                                               cfg->redis_connect_timeout_s, blocker_on_state, wk);
    }
    free(wk->order);
    free(wk->weights);
    free(wk->scratch);
    wk->order = order;
    wk->weights = weights;
    wk->scratch = scratch;
    wk->norder = cfg->nqueues;
}
