"""The schedule and retry sets: due jobs move to their queue once, and not before."""
import json
import time
from collections import Counter

from conftest import inflight_keys, log_time, make_job, wait_for


def test_scheduled_job_runs_when_due_and_not_before(r, nexusd):
    d = nexusd()
    at = time.time() + 0.5
    job = make_job("noop", ["later"], at=at)
    r.zadd("schedule", {json.dumps(job): at})

    # before it is due it stays in the schedule
    checks = 0
    while True:
        t = time.time()
        size = r.zcard("schedule")
        if t >= at - 0.02:
            break
        assert size == 1, "moved %.3fs before it was due" % (at - t)
        assert r.llen("queue:default") == 0
        checks += 1
        time.sleep(0.02)
    assert checks > 0

    line = d.wait_jobs([job["jid"]], timeout=10)[job["jid"]]
    assert log_time(line) >= at - 0.002, "ran %.3fs early" % (at - log_time(line))
    assert log_time(line) < at + 2.0, "ran %.3fs late" % (log_time(line) - at)
    # enqueued_at was set when it moved: the latency counts from then, not from created_at
    assert float(line["latency_ms"]) < 1000
    assert r.zcard("schedule") == 0
    assert r.sismember("queues", "default")


def test_200_due_jobs_with_3_pollers_each_run_exactly_once(r, nexusd):
    now = time.time()
    jobs = [make_job("noop", [i], at=now - 1) for i in range(200)]
    # due before the processes start: all three poll at once on connecting
    r.zadd("schedule", {json.dumps(j): now - 1 for j in jobs})
    daemons = [nexusd(start=False) for _ in range(3)]
    for d in daemons:
        d.start(wait_ready=False)
    for d in daemons:
        d.wait_ready()
    # and a second batch due while all three are polling
    later = [make_job("noop", [i], at=now) for i in range(200, 400)]
    r.zadd("schedule", {json.dumps(j): time.time() for j in later})
    jids = [j["jid"] for j in jobs + later]

    def all_ran():
        got = set()
        for d in daemons:
            got.update(e["jid"] for e in d.lines(event="job", outcome="ok"))
        return set(jids) <= got

    wait_for(all_ran, timeout=30, what="all 400 scheduled jobs to run")
    wait_for(lambda: r.zcard("schedule") == 0 and r.llen("queue:default") == 0
             and all(r.llen(k) == 0 for k in inflight_keys(r)), what="everything drained")
    counts = Counter()
    for d in daemons:
        counts.update(e["jid"] for e in d.lines(event="job"))
    dups = {j: c for j, c in counts.items() if c != 1}
    assert not dups, "jobs run more than once: %s" % dups
    assert set(counts) == set(jids)
    assert r.get("stat:processed") == "400"
    busy = [len(d.lines(event="job")) for d in daemons]
    assert sum(busy) == 400


def test_retry_job_due_now_moves_back_and_runs(r, nexusd):
    d = nexusd()
    failed_at = time.time() - 30
    job = make_job("noop", ["again"], retry_count=0, error_class="NexusFail",
                   error_message="boom", failed_at=failed_at)
    r.zadd("retry", {json.dumps(job): time.time() - 1})
    line = d.wait_jobs([job["jid"]])[job["jid"]]
    assert line["attempt"] == "2"
    assert r.zcard("retry") == 0
    wait_for(lambda: r.get("stat:processed") == "1", what="stat:processed = 1")
    assert r.get("stat:failed") is None


def test_retry_job_not_yet_due_stays(r, nexusd):
    d = nexusd()
    job = make_job("noop", [], retry_count=0, error_class="X", error_message="m",
                   failed_at=time.time())
    r.zadd("retry", {json.dumps(job): time.time() + 60})
    # several poll intervals (0.1 s) pass; the job must not move
    probe = make_job("noop", [])
    r.zadd("schedule", {json.dumps(probe): time.time()})
    d.wait_jobs([probe["jid"]])  # the poller has run at least once
    time_limit = time.time() + 0.5
    while time.time() < time_limit:
        assert r.zcard("retry") == 1 and r.llen("queue:default") == 0
        time.sleep(0.05)
    assert not d.lines(event="job", jid=job["jid"])


def test_invalid_scheduled_job_goes_to_dead(r, nexusd):
    d = nexusd()
    bad = '{"class": "noop", "args": [1], "jid": '  # cut short
    r.zadd("schedule", {bad: time.time() - 1})
    later = make_job("noop", ["fine"])
    r.zadd("schedule", {json.dumps(later): time.time() - 1})
    d.wait_jobs([later["jid"]])
    wait_for(lambda: r.zcard("dead") == 1, what="the invalid job in dead")
    job = json.loads(r.zrange("dead", 0, -1)[0])
    assert job["class"] == "nexus.invalid"
    assert job["nexus_raw"] == bad
    assert job["error_class"] == "NexusInvalidJob"
    assert "invalid JSON" in job["error_message"]
    assert r.zcard("schedule") == 0 and r.llen("queue:default") == 0
    d.assert_alive()
