"""Jobs run: one noop end to end, many across queues, queue order, time units, round trips."""
import json
import time

from conftest import (blocked_in_blmove, find_in_zset, inflight_keys, log_time, make_job,
                      push, push_many, utc_day, wait_for)


def test_noop_runs_and_process_is_registered(r, nexusd):
    d = nexusd()
    jid = push(r, "noop", [1, "x"])
    line = d.wait_jobs([jid])[jid]
    assert line["class"] == "noop"
    assert line["queue"] == "default"
    assert line["attempt"] == "1"
    assert line["level"] == "info"
    assert float(line["duration_ms"]) >= 0

    wait_for(lambda: r.get("stat:processed") == "1", what="stat:processed = 1")
    assert r.get("stat:processed:" + utc_day()) == "1"
    assert r.get("stat:failed") in (None, "0")
    assert r.llen("queue:default") == 0
    wait_for(lambda: r.llen(d.inflight_key()) == 0, what="in-flight list empty")
    assert r.zcard("retry") == 0 and r.zcard("dead") == 0

    # the process as Sidekiq's tools and the reaper see it
    assert r.smembers("processes") == {d.identity}
    info = json.loads(r.hget(d.identity, "info"))
    assert info["pid"] == d.pid
    assert info["identity"] == d.identity
    assert info["concurrency"] == 10
    assert info["queues"] == ["default"]
    assert abs(float(r.hget(d.identity, "beat")) - time.time()) < 5
    assert r.hget(d.identity, "quiet") == "false"
    assert 0 < r.ttl(d.identity) <= 2  # process_ttl 1s, rounded up
    rec = json.loads(r.hget("nexus:procs", d.identity))
    assert rec["pid"] == d.pid
    assert "default" in rec["queues"]


def test_100_jobs_across_two_queues(r, nexusd):
    d = nexusd({"queues": ["critical", "default"]})
    crit = push_many(r, [make_job("noop", [i], queue="critical") for i in range(50)], "critical")
    dflt = push_many(r, [make_job("noop", [i]) for i in range(50)], "default")
    seen = d.wait_jobs(crit + dflt)
    assert all(seen[j]["queue"] == "critical" for j in crit)
    assert all(seen[j]["queue"] == "default" for j in dflt)
    wait_for(lambda: r.get("stat:processed") == "100", what="stat:processed = 100")
    oks = [e["jid"] for e in d.lines(event="job", outcome="ok")]
    assert sorted(oks) == sorted(crit + dflt), "each job runs exactly once"
    assert r.llen("queue:critical") == 0 and r.llen("queue:default") == 0
    wait_for(lambda: all(r.llen(k) == 0 for k in inflight_keys(r)), what="in-flight lists empty")


def test_strict_order_runs_every_critical_job_first(r, nexusd):
    # pre-loaded before the daemon starts, taken one at a time (concurrency 1)
    dflt = push_many(r, [make_job("noop", [i]) for i in range(20)], "default")
    crit = push_many(r, [make_job("noop", [i], queue="critical") for i in range(20)], "critical")
    d = nexusd({"concurrency": 1, "queues": ["critical", "default"], "queue_order": "strict"})
    d.wait_jobs(crit + dflt)
    order = [e["jid"] for e in d.lines(event="job", outcome="ok")]
    assert order == crit + dflt, "critical first, each queue in push (FIFO) order"


def test_weighted_order_takes_from_both_queues(r, nexusd):
    dflt = push_many(r, [make_job("noop", [i]) for i in range(30)], "default")
    crit = push_many(r, [make_job("noop", [i], queue="critical") for i in range(30)], "critical")
    d = nexusd({"concurrency": 1, "queue_order": "weighted",
                "queues": [{"name": "critical", "weight": 1}, {"name": "default", "weight": 1}]})
    d.wait_jobs(crit + dflt)
    order = [e["queue"] for e in d.lines(event="job", outcome="ok")]
    assert len(order) == 60
    first_half = order[:30]
    # strict order would give 30 x critical; equal weights make that a 2^-30 chance
    assert "default" in first_half and "critical" in first_half, order
    # each queue stays FIFO
    oks = [e["jid"] for e in d.lines(event="job", outcome="ok")]
    assert [j for j in oks if j in set(crit)] == crit
    assert [j for j in oks if j in set(dflt)] == dflt


def test_sidekiq8_millisecond_times_are_kept_in_milliseconds(r, nexusd):
    d = nexusd()
    now_ms = int(time.time() * 1000)
    ms_jid = push(r, "fail", ["boom"], retry=1, created_at=now_ms, enqueued_at=now_ms)
    s_jid = push(r, "fail", ["boom"], retry=1)
    ok_jid = push(r, "noop", [], created_at=now_ms, enqueued_at=now_ms)
    d.wait_jobs([ms_jid, s_jid], outcome="retry")
    ok = d.wait_jobs([ok_jid])[ok_jid]
    # enqueued_at in ms is read as ms: the latency is small, not ~50 years
    assert 0 <= float(ok["latency_ms"]) < 10000, ok

    wait_for(lambda: r.zcard("retry") == 2, what="2 jobs in retry")
    ms_job, _ = find_in_zset(r, "retry", ms_jid)
    s_job, _ = find_in_zset(r, "retry", s_jid)
    assert isinstance(ms_job["failed_at"], int), ms_job
    assert abs(ms_job["failed_at"] - time.time() * 1000) < 30000
    assert ms_job["created_at"] == now_ms and ms_job["enqueued_at"] == now_ms
    assert isinstance(s_job["failed_at"], float), s_job
    assert abs(s_job["failed_at"] - time.time()) < 30
    # the raw text too: an integer, not 1.7e12 or 1700000000000.0
    raw = [m for m in r.zrange("retry", 0, -1) if ms_jid in m][0]
    assert '"failed_at":%d' % ms_job["failed_at"] in raw


def test_unknown_fields_round_trip_into_retry_and_dead(r, nexusd):
    d = nexusd()
    extra = {
        "bid": "b-3f9a",
        "tags": ["a", "b"],
        "custom": {"nested": [1, 2.5, "x", None, True, {"deep": []}], "empty": {}},
        "big": 9007199254740993,  # 2^53 + 1: a double would lose the last digit
        "neg": -12345678901234567,
        "small": 0.1,
        "unicode": "h\u00e9llo \u2713 \U0001f389",
        "quote": "a \"quoted\" \\ back\nslash\t",
        "wrapped": "MyApp::Job",
    }
    retry_jid = push(r, "fail", ["boom"], retry=3, **extra)
    dead_jid = push(r, "fail", ["boom"], retry=False, **extra)
    d.wait_jobs([retry_jid], outcome="retry")
    d.wait_jobs([dead_jid], outcome="dead")
    wait_for(lambda: find_in_zset(r, "retry", retry_jid) and find_in_zset(r, "dead", dead_jid),
             what="jobs written to retry and dead")
    for key, jid in (("retry", retry_jid), ("dead", dead_jid)):
        job, _ = find_in_zset(r, key, jid)
        for k, v in extra.items():
            assert k in job, (key, k)
            assert job[k] == v and type(job[k]) is type(v), (key, k, job[k], v)
        assert job["args"] == ["boom"]
        assert job["error_class"] == "NexusFail"
        raw = [m for m in r.zrange(key, 0, -1) if jid in m][0]
        assert "9007199254740993" in raw and "-12345678901234567" in raw


def test_idle_daemon_picks_up_a_push_within_50ms(r, nexusd):
    d = nexusd()

    # idle: a BLMOVE waits on queue:default
    wait_for(lambda: blocked_in_blmove(r), 10, what="nexusd blocked in BLMOVE")
    t0 = time.time()
    jid = push(r, "noop", [], created_at=t0, enqueued_at=t0)
    line = d.wait_jobs([jid])[jid]
    assert float(line["latency_ms"]) < 50, line
    # the log's clock agrees (ms resolution, so allow one tick)
    assert log_time(line) - t0 < 0.050 + 0.002, line


def test_namespace_prefixes_every_key(r, nexusd):
    d = nexusd(extra='redis = { namespace = "{app}:"; };', ns="{app}:")
    outside = push(r, "noop", [])  # a push without the namespace is not for this nexusd
    p = r.pipeline(transaction=True)
    job = make_job("noop", ["ns"])
    p.sadd("{app}:queues", "default")
    p.lpush("{app}:queue:default", json.dumps(job))
    p.execute()
    fail = make_job("fail", ["x"], retry=False)
    r.lpush("{app}:queue:default", json.dumps(fail))
    d.wait_jobs([job["jid"]])
    d.wait_jobs([fail["jid"]], outcome="dead")
    wait_for(lambda: r.get("{app}:stat:processed") == "2", what="{app}:stat:processed = 2")
    assert r.get("{app}:stat:failed") == "1"
    assert r.zcard("{app}:dead") == 1
    assert r.sismember("{app}:processes", d.identity)
    assert r.hexists("{app}:nexus:procs", d.identity)
    assert r.exists("{app}:" + d.identity)
    # nexusd wrote nothing without the prefix, nor took the job pushed there
    unprefixed = sorted(k for k in r.keys("*") if not k.startswith("{app}:"))
    assert unprefixed == ["queue:default", "queues"], unprefixed
    assert r.llen("queue:default") == 1
    assert not d.lines(event="job", jid=outside)
