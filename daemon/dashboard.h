/* dashboard.h - the operators' dashboard on an httpd: the page at / (assets built into the
 * binary), the read endpoints it needs beyond /status, and the actions behind a bearer
 * token (see docs/dashboard.md). */
#ifndef DASHBOARD_H
#define DASHBOARD_H

#include <stddef.h>

struct cfg;
struct err;
struct ev_loop;
struct httpd;
struct db_pool;
struct dashboard; /* opaque */

/* A file of daemon/dashboard/, embedded by scripts/embed.cmake (MODE=asset). */
struct dashboard_asset {
    const char *name; /* "index.html" */
    const char *type; /* Content-Type */
    const char *body;
    size_t len;
};
extern const struct dashboard_asset dashboard_assets[];
extern const size_t dashboard_nassets;

/* Adds the routes to `h`; "/" is a catch-all prefix, so call this after every other module
 * has added its routes. Reads and actions go through a Redis connection of its own (named
 * "dashboard" in logs, at cfg->redis_url), so that a large answer never waits in line with
 * the jobs' commands; list reads run one at a time and pause after each (docs/dashboard.md).
 * `loop` and `h` are borrowed and must outlive the dashboard; `cfg` as in dashboard_reload().
 * Caller owns it, release with dashboard_free() (accepts NULL) before httpd_free(). NULL with
 * `err` filled when the Redis URL is unusable. */
struct dashboard *dashboard_new(struct ev_loop *loop, struct httpd *h, const struct cfg *cfg,
                                struct err *err);
/* The configuration in force from now on (token, schedules): borrowed, valid until the next
 * reload or free. The namespace and the Redis URL stay as at dashboard_new() (they need a
 * restart). */
void dashboard_reload(struct dashboard *d, const struct cfg *cfg);
/* The metrics read nexus.job_history through `pool` (borrowed, or NULL; freed only after
 * the dashboard stops using it: process_free() before dashboard_free()), see
 * history_api_set_pool(). */
void dashboard_set_pool(struct dashboard *d, struct db_pool *pool);
/* Closes its Redis connection: requests still waiting are answered 503. */
void dashboard_free(struct dashboard *d);

#endif
