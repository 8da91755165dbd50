"""nexusctl queue list|peek|clear against a real Redis (and nexusd)."""
import json
import os
import pty
import subprocess
import time

from conftest import NEXUSCTL, make_job, push, push_raw, run_cmd, wait_for


def ctl(redis_server, *args, input=None):
    res = run_cmd([NEXUSCTL] + list(args), env={"REDIS_URL": redis_server.url}, input=input)
    for mark in ("ERROR: AddressSanitizer", "runtime error:", "LeakSanitizer"):
        assert mark not in res.stderr, res.stderr
    return res


def ctl_json(redis_server, *args):
    res = ctl(redis_server, *args, "--json")
    assert res.returncode == 0, res
    return json.loads(res.stdout)


def test_queue_list_is_stats_queue_table(r, redis_server, nexusd):
    assert ctl(redis_server, "pause", "default").returncode == 0
    d = nexusd({"queues": ["default"]})
    wait_for(lambda: r.sismember("processes", d.identity), 20, what="the first beat")
    push(r, "noop", [1], enqueued_at=time.time() - 300)
    push(r, "noop", [2])
    push(r, "noop", [3], queue="mail")

    got = ctl_json(redis_server, "queue", "list")
    queues = {q["name"]: q for q in got["queues"]}
    assert set(queues) == {"default", "mail"}
    assert queues["default"]["size"] == 2 and queues["default"]["paused"] is True
    assert queues["default"]["readers"] == 1 and queues["mail"]["readers"] == 0
    assert 299 < queues["default"]["latency"] < 330
    assert queues["mail"]["size"] == 1 and queues["mail"]["paused"] is False
    # the same reading as stats (one place computes both)
    stats = ctl_json(redis_server, "stats")
    assert [q["name"] for q in stats["queues"]] == [q["name"] for q in got["queues"]]
    assert set(stats["queues"][0]) == set(got["queues"][0])

    table = ctl(redis_server, "queue", "list").stdout.splitlines()
    assert table[0].split() == ["QUEUE", "SIZE", "LATENCY", "PAUSED", "READERS"]
    row = table[1].split()
    assert row[:3] == ["default", "2", "5m"] and row[-2:] == ["yes", "1"], table
    assert table[2].split()[:2] == ["mail", "1"] and table[2].split()[-2:] == ["no", "0"]


def test_queue_list_without_queues(redis_server):
    res = ctl(redis_server, "queue", "list")
    assert res.returncode == 0 and res.stdout == "no queues\n"
    assert ctl_json(redis_server, "queue", "list") == {"queues": []}


def test_queue_peek_shows_the_next_jobs_oldest_first(r, redis_server):
    jids = [push(r, "noop", [i, "x"], queue="mail") for i in range(5)]
    got = ctl_json(redis_server, "queue", "peek", "mail", "-n", "3")
    assert got["queue"] == "mail" and got["size"] == 5
    assert [j["jid"] for j in got["jobs"]] == jids[:3]  # fetch takes the right end: the oldest
    assert [j["position"] for j in got["jobs"]] == [0, 1, 2]
    first = got["jobs"][0]
    assert first["class"] == "noop" and first["args"] == [0, "x"]
    assert first["invalid"] is None and first["truncated"] is False
    assert abs(first["enqueued_at"] - time.time()) < 60
    assert r.llen("queue:mail") == 5  # peeking takes nothing

    res = ctl(redis_server, "queue", "peek", "mail", "--count", "2")
    lines = res.stdout.splitlines()
    assert lines[0].split() == ["JID", "CLASS", "ENQUEUED", "ARGS"]
    assert lines[1].startswith(jids[0]) and '[0,"x"]' in lines[1]
    assert lines[-1] == "(2 of 5 jobs; -n K shows more)"
    assert len(ctl_json(redis_server, "queue", "peek", "mail")["jobs"]) == 5

    empty = ctl(redis_server, "queue", "peek", "nothing")
    assert empty.returncode == 0 and empty.stdout == "no jobs in queue nothing\n"


def test_queue_peek_shows_bad_and_huge_jobs_within_bounds(r, redis_server):
    push_raw(r, "this is not json", queue="odd")
    push_raw(r, json.dumps({"class": "noop", "args": "x", "jid": "badargs"}), queue="odd")
    huge = make_job("noop", ["a" * (5 << 20)])
    push_raw(r, json.dumps(huge), queue="odd")
    small = push(r, "noop", [{"k": "b" * 3000}], queue="odd")

    got = ctl_json(redis_server, "queue", "peek", "odd")
    jobs = got["jobs"]
    assert len(jobs) == 4
    assert jobs[0]["class"] == "nexus.invalid" and "invalid JSON" in jobs[0]["invalid"]
    assert jobs[1]["jid"] == "badargs" and "'args' must be an array" in jobs[1]["invalid"]
    # read in part: its first 64 KiB give the fields found whole there, and an excerpt
    assert jobs[2]["jid"] is None or jobs[2]["jid"] == huge["jid"]
    assert jobs[2]["truncated"] is True and jobs[2]["size"] > 5 << 20
    assert len(jobs[2]["excerpt"]) <= 1024
    # args over the excerpt: cut, with their size
    assert jobs[3]["jid"] == small and jobs[3]["args"] is None
    assert len(jobs[3]["args_excerpt"]) <= 1024 and jobs[3]["args_size"] > 3000
    assert len(json.dumps(got)) < 16000

    res = ctl(redis_server, "queue", "peek", "odd")
    assert res.returncode == 0 and "not a valid job" in res.stdout
    assert len(res.stdout) < 2000


def test_queue_clear_needs_yes_without_a_terminal(r, redis_server):
    for i in range(3):
        push(r, "noop", [i], queue="mail")
    res = ctl(redis_server, "queue", "clear", "mail", input="")
    assert res.returncode == 2 and "--yes" in res.stderr, res
    assert r.llen("queue:mail") == 3
    res = ctl(redis_server, "queue", "clear", "mail", "--yes")
    assert res.returncode == 0 and res.stdout == "removed 3 jobs from queue mail\n", res
    assert r.llen("queue:mail") == 0
    assert ctl_json(redis_server, "queue", "clear", "mail", "-y") == \
        {"queue": "mail", "removed": 0}


def test_queue_clear_leaves_jobs_in_flight(r, redis_server, nexusd):
    d = nexusd({"queues": ["default"], "concurrency": 1})
    running = push(r, "sleep", [1500])
    wait_for(lambda: r.llen(d.inflight_key()) == 1, 10, what="the job in flight")
    waiting = [push(r, "noop", [i]) for i in range(4)]
    res = ctl(redis_server, "queue", "clear", "default", "--yes")
    assert res.stdout == "removed 4 jobs from queue default\n", res
    assert r.llen(d.inflight_key()) == 1
    d.wait_jobs([running])
    time.sleep(0.5)
    assert not any(e["jid"] in waiting for e in d.lines(event="job"))


def ctl_on_terminal(redis_server, answer, *args):
    """Runs nexusctl with a terminal as stdin, answering its question."""
    leader, follower = pty.openpty()
    env = dict(os.environ, REDIS_URL=redis_server.url, NEXUS_CONFIG="")
    proc = subprocess.Popen([NEXUSCTL] + list(args), stdin=follower, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    os.close(follower)
    os.write(leader, answer.encode() + b"\n")
    out, err = proc.communicate(timeout=30)
    os.close(leader)
    return proc.returncode, out, err


def test_queue_clear_asks_on_a_terminal(r, redis_server):
    push(r, "noop", [1], queue="mail")
    code, out, err = ctl_on_terminal(redis_server, "n", "queue", "clear", "mail")
    assert code == 1 and "delete the 1 pending job of queue mail? [y/N]" in err, err
    assert "queue mail was not cleared" in err and r.llen("queue:mail") == 1
    code, out, err = ctl_on_terminal(redis_server, "y", "queue", "clear", "mail")
    assert code == 0 and out == "removed 1 job from queue mail\n", (out, err)
    assert r.llen("queue:mail") == 0


def test_queue_usage_errors(redis_server):
    for args, said in ((["queue"], "'queue' needs a command"),
                       (["queue", "drop"], "unknown queue command 'drop'"),
                       (["queue", "peek"], "'queue peek' needs a QUEUE"),
                       (["queue", "peek", "mail", "-n", "0"], "-n must be 1..1000 (got '0')"),
                       (["queue", "clear", "bad name", "--yes"], "must not contain whitespace"),
                       (["queue", "list", "extra"], "unexpected argument 'extra'")):
        res = ctl(redis_server, *args)
        assert res.returncode == 2 and said in res.stderr, (args, res.stderr)
    res = ctl(redis_server, "queue", "peek", "--help")
    assert res.returncode == 0 and res.stdout.startswith("Usage: nexusctl queue peek QUEUE")
