/* status.h - the operators' endpoints on an httpd: /healthz, /readyz, /metrics, /status. */
#ifndef STATUS_H
#define STATUS_H

struct cfg;
struct ev_loop;
struct httpd;
struct worker;
struct status; /* opaque */

/* Adds the routes to `h`. Requests of /status (or of /metrics) waiting at once share one read
 * of the fleet, and after each read the next waits 19 times what it took (at most 2 s).
 * `loop`, `h`, `wk` and `version` are borrowed and must outlive the status; `cfg` as in
 * status_reload(). Caller owns it, release with status_free() (accepts NULL; requests still
 * waiting get their answer without the fleet), after process_free() (which answers the Redis
 * reads under way) and before httpd_free(). */
struct status *status_new(struct ev_loop *loop, struct httpd *h, struct worker *wk,
                          const struct cfg *cfg, const char *version);
/* The configuration in force from now on: borrowed, valid until the next reload or free. */
void status_reload(struct status *st, const struct cfg *cfg);
void status_free(struct status *st);

#endif
