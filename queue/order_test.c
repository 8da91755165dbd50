/* order_test.c - the in-flight order: count trims take exactly the jobs done in order, never
 * one still running, also with calls failing and lines drawn at random (a simulated list). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "queue/order.h"

/* Jobs of distinct texts: the text's digest is the seq the job is expected to get. */
static unsigned long long push(struct order *o, unsigned long long expect)
{
    unsigned long long seq = order_push(o, expect);

    assert_int_equal(seq, expect);
    return seq;
}

static void gone(struct order *o, unsigned long long seq)
{
    order_gone(o, seq, seq);
}

static void test_jobs_done_in_order_are_taken_by_one_trim(void **state)
{
    struct order *o = order_new();
    unsigned long long a = push(o, 1), b = push(o, 2), c = push(o, 3);

    (void)state;
    assert_int_equal(order_offer(o, b), ORDER_OFFERED);
    assert_int_equal(order_offer(o, a), ORDER_OFFERED);
    assert_int_equal(order_take(o), 2);
    assert_true(order_taken(o, a));
    assert_true(order_taken(o, b));
    assert_false(order_taken(o, c));
    order_sent(o);
    /* one trim at a time: c waits for the first to be confirmed */
    assert_int_equal(order_offer(o, c), ORDER_HELD);
    order_sent(o);
    gone(o, a);
    gone(o, b);
    assert_int_equal(order_offer(o, c), ORDER_OFFERED);
    assert_int_equal(order_take(o), 1);
    order_sent(o);
    gone(o, c);
    assert_int_equal(order_barred(o), 0);
    order_free(o);
}

static void test_a_job_still_running_stops_the_trim(void **state)
{
    struct order *o = order_new();
    unsigned long long a = push(o, 1), b = push(o, 2);

    (void)state;
    assert_int_equal(order_offer(o, b), ORDER_OFFERED);
    assert_int_equal(order_take(o), 0); /* a runs: b goes by its text */
    assert_false(order_taken(o, b));
    order_removing(o, b);
    order_sent(o);
    /* a is done next, b's removal is not confirmed yet: a is the oldest, it may go */
    assert_int_equal(order_offer(o, a), ORDER_OFFERED);
    assert_int_equal(order_take(o), 1);
    order_sent(o);
    order_free(o);
}

static void test_a_removal_by_text_in_the_same_call_is_passed_over(void **state)
{
    struct order *o = order_new();
    unsigned long long a = push(o, 1), b = push(o, 2);

    (void)state;
    order_removing(o, a); /* a retry, in this call, before the trim */
    assert_int_equal(order_offer(o, b), ORDER_OFFERED);
    assert_int_equal(order_take(o), 1);
    order_sent(o);
    order_free(o);
}

static void test_an_unconfirmed_removal_of_an_earlier_call_stops_the_trim(void **state)
{
    struct order *o = order_new();
    unsigned long long a = push(o, 1), b = push(o, 2);

    (void)state;
    order_removing(o, a);
    order_sent(o);
    assert_int_equal(order_offer(o, b), ORDER_OFFERED);
    assert_int_equal(order_take(o), 0); /* that call may fail and leave a in the list */
    order_removing(o, b);
    order_sent(o);
    gone(o, a);
    gone(o, b);
    order_free(o);
}

static void test_distrust_bars_trims_until_every_known_job_is_gone(void **state)
{
    struct order *o = order_new();
    unsigned long long a = push(o, 1), b = push(o, 2), c;

    (void)state;
    order_distrust(o);
    assert_int_equal(order_barred(o), 2);
    c = push(o, 3);
    assert_int_equal(order_offer(o, c), ORDER_BY_TEXT);
    order_removing(o, c);
    order_sent(o);
    gone(o, b);
    gone(o, a);
    assert_int_equal(order_barred(o), 0);
    gone(o, c);
    c = push(o, 4);
    assert_int_equal(order_offer(o, c), ORDER_OFFERED);
    assert_int_equal(order_take(o), 1);
    order_free(o);
}

static void test_an_unknown_seq_is_never_offered(void **state)
{
    struct order *o = order_new();

    (void)state;
    assert_int_equal(order_offer(o, 0), ORDER_BY_TEXT);
    assert_int_equal(order_offer(o, 7), ORDER_BY_TEXT);
    order_removing(o, 0);
    gone(o, 0);
    assert_int_equal(order_barred(o), 0);
    order_free(o);
}

static void test_a_text_already_in_the_list_draws_the_line(void **state)
{
    struct order *o = order_new();
    unsigned long long a = order_push(o, 77), b = order_push(o, 78), c;

    (void)state;
    c = order_push(o, 77); /* a's text again: an LREM for either may take the other's entry */
    assert_int_equal(order_barred(o), 3);
    assert_int_equal(order_offer(o, c), ORDER_BY_TEXT);
    order_gone(o, a, 77);
    order_gone(o, b, 78);
    order_gone(o, c, 77);
    assert_int_equal(order_barred(o), 0);
    c = order_push(o, 77); /* both gone: a text like any other again */
    assert_int_equal(order_barred(o), 0);
    assert_int_equal(order_offer(o, c), ORDER_OFFERED);
    order_free(o);
}

static void test_the_digest_tells_texts_apart(void **state)
{
    const char *a = "{\"jid\":\"a\"}", *b = "{\"jid\":\"b\"}";

    (void)state;
    assert_int_equal(order_digest(a, strlen(a)), order_digest(a, strlen(a)));
    assert_int_not_equal(order_digest(a, strlen(a)), order_digest(b, strlen(b)));
    assert_int_not_equal(order_digest("abcdefgh", 8), order_digest("abcdefgh", 9)); /* its NUL */
    assert_int_not_equal(order_digest("", 0), 0);
}

static void test_tracking_is_bounded(void **state)
{
    struct order *o = order_new();
    unsigned long long first = push(o, 1);

    (void)state;
    for (int i = 1; i < ORDER_TRACKED_MAX; i++)
        (void)push(o, (unsigned long long)i + 1);
    assert_int_equal(order_barred(o), 0);
    (void)push(o, ORDER_TRACKED_MAX + 1); /* the first still runs: the line is drawn */
    assert_int_equal(order_barred(o), ORDER_TRACKED_MAX);
    gone(o, first);
    assert_int_equal(order_barred(o), ORDER_TRACKED_MAX - 1);
    order_free(o);
}

/* ---- a simulated in-flight list under random work ---- */

#define SIM_JOBS 3000
#define SIM_CALLS 64

enum { JOB_RUNNING, JOB_DONE };

struct sim_call {
    unsigned long long text[64], trim[64];
    size_t ntext, ntrim;
    bool fails; /* an error reply: nothing done (later calls still run) */
};

struct sim {
    struct order *o;
    unsigned long long list[SIM_JOBS]; /* the jobs' texts, [0] the oldest */
    size_t len;
    int job[SIM_JOBS + 1];                 /* by seq */
    unsigned long long text[SIM_JOBS + 1]; /* by seq: its own seq, or a twin's text */
    bool fast_ok[SIM_JOBS + 1];            /* done without a lock */
    bool waiting[SIM_JOBS + 1];            /* its record waits for a call */
    bool removed[SIM_JOBS + 1];            /* a call removed it by its text */
    unsigned long long pushed;
    struct sim_call calls[SIM_CALLS];
    size_t first_call, ncalls, executed; /* calls [first, first + executed) ran in "Redis" */
    size_t trimmed;                      /* jobs sent in trims */
};

static void sim_remove_at(struct sim *s, size_t i)
{
    memmove(&s->list[i], &s->list[i + 1], (s->len - i - 1) * sizeof(s->list[0]));
    s->len--;
}

static uint64_t sim_digest(unsigned long long text)
{
    return order_digest((const char *)&text, sizeof(text));
}

/* What must hold after every call, whatever failed: each job not done, and each done with
 * an outcome other than a plain success whose removal has not run, has an entry of its text
 * (entries of one text are alike: which one a job "owns" does not matter). */
static void sim_check(const struct sim *s)
{
    static int need[SIM_JOBS + 1], have[SIM_JOBS + 1];

    memset(need, 0, sizeof(need));
    memset(have, 0, sizeof(have));
    for (size_t i = 0; i < s->len; i++)
        have[s->list[i]]++;
    for (unsigned long long q = 1; q <= s->pushed; q++)
        need[s->text[q]] += s->job[q] == JOB_RUNNING || (!s->fast_ok[q] && !s->removed[q]);
    for (unsigned long long t = 1; t <= s->pushed; t++)
        assert_true(have[t] >= need[t]);
}

/* "Redis" runs the next call: removals by text (LREM ... -1: the oldest entry of the text),
 * then the trim of the oldest N. */
static void sim_execute(struct sim *s)
{
    struct sim_call *c = &s->calls[(s->first_call + s->executed) % SIM_CALLS];

    s->executed++;
    if (c->fails)
        return;
    for (size_t k = 0; k < c->ntext; k++) {
        s->removed[c->text[k]] = true;
        for (size_t i = 0; i < s->len; i++)
            if (s->list[i] == s->text[c->text[k]]) {
                sim_remove_at(s, i);
                break;
            }
    }
    assert_true(c->ntrim <= s->len);
    for (size_t k = 0; k < c->ntrim; k++)
        sim_remove_at(s, 0);
    sim_check(s);
}

/* The reply of the oldest call executed. */
static void sim_reply(struct sim *s)
{
    struct sim_call *c = &s->calls[s->first_call];
    unsigned long long seqs[128];
    size_t n = 0;

    memcpy(seqs, c->text, c->ntext * sizeof(seqs[0]));
    memcpy(seqs + c->ntext, c->trim, c->ntrim * sizeof(seqs[0]));
    n = c->ntext + c->ntrim;
    if (c->fails) {
        order_distrust(s->o);
        for (size_t k = 0; k < n; k++)
            s->waiting[seqs[k]] = true; /* given back */
    } else {
        for (size_t k = 0; k < n; k++)
            order_gone(s->o, seqs[k], sim_digest(s->text[seqs[k]]));
    }
    s->first_call = (s->first_call + 1) % SIM_CALLS;
    s->ncalls--;
    s->executed--;
}

static void sim_send(struct sim *s, unsigned rnd)
{
    struct sim_call *c = &s->calls[(s->first_call + s->ncalls) % SIM_CALLS];
    unsigned long long recs[64];
    size_t n = 0;

    for (unsigned long long q = 1; q <= s->pushed && n < 64; q++)
        if (s->waiting[q])
            recs[n++] = q;
    if (n == 0 || s->ncalls == SIM_CALLS)
        return;
    memset(c, 0, sizeof(*c));
    c->fails = rnd % 23 == 0;
    for (size_t k = 0; k < n; k++) {
        enum order_offer offer = s->fast_ok[recs[k]] ? order_offer(s->o, recs[k]) : ORDER_BY_TEXT;
        if (offer == ORDER_HELD)
            recs[k] = 0; /* stays waiting */
        else if (offer == ORDER_BY_TEXT)
            order_removing(s->o, recs[k]);
    }
    (void)order_take(s->o);
    for (size_t k = 0; k < n; k++) {
        if (recs[k] == 0)
            continue;
        s->waiting[recs[k]] = false;
        if (order_taken(s->o, recs[k])) {
            c->trim[c->ntrim++] = recs[k];
            s->trimmed++;
        } else {
            order_removing(s->o, recs[k]);
            c->text[c->ntext++] = recs[k];
        }
    }
    order_sent(s->o);
    s->ncalls++;
}

/* A job pushed: a new text, or (`twin`) the text of a job in the list (a client's push sent
 * twice, a job a peer recovered fetched again); at the list's head, or (`among`) up to two
 * entries before it (a BLMOVE's job, on another connection: its place is not known). */
static void sim_push(struct sim *s, unsigned rnd, bool twin, bool among)
{
    unsigned long long q = s->pushed + 1, t = q;
    size_t at = s->len;

    if (twin && s->len > 0)
        t = s->list[(rnd >> 4) % s->len];
    assert_int_equal(order_push(s->o, sim_digest(t)), q);
    if (among) {
        at -= (rnd >> 12) % 3 < at ? (rnd >> 12) % 3 : at;
        order_distrust(s->o);
    }
    s->pushed = q;
    s->text[q] = t;
    memmove(&s->list[at + 1], &s->list[at], (s->len - at) * sizeof(s->list[0]));
    s->list[at] = t;
    s->len++;
    s->job[q] = JOB_RUNNING;
}

static void test_random_work_never_trims_a_job_not_done(void **state)
{
    struct sim *s = calloc(1, sizeof(*s));
    unsigned rnd = 12345;

    (void)state;
    s->o = order_new();
    for (int step = 0; step < 150000; step++) {
        unsigned r;
        rnd = rnd * 1103515245u + 12345u;
        r = (rnd >> 8) % 1000;
        if (r < 200) { /* a fetch */
            if (s->pushed < SIM_JOBS)
                sim_push(s, rnd, false, false);
        } else if (r < 500) { /* a job ends: mostly the oldest running, in order */
            for (unsigned long long q = 1; q <= s->pushed; q++) {
                if (s->job[q] != JOB_RUNNING || ((rnd >> 20) % 8 == 0 && q % 2 == 0))
                    continue;
                if (q % 97 == 0 && (rnd >> 18) % 16 != 0)
                    continue; /* a long job */
                s->job[q] = JOB_DONE;
                s->fast_ok[q] = (rnd >> 16) % 10 != 0; /* else a retry, a lock */
                s->waiting[q] = true;
                break;
            }
        } else if (r < 600) {
            sim_send(s, rnd >> 4);
        } else if (r < 780) {
            if (s->executed < s->ncalls)
                sim_execute(s);
        } else if (r < 980) {
            if (s->executed > 0)
                sim_reply(s);
        } else if (r < 995) {
            if (s->pushed < SIM_JOBS)
                sim_push(s, rnd, true, false);
        } else if (r < 997) {
            if (s->pushed < SIM_JOBS)
                sim_push(s, rnd, false, true);
        }
    }
    assert_true(s->trimmed > SIM_JOBS / 20); /* trims were made */
    order_free(s->o);
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jobs_done_in_order_are_taken_by_one_trim),
        cmocka_unit_test(test_a_job_still_running_stops_the_trim),
        cmocka_unit_test(test_a_removal_by_text_in_the_same_call_is_passed_over),
        cmocka_unit_test(test_an_unconfirmed_removal_of_an_earlier_call_stops_the_trim),
        cmocka_unit_test(test_distrust_bars_trims_until_every_known_job_is_gone),
        cmocka_unit_test(test_an_unknown_seq_is_never_offered),
        cmocka_unit_test(test_a_text_already_in_the_list_draws_the_line),
        cmocka_unit_test(test_the_digest_tells_texts_apart),
        cmocka_unit_test(test_tracking_is_bounded),
        cmocka_unit_test(test_random_work_never_trims_a_job_not_done),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
