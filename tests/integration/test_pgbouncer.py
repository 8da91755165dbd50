"""nexusd through Debian's pgbouncer (1.18) in transaction pool mode (pgbouncer.py), as on
Supabase: the pool's statements through DATABASE_POOL_URL (?pgbouncer=true), LISTEN and
migrations through the direct DATABASE_URL; `sql` classes, history and exactly-once through
the pooler, the outbox woken by LISTEN or polled, migrations refused without a direct URL, a
pgbouncer restart mid-run, and the connections a fleet opens."""
import json
import time

import psycopg2
import pytest

from conftest import NEXUSCTL, NEXUSD, make_config, make_job, push, push_many, run_cmd, wait_for
from pgbouncer import PgBouncer
from test_sql_jobs import KILL_9_WORKER, count, exactly_once_through_kill_9

ROW_CLASS = {"name": "rows.add", "sql": "INSERT INTO demo_rows (n, note) VALUES ($1, $2)",
             "args": "int, text", "max_retries": 25}
SLEEP_CLASS = {"name": "db.sleep", "sql": "SELECT pg_sleep($1)", "args": "float",
               "max_retries": 0}


@pytest.fixture
def pg(migrated_pg):
    migrated_pg.psql("CREATE TABLE demo_rows (id bigserial PRIMARY KEY, n integer NOT NULL, "
                     "note text)")
    return migrated_pg


@pytest.fixture
def bouncer(pg):
    b = PgBouncer(pg, pool_size=4).start()
    try:
        yield b
    finally:
        b.stop()


def supabase_env(pg, bouncer, direct=True):
    """The two URLs as the app's .env has them: the pooler's with Prisma's parameters."""
    env = {"DATABASE_POOL_URL": bouncer.url + "&connection_limit=1"}
    if direct:
        env["DATABASE_URL"] = pg.url
    return env


def pooled_nexusd(nexusd, pg, bouncer, worker=None, classes=(ROW_CLASS,), name=None, extra="",
                  direct=True, **kw):
    config = make_config(worker, classes, extra)
    return nexusd(config, name=name, env=supabase_env(pg, bouncer, direct), **kw)


def no_prepared_statement_errors(daemons):
    for d in daemons:
        text = d.text()
        assert "prepared statement" not in text, d.tail()
        assert "SQLSTATE 26000" not in text, d.tail()


def test_sql_jobs_and_history_through_pgbouncer_write_each_row_once(pg, bouncer, nexusd, r):
    """prepared_statements is left at its default (true): through the pooler it is off."""
    total = 3000
    procs = [pooled_nexusd(nexusd, pg, bouncer, {"concurrency": 50}, name="n%d" % i)
             for i in range(2)]
    jobs = [make_job("rows.add", [i, "x"]) for i in range(total)]
    push_many(r, jobs)
    wait_for(lambda: count(pg, "SELECT count(*) FROM demo_rows") >= total
             and r.llen("queue:default") == 0, timeout=120, interval=0.2,
             what="every row")
    for d in procs:
        d.assert_alive()
    assert count(pg, "SELECT count(*) FROM demo_rows") == total
    assert count(pg, "SELECT count(DISTINCT n) FROM demo_rows") == total
    assert count(pg, "SELECT count(*) FROM nexus.jobs_done") == total
    wait_for(lambda: count(pg, "SELECT count(*) FROM nexus.job_history "
                               "WHERE class = 'rows.add' AND outcome = 'ok'") == total,
             timeout=20, what="history rows")
    assert r.zcard("retry") == 0
    no_prepared_statement_errors(procs)
    # the pool's connections went through pgbouncer: its clients, named by their start-up
    # packet, not by a session SET
    clients = [c for c in bouncer.show("CLIENTS") if c["database"] == "postgres"]
    assert clients and all(c["application_name"] == "nexusd" for c in clients)


def test_a_job_delivered_twice_through_pgbouncer_writes_once(pg, bouncer, nexusd, r):
    d = pooled_nexusd(nexusd, pg, bouncer)
    job = make_job("rows.add", [7, "twice"])
    r.lpush("queue:default", json.dumps(job))
    d.wait_jobs([job["jid"]])
    r.lpush("queue:default", json.dumps(job))
    wait_for(lambda: len(d.lines(event="job", jid=job["jid"], outcome="ok")) == 2,
             what="the second delivery to finish")
    assert count(pg, "SELECT count(*) FROM demo_rows WHERE n = 7") == 1


def test_statement_timeout_holds_per_transaction_through_pgbouncer(pg, bouncer, nexusd, r):
    d = pooled_nexusd(nexusd, pg, bouncer, classes=(SLEEP_CLASS,),
                      extra='database = { statement_timeout = "300ms"; };')
    slow = push(r, "db.sleep", [3])
    fast = push(r, "db.sleep", [0.01])
    d.wait_jobs([fast])
    line = d.wait_jobs([slow], outcome="dead", timeout=10)[slow]
    assert line["error_class"] == "NexusDatabaseTimeout", line
    # no session of pgbouncer's servers kept a statement_timeout of nexusd's
    conn = psycopg2.connect(bouncer.plain_url)
    with conn.cursor() as cur:
        for _ in range(8):
            cur.execute("SHOW statement_timeout")
            assert cur.fetchone()[0] == "0"
            conn.commit()
    conn.close()


def enqueue(pg_url):
    conn = psycopg2.connect(pg_url)
    with conn.cursor() as cur:
        cur.execute("SELECT nexus.enqueue('noop', '[]')")
        jid = cur.fetchone()[0]
    conn.commit()
    committed = time.time()
    conn.close()
    return jid, committed


def test_outbox_is_woken_by_listen_on_the_direct_url(pg, bouncer, nexusd, r):
    d = pooled_nexusd(nexusd, pg, bouncer, extra='database = { outbox_interval = "30s"; };')
    d.wait_log(r"event=db_listen_up addr=127\.0\.0\.1:%d/postgres channel=nexus_outbox"
               % pg.port)
    d.wait_log(r"event=db_up addr=127\.0\.0\.1:%d/" % bouncer.port)
    for _ in range(5):
        jid, committed = enqueue(pg.url)
        d.wait_jobs([jid], timeout=5)  # the poll (30 s) cannot explain it
    assert not d.lines(event="outbox_polled")
    # the direct URL carries the listener and nothing else
    assert count(pg, "SELECT count(*) FROM pg_stat_activity WHERE client_addr = '127.0.0.1' "
                     "AND application_name = 'nexusd'") == 1


def test_outbox_is_polled_with_only_the_pool_url(pg, bouncer, nexusd, r):
    d = pooled_nexusd(nexusd, pg, bouncer, direct=False,
                      extra='database = { outbox_interval = "200ms"; };')
    line = d.wait_log(r"event=outbox_polled")[0]
    assert "DATABASE_URL" in line
    jid, _ = enqueue(pg.url)
    d.wait_jobs([jid], timeout=5)
    assert not d.lines(event="db_listen_up")
    # nexusctl reads through the pooler when there is no direct URL
    env = {"DATABASE_POOL_URL": bouncer.url, "REDIS_URL": d.redis.url}
    wait_for(lambda: run_cmd([NEXUSCTL, "history", jid], env=env).stdout.count(" ok ") == 1,
             timeout=10, what="nexusctl history through the pooler")
    assert count(pg, "SELECT count(*) FROM pg_stat_activity WHERE client_addr = '127.0.0.1' "
                     "AND application_name = 'nexusd'") == 0


def test_migrations_are_refused_without_a_direct_url(pg, bouncer, nexusd):
    res = run_cmd([NEXUSD, "migrate"], env={"DATABASE_POOL_URL": bouncer.url})
    assert res.returncode == 2
    assert ("migrations need a direct session to PostgreSQL: set DATABASE_URL (database.url) "
            "to the direct URL (port 5432 on Supabase)") in res.stderr
    # the pooler's URL given as the direct one: its ?pgbouncer=true gives it away
    res = run_cmd([NEXUSD, "migrate"], env={"DATABASE_URL": bouncer.url})
    assert res.returncode == 2
    assert "is a transaction-mode pooler (pgbouncer=true)" in res.stderr
    # database.migrate = true at start-up: refused, not half done
    d = pooled_nexusd(nexusd, pg, bouncer, direct=False, start=False,
                      extra="database = { migrate = true; };")
    d.start(wait_ready=False)
    assert d.wait_exit(15) != 0
    assert d.lines(event="migrate_refused")
    # with both, migrate goes direct
    res = run_cmd([NEXUSD, "migrate"], env=supabase_env(pg, bouncer))
    assert res.returncode == 0, res.stderr


def test_a_pgbouncer_restart_mid_run_loses_nothing(pg, bouncer, nexusd, r):
    total = 10000
    worker = {"concurrency": 50}
    procs = [pooled_nexusd(nexusd, pg, bouncer, worker, name="n%d" % i) for i in range(2)]
    push_many(r, [make_job("rows.add", [i, "x"]) for i in range(total)])
    wait_for(lambda: count(pg, "SELECT count(*) FROM demo_rows") >= total // 4, timeout=60,
             what="a quarter of the rows")
    bouncer.restart(pause_s=0.5)
    at_restart = count(pg, "SELECT count(*) FROM demo_rows")
    assert at_restart < total, "the run ended before the restart: make it longer"
    procs[0].wait_log(r"event=db_(down|conn_lost)", timeout=10)

    def done():
        # failed attempts wait in retry with Sidekiq's backoff: due now
        for job in r.zrange("retry", 0, -1):
            r.zadd("retry", {job: 0})
        return (count(pg, "SELECT count(*) FROM demo_rows") >= total
                and r.llen("queue:default") == 0 and r.zcard("retry") == 0
                and all(r.llen(k) == 0 for k in r.keys("nexus:inflight:*")))

    wait_for(done, timeout=120, interval=0.3, what="every job to run")
    for d in procs:
        d.assert_alive()
    assert count(pg, "SELECT count(*) FROM demo_rows") == total
    assert count(pg, "SELECT count(DISTINCT n) FROM demo_rows") == total
    assert count(pg, "SELECT count(*) FROM nexus.jobs_done") == total
    assert r.zcard("dead") == 0
    retried = sum(len(d.lines(event="job", outcome="retry")) for d in procs)
    print("restart after %d of %d rows; %d attempts failed and were retried"
          % (at_restart, total, retried))
    no_prepared_statement_errors(procs)


def test_exactly_once_through_pgbouncer_with_kill_9(pg, bouncer, nexusd, r):
    """test_sql_jobs's kill -9 test, through the pooler: 10,000 row-writing jobs, three
    processes, one killed with -9 three times and replaced: exactly 10,000 rows."""
    procs = exactly_once_through_kill_9(
        lambda name: pooled_nexusd(nexusd, pg, bouncer, KILL_9_WORKER, name=name), pg, r)
    no_prepared_statement_errors(procs)


def pg_connections(pg):
    """PostgreSQL's client backends: (through pgbouncer's unix socket, direct over TCP as
    nexusd). psql's own (unix socket) is left out."""
    rows = pg.psql("SELECT client_addr IS NULL, application_name FROM pg_stat_activity "
                   "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()")
    through = direct = 0
    for line in rows.splitlines():
        unix, app = line.split("|", 1)
        if unix == "t":
            through += 1
        elif app == "nexusd":
            direct += 1
    return through, direct


@pytest.mark.parametrize("pooled", [True, False], ids=["pool_url", "direct"])
def test_a_fleet_opens_at_most_n_pool_size_plus_n_connections(pg, nexusd, r, pooled):
    n, size = 3, 3
    bouncer = PgBouncer(pg, pool_size=50).start()  # not the limit here: nexusd is
    try:
        extra = "database = { pool_size = %d; };" % size
        procs = []
        for i in range(n):
            env = supabase_env(pg, bouncer) if pooled else {"DATABASE_URL": pg.url}
            procs.append(nexusd(make_config({"concurrency": 100}, (ROW_CLASS,), extra),
                                name="f%d" % i, env=env))
        push_many(r, [make_job("rows.add", [i, "x"]) for i in range(3000)])
        most_pg = most_clients = 0
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            through, direct = pg_connections(pg)
            most_pg = max(most_pg, through + direct)
            clients = len([c for c in bouncer.show("CLIENTS") if c["database"] == "postgres"])
            most_clients = max(most_clients, clients)
            if count(pg, "SELECT count(*) FROM demo_rows") >= 3000:
                break
            time.sleep(0.1)
        assert count(pg, "SELECT count(*) FROM demo_rows") == 3000
        through, direct = pg_connections(pg)
        print("at most %d connections to PostgreSQL, %d clients of pgbouncer; now %d through "
              "pgbouncer, %d direct" % (most_pg, most_clients, through, direct))
        assert most_pg <= n * size + n
        if pooled:
            assert most_clients <= n * size
            assert direct == n  # one listener each, over the direct URL
        else:
            assert most_clients == 0
            assert direct == n * size + n
    finally:
        bouncer.stop()
