"""`sql` job classes through the pool and the exactly-once helper, job history, and
PostgreSQL going away, against a real PostgreSQL and redis-server."""
import json

import pytest

from conftest import make_config, make_job, push, push_many, run_cmd, wait_for, zset_jobs

ROW_CLASS = {"name": "rows.add", "sql": "INSERT INTO demo_rows (n, note) VALUES ($1, $2)",
             "args": "int, text", "max_retries": 5}


@pytest.fixture
def pg(migrated_pg):
    migrated_pg.psql("CREATE TABLE demo_rows (id bigserial PRIMARY KEY, n integer NOT NULL, "
                     "note text)")
    return migrated_pg


def retry_job(r):
    """The one job in `retry`, once its outcome write has landed (the log line can come
    first)."""
    wait_for(lambda: r.zcard("retry") == 1, what="the job in retry")
    return zset_jobs(r, "retry")[0][0]


def count(pg, sql):
    return int(pg.psql(sql).strip())


def sql_nexusd(nexusd, pg, worker=None, classes=(ROW_CLASS,), name=None, extra="", **kw):
    config = make_config(worker, classes, extra)
    return nexusd(config, name=name, env={"DATABASE_URL": pg.url}, **kw)


def test_sql_class_inserts_one_row_per_job_and_records_history(pg, nexusd, r):
    d = sql_nexusd(nexusd, pg)
    jids = [push(r, "rows.add", [i, "note %d" % i]) for i in range(100)]
    d.wait_jobs(jids, timeout=30)
    assert count(pg, "SELECT count(*) FROM demo_rows") == 100
    assert count(pg, "SELECT count(DISTINCT n) FROM demo_rows") == 100
    assert count(pg, "SELECT count(*) FROM nexus.jobs_done") == 100
    wait_for(lambda: count(pg, "SELECT count(*) FROM nexus.job_history "
                               "WHERE class = 'rows.add' AND outcome = 'ok'") == 100,
             timeout=10, what="history rows")
    row = pg.psql("SELECT jid, queue, attempt, duration_ms >= 0, process "
                  "FROM nexus.job_history WHERE jid = '%s'" % jids[0]).strip().split("|")
    assert row[:4] == [jids[0], "default", "1", "t"]
    assert row[4] == d.identity


def test_a_job_delivered_twice_writes_once(pg, nexusd, r):
    d = sql_nexusd(nexusd, pg)
    job = make_job("rows.add", [7, "twice"])
    r.lpush("queue:default", json.dumps(job))
    d.wait_jobs([job["jid"]])
    r.lpush("queue:default", json.dumps(job))  # a redelivery, as after a crash
    wait_for(lambda: len(d.lines(event="job", jid=job["jid"], outcome="ok")) == 2,
             what="the second delivery to finish")
    assert count(pg, "SELECT count(*) FROM demo_rows WHERE n = 7") == 1


def test_mismatched_args_fail_with_a_clear_error(pg, nexusd, r):
    d = sql_nexusd(nexusd, pg)
    jid = push(r, "rows.add", ["seven", "x"])
    d.wait_jobs([jid], outcome="retry")
    job = retry_job(r)
    assert job["error_class"] == "ArgumentError"
    assert job["error_message"] == 'args[0] must be a whole number (got "seven")'
    assert count(pg, "SELECT count(*) FROM demo_rows") == 0


def test_sql_error_is_a_failure_with_the_sqlstate(pg, nexusd, r):
    bad = dict(ROW_CLASS, name="rows.bad", sql="INSERT INTO no_such_table (n, note) "
                                               "VALUES ($1, $2)")
    d = sql_nexusd(nexusd, pg, classes=(ROW_CLASS, bad))
    jid = push(r, "rows.bad", [1, "x"])
    d.wait_jobs([jid], outcome="retry")
    job = retry_job(r)
    assert job["error_class"] == "PG::Error"
    assert job["error_message"].startswith("SQLSTATE 42P01: ")


def test_postgres_down_fails_and_retries_then_resumes(pg, nexusd, r):
    d = sql_nexusd(nexusd, pg)
    first = push(r, "rows.add", [1, "before"])
    d.wait_jobs([first])
    pg.stop()
    during = push(r, "rows.add", [2, "during"])
    d.wait_jobs([during], outcome="retry", timeout=20)
    job = retry_job(r)
    assert job["error_class"] == "NexusDatabaseDown"
    d.assert_alive()
    pg.start()
    wait_for(lambda: d.lines(event="db_up", ) and len(d.lines(event="db_up")) >= 2,
             timeout=30, what="the pool to reconnect")
    r.zadd("retry", {r.zrange("retry", 0, 0)[0]: 0})  # due now
    wait_for(lambda: d.lines(event="job", jid=during, outcome="ok"), timeout=20,
             what="the retried job to succeed")
    assert count(pg, "SELECT count(*) FROM demo_rows") == 2


# a job may be in flight in each of the three killed processes in turn: more recoveries
# than kills, so that none is buried as a crash loop (test_recovery covers that)
KILL_9_WORKER = {"concurrency": 50, "heartbeat_interval": "0.2s", "process_ttl": "1s",
                 "max_recoveries": 10}


def exactly_once_through_kill_9(start, pg, r, total=10000):
    """`total` row-writing jobs, 3 processes (start(name) makes one with KILL_9_WORKER), one
    of them killed with -9 three times and replaced: exactly `total` rows, each n once.
    Returns every process started."""
    procs = [start("n%d" % i) for i in range(3)]
    push_many(r, [make_job("rows.add", [i, "x"]) for i in range(total)])
    victim = procs[0]
    for round_ in range(3):
        # kill while it holds jobs in flight
        wait_for(lambda: r.llen(victim.inflight_key()) > 0 or r.llen("queue:default") == 0,
                 timeout=20, what="the victim to hold jobs")
        if r.llen("queue:default") == 0:
            break
        victim.kill9()
        victim = start("n0-%d" % round_)
        procs.append(victim)
    wait_for(lambda: count(pg, "SELECT count(*) FROM demo_rows") >= total
             and r.llen("queue:default") == 0
             and all(r.llen(k) == 0 for k in r.keys("nexus:inflight:*")),
             timeout=120, interval=0.2, what="every job to run")
    assert count(pg, "SELECT count(*) FROM demo_rows") == total
    assert count(pg, "SELECT count(DISTINCT n) FROM demo_rows") == total
    assert count(pg, "SELECT count(*) FROM nexus.jobs_done") == total
    return procs


def test_exactly_once_with_three_processes_and_kill_9(pg, nexusd, r):
    """10,000 row-writing jobs, 3 processes, one of them killed with -9 three times and
    restarted: exactly 10,000 rows, each n once."""
    exactly_once_through_kill_9(lambda name: sql_nexusd(nexusd, pg, KILL_9_WORKER, name=name),
                                pg, r)


def test_nexusctl_history_shows_each_attempt(pg, nexusd, r):
    from conftest import NEXUSCTL
    d = sql_nexusd(nexusd, pg, worker=None)
    jid = push(r, "fail", ["first failure"], retry=1)
    d.wait_jobs([jid], outcome="retry")
    retry_job(r)
    r.zadd("retry", {r.zrange("retry", 0, 0)[0]: 0})
    d.wait_jobs([jid], outcome="dead")
    env = {"DATABASE_URL": pg.url, "REDIS_URL": d.redis.url}
    wait_for(lambda: len(json.loads(run_cmd([NEXUSCTL, "history", jid, "--json"], env=env)
                                    .stdout or '{"attempts":[]}')["attempts"]) == 2,
             timeout=10, what="two history rows")
    res = run_cmd([NEXUSCTL, "history", jid, "--json"], env=env)
    attempts = json.loads(res.stdout)["attempts"]
    assert [(a["attempt"], a["outcome"]) for a in attempts] == [(1, "retry"), (2, "dead")]
    assert attempts[0]["error_class"] == "NexusFail"
    assert attempts[0]["error"] == "first failure"
    table = run_cmd([NEXUSCTL, "history", jid], env=env)
    assert table.returncode == 0 and "NexusFail: first failure" in table.stdout
    missing = run_cmd([NEXUSCTL, "history", "0" * 24], env=env)
    assert missing.returncode == 3 and "no history for jid" in missing.stderr
    nodb = run_cmd([NEXUSCTL, "history", jid], env={"DATABASE_URL": ""})
    assert nodb.returncode == 2 and "history needs database.url" in nodb.stderr


def test_jobs_waiting_at_start_do_not_fail_while_the_pool_connects(pg, nexusd, r):
    jids = [push(r, "rows.add", [i, "early"]) for i in range(50)]
    d = sql_nexusd(nexusd, pg)
    d.wait_jobs(jids, timeout=30)
    assert not d.lines(event="job", outcome="retry")
    assert count(pg, "SELECT count(*) FROM demo_rows") == 50


def test_history_older_than_the_retention_is_pruned(pg, nexusd, r):
    d = sql_nexusd(nexusd, pg, extra='database = { history_retention = "1ms"; };')
    jid = push(r, "noop", [])
    d.wait_jobs([jid])
    wait_for(lambda: count(pg, "SELECT count(*) FROM nexus.job_history") == 1, timeout=10,
             what="the history row")
    # the first prune runs 5 s after start
    wait_for(lambda: count(pg, "SELECT count(*) FROM nexus.job_history") == 0, timeout=15,
             what="the row to be pruned")
    assert d.lines(event="history_pruned", rows="1")
