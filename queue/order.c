/* order.c - one in-flight list's order as this process knows it (pure). */
#include "queue/order.h"

#include <stdlib.h>
#include <string.h>

#include "lib/xalloc.h"

/* Where a tracked job stands. */
enum place {
    PLACE_IN = 0,       /* in the list: running, waiting, or its record not yet sent */
    PLACE_OFFERED,      /* done, offered to this call's trim */
    PLACE_TRIMMING,     /* in this call's trim */
    PLACE_TRIMMED,      /* in an earlier call's trim, not yet confirmed */
    PLACE_REMOVING_NOW, /* removed by its text in this call */
    PLACE_REMOVING,     /* removed by its text in an earlier call, not yet confirmed */
    PLACE_GONE,         /* confirmed out of the list */
};

/* One text in the list, by digest, and how many of the jobs known hold it. */
struct text {
    uint64_t digest; /* 0: a free slot */
    size_t count;
};

struct order {
    unsigned long long next; /* seq of the next job pushed */
    unsigned long long base; /* seq of places[first]; jobs below it are not tracked */
    unsigned char *places;   /* ring of enum place, `cap` long, next - base used */
    size_t cap, first;
    size_t barred;             /* jobs below `base` (the line) that may still be in the list */
    size_t trimmed;            /* jobs of `places` in a trim sent, not yet confirmed */
    unsigned long long lo, hi; /* seqs this call touched, lo > hi for none */
    struct text *texts;        /* open addressing, `ntexts_cap` (a power of 2) slots */
    size_t ntexts, ntexts_cap; /* digests held, at most half the slots */
};

uint64_t order_digest(const char *text, size_t len)
{
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ len, w;
    size_t i = 0;

    for (; i + 8 <= len; i += 8) {
        memcpy(&w, text + i, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdULL;
        h ^= h >> 32;
    }
    w = 0;
    memcpy(&w, text + i, len - i);
    h = (h ^ w) * 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 29;
    return h ? h : 1; /* 0 marks a free slot */
}

static size_t text_home(const struct order *o, uint64_t digest)
{
    return (size_t)(digest * 0x9e3779b97f4a7c15ULL >> 20) & (o->ntexts_cap - 1);
}

/* The slot holding `digest`, or the free slot where it would go. */
static struct text *text_slot(const struct order *o, uint64_t digest)
{
    size_t i = text_home(o, digest);

    while (o->texts[i].digest && o->texts[i].digest != digest)
        i = (i + 1) & (o->ntexts_cap - 1);
    return &o->texts[i];
}

/* Counts one more job of text `digest`; returns how many were known before. */
static size_t text_add(struct order *o, uint64_t digest)
{
    struct text *t;

    if (2 * (o->ntexts + 1) > o->ntexts_cap) {
        struct text *old = o->texts;
        size_t cap = o->ntexts_cap;
        o->ntexts_cap = cap ? 2 * cap : 512;
        o->texts = xcalloc(o->ntexts_cap, sizeof(*o->texts));
        for (size_t i = 0; i < cap; i++)
            if (old[i].digest)
                *text_slot(o, old[i].digest) = old[i];
        free(old);
    }
    t = text_slot(o, digest);
    if (!t->digest) {
        t->digest = digest;
        o->ntexts++;
    }
    return t->count++;
}

/* Counts one job of text `digest` less; the slot is freed at 0, the entries after it moved
 * back so that every digest stays reachable from its home slot. */
static void text_remove(struct order *o, uint64_t digest)
{
    size_t mask = o->ntexts_cap - 1, i, j;
    struct text *t;

    if (!o->texts || !(t = text_slot(o, digest))->digest || --t->count > 0)
        return;
    t->digest = 0;
    o->ntexts--;
    i = (size_t)(t - o->texts);
    for (j = (i + 1) & mask; o->texts[j].digest; j = (j + 1) & mask) {
        size_t home = text_home(o, o->texts[j].digest);
        /* the entry at j may move to i when its home is not in (i, j] (cyclically) */
        if (i <= j ? (home <= i || home > j) : (home <= i && home > j)) {
            o->texts[i] = o->texts[j];
            o->texts[j].digest = 0;
            o->texts[j].count = 0;
            i = j;
        }
    }
}

struct order *order_new(void)
{
    struct order *o = xcalloc(1, sizeof(*o));

    o->next = o->base = 1;
    o->lo = 1;
    return o;
}

void order_free(struct order *o)
{
    if (!o)
        return;
    free(o->places);
    free(o->texts);
    free(o);
}

static size_t tracked(const struct order *o)
{
    return (size_t)(o->next - o->base);
}

static unsigned char *place(const struct order *o, unsigned long long seq)
{
    if (seq < o->base || seq >= o->next)
        return NULL;
    return &o->places[(o->first + (size_t)(seq - o->base)) % o->cap];
}

static void touch(struct order *o, unsigned long long seq)
{
    if (o->lo > o->hi) {
        o->lo = o->hi = seq;
    } else if (seq < o->lo) {
        o->lo = seq;
    } else if (seq > o->hi) {
        o->hi = seq;
    }
}

void order_distrust(struct order *o)
{
    for (unsigned long long seq = o->base; seq < o->next; seq++)
        o->barred += *place(o, seq) != PLACE_GONE;
    o->base = o->next;
    o->first = 0;
    o->lo = o->hi + 1;
    o->trimmed = 0;
}

unsigned long long order_push(struct order *o, uint64_t digest)
{
    size_t n = tracked(o);
    unsigned long long seq;

    if (n >= ORDER_TRACKED_MAX) {
        order_distrust(o);
        n = 0;
    }
    if (n == o->cap) {
        size_t cap = o->cap ? 2 * o->cap : 256;
        unsigned char *ring = xmalloc(cap);
        for (size_t i = 0; i < n; i++)
            ring[i] = o->places[(o->first + i) % o->cap];
        free(o->places);
        o->places = ring;
        o->cap = cap;
        o->first = 0;
    }
    o->places[(o->first + n) % o->cap] = PLACE_IN;
    seq = o->next++;
    if (text_add(o, digest) > 0)
        order_distrust(o); /* an LREM of either may take the other's entry */
    return seq;
}

enum order_offer order_offer(struct order *o, unsigned long long seq)
{
    unsigned char *p = place(o, seq);

    if (o->barred > 0 || !p || *p != PLACE_IN)
        return ORDER_BY_TEXT;
    if (o->trimmed > 0)
        return ORDER_HELD;
    *p = PLACE_OFFERED;
    touch(o, seq);
    return ORDER_OFFERED;
}

size_t order_take(struct order *o)
{
    size_t count = 0;

    for (unsigned long long seq = o->base; seq < o->next; seq++) {
        unsigned char *p = place(o, seq);
        if (*p == PLACE_OFFERED) {
            *p = PLACE_TRIMMING;
            count++;
        } else if (*p != PLACE_REMOVING_NOW && *p != PLACE_GONE) {
            break; /* in the list, or on its way out with a reply to come */
        }
    }
    return count;
}

bool order_taken(const struct order *o, unsigned long long seq)
{
    const unsigned char *p = place(o, seq);

    return p && *p == PLACE_TRIMMING;
}

void order_removing(struct order *o, unsigned long long seq)
{
    unsigned char *p = place(o, seq);

    if (!p || *p == PLACE_GONE || *p == PLACE_TRIMMING)
        return;
    *p = PLACE_REMOVING_NOW;
    touch(o, seq);
}

void order_sent(struct order *o)
{
    for (unsigned long long seq = o->lo; seq <= o->hi; seq++) {
        unsigned char *p = place(o, seq);
        if (!p)
            continue;
        if (*p == PLACE_TRIMMING) {
            *p = PLACE_TRIMMED;
            o->trimmed++;
        } else if (*p == PLACE_REMOVING_NOW || *p == PLACE_OFFERED)
            *p = PLACE_REMOVING;
    }
    o->lo = o->hi + 1;
}

void order_gone(struct order *o, unsigned long long seq, uint64_t digest)
{
    unsigned char *p = place(o, seq);

    if (seq > 0)
        text_remove(o, digest);
    if (seq < o->base) {
        if (seq > 0 && o->barred > 0)
            o->barred--;
        return;
    }
    if (!p)
        return;
    o->trimmed -= *p == PLACE_TRIMMED;
    *p = PLACE_GONE;
    while (o->base < o->next && o->places[o->first] == PLACE_GONE) {
        o->first = (o->first + 1) % o->cap;
        o->base++;
    }
}

size_t order_barred(const struct order *o)
{
    return o->barred;
}
