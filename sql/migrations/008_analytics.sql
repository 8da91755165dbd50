-- 008_analytics.sql: daily analytics tables written by the analytics.rollup job class
-- (jobs/rollup.c, docs/analytics.md) and read by the app. Each row is recomputed whole from
-- its source at each run, so running the rollup again gives the same rows.

-- The app's funnel counters (Redis keys funnel:{id}:step:{step}:{YYYY-MM-DD}), one row per
-- funnel, step and day: `count` is the counter's value when it was last read. Rows are never
-- deleted by the rollup: a counter that expired in Redis keeps its last value here.
CREATE TABLE nexus.funnel_daily (
    funnel_id  text NOT NULL,
    step       integer NOT NULL CHECK (step >= 0),
    day        date NOT NULL,
    count      bigint NOT NULL CHECK (count >= 0),
    updated_at timestamptz NOT NULL DEFAULT now(),  -- when `count` last changed
    PRIMARY KEY (funnel_id, step, day)
);
CREATE INDEX funnel_daily_day ON nexus.funnel_daily (day);

-- Orders per product and day (the day the order was placed, in analytics.tz), counting only
-- orders whose status is in analytics.sales_statuses ("paid" by default). A day without such
-- orders has no row: an order cancelled or refunded after a rollup leaves its day at the next.
CREATE TABLE nexus.sales_daily (
    product_id    integer NOT NULL,   -- products.id (no foreign key: the app owns products)
    day           date NOT NULL,
    orders        bigint NOT NULL CHECK (orders > 0),
    revenue_cents bigint NOT NULL CHECK (revenue_cents >= 0),  -- sum of orders.amount
    updated_at    timestamptz NOT NULL DEFAULT now(),  -- when the row last changed
    PRIMARY KEY (product_id, day)
);
CREATE INDEX sales_daily_day ON nexus.sales_daily (day);
