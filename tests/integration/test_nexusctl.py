"""nexusctl against a real Redis (and nexusd): enqueue, stats, dead set commands, errors."""
import json
import os
import re
import subprocess
import time

import pytest

from conftest import NEXUSCTL, log_time, make_job, push, run_cmd, wait_for


def nexusctl_works():
    if not os.access(NEXUSCTL, os.X_OK):
        return False
    try:
        return subprocess.run([NEXUSCTL, "--version"], capture_output=True,
                              timeout=30).returncode == 0
    except OSError:
        return False


pytestmark = pytest.mark.skipif(not nexusctl_works(),
                                reason="nexusctl not built or not working: %s" % NEXUSCTL)

JID_RE = re.compile(r"^[0-9a-f]{24}$")


@pytest.fixture
def ctl(redis_server):
    def run(*args, url=None):
        env = dict(os.environ)
        env["REDIS_URL"] = url or redis_server.url
        res = subprocess.run([NEXUSCTL] + list(args), capture_output=True, text=True,
                             timeout=30, env=env)
        for mark in ("ERROR: AddressSanitizer", "runtime error:", "LeakSanitizer"):
            assert mark not in res.stderr, res.stderr
        return res
    return run


def test_enqueue_prints_a_jid_and_the_job_runs(r, nexusd, ctl):
    t0 = time.time()
    res = ctl("enqueue", "noop", '[1, "x", {"k": null}]')
    assert res.returncode == 0, res.stderr
    jid = res.stdout.strip()
    assert JID_RE.match(jid), res.stdout
    # a Sidekiq client's push: SADD queues + LPUSH queue:default
    assert r.sismember("queues", "default")
    job = json.loads(r.lindex("queue:default", 0))
    assert job["jid"] == jid and job["class"] == "noop"
    assert job["args"] == [1, "x", {"k": None}]
    assert job["queue"] == "default" and job["retry"] is True
    assert t0 - 1 <= job["created_at"] <= time.time() + 1

    res = ctl("enqueue", "noop", "[]", "--queue", "other", "--retry", "3",
              "--jid", "abcdefabcdefabcdefabcdef")
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "abcdefabcdefabcdefabcdef"
    other = json.loads(r.lindex("queue:other", 0))
    assert other["retry"] == 3 and other["queue"] == "other"

    d = nexusd({"queues": ["default", "other"]})
    d.wait_jobs([jid, "abcdefabcdefabcdefabcdef"])


def test_enqueue_in_lands_in_the_schedule(r, nexusd, ctl):
    t0 = time.time()
    res = ctl("enqueue", "noop", "[7]", "--in", "1s")
    t1 = time.time()
    assert res.returncode == 0, res.stderr
    jid = res.stdout.strip()
    assert r.llen("queue:default") == 0
    [(member, score)] = r.zrange("schedule", 0, -1, withscores=True)
    assert json.loads(member)["jid"] == jid
    assert t0 + 1 - 0.01 <= score <= t1 + 1 + 0.01
    d = nexusd()
    line = d.wait_jobs([jid], timeout=10)[jid]
    assert log_time(line) >= score - 0.002


@pytest.mark.parametrize("args", [
    ["enqueue", "noop", "{not json"],
    ["enqueue", "noop", '{"a": 1}'],
    ["enqueue", "noop", "[]", "--in", "soon"],
    ["enqueue", "noop", "[]", "--retry", "maybe"],
    ["enqueue"],
    ["no-such-command"],
], ids=["args_not_json", "args_not_array", "bad_in", "bad_retry", "no_class", "bad_command"])
def test_usage_errors_exit_2_and_push_nothing(r, ctl, args):
    res = ctl(*args)
    assert res.returncode == 2, (res.returncode, res.stdout, res.stderr)
    assert res.stderr.startswith("nexusctl: "), res.stderr
    assert res.stdout == ""
    assert r.dbsize() == 0


def test_stats_shows_queue_sizes_and_processes(r, nexusd, ctl):
    for i in range(3):
        push(r, "noop", [i])
    for i in range(2):
        push(r, "noop", [i], queue="other")
    r.zadd("schedule", {json.dumps(make_job("noop", [])): time.time() + 3600})
    r.zadd("dead", {json.dumps(make_job("fail", [], error_class="X", error_message="m",
                                        retry_count=0)): time.time()})
    r.set("stat:processed", 42)
    r.set("stat:failed", 7)
    res = ctl("stats", "--json")
    assert res.returncode == 0, res.stderr
    st = json.loads(res.stdout)
    assert st["processed"] == 42 and st["failed"] == 7
    assert st["scheduled_size"] == 1 and st["retry_size"] == 0 and st["dead_size"] == 1
    assert st["enqueued"] == 5
    assert {q["name"]: q["size"] for q in st["queues"]} == {"default": 3, "other": 2}
    assert st["processes"] == []

    plain = ctl("stats")
    assert plain.returncode == 0
    assert re.search(r"^default\s+3\s", plain.stdout, re.M), plain.stdout
    assert re.search(r"^other\s+2\s", plain.stdout, re.M), plain.stdout

    d = nexusd({"queues": ["critical"]})  # takes none of these jobs
    wait_for(lambda: len(json.loads(ctl("stats", "--json").stdout)["processes"]) == 1,
             what="the live process in stats")
    procs = json.loads(ctl("processes", "--json").stdout)["processes"]
    assert len(procs) == 1
    assert d.identity in json.dumps(procs[0])


def test_dead_list_show_retry_delete(r, ctl):
    jobs = [make_job("fail", [i], error_class="NexusFail", error_message="boom %d" % i,
                     retry_count=2, failed_at=time.time() - 100) for i in range(3)]
    for i, j in enumerate(jobs):
        r.zadd("dead", {json.dumps(j): time.time() - 10 + i})
    jids = [j["jid"] for j in jobs]

    res = ctl("dead", "list", "--json")
    assert res.returncode == 0, res.stderr
    listed = json.loads(res.stdout)
    assert listed["size"] == 3
    assert sorted(e["jid"] for e in listed["jobs"]) == sorted(jids)
    assert {e["jid"]: e["error_message"] for e in listed["jobs"]}[jids[1]] == "boom 1"
    plain = ctl("dead", "list")
    assert all(j in plain.stdout for j in jids)

    res = ctl("dead", "show", jids[0])
    assert res.returncode == 0
    assert jids[0] in res.stdout and "boom 0" in res.stdout
    shown = json.loads(ctl("dead", "show", jids[0], "--json").stdout)
    assert jids[0] in json.dumps(shown)

    # retry: back to its queue with one more attempt, out of dead
    res = ctl("dead", "retry", jids[0])
    assert res.returncode == 0, res.stderr
    assert r.zcard("dead") == 2
    back = json.loads(r.lindex("queue:default", 0))
    assert back["jid"] == jids[0]
    assert back["retry_count"] == 1
    assert back["error_message"] == "boom 0"
    assert abs(back["enqueued_at"] - time.time()) < 10

    res = ctl("dead", "delete", jids[1])
    assert res.returncode == 0, res.stderr
    assert [json.loads(m)["jid"] for m in r.zrange("dead", 0, -1)] == [jids[2]]

    missing = ctl("dead", "show", jids[1])
    assert missing.returncode == 3
    assert ctl("dead", "delete", jids[1]).returncode == 3
    assert ctl("dead", "retry", jids[1]).returncode == 3

    res = ctl("dead", "delete", "--all")
    assert res.returncode == 0
    assert r.zcard("dead") == 0


def test_dead_retry_then_nexusd_runs_it(r, nexusd, ctl):
    job = make_job("noop", ["revived"], error_class="X", error_message="m", retry_count=0,
                   failed_at=time.time())
    r.zadd("dead", {json.dumps(job): time.time()})
    assert ctl("dead", "retry", job["jid"]).returncode == 0
    d = nexusd()
    d.wait_jobs([job["jid"]])


def test_retry_all_moves_every_batch(r, ctl):
    # 250 jobs: move.lua runs in batches of 100, the last one partial
    jobs = [make_job("noop", [i], queue="q%d" % (i % 3), retry_count=0, failed_at=time.time())
            for i in range(250)]
    r.zadd("retry", {json.dumps(j): time.time() + 3600 + i for i, j in enumerate(jobs)})
    res = ctl("retry", "run", "--all")
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "moved 250 jobs"
    assert r.zcard("retry") == 0
    assert sum(r.llen("queue:q%d" % q) for q in range(3)) == 250
    assert r.smembers("queues") == {"q0", "q1", "q2"}


def test_redis_down_exits_1(workdir, ctl):
    url = "unix://" + os.path.join(workdir, "nothing-here.sock")
    for args in (["stats"], ["enqueue", "noop", "[]"], ["dead", "list"]):
        res = ctl(*args, url=url)
        assert res.returncode == 1, (args, res.returncode, res.stderr)
        assert "nothing-here.sock" in res.stderr
        assert res.stdout == ""


def test_cron_next_needs_no_redis_and_follows_daylight_saving(workdir):
    """`cron next` without Redis (none listens) or a configuration: the engine's answers,
    the spring-forward gap fired at the first instant after it, as nexusd would."""
    env = {"REDIS_URL": "redis://127.0.0.1:1"}
    res = run_cmd([NEXUSCTL, "cron", "next", "30 2 * * *", "--tz", "Europe/Paris", "--from",
                   "2026-03-28T00:00:00Z", "-n", "2"], env=env)
    assert res.returncode == 0, res.stderr
    assert res.stdout == ("2026-03-28T01:30:00Z  2026-03-28 02:30:00 CET\n"
                          "2026-03-29T01:00:00Z  2026-03-29 03:00:00 CEST\n")
    res = run_cmd([NEXUSCTL, "cron", "next", "*/15 * * * *", "--from", "1700000000",
                   "--count", "3", "--json"], env=env)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["tz"] == "UTC" and [n["at"] for n in out["next"]] == [1700000100, 1700001000,
                                                                     1700001900]
    assert out["next"][0]["utc"] == "2023-11-14T22:15:00Z"
    for args, code, msg in [
            (["* * *"], 2, "expected 5 fields"),
            (["@daily", "--tz", "Mars/Base"], 2, "unknown time zone 'Mars/Base'"),
            (["0 0 30 2 *"], 1, "never fires within 5 years"),
            (["@daily", "-n", "0"], 2, "--count must be 1..1000"),
            (["@daily", "--from", "yesterday"], 2, "--from must be a UTC time")]:
        res = run_cmd([NEXUSCTL, "cron", "next"] + args, env=env)
        assert res.returncode == code and msg in res.stderr, (args, res.stderr)
    res = run_cmd([NEXUSCTL, "cron", "--tz", "UTC"], env=env)
    assert res.returncode == 2 and "go with cron next" in res.stderr


def test_the_configuration_without_c(workdir, redis_server):
    """-c FILE wins; else NEXUS_CONFIG ("" for the defaults); else /etc/nexusd/nexusd.conf
    when it exists (a package's place), so commands on a nexusd's host need no -c."""
    bad = os.path.join(workdir, "bad.conf")
    with open(bad, "w") as f:
        f.write("redis = { bogus = 1; };\n")
    good = os.path.join(workdir, "good.conf")
    with open(good, "w") as f:
        f.write('redis = { namespace = "fromfile:"; };\n')
    env = {"REDIS_URL": redis_server.url}
    res = run_cmd([NEXUSCTL, "stats"], env=dict(env, NEXUS_CONFIG=bad))
    assert res.returncode == 2 and "%s:1: unknown setting 'redis.bogus'" % bad in res.stderr
    res = run_cmd([NEXUSCTL, "-c", good, "stats"], env=dict(env, NEXUS_CONFIG=bad))
    assert res.returncode == 0, res.stderr
    res = run_cmd([NEXUSCTL, "stats"], env=dict(env, NEXUS_CONFIG=""))
    assert res.returncode == 0, res.stderr
    # /etc/nexusd/nexusd.conf itself is not written here: tests running beside this one
    # would read it


def test_enqueue_and_stats_tell_of_a_queue_no_process_reads(r, nexusd, ctl):
    """A job pushed to a queue that no live process reads would wait unnoticed: enqueue warns
    (exit 0, the job is queued), stats counts each queue's readers and warns."""
    res = ctl("enqueue", "noop", "--queue", "mailers")
    assert res.returncode == 0 and "no nexusd process is running" in res.stderr, res.stderr
    d = nexusd({"queues": ["default"]})
    wait_for(lambda: len(json.loads(ctl("stats", "--json").stdout)["processes"]) == 1,
             what="the live process in stats")
    res = ctl("enqueue", "noop", "--queue", "mailers")
    assert res.returncode == 0, res.stderr
    assert ("warning: none of the 1 live processes reads queue mailers" in res.stderr), res.stderr
    res = ctl("enqueue", "noop")
    assert res.returncode == 0 and res.stderr == "", res.stderr
    d.wait_jobs([res.stdout.strip()])
    st = json.loads(ctl("stats", "--json").stdout)
    assert {q["name"]: q["readers"] for q in st["queues"]}["mailers"] == 0
    plain = ctl("stats").stdout
    assert re.search(r"^mailers\s+2\s.*\s0$", plain, re.M), plain
    assert "warning: no live process reads queue mailers: its 2 jobs wait" in plain
