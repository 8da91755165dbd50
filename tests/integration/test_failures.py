"""Failures: retries with their fields, dead, discarded, malformed jobs, unknown classes."""
import base64
import json
import signal
import time

import pytest

from conftest import find_in_zset, make_config, push, push_raw, wait_for, zset_jobs


def move_retry_due(r, jid):
    """Makes the retry entry of `jid` due now (as if its backoff had passed)."""
    for member, score in r.zrange("retry", 0, -1, withscores=True):
        if json.loads(member)["jid"] == jid:
            assert r.zadd("retry", {member: time.time() - 1}, xx=True, ch=True) == 1
            return member
    raise AssertionError("%s not in retry" % jid)


def test_retry_twice_then_dead(r, nexusd):
    d = nexusd()
    t0 = time.time()
    jid = push(r, "fail", ["boom"], retry=2)

    # 1st failure: retry_count 0, first backoff 15..25 s (0^4 + 15 + jitter < 10)
    first = d.wait_jobs([jid], outcome="retry")[jid]
    assert first["attempt"] == "1" and first["error_class"] == "NexusFail"
    assert first["retries"] == "0/2"
    wait_for(lambda: find_in_zset(r, "retry", jid), what="job in retry")
    job, score = find_in_zset(r, "retry", jid)
    assert job["retry_count"] == 0
    assert job["error_class"] == "NexusFail"
    assert job["error_message"] == "boom"
    assert t0 - 1 <= job["failed_at"] <= time.time() + 1
    assert "retried_at" not in job
    assert 14 <= score - job["failed_at"] < 26, score - job["failed_at"]
    failed_at = job["failed_at"]

    # 2nd failure: retry_count 1, retried_at set, failed_at unchanged; backoff 16..36 s
    move_retry_due(r, jid)
    wait_for(lambda: len(d.lines(event="job", jid=jid, outcome="retry")) == 2, timeout=10,
             what="second failure")
    second = d.lines(event="job", jid=jid, outcome="retry")[1]
    assert second["attempt"] == "2" and second["retries"] == "1/2"
    wait_for(lambda: (find_in_zset(r, "retry", jid) or ({},))[0].get("retry_count") == 1,
             what="retry_count 1 in retry")
    job, score = find_in_zset(r, "retry", jid)
    assert job["failed_at"] == failed_at
    assert job["retried_at"] >= failed_at
    assert 15 <= score - job["retried_at"] < 37

    # 3rd failure: out of retries, to dead
    move_retry_due(r, jid)
    dead = d.wait_jobs([jid], outcome="dead")[jid]
    assert dead["attempt"] == "3" and dead["level"] == "error"
    wait_for(lambda: find_in_zset(r, "dead", jid), what="job in dead")
    job, score = find_in_zset(r, "dead", jid)
    assert job["retry_count"] == 2
    assert job["error_class"] == "NexusFail" and job["error_message"] == "boom"
    assert job["failed_at"] == failed_at
    assert abs(score - time.time()) < 10
    assert r.zcard("retry") == 0 and r.llen("queue:default") == 0
    wait_for(lambda: r.get("stat:failed") == "3", what="stat:failed = 3")
    assert r.get("stat:processed") == "3"
    assert len(d.lines(event="job", jid=jid)) == 3


@pytest.mark.parametrize("retry", [False, 0], ids=["false", "zero"])
def test_retry_false_goes_straight_to_dead(r, nexusd, retry):
    d = nexusd()
    jid = push(r, "fail", ["no second chance"], retry=retry)
    line = d.wait_jobs([jid], outcome="dead")[jid]
    assert line["attempt"] == "1"
    wait_for(lambda: find_in_zset(r, "dead", jid), what="job in dead")
    job, _ = find_in_zset(r, "dead", jid)
    assert job["retry"] is retry if retry is False else job["retry"] == 0
    assert job["retry_count"] == 0
    assert job["error_class"] == "NexusFail"
    assert job["error_message"] == "no second chance"
    assert r.zcard("retry") == 0
    wait_for(lambda: r.get("stat:failed") == "1", what="stat:failed = 1")


def test_dead_false_is_discarded(r, nexusd):
    d = nexusd()
    jid = push(r, "fail", ["gone"], retry=False, dead=False)
    d.wait_jobs([jid], outcome="discarded")
    wait_for(lambda: r.get("stat:failed") == "1", what="stat:failed = 1")
    assert r.get("stat:processed") == "1"
    assert r.zcard("dead") == 0 and r.zcard("retry") == 0
    assert r.llen("queue:default") == 0
    wait_for(lambda: r.llen(d.inflight_key()) == 0, what="in-flight list empty")


def test_dead_set_is_capped(r, nexusd):
    d = nexusd(extra="dead = { max_jobs = 3; };")
    jids = []
    for i in range(5):
        jids.append(push(r, "fail", [str(i)], retry=False))
        d.wait_jobs([jids[-1]], outcome="dead")
        wait_for(lambda: find_in_zset(r, "dead", jids[-1]), what="job %d in dead" % i)
    assert [j["jid"] for j, _ in zset_jobs(r, "dead")] == jids[2:], "the newest 3 are kept"


JID = "0123456789abcdef01234567"

# name, raw text, expected error_message fragment, wrapped (True: nexus.invalid + nexus_raw)
MALFORMED = [
    ("not_json", b"this is not json {", "invalid JSON", True),
    ("json_array", b'[1, 2, 3]', "job must be a JSON object (got an array)", True),
    ("json_string", b'"just a string"', "job must be a JSON object (got a string)", True),
    ("missing_class", json.dumps({"args": [1], "jid": JID, "queue": "default"}).encode(),
     "missing 'class'", False),
    ("args_not_array", json.dumps({"class": "noop", "args": "x", "jid": JID}).encode(),
     "'args' must be an array (got a string)", False),
    ("missing_jid", json.dumps({"class": "noop", "args": []}).encode(), "missing 'jid'", False),
    ("bad_retry", json.dumps({"class": "noop", "args": [], "jid": JID, "retry": "yes"}).encode(),
     "'retry' must be true, false or a whole number", False),
    ("invalid_utf8", b'{"class":"noop","args":["\xff\xfe caf\xc3"],"jid":"' + JID.encode() + b'"}',
     "invalid JSON", True),
]


@pytest.mark.parametrize("name,raw,message,wrapped", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_job_goes_to_dead_and_daemon_goes_on(redis_server, nexusd, name, raw, message,
                                                       wrapped):
    rb = redis_server.client(decode=False)
    d = nexusd()
    push_raw(rb, raw)
    d.wait_log(r"event=job .*outcome=dead", timeout=20)
    wait_for(lambda: rb.zcard("dead") == 1, what="one job in dead")
    member = rb.zrange("dead", 0, -1)[0]
    job = json.loads(member)  # what nexusd writes is valid JSON (and UTF-8)
    assert job["error_class"] == "NexusInvalidJob"
    assert message in job["error_message"], job["error_message"]
    assert job["retry_count"] == 0
    if wrapped:
        # the text itself is kept: exactly, or (invalid UTF-8) exactly in base64
        assert job["class"] == "nexus.invalid"
        assert job["queue"] == "default"
        assert len(job["jid"]) == 24 and int(job["jid"], 16) >= 0
        try:
            text = raw.decode("utf-8")
            assert job["nexus_raw"] == text
            assert "nexus_raw_base64" not in job
        except UnicodeDecodeError:
            assert base64.b64decode(job["nexus_raw_base64"]) == raw
            assert job["nexus_raw"] == raw.decode("utf-8", "replace")
    else:
        # the object itself, every field as it was
        original = json.loads(raw)
        for k, v in original.items():
            assert job[k] == v, k
    assert rb.llen("queue:default") == 0
    # counted as a failure (and, as Sidekiq counts every finished job, as processed)
    wait_for(lambda: rb.get("stat:failed") == b"1", what="stat:failed = 1")
    assert rb.get("stat:processed") == b"1"

    # still running and working
    d.assert_alive()
    r = redis_server.client()
    jid = push(r, "noop", [])
    d.wait_jobs([jid])
    wait_for(lambda: r.llen(d.inflight_key()) == 0, what="in-flight list empty")


def test_unknown_class_goes_to_dead(r, nexusd):
    d = nexusd()
    jid = push(r, "no.such.Class", [1, {"a": 2}], retry=5)
    line = d.wait_jobs([jid], outcome="dead")[jid]
    assert line["class"] == "no.such.Class"
    wait_for(lambda: find_in_zset(r, "dead", jid), what="job in dead")
    job, _ = find_in_zset(r, "dead", jid)
    assert job["error_class"] == "NexusUnknownClass"
    assert job["error_message"] == "unknown job class 'no.such.Class'"
    assert job["args"] == [1, {"a": 2}] and job["retry"] == 5
    assert r.zcard("retry") == 0
    ok = push(r, "noop", [])
    d.wait_jobs([ok])


def test_many_failures_at_once_are_all_recorded(r, nexusd):
    """50 failing jobs in one batch: each lands in retry exactly once with its own fields."""
    d = nexusd({"concurrency": 20})
    jids = [push(r, "fail", ["err %d" % i], retry=1) for i in range(50)]
    d.wait_jobs(jids, outcome="retry")
    wait_for(lambda: r.zcard("retry") == 50, what="50 jobs in retry")
    by_jid = {j["jid"]: j for j, _ in zset_jobs(r, "retry")}
    assert set(by_jid) == set(jids)
    for i, jid in enumerate(jids):
        assert by_jid[jid]["error_message"] == "err %d" % i
    wait_for(lambda: r.get("stat:failed") == "50", what="stat:failed = 50")


def test_unknown_class_grace_puts_the_job_off_until_a_process_knows_it(r, nexusd):
    """worker.unknown_class_grace: a job of a class not yet known (a rolling deploy shipped
    the producer first) is put off, not counted, and runs once a reload brings its class; one
    still unknown after the grace goes to dead as before."""
    cls = [{"name": "later.class", "command": ["true"]}]
    d = nexusd({"unknown_class_grace": "4s"})
    jid = push(r, "later.class", [])
    doomed = push(r, "never.class", [])
    first = d.wait_jobs([jid], outcome="deferred")[jid]
    assert "unknown job class" in first["why"] and first["attempt"] == "1"
    assert not find_in_zset(r, "dead", jid)
    d.write_config(make_config({"unknown_class_grace": "4s"}, classes=cls))
    d.signal(signal.SIGHUP)
    d.wait_log(r"event=reloaded")
    d.wait_jobs([jid], timeout=15)  # moved back when its deferral ends, now known
    d.wait_jobs([doomed], outcome="dead", timeout=15)
    # the line is written when the job ends, the dead entry when its outcome call returns
    job, _ = wait_for(lambda: find_in_zset(r, "dead", doomed), what="the doomed job in dead")
    assert job["error_class"] == "NexusUnknownClass"
    assert job.get("retry_count") in (None, 0)  # the put-offs were not attempts
