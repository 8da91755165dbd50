/* dashboard.h - the operators' dashboard on an httpd: the page at / (assets built into the
 * binary), the read endpoints it needs beyond /status, and the actions behind a bearer
 * token (see docs/dashboard.md). */
#ifndef DASHBOARD_H
#define DASHBOARD_H

#include <stddef.h>

struct cfg;
struct httpd;
struct rconn;
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
 * has added its routes. `h` and `conn` (the worker's main Redis connection) are borrowed and
 * must outlive the dashboard; `cfg` as in dashboard_reload(). Caller owns it, release with
 * dashboard_free() (accepts NULL) after worker_free() (which answers the Redis calls under
 * way) and before httpd_free(). NULL when out of memory. */
struct dashboard *dashboard_new(struct httpd *h, struct rconn *conn, const struct cfg *cfg);
/* The configuration in force from now on (token, schedules): borrowed, valid until the next
 * reload or free. The namespace stays as at dashboard_new() (it needs a restart). */
void dashboard_reload(struct dashboard *d, const struct cfg *cfg);
void dashboard_free(struct dashboard *d);

#endif
