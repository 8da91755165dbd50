"""GET /status: the whole fleet as JSON, read from Redis by any process: live processes,
jobs in flight with their args, queues, counts and schedules with their next and last fire."""
import signal
import time

from conftest import make_job, push, push_many, wait_for
from httpc import get, http_address, wait_status


def schedules(*entries):
    return "schedules = ( %s );" % ", ".join(
        "{ %s }" % " ".join('%s = "%s";' % (k, v.replace('"', '\\"')) for k, v in e.items())
        for e in entries)


def test_status_shows_every_process_job_queue_and_schedule(nexusd, r):
    sched = schedules({"name": "hourly", "cron": "0 * * * *", "class": "noop",
                       "queue": "ticks", "tz": "UTC"})
    a = nexusd({"concurrency": 4}, name="a", extra=sched)
    b = nexusd({"concurrency": 2, "tag": "blue"}, name="b", extra=sched)
    addr_a, addr_b = http_address(a), http_address(b)
    wait_status(addr_a, "/readyz", 200)
    r.hset("nexus:cron:hourly", mapping={"last": "1700000000", "last_jid": "abc123",
                                         "fired_at": "1700000000.5"})
    long_jobs = [push(r, "sleep", [4000, "x" * 10]) for _ in range(3)]
    # waiting jobs in a queue nobody serves, the oldest 30 s old
    push_many(r, [make_job("noop", [], queue="backlog", enqueued_at=time.time() - 30),
                  make_job("noop", [], queue="backlog")], queue="backlog")
    push(r, "fail", ["x"], retry=2)

    def three_running():
        s = get(addr_a, "/status").json()
        return s if len(s["jobs"]) == 3 and s["counts"]["retry"] == 1 else None

    s = wait_for(three_running, 15, what="three jobs in flight in /status")
    # any process answers for the whole fleet
    assert {p["identity"] for p in get(addr_b, "/status").json()["processes"]} == \
        {a.identity, b.identity}

    procs = {p["identity"]: p for p in s["processes"]}
    assert set(procs) == {a.identity, b.identity}
    pb = procs[b.identity]
    assert pb["concurrency"] == 2 and pb["tag"] == "blue" and pb["pid"] == b.pid
    assert pb["quiet"] is False and isinstance(pb["hostname"], str)
    assert abs(pb["started_at"] - b.started_at) < 5 and pb["beat"] > pb["started_at"] - 1
    assert sum(p["busy"] for p in s["processes"]) == 3

    assert sorted(j["jid"] for j in s["jobs"]) == sorted(long_jobs)
    for j in s["jobs"]:
        assert j["class"] == "sleep" and j["args"] == [4000, "x" * 10]
        assert j["queue"] == "default" and j["process"] in procs
        assert j["run_at"] > 0 and j["args_truncated"] is False
    assert s["jobs_truncated"] is False

    queues = {q["name"]: q for q in s["queues"]}
    assert queues["backlog"]["size"] == 2 and 29 <= queues["backlog"]["latency"] < 90
    assert queues["default"]["size"] == 0 and queues["default"]["latency"] == 0
    assert s["counts"]["enqueued"] == 2 and s["counts"]["retry"] == 1
    assert s["counts"]["dead"] == 0 and s["counts"]["scheduled"] == 0
    assert abs(s["time"] - time.time()) < 5 and s["time_at"].endswith("Z")

    [h] = s["schedules"]
    assert h["name"] == "hourly" and h["cron"] == "0 * * * *" and h["queue"] == "ticks"
    assert h["next_fire"] % 3600 == 0 and 0 < h["next_fire"] - time.time() <= 3600
    assert h["next_fire_at"].endswith(":00:00Z")
    assert h["last_fire"] == 1700000000 and h["last_jid"] == "abc123"

    # quiet shows; a process that stops leaves the list
    b.signal(signal.SIGUSR1)
    wait_for(lambda: {p["identity"]: p["quiet"] for p in get(addr_a, "/status").json()
                      ["processes"]}.get(b.identity) is True, 10, what="b quiet")
    b.term()
    b.wait_exit(20)
    wait_for(lambda: [p["identity"] for p in get(addr_a, "/status").json()["processes"]] ==
             [a.identity], 15, what="b gone from /status")


def test_large_payloads_are_listed_without_args(nexusd, r):
    n = nexusd()
    addr = http_address(n)
    wait_status(addr, "/readyz", 200)
    jid = push(r, "sleep", [3000, "y" * 20000])
    s = wait_for(lambda: get(addr, "/status").json()["jobs"], 10, what="the job")
    assert s[0]["jid"] == jid and s[0]["args"] is None and s[0]["args_truncated"] is True
    assert s[0]["truncated"] is True and s[0]["size"] > 20000 and "args_excerpt" not in s[0]
    assert s[0]["class"] == "sleep"
