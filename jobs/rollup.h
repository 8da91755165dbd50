/* rollup.h - the analytics.rollup job class: the app's funnel counters (Redis) and its paid
 * orders (PostgreSQL) rolled up into nexus.funnel_daily and nexus.sales_daily, per day, in
 * one transaction per run. Idempotent: a run sets each row of its days from its source.
 * See docs/analytics.md. */
#ifndef ROLLUP_H
#define ROLLUP_H

struct handler;

/* Args [], ["YYYY-MM-DD"] or ["FROM", "TO"]; settings in the `analytics` group of the
 * configuration; needs database.url. Static, never freed. */
extern const struct handler handler_analytics_rollup;

#endif
