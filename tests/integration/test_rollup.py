"""analytics.rollup against a real redis-server and PostgreSQL: the app's funnel counters and
orders rolled up into nexus.funnel_daily and nexus.sales_daily, idempotently, with bad input
refused or skipped and counted, and Redis or PostgreSQL going away."""
import collections
import datetime
import os
import random

import psycopg2
import pytest

from conftest import NEXUSD, SOURCE_DIR, make_config, push, run_cmd, wait_for, zset_jobs
from pg import PostgresServer

CLASS = "analytics.rollup"
UTC = datetime.timezone.utc


@pytest.fixture
def pg():
    """PostgreSQL with nexusd's migrations and the app's tables (sql/app/schema.sql)."""
    server = PostgresServer().start()
    res = run_cmd([NEXUSD, "migrate"], env={"DATABASE_URL": server.url}, timeout=60)
    assert res.returncode == 0, res.stderr
    with open(os.path.join(SOURCE_DIR, "sql", "app", "schema.sql")) as f:
        execute(server, f.read())
    execute(server, "INSERT INTO users (email, password) VALUES ('a@example.com', 'x')")
    yield server
    server.cleanup()


def execute(pg, sql, params=None):
    conn = psycopg2.connect(pg.url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall() if cur.description else None
    finally:
        conn.close()


def rollup_nexusd(nexusd, pg, analytics=None, url=None, worker=None):
    settings = {"tz": "UTC"}
    settings.update(analytics or {})
    body = " ".join('%s = %s;' % (k, v if isinstance(v, int) else '"%s"' % v)
                    for k, v in settings.items())
    return nexusd(make_config(worker, extra="analytics = { %s };" % body),
                  env={"DATABASE_URL": url or pg.url})


def run_rollup(d, r, args, outcome="ok", timeout=60):
    """Runs one rollup job; returns its event=rollup line (ok) or its event=job line."""
    jid = push(r, CLASS, args)
    line = d.wait_jobs([jid], outcome=outcome, timeout=timeout)[jid]
    if outcome != "ok":
        return line
    return d.lines(event="rollup", jid=jid)[0]


def funnel_rows(pg):
    rows = execute(pg, "SELECT funnel_id, step, day, count FROM nexus.funnel_daily")
    return {(i, s, day.isoformat()): c for i, s, day, c in rows}


def funnel_table(pg):
    """Every column, updated_at included: to see that a run changed nothing."""
    return execute(pg, "SELECT * FROM nexus.funnel_daily ORDER BY 1, 2, 3")


def sales_rows(pg):
    rows = execute(pg, "SELECT product_id, day, orders, revenue_cents FROM nexus.sales_daily")
    return {(p, day.isoformat()): (n, rev) for p, day, n, rev in rows}


def days(first, n):
    d = datetime.date.fromisoformat(first)
    return [(d + datetime.timedelta(days=i)).isoformat() for i in range(n)]


def set_counters(r, counters, prefix="funnel:"):
    """counters: {(id, step, day): value}."""
    p = r.pipeline(transaction=False)
    for (fid, step, day), v in counters.items():
        p.set("%s%s:step:%s:%s" % (prefix, fid, step, day), v)
    p.execute()


def test_counters_become_rows_and_a_second_run_changes_nothing(pg, nexusd, r):
    rnd = random.Random(1)
    counters = {(fid, step, day): rnd.randint(0, 10 ** 6)
                for fid in ("signup", "checkout", "a:b", "caf\u00e9 \"q\" \\")
                for step in range(4) for day in days("2026-11-20", 3)}
    set_counters(r, counters)
    r.set("funnel:signup:step:1:2026-11-19", 5)  # outside the range
    r.set("funnel:signup:step:1:2026-11-23", 5)  # outside the range
    d = rollup_nexusd(nexusd, pg)
    first = run_rollup(d, r, ["2026-11-20", "2026-11-22"])
    assert funnel_rows(pg) == counters
    assert first["counters"] == str(len(counters))
    assert first["funnel_changed"] == str(len(counters))
    assert first["malformed"] == "0"
    before = funnel_table(pg)
    again = run_rollup(d, r, ["2026-11-20", "2026-11-22"])
    assert funnel_table(pg) == before  # updated_at too: nothing rewritten
    assert again["funnel_changed"] == "0"


def test_a_changed_counter_updates_its_row_and_only_it(pg, nexusd, r):
    counters = {("signup", s, "2026-11-24"): 10 * s for s in range(5)}
    set_counters(r, counters)
    d = rollup_nexusd(nexusd, pg)
    run_rollup(d, r, ["2026-11-24"])
    before = {row[:3]: row for row in funnel_table(pg)}
    r.incrby("funnel:signup:step:2:2026-11-24", 7)
    r.set("funnel:signup:step:4:2026-11-24", 1)  # lower: the counter's value, not a sum
    line = run_rollup(d, r, ["2026-11-24"])
    assert line["funnel_changed"] == "2"
    rows = funnel_rows(pg)
    assert rows[("signup", 2, "2026-11-24")] == 27
    assert rows[("signup", 4, "2026-11-24")] == 1
    after = {row[:3]: row for row in funnel_table(pg)}
    changed = [k[1] for k in after if after[k] != before[k]]
    assert sorted(changed) == [2, 4]


def test_default_args_roll_yesterday_and_today_only(pg, nexusd, r):
    today = datetime.datetime.now(UTC).date()
    when = {k: (today - datetime.timedelta(days=k)).isoformat() for k in range(3)}
    set_counters(r, {("f", 1, when[k]): 100 + k for k in range(3)})
    pid = execute(pg, "INSERT INTO products (user_id, name, price) "
                      "SELECT id, 'p', 100 FROM users RETURNING id")[0][0]
    now = datetime.datetime.now(UTC)
    for k in range(3):
        at = datetime.datetime.combine(today - datetime.timedelta(days=k), datetime.time(12),
                                       UTC)
        execute(pg, "INSERT INTO orders (product_id, email, name, status, amount, created_at) "
                    "VALUES (%s, 'x@example.com', 'x', 'paid', %s, %s)",
                (pid, 1000 + k, min(at, now)))
    d = rollup_nexusd(nexusd, pg)
    line = run_rollup(d, r, [])
    if datetime.datetime.now(UTC).date() != today:
        pytest.skip("the day changed while the test ran")
    assert (line["from"], line["to"]) == (when[1], when[0])
    assert funnel_rows(pg) == {("f", 1, when[0]): 100, ("f", 1, when[1]): 101}
    assert sales_rows(pg) == {(pid, when[0]): (1, 1000), (pid, when[1]): (1, 1001)}


@pytest.mark.parametrize("args,message", [
    (["2026-13-01"], 'args[0] must be a date "YYYY-MM-DD" (got "2026-13-01")'),
    (["2026-11-24", "2026-11-01"],
     "args: the range 2026-11-24..2026-11-01 is reversed (FROM after TO)"),
    (["2025-01-01", "2026-11-24"],
     "args: the range 2025-01-01..2026-11-24 has 693 days, more than analytics.max_days = 366"),
    ([20261124], 'args[0] must be a date "YYYY-MM-DD" (got a number)'),
    (["2026-11-01", "2026-11-02", "x"],
     'args must be [], ["YYYY-MM-DD"] or ["FROM", "TO"] (got 3 args)'),
])
def test_bad_args_fail_with_argument_error_and_write_nothing(pg, nexusd, r, args, message):
    set_counters(r, {("f", 1, "2026-11-01"): 3})
    d = rollup_nexusd(nexusd, pg)
    run_rollup(d, r, args, outcome="retry")
    wait_for(lambda: r.zcard("retry") == 1, what="the job in retry")
    job = zset_jobs(r, "retry")[0][0]
    assert job["error_class"] == "ArgumentError"
    assert job["error_message"] == message
    assert funnel_rows(pg) == {}
    assert r.get("funnel:f:step:1:2026-11-01") == "3"


def test_malformed_keys_and_bad_values_are_skipped_counted_and_lose_nothing(pg, nexusd, r):
    good = {("f", 1, "2026-11-24"): 4, ("f", 2, "2026-11-24"): 9}
    set_counters(r, good)
    d = rollup_nexusd(nexusd, pg)
    run_rollup(d, r, ["2026-11-24"])
    for key in ("funnel:f:step:x:2026-11-24", "funnel:f:step:01:2026-11-24",
                "funnel::step:1:2026-11-24", "funnel:f\x01:step:1:2026-11-24"):
        r.set(key, 1)
    r.set("funnel:f:step:2:2026-11-24", "nine")  # had 9: its row keeps it
    r.set("funnel:f:step:3:2026-11-24", "-1")
    r.hset("funnel:f:step:4:2026-11-24", "x", 1)  # not a string: skipped as missing
    r.set("funnel:g:step:1:2026-11-24", 12)
    line = run_rollup(d, r, ["2026-11-24"])
    assert (line["malformed"], line["bad_values"], line["missing"]) == ("4", "2", "1")
    assert funnel_rows(pg) == {("f", 1, "2026-11-24"): 4, ("f", 2, "2026-11-24"): 9,
                               ("g", 1, "2026-11-24"): 12}
    warned = d.lines(event="rollup_bad_key") + d.lines(event="rollup_bad_value")
    assert len(warned) == 5  # at most 5 lines per run; the rest are counted
    bad_value = d.lines(event="rollup_bad_value")
    assert all(w["key"].startswith("funnel:f:step:") for w in bad_value)
    assert any("step must be a whole number" in w["err"] for w in d.lines(event="rollup_bad_key"))


def orders_fixture(pg, rnd, n_products=3, n_orders=300, first="2026-11-20", n_days=4):
    pids = [row[0] for row in execute(
        pg, "INSERT INTO products (user_id, name, price) SELECT u.id, 'p' || g, 100 "
            "FROM users u, generate_series(1, %s) g RETURNING id", (n_products,))]
    start = datetime.datetime.fromisoformat(first).replace(tzinfo=UTC) - datetime.timedelta(
        hours=6)
    orders = []
    for _ in range(n_orders):
        at = start + datetime.timedelta(seconds=rnd.randint(0, (n_days * 24 + 12) * 3600))
        orders.append((rnd.choice(pids), rnd.choice(["paid", "paid", "pending", "refunded"]),
                       rnd.randint(0, 50000), at))
    conn = psycopg2.connect(pg.url)
    with conn, conn.cursor() as cur:
        cur.executemany("INSERT INTO orders (product_id, email, name, status, amount, "
                        "created_at) VALUES (%s, 'x@example.com', 'x', %s, %s, %s)", orders)
    conn.close()
    return pids, orders


def expected_sales(orders, first, last, tz=UTC, statuses=("paid",)):
    out = collections.defaultdict(lambda: [0, 0])
    for pid, status, amount, at in orders:
        day = at.astimezone(tz).date().isoformat()
        if status in statuses and first <= day <= last:
            out[(pid, day)][0] += 1
            out[(pid, day)][1] += amount
    return {k: tuple(v) for k, v in out.items()}


def test_sales_daily_matches_the_paid_orders_and_follows_cancellations(pg, nexusd, r):
    rnd = random.Random(7)
    pids, orders = orders_fixture(pg, rnd)
    d = rollup_nexusd(nexusd, pg)
    line = run_rollup(d, r, ["2026-11-20", "2026-11-22"])
    want = expected_sales(orders, "2026-11-20", "2026-11-22")
    assert sales_rows(pg) == want
    assert line["sales_rows"] == str(len(want))
    # every paid order of one product on one day cancelled after the first run; one more
    # paid order on another product's day
    pid, day = sorted(want)[0]
    execute(pg, "UPDATE orders SET status = 'cancelled' WHERE product_id = %s AND status = "
                "'paid' AND (created_at AT TIME ZONE 'UTC')::date = %s", (pid, day))
    execute(pg, "INSERT INTO orders (product_id, email, name, status, amount, created_at) "
                "VALUES (%s, 'y', 'y', 'paid', 777, '2026-11-21T23:59:59Z')", (pids[1],))
    line = run_rollup(d, r, ["2026-11-20", "2026-11-22"])
    rows = execute(pg, "SELECT product_id, status, amount, created_at FROM orders")
    want = expected_sales(rows, "2026-11-20", "2026-11-22")
    assert (pid, day) not in want
    assert sales_rows(pg) == want
    assert line["sales_deleted"] == "1"
    # idempotent
    again = run_rollup(d, r, ["2026-11-20", "2026-11-22"])
    assert (again["sales_changed"], again["sales_deleted"]) == ("0", "0")
    assert sales_rows(pg) == want
    # days outside the range are left as they are
    execute(pg, "UPDATE orders SET status = 'paid'")
    run_rollup(d, r, ["2026-11-21"])
    after = sales_rows(pg)
    everything = expected_sales(execute(pg, "SELECT product_id, status, amount, created_at "
                                            "FROM orders"), "2026-11-21", "2026-11-21")
    assert {k: v for k, v in after.items() if k[1] == "2026-11-21"} == everything
    assert {k: v for k, v in after.items() if k[1] != "2026-11-21"} == \
        {k: v for k, v in want.items() if k[1] != "2026-11-21"}


def test_days_are_cut_in_the_configured_zone_and_statuses_are_configurable(pg, nexusd, r):
    import zoneinfo
    tz = zoneinfo.ZoneInfo("America/New_York")
    rnd = random.Random(3)
    _, orders = orders_fixture(pg, rnd, n_orders=200)
    d = rollup_nexusd(nexusd, pg, analytics={"tz": "America/New_York",
                                             "sales_statuses": "paid,refunded"})
    run_rollup(d, r, ["2026-11-20", "2026-11-22"])
    want = expected_sales(orders, "2026-11-20", "2026-11-22", tz, ("paid", "refunded"))
    assert sales_rows(pg) == want
    assert want != expected_sales(orders, "2026-11-20", "2026-11-22", UTC, ("paid", "refunded"))


def test_a_custom_prefix_is_read_and_others_are_not(pg, nexusd, r):
    set_counters(r, {("f", 1, "2026-11-24"): 3}, prefix="app:{f}*")
    set_counters(r, {("f", 1, "2026-11-24"): 5}, prefix="app:{f}x")
    d = rollup_nexusd(nexusd, pg, analytics={"funnel_prefix": "app:{f}*"})
    line = run_rollup(d, r, ["2026-11-24"])
    assert funnel_rows(pg) == {("f", 1, "2026-11-24"): 3}
    assert line["keys"] == "1"


def test_twenty_thousand_counters_over_scan_pages_and_month_passes(pg, nexusd, r):
    rnd = random.Random(5)
    counters = {("funnel-%03d" % f, s, day): rnd.randint(0, 10 ** 9)
                for f in range(200) for s in range(10) for day in days("2026-10-30", 10)}
    assert len(counters) == 20000
    set_counters(r, counters)
    noise = r.pipeline(transaction=False)
    for i in range(20000):
        noise.set("session:%d" % i, i)
    noise.execute()
    d = rollup_nexusd(nexusd, pg, analytics={"scan_count": 500})
    line = run_rollup(d, r, ["2026-10-30", "2026-11-08"], timeout=120)
    assert line["counters"] == "20000"
    assert funnel_rows(pg) == counters
    # a short range: one pass per day
    r.incrby("funnel:funnel-007:step:3:2026-11-08", 1)
    line = run_rollup(d, r, ["2026-11-07", "2026-11-08"])
    assert (line["counters"], line["funnel_changed"]) == ("4000", "1")


def test_too_many_counters_fail_clearly_and_write_nothing(pg, nexusd, r):
    set_counters(r, {("f", s, "2026-11-24"): 1 for s in range(50)})
    d = rollup_nexusd(nexusd, pg, analytics={"max_counters": 20})
    line = run_rollup(d, r, ["2026-11-24"], outcome="retry")
    assert line["error_class"] == "NexusTooManyCounters"
    assert funnel_rows(pg) == {}


def test_postgres_down_fails_retriable_and_a_later_run_writes(pg, nexusd, r):
    set_counters(r, {("f", 1, "2026-11-24"): 3})
    d = rollup_nexusd(nexusd, pg)
    d.wait_log(r"event=db_up ")
    pg.stop()
    line = run_rollup(d, r, ["2026-11-24"], outcome="retry", timeout=30)
    assert line["error_class"] == "NexusDatabaseDown"
    line = run_rollup(d, r, [], outcome="retry", timeout=30)
    assert line["error_class"] == "NexusDatabaseDown"
    pg.start()
    wait_for(lambda: len(d.lines(event="db_up")) >= 2, timeout=30, what="the pool to reconnect")
    run_rollup(d, r, ["2026-11-24"])
    assert funnel_rows(pg) == {("f", 1, "2026-11-24"): 3}


def test_redis_lost_during_the_scan_fails_retriable_and_writes_nothing(pg, nexusd, r,
                                                                      redis_server):
    """Many keys and a small SCAN COUNT keep the scan going for a while; Redis is killed
    during it."""
    fill_noise(r, 300000)
    set_counters(r, {("f", 1, "2026-11-24"): 3})
    d = rollup_nexusd(nexusd, pg, analytics={"scan_count": 10})

    def scans():
        return r.info("commandstats").get("cmdstat_scan", {}).get("calls", 0)

    jid = push(r, CLASS, ["2026-11-24"])
    wait_for(lambda: scans() > 10, timeout=30, interval=0.005, what="the rollup to scan")
    redis_server.kill()
    redis_server.start()
    line = d.wait_jobs([jid], outcome="retry", timeout=30)[jid]
    assert line["error_class"] == "NexusRedisDown"
    assert funnel_rows(pg) == {}
    d.assert_alive()


def fill_noise(r, n):
    p = r.pipeline(transaction=False)
    for i in range(n):
        p.set("session:%d" % i, 1)
        if i % 10000 == 9999:
            p.execute()
    p.execute()


def test_a_run_timed_out_during_the_scan_writes_nothing_and_the_next_one_does(pg, nexusd, r):
    """The cancelled run's replies still arrive: they free it (the sanitizer build checks)."""
    fill_noise(r, 300000)
    set_counters(r, {("f", 1, "2026-11-24"): 3})
    cls = {"name": CLASS, "timeout": "100ms"}
    d = nexusd(make_config(classes=[cls], extra='analytics = { scan_count = 10; };'),
               env={"DATABASE_URL": pg.url})
    line = run_rollup(d, r, ["2026-11-24"], outcome="retry", timeout=30)
    assert line["error_class"] == "NexusTimeout"
    assert funnel_rows(pg) == {}
    d.write_config(make_config(extra='analytics = { scan_count = 10000; };'))
    d.signal(1)  # SIGHUP: reload
    d.wait_log(r"event=reloaded")
    run_rollup(d, r, ["2026-11-24"])
    assert funnel_rows(pg) == {("f", 1, "2026-11-24"): 3}
