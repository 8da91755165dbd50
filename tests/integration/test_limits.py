"""Limits shared by every process through Redis: a rate limit per class (sliding window) and a global
concurrency limit with leases that expire when their holder dies. Over-limit jobs are
deferred, not failed, and spend no attempt."""
import time

from conftest import log_time, push, wait_for

FAST = {"concurrency": 10, "poll_interval": "0.05s", "heartbeat_interval": "0.2s",
        "process_ttl": "1s"}


def starts(procs, cls):
    """(start, end) of every successful run of `cls` across the processes' logs."""
    out = []
    for p in procs:
        for e in p.lines(event="job", outcome="ok"):
            if e["class"] == cls:
                end = log_time(e)
                out.append((end - float(e["duration_ms"]) / 1000.0, end))
    return sorted(out)


def test_rate_limit_holds_across_three_processes(nexusd, r):
    classes = [{"name": "noop", "rate_limit": 5, "rate_period": "1s"}]
    procs = [nexusd(FAST, classes=classes, name="n%d" % i) for i in range(3)]
    jids = [push(r, "noop", []) for _ in range(25)]
    wait_for(lambda: sum(len(p.lines(event="job", outcome="ok")) for p in procs) == 25,
             timeout=30, what="25 jobs")
    runs = starts(procs, "noop")
    times = [s for s, _ in runs]
    # at most 5 in any second: 25 jobs take more than 4 s
    assert times[-1] - times[0] >= 4.0, times
    # The limit counts admissions (Redis's clock); a start follows its admission by the reply's
    # way back, tens of ms on a loaded machine (six starts in 0.985 s seen beside other
    # tests): 50 ms of slack, and log times are milliseconds.
    for i, t in enumerate(times):
        assert len([u for u in times[i:] if u < t + 0.95]) <= 5, times
    deferred = sum(len(p.lines(event="job", outcome="deferred")) for p in procs)
    assert deferred > 0
    assert all(e["attempt"] == "1" for p in procs for e in p.lines(event="job", outcome="ok"))
    assert int(r.get("stat:failed") or 0) == 0
    assert set(jids) == {e["jid"] for p in procs for e in p.lines(event="job", outcome="ok")}


def test_global_concurrency_one_at_a_time_anywhere(nexusd, r):
    classes = [{"name": "sleep", "global_concurrency": 1}]
    procs = [nexusd(FAST, classes=classes, name="n%d" % i) for i in range(3)]
    for _ in range(5):
        push(r, "sleep", [300])
    wait_for(lambda: len(starts(procs, "sleep")) == 5, timeout=30, what="5 sleeps")
    runs = starts(procs, "sleep")
    for (s1, e1), (s2, e2) in zip(runs, runs[1:]):
        assert s2 >= e1 - 0.01, "two ran at once: %s" % runs
    assert r.zcard("nexus:conc:sleep") == 0, "every lease released"


def test_lease_of_a_killed_holder_expires(nexusd, r):
    classes = [{"name": "sleep", "global_concurrency": 1}]
    procs = [nexusd(FAST, classes=classes, name="n%d" % i) for i in range(2)]
    jid = push(r, "sleep", [2000])
    wait_for(lambda: r.zcard("nexus:conc:sleep") == 1, timeout=10, what="the lease taken")
    holder = r.zrange("nexus:conc:sleep", 0, 0)[0]
    victim = next(p for p in procs if holder.startswith(p.identity))
    survivor = next(p for p in procs if p is not victim)
    victim.kill9()
    started = time.time()
    # recovered, then started again elsewhere: only possible once the dead holder's lease
    # expired (process_ttl, 1 s)
    survivor.wait_jobs([jid], timeout=15)
    assert time.time() - started >= 2.0
    assert r.zcard("nexus:conc:sleep") == 0
