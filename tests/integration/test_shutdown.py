"""Signals and configuration: drain on TERM, interrupt after shutdown_timeout, quiet, reload,
and configuration errors at start."""
import json
import os
import re
import signal
import time

import pytest

from conftest import (NEXUSD, SANITIZER_MARKS, blocked_in_blmove, make_config, make_job, push,
                      push_raw, run_cmd, stays, wait_for)


def assert_gone(r, d):
    """The process left no trace: not live, no records, no in-flight list."""
    ident = d.identity
    assert not r.sismember("processes", ident)
    assert not r.hexists("nexus:procs", ident)
    assert not r.exists(ident)
    assert not r.exists(ident + ":work")
    assert not r.exists(d.inflight_key())


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
def test_term_lets_the_running_job_finish(r, nexusd, signum):
    d = nexusd()
    jid = push(r, "sleep", [500])
    d.wait_running()
    d.signal(signum)
    d.wait_log(r"event=stopping running=1")
    # no new job is taken while draining
    late = make_job("noop", ["late"])
    push_raw(r, json.dumps(late))
    assert d.wait_exit(10) == 0
    line = d.lines(event="job", jid=jid)
    assert [e["outcome"] for e in line] == ["ok"]
    assert float(line[0]["duration_ms"]) >= 495
    assert d.lines(event="stopped")
    assert not d.lines(event="job", jid=late["jid"])
    assert r.lrange("queue:default", 0, -1) == [json.dumps(late)]
    assert r.get("stat:processed") == "1"
    assert_gone(r, d)


def test_term_after_shutdown_timeout_requeues_the_job_unchanged(r, nexusd):
    d = nexusd({"shutdown_timeout": "0.5s"})
    job = make_job("sleep", [10000], custom={"keep": [1, 2]})
    text = json.dumps(job)
    push_raw(r, text)
    d.wait_running()
    t0 = time.monotonic()
    d.term()
    assert d.wait_exit(10) == 0
    took = time.monotonic() - t0
    assert took < 2.5, "exit took %.2fs with shutdown_timeout 0.5s" % took
    assert took >= 0.45, "exited before shutdown_timeout (%.2fs)" % took
    interrupted = d.lines(event="job_interrupted")
    assert [e["jid"] for e in interrupted] == [job["jid"]]
    assert interrupted[0]["outcome"] == "requeued"
    assert d.lines(event="requeued")[0]["jobs"] == "1"
    assert not d.lines(event="job", jid=job["jid"]), "no outcome written for it"
    assert r.llen("queue:default") == 1
    assert r.lindex("queue:default", 0) == text, "requeued byte for byte"
    assert r.get("stat:processed") is None and r.zcard("retry") == 0
    assert_gone(r, d)


def test_term_puts_jobs_held_by_a_class_limit_back(r, nexusd):
    """Jobs fetched but waiting for their class's slot go back to the queue on stop."""
    d = nexusd(classes=[{"name": "sleep", "concurrency": 1}])
    jobs = [make_job("sleep", [400]) for _ in range(3)]
    for j in jobs:
        push_raw(r, json.dumps(j))
    wait_for(lambda: r.llen(d.inflight_key()) == 3, what="3 jobs in flight (1 running, 2 held)")
    d.term()
    assert d.wait_exit(10) == 0
    assert [e["jid"] for e in d.lines(event="job", outcome="ok")] == [jobs[0]["jid"]]
    # the two held jobs, unchanged, first to be fetched next
    assert sorted(r.lrange("queue:default", 0, -1)) == sorted(json.dumps(j) for j in jobs[1:])
    assert r.rpop("queue:default") == json.dumps(jobs[1])
    assert_gone(r, d)


@pytest.mark.parametrize("signum", [signal.SIGTSTP, signal.SIGUSR1], ids=["TSTP", "USR1"])
def test_quiet_takes_no_new_jobs_and_finishes_running_ones(r, nexusd, signum):
    d = nexusd()
    running = push(r, "sleep", [800])
    d.wait_running()
    # idle capacity waits in BLMOVE, as it does in production
    wait_for(lambda: blocked_in_blmove(r), what="nexusd blocked in BLMOVE")
    d.signal(signum)
    d.wait_log(r"event=quiet running=1")
    wait_for(lambda: r.hget(d.identity, "quiet") == "true", what="quiet=true in the heartbeat")
    late = make_job("noop", ["late"])
    push_raw(r, json.dumps(late))
    d.wait_jobs([running], timeout=10)
    assert stays(lambda: r.llen("queue:default") == 1, 1.0), \
        "a job pushed after quiet was fetched: %s" % d.lines(event="job", jid=late["jid"])
    assert not d.lines(event="job", jid=late["jid"])
    d.assert_alive()
    d.term()
    assert d.wait_exit(10) == 0
    assert r.lrange("queue:default", 0, -1) == [json.dumps(late)]


def test_quiet_at_full_capacity_takes_no_new_jobs(r, nexusd):
    """The same with no idle capacity (so no BLMOVE is waiting when quiet comes)."""
    d = nexusd({"concurrency": 1})
    running = push(r, "sleep", [500])
    d.wait_running()
    d.signal(signal.SIGTSTP)
    d.wait_log(r"event=quiet running=1")
    late = make_job("noop", ["late"])
    push_raw(r, json.dumps(late))
    d.wait_jobs([running], timeout=10)
    assert stays(lambda: r.llen("queue:default") == 1, 1.0)
    assert not d.lines(event="job", jid=late["jid"])
    d.term()
    assert d.wait_exit(10) == 0
    assert r.lrange("queue:default", 0, -1) == [json.dumps(late)]


def test_hup_with_a_valid_config_reloads(r, nexusd):
    d = nexusd({"concurrency": 2})
    sleeper = push(r, "sleep", [300])
    d.wait_running()
    d.write_config(make_config({"concurrency": 5, "queues": ["default", "other"]}))
    d.signal(signal.SIGHUP)
    d.wait_log(r"event=reloaded concurrency=5 queues=2")
    wait_for(lambda: json.loads(r.hget(d.identity, "info"))["concurrency"] == 5,
             what="concurrency 5 in the heartbeat")
    assert json.loads(r.hget(d.identity, "info"))["queues"] == ["default", "other"]
    # the new queue is served, the running job was not disturbed
    other = push(r, "noop", [], queue="other")
    assert d.wait_jobs([other])[other]["queue"] == "other"
    d.wait_jobs([sleeper])
    d.assert_alive()
    assert not d.lines(event="reload_refused")


def test_hup_dropping_a_queue_stops_taking_from_it(r, nexusd):
    d = nexusd({"queues": ["default", "other"]})
    wait_for(lambda: sum(1 for c in r.client_list()
                         if c.get("cmd") == "blmove" and "b" in c.get("flags", "")) == 2,
             what="nexusd blocked in BLMOVE on both queues")
    d.write_config(make_config({"queues": ["other"]}))
    d.signal(signal.SIGHUP)
    d.wait_log(r"event=reloaded concurrency=10 queues=1")
    late = make_job("noop", ["late"])
    push_raw(r, json.dumps(late))
    assert stays(lambda: r.llen("queue:default") == 1, 1.0), \
        "a job of a queue dropped by the reload was taken: %s" % \
        d.lines(event="job", jid=late["jid"])
    assert not d.lines(event="job", jid=late["jid"])
    other = push(r, "noop", [], queue="other")
    d.wait_jobs([other])


@pytest.mark.parametrize("bad,line", [
    ("worker = {\n  concurrency = 0;\n};\n", 2),
    ("worker = {\n  concurrency = 5;\n  queues = ( \"x\" ;\n};\n", 3),
    ("log = { level = \"info\"; };\nworker = {\n  concurency = 5;\n};\n", 3),
], ids=["out_of_range", "syntax", "unknown_setting"])
def test_hup_with_an_invalid_config_keeps_the_old_one(r, nexusd, bad, line):
    d = nexusd({"concurrency": 2})
    d.write_config(bad)
    d.signal(signal.SIGHUP)
    refused = d.wait_log(r"event=reload_refused")
    entry = d.lines(event="reload_refused")[0]
    assert entry["err"].startswith("%s:%d: " % (d.conf, line)), entry["err"]
    assert not d.lines(event="reloaded")
    d.assert_alive()
    assert json.loads(r.hget(d.identity, "info"))["concurrency"] == 2
    jid = push(r, "noop", [])
    d.wait_jobs([jid])
    assert len(refused) == 1


def run_nexusd(args, env=None):
    res = run_cmd([NEXUSD] + args, env=env, timeout=10)
    for mark in SANITIZER_MARKS:
        assert mark not in res.stderr, res.stderr
    return res


BAD_CONFIGS = [
    ("out_of_range", "worker = {\n  concurrency = 0;\n};\n", 2, "worker.concurrency must be"),
    ("syntax", "worker = {\n  concurrency = 5;\n  queues = ( \"x\" ;\n};\n", 3, "syntax error"),
    ("unknown_setting", "# comment\nworker = {\n  concurency = 5;\n};\n", 3, "concurency"),
    ("wrong_type", "worker = {\n  queues = ( \"default\" );\n  shutdown_timeout = true;\n};\n",
     3, "shutdown_timeout"),
    ("ttl_below_two_beats",
     "worker = {\n  heartbeat_interval = \"1s\";\n  process_ttl = \"1.5s\";\n};\n", 3,
     "process_ttl must be at least 2 * worker.heartbeat_interval"),
    ("bad_redis_url", "\n\nredis = { url = \"http://x\"; };\n", 3, "redis"),
]


@pytest.mark.parametrize("name,text,line,words", BAD_CONFIGS, ids=[b[0] for b in BAD_CONFIGS])
def test_bad_config_at_start_exits_2_with_file_and_line(workdir, name, text, line, words):
    path = os.path.join(workdir, name + ".conf")
    with open(path, "w") as f:
        f.write(text)
    env = {"REDIS_URL": ""}  # redis.url of the file counts
    res = run_nexusd(["-c", path], env=env)
    assert res.returncode == 2, (res.returncode, res.stderr)
    assert res.stderr.startswith("nexusd: %s:%d: " % (path, line)), res.stderr
    assert words in res.stderr, res.stderr
    # --check-config says the same, with the same status
    for flag in ("--check-config", "-t"):
        chk = run_nexusd([flag, "-c", path], env=env)
        assert chk.returncode == 2
        assert "%s:%d: " % (path, line) in chk.stderr
        assert "is valid" not in chk.stdout


def test_check_config_accepts_a_valid_file(workdir):
    path = os.path.join(workdir, "ok.conf")
    with open(path, "w") as f:
        f.write(make_config({"concurrency": 7, "queues": ["critical", "default"]}))
    for flag in ("--check-config", "-t"):
        res = run_nexusd([flag, "-c", path])
        assert res.returncode == 0, res.stderr
        assert res.stdout.startswith("configuration %s is valid\n" % path)
        assert "concurrency: 7" in res.stdout
        assert re.search(r"queues \(strict\): critical, default", res.stdout), res.stdout
    # the shipped example is valid too
    example = os.path.join(os.path.dirname(NEXUSD), "..", "conf", "nexusd.conf")
    src = os.environ.get("NEXUS_SOURCE_DIR")
    if src:
        example = os.path.join(src, "conf", "nexusd.conf")
    if os.path.exists(example):
        res = run_nexusd(["-t", "-c", example])
        assert res.returncode == 0, res.stderr


def test_missing_config_file_exits_2(workdir):
    path = os.path.join(workdir, "nope.conf")
    res = run_nexusd(["-c", path])
    assert res.returncode == 2
    assert path in res.stderr and "cannot read" in res.stderr
