"""The dashboard's history (GET /api/metrics, docs/dashboard.md "Metrics"): per class and queue
over the last hour and day, from the per-minute and per-quarter-hour hashes finish.lua writes
in the outcomes' own call; their memory bound; and the metrics page in Debian's chromium, with
a screenshot kept where CI keeps its artifacts (.ci/artifacts, or NEXUS_ARTIFACTS_DIR)."""
import os
import time

import pytest

from conftest import push, wait_for
from httpc import get, http_address
from test_dashboard import (SOURCE, browser_ready, http_group, run_browser,  # noqa: F401
                            start)

ARTIFACTS = os.environ.get("NEXUS_ARTIFACTS_DIR", os.path.join(SOURCE, ".ci", "artifacts"))


def metrics(addr, window="hour"):
    res = get(addr, "/api/metrics?window=" + window)
    assert res.status == 200, res.body
    return res.json()


def by_class(m):
    return {c["class"]: c for c in m["classes"]}


def run_jobs(r, n):
    """5 noop jobs (one enqueued 2 s ago), 2 sleeps of 50 ms and 2 failures straight to dead."""
    ok = [push(r, "noop", [i]) for i in range(4)]
    ok.append(push(r, "noop", [4], enqueued_at=time.time() - 2))
    ok += [push(r, "sleep", [50], queue="slow") for _ in range(2)]
    dead = [push(r, "fail", ["boom"], retry=False) for _ in range(2)]
    n.wait_jobs(ok)
    n.wait_jobs(dead, outcome="dead")
    return ok, dead


def wait_metrics(addr, cls, jobs, window="hour"):
    """The answer once `cls` shows `jobs` attempts (answers are kept up to 5 s)."""
    got = {}

    def seen():
        got["m"] = metrics(addr, window)
        c = by_class(got["m"]).get(cls)
        return c is not None and c["jobs"] == jobs
    wait_for(seen, 15, interval=0.5, what="%s with %d jobs in the %s's metrics" % (cls, jobs, window))
    return got["m"]


def test_metrics_show_each_class_and_queue_after_jobs_ran(r, nexusd):
    n, addr = start(nexusd, worker={"queues": ["default", "slow"]})
    run_jobs(r, n)
    m = wait_metrics(addr, "fail", 2)
    assert m["window"] == "hour" and m["source"] == "redis"
    assert m["width_s"] == 60 and m["slots"] == 60 and len(m["throughput"]["processed"]) == 60
    assert m["from"] % 60 == 0 and m["from"] <= time.time() < m["from"] + 3600
    c = by_class(m)
    assert c["noop"]["jobs"] == 5 and c["noop"]["failed"] == 0
    assert c["noop"]["failure_rate"] == 0
    assert c["fail"]["failed"] == 2 and c["fail"]["failure_rate"] == 1
    # sleep 50: the bucket's middle is within a tenth of it
    assert 45 <= c["sleep"]["duration_ms"]["p50"] <= 60, c["sleep"]
    assert c["sleep"]["duration_ms"]["p99"] >= c["sleep"]["duration_ms"]["p50"]
    # the noop enqueued 2 s ago: the slowest start
    assert 1800 <= c["noop"]["latency_ms"]["p99"] <= 2400, c["noop"]
    assert sum(c["noop"]["series"]) == 5
    assert sum(m["throughput"]["processed"]) == 9 and sum(m["throughput"]["failed"]) == 2
    queues = {q["queue"]: q for q in m["queues"]}
    assert set(queues) == {"default", "slow"}
    assert [v for v in queues["default"]["latency_ms"] if v is not None]
    # the day: the same counts in quarter-hour slots
    d = wait_metrics(addr, "fail", 2, window="day")
    assert d["width_s"] == 900 and d["slots"] == 96
    assert by_class(d)["noop"]["jobs"] == 5
    # the keys expire: 65 minutes and a day and a quarter
    minute = int(time.time() // 60)
    keys = sorted(r.keys("nexus:metrics:*"))
    assert keys and all(k.startswith(("nexus:metrics:60:", "nexus:metrics:900:")) for k in keys)
    for k in keys:
        assert 0 < r.ttl(k) <= (3900 if k.startswith("nexus:metrics:60:") else 87300)
    assert any(int(k.rsplit(":", 1)[1]) in (minute, minute - 1) for k in keys)


def test_metrics_requests_are_bounded_and_checked(r, nexusd):
    n, addr = start(nexusd)
    assert get(addr, "/api/metrics?window=week").status == 400
    assert get(addr, "/api/metrics", headers={"Host": "attacker.example"}).status == 421
    first = metrics(addr)
    jid = push(r, "noop", [1])
    n.wait_jobs([jid])
    # within 5 s of a read, the same answer: however many poll, one read per window
    assert metrics(addr) == first
    m = wait_metrics(addr, "noop", 1)
    assert m["classes_total"] == 1 and not m["classes_truncated"]


@pytest.mark.parametrize("redis", ["metrics = false;", "metered = true;"])
def test_without_redis_metrics_an_outcome_call_writes_no_counter(r, nexusd, redis):
    """redis.metrics = false, or redis.metered = true leaving it out: no nexus:metrics key,
    however many jobs run (a Redis billed per command pays for the outcomes only)."""
    n = nexusd({}, extra="redis = { %s };" % redis)
    jids = [push(r, "noop", [i]) for i in range(20)]
    n.wait_jobs(jids)
    n.wait_jobs([push(r, "fail", ["x"], retry=False)], outcome="dead")
    time.sleep(0.3)  # outcome calls still under way would be in by now
    assert r.keys("nexus:metrics:*") == []
    assert int(r.get("stat:processed")) == 21


def test_a_full_slot_takes_no_new_field(r, nexusd):
    n, addr = start(nexusd)
    if time.time() % 60 > 45:  # the minute's hash must hold the first job's count to the end
        time.sleep(61 - time.time() % 60)
    minute = int(time.time() // 60)
    key = "nexus:metrics:60:%d" % minute
    jid = push(r, "noop", [0])
    n.wait_jobs([jid])
    wait_for(lambda: r.hexists(key, "n|noop"), 5, what="the first job's count in the minute's hash")
    before = r.hlen(key)
    r.hset(key, mapping={"x|%d" % i: 1 for i in range(4096)})
    jids = [push(r, "noop", [1]), push(r, "sleep", [1])]
    n.wait_jobs(jids)
    wait_for(lambda: r.ttl(key) > 0, 5, what="the hash's time to live")
    if int(time.time() // 60) != minute:
        pytest.skip("the minute ended during the test")
    assert r.hlen(key) == before + 4096 and not r.hexists(key, "n|sleep")
    assert int(r.hget(key, "n|noop")) >= 1  # a field already there still counts


def test_with_postgresql_the_classes_come_from_the_job_history(r, nexusd, migrated_pg):
    n = nexusd({"queues": ["default", "slow"]}, extra=http_group(),
               env={"NEXUS_HTTP_TOKEN": "", "DATABASE_URL": migrated_pg.url})
    addr = http_address(n)
    run_jobs(r, n)
    # an attempt of two hours ago: in the day, not in the hour
    migrated_pg.psql("INSERT INTO nexus.job_history (jid, class, queue, attempt, outcome, "
                     "started_at, finished_at, duration_ms, process) VALUES ('old1', 'old.class',"
                     " 'default', 1, 'ok', now() - interval '2 hours', now() - interval '2 hours',"
                     " 7, 'elsewhere')")
    wait_for(lambda: int(migrated_pg.psql("SELECT count(*) FROM nexus.job_history")) == 10, 15,
             interval=0.2, what="the history written")
    got = {}

    def counted():  # the counters (latency) are written within a second of the outcomes
        got["m"] = metrics(addr, "hour")
        c = by_class(got["m"])
        return c.get("fail", {}).get("jobs") == 2 and \
            ((c.get("noop") or {}).get("latency_ms") or {}).get("p99", 0) >= 1800
    wait_for(counted, 15, interval=0.5, what="the history and the counters in the metrics")
    m = got["m"]
    assert m["source"] == "postgresql" and "postgresql_error" not in m, m
    c = by_class(m)
    assert c["noop"]["jobs"] == 5 and c["fail"]["failed"] == 2 and "old.class" not in c
    assert 50 <= c["sleep"]["duration_ms"]["p50"] <= 60  # exact: the sleep and its timer
    assert c["noop"]["latency_ms"]["p99"] >= 1800  # the latency is still the counters'
    assert sum(c["noop"]["series"]) == 5
    d = wait_metrics(addr, "old.class", 1, window="day")
    assert by_class(d)["old.class"]["duration_ms"]["p50"] == 7
    assert by_class(d)["old.class"]["series"] is None  # not in the counters


def test_browser_metrics_page_shows_a_class_after_jobs_ran(r, nexusd, workdir, browser_ready):
    n, addr = start(nexusd, worker={"queues": ["default", "slow"]})
    run_jobs(r, n)
    wait_metrics(addr, "noop", 5)
    os.makedirs(ARTIFACTS, exist_ok=True)
    shot = os.path.join(ARTIFACTS, "dashboard-metrics.png")
    run_browser(browser_ready, workdir, SCENARIO="metrics", DASHBOARD_URL="http://%s/" % addr,
                QUEUE="default", QUEUE_SIZE=0, METRICS_CLASS="noop", METRICS_JOBS=5,
                METRICS_FAILED=0, SCREENSHOT=shot)
    assert os.path.getsize(shot) > 10000
