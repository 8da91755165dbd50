/* periodic.h - a task run every interval (randomised by a jitter), at once when kicked, again
 * at once while it has more to do, never two rounds at a time, and never after a stop. */
#ifndef PERIODIC_H
#define PERIODIC_H

#include <stdbool.h>

struct ev_loop;
struct periodic; /* opaque */

/* One round of the task. Returns true when a round trip is out: periodic_done() follows,
 * exactly once, and no round starts before it (a tick, kick or `more` meanwhile is dropped).
 * Returns false when the round is over (nothing to do, peer down, nothing sent). */
typedef bool periodic_tick_fn(void *arg);

/* The delay before the next round: `interval_s` times a factor drawn from `random` in
 * [1 - jitter, 1 + jitter) in steps of a thousandth of 2 * jitter (pure). `jitter` is 0..1;
 * 0 gives `interval_s` itself. */
double periodic_delay(double interval_s, double jitter, unsigned long long random);

/* Runs `tick` first `interval_s` (> 0) after now, then again periodic_delay(interval_s,
 * jitter, util_random()) after each time the timer fired (a round still out skips that
 * time). `arg` is borrowed and must outlive it. Caller owns it, release with periodic_free(),
 * which accepts NULL (not from inside `tick`). */
struct periodic *periodic_new(struct ev_loop *loop, double interval_s, double jitter,
                              periodic_tick_fn *tick, void *arg);
void periodic_free(struct periodic *p);
/* A new interval: when it differs, the timer starts again from now with it. */
void periodic_set_interval(struct periodic *p, double interval_s);
/* Runs a round now (e.g. when the peer came back), unless one is out or it is stopped; the
 * timer keeps its time. */
void periodic_kick(struct periodic *p);
/* Ends the round trip a tick started; `more` (there is more to do) runs a round at once. */
void periodic_done(struct periodic *p, bool more);
/* Stops for good (shutdown): no tick, kick or `more` runs a round after it. A round trip out
 * still ends with periodic_done(). */
void periodic_stop(struct periodic *p);
bool periodic_stopped(const struct periodic *p);

#endif
