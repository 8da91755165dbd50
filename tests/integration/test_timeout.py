"""Per-class time limits: a job over its timeout is cancelled and retried; others go on."""
import time

from conftest import find_in_zset, log_time, push, wait_for

SLEEP_300MS = [{"name": "sleep", "timeout": "300ms", "max_retries": 2}]


def test_job_over_its_timeout_fails_with_nexus_timeout(r, nexusd):
    d = nexusd(classes=SLEEP_300MS)
    t0 = time.time()
    jid = push(r, "sleep", [5000])
    # the loop is not blocked while the sleep runs: noops pushed after it finish first
    noops = [push(r, "noop", [i]) for i in range(20)]
    line = d.wait_jobs([jid], outcome="retry", timeout=10)[jid]
    elapsed = time.time() - t0
    assert elapsed < 2.0, "timed out after %.2fs, not ~0.3s" % elapsed
    assert line["error_class"] == "NexusTimeout"
    assert line["retries"] == "0/2"  # the class's max_retries for "retry": true
    assert 290 <= float(line["duration_ms"]) < 1500, line["duration_ms"]
    oks = d.wait_jobs(noops)
    assert all(log_time(oks[n]) <= log_time(line) for n in noops), \
        "noops waited for the sleeping job"

    wait_for(lambda: find_in_zset(r, "retry", jid), what="job in retry")
    job, _ = find_in_zset(r, "retry", jid)
    assert job["error_class"] == "NexusTimeout"
    assert job["error_message"] == "job exceeded its timeout of 0.3s and was cancelled"
    assert job["retry_count"] == 0
    assert job["args"] == [5000]
    wait_for(lambda: r.llen(d.inflight_key()) == 0, what="in-flight list empty")
    # and the daemon keeps working
    after = push(r, "noop", [])
    d.wait_jobs([after])


def test_job_within_its_timeout_succeeds(r, nexusd):
    d = nexusd(classes=SLEEP_300MS)
    jid = push(r, "sleep", [100])
    line = d.wait_jobs([jid], timeout=10)[jid]
    assert 95 <= float(line["duration_ms"]) < 300
    assert not d.lines(event="job", outcome="retry")


def test_timeouts_do_not_hold_class_slots(r, nexusd):
    """A class limited to 1 in flight: each timed-out run frees its slot for the next."""
    classes = [{"name": "sleep", "timeout": "200ms", "max_retries": 0, "concurrency": 1}]
    d = nexusd(classes=classes)
    jids = [push(r, "sleep", [5000], retry=False) for _ in range(3)]
    t0 = time.time()
    lines = d.wait_jobs(jids, outcome="dead", timeout=10)
    assert time.time() - t0 < 4.0
    ends = sorted(log_time(l) for l in lines.values())
    # one at a time: roughly 200 ms apart
    assert ends[2] - ends[0] >= 0.35, ends
    wait_for(lambda: r.zcard("dead") == 3, what="3 jobs in dead")
