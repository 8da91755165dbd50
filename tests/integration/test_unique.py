"""Unique jobs (docs/PROTOCOL.md, "Unique jobs"): the lock taken with the push (nexusctl, the
outbox relay, cron ticks, cron run and the dashboard's run now), or as the job starts for a
plain Sidekiq push, across processes; let go on success or at the start (unique_until), kept
by a retry, let go by dead; never outliving its time, even after kill -9; a duplicate in the
job history."""
import hashlib
import json
import os
import re
import time

import psycopg2
import pytest

from conftest import NEXUSCTL, make_config, make_job, push_many, run_cmd, wait_for
from httpc import http_address, request

FAST = {"concurrency": 4, "poll_interval": "0.05s"}


def lock_key(cls, args=None, key=None, ns=""):
    """The lock of a job: SHA-256 of its unique_key, else of class, newline and its args as
    nexusd writes them (compact, keys sorted)."""
    if key is None:
        key = cls + "\n" + json.dumps(args, separators=(",", ":"), sort_keys=True)
    return ns + "unique:" + hashlib.sha256(key.encode()).hexdigest()


def enqueue(redis_server, *args):
    res = run_cmd([NEXUSCTL, "enqueue"] + list(args), env={"REDIS_URL": redis_server.url})
    assert res.returncode == 0, res.stderr
    for mark in ("ERROR: AddressSanitizer", "runtime error:", "LeakSanitizer"):
        assert mark not in res.stderr, res.stderr
    return res.stdout.strip(), res.stderr


def test_a_duplicate_enqueue_returns_the_holders_jid_and_only_one_runs(nexusd, redis_server, r):
    d = nexusd(FAST)
    first, err = enqueue(redis_server, "sleep", "[700]", "--unique-for", "1m")
    assert "duplicate" not in err
    assert r.get(lock_key("sleep", [700])) == first
    assert 59000 < r.pttl(lock_key("sleep", [700])) <= 60000
    again, err = enqueue(redis_server, "sleep", "[700]", "--unique-for", "1m")
    assert again == first
    assert "nexusctl: duplicate of %s" % first in err
    # another key (other args, or a key of its own) is another lock
    other, _ = enqueue(redis_server, "sleep", "[700]", "--unique-for", "1m", "--unique-key", "k1")
    assert other != first and r.get(lock_key("sleep", key="k1")) == other
    d.wait_jobs([first, other])
    assert len(d.lines(event="job", outcome="ok")) == 2
    # let go on success: the same job can be enqueued again
    wait_for(lambda: not r.exists(lock_key("sleep", [700])), timeout=5, what="the lock let go")
    third, err = enqueue(redis_server, "sleep", "[700]", "--unique-for", "1m")
    assert third not in (first, other) and "duplicate" not in err
    d.wait_jobs([third])


def test_a_job_due_later_holds_its_lock_until_due_plus_unique_for(redis_server, r):
    jid, _ = enqueue(redis_server, "noop", "[1]", "--in", "1h", "--unique-for", "10m")
    assert r.zcard("schedule") == 1 and r.get(lock_key("noop", [1])) == jid
    assert 4190000 < r.pttl(lock_key("noop", [1])) <= 4200000
    again, err = enqueue(redis_server, "noop", "[1]", "--unique-for", "10m")
    assert again == jid and "duplicate of" in err
    assert r.zcard("schedule") == 1 and r.llen("queue:default") == 0


def test_plain_pushes_across_two_processes_run_once(nexusd, r):
    procs = [nexusd(FAST, name="n%d" % i) for i in range(2)]
    jobs = [make_job("sleep", [1500], unique_for=30) for _ in range(2)]
    push_many(r, jobs)
    jids = {j["jid"] for j in jobs}
    wait_for(lambda: sum(len(p.lines(event="job", outcome="duplicate")) for p in procs) == 1,
             timeout=10, what="one duplicate")
    ok = wait_for(lambda: [e for p in procs for e in p.lines(event="job", outcome="ok")],
                  timeout=10, what="one run")
    dup = [e for p in procs for e in p.lines(event="job", outcome="duplicate")][0]
    assert {ok[0]["jid"], dup["jid"]} == jids
    assert dup["holder"] == ok[0]["jid"] and dup["class"] == "sleep"
    # not run, not counted, out of its in-flight list; the lock let go after the success
    assert int(r.get("stat:processed")) == 1
    assert not any(r.llen(p.inflight_key()) for p in procs)
    assert not r.exists(lock_key("sleep", [1500]))


def test_a_job_without_unique_for_takes_no_lock(nexusd, r):
    d = nexusd(FAST)
    jobs = [make_job("noop", [5]) for _ in range(2)]
    push_many(r, jobs)
    d.wait_jobs([j["jid"] for j in jobs])
    assert not list(r.scan_iter("unique:*"))


def test_unique_until_success_holds_while_running_and_start_lets_go_at_once(nexusd,
                                                                             redis_server, r):
    nexusd(FAST, classes=[{"name": "sleep", "unique_until": "start"}])
    jid, _ = enqueue(redis_server, "sleep", "[1500]", "--unique-for", "1m")
    wait_for(lambda: not r.exists(lock_key("sleep", [1500])), timeout=5,
             what="the lock let go as the job starts")
    assert r.llen("queue:default") == 0  # it is running, not waiting
    second, err = enqueue(redis_server, "sleep", "[1500]", "--unique-for", "1m")
    assert second != jid and "duplicate" not in err


def test_unique_until_success_keeps_the_lock_while_the_job_runs(nexusd, redis_server, r):
    d = nexusd(FAST)
    jid, _ = enqueue(redis_server, "sleep", "[1200]", "--unique-for", "1m")
    wait_for(lambda: r.llen(d.inflight_key()) == 1, timeout=5, what="the job running")
    assert r.get(lock_key("sleep", [1200])) == jid
    d.wait_jobs([jid])
    wait_for(lambda: not r.exists(lock_key("sleep", [1200])), timeout=5, what="let go")


def test_a_retry_keeps_the_lock_and_dead_lets_it_go(nexusd, redis_server, r):
    d = nexusd(FAST)
    retried, _ = enqueue(redis_server, "fail", '["again"]', "--unique-for", "10m", "--retry", "3")
    buried, _ = enqueue(redis_server, "fail", '["never"]', "--unique-for", "10m", "--retry", "0")
    d.wait_jobs([retried], outcome="retry")
    d.wait_jobs([buried], outcome="dead")
    wait_for(lambda: r.zcard("dead") == 1 and r.zcard("retry") == 1, timeout=5, what="written")
    assert r.get(lock_key("fail", ["again"])) == retried
    again, err = enqueue(redis_server, "fail", '["again"]', "--unique-for", "10m")
    assert again == retried and "duplicate of" in err
    wait_for(lambda: not r.exists(lock_key("fail", ["never"])), timeout=5, what="dead lets go")
    fresh, err = enqueue(redis_server, "fail", '["never"]', "--unique-for", "10m", "--retry", "0")
    assert fresh != buried and "duplicate" not in err


def test_a_lock_expires_after_kill_9_of_its_holder(nexusd, redis_server, r):
    d = nexusd(FAST)
    jid, _ = enqueue(redis_server, "sleep", "[60000]", "--unique-for", "2s")
    wait_for(lambda: r.llen(d.inflight_key()) == 1, timeout=5, what="the job running")
    d.kill9()
    again, err = enqueue(redis_server, "sleep", "[60000]", "--unique-for", "2s")
    assert again == jid and "duplicate of" in err
    wait_for(lambda: not r.exists(lock_key("sleep", [60000])), timeout=5,
             what="the lock's own expiry")
    fresh, err = enqueue(redis_server, "sleep", "[60000]", "--unique-for", "2s")
    assert fresh != jid and "duplicate" not in err


def test_enqueue_refuses_bad_unique_options(redis_server):
    for args, msg in [
        (["--unique-for", "0"], "--unique-for must be a duration"),
        (["--unique-for", "soon"], "--unique-for must be a duration"),
        (["--unique-key", "k"], "--unique-key needs --unique-for"),
        (["--unique-for", "1m", "--unique-key", "x" * 513],
         "the job would not run: 'unique_key' must be 1..512 bytes (got 513)"),
    ]:
        res = run_cmd([NEXUSCTL, "enqueue", "noop", "[]"] + args,
                      env={"REDIS_URL": redis_server.url})
        assert res.returncode == 2 and msg in res.stderr, (args, res.stderr)


@pytest.fixture
def pg(migrated_pg):
    return migrated_pg


def test_the_outbox_relay_pushes_one_of_two_duplicates(pg, nexusd, r):
    # a process that reads another queue: the relayed job stays in queue:default
    nexusd(make_config({"queues": ["other"]}), env={"DATABASE_URL": pg.url})
    conn = psycopg2.connect(pg.url)
    with conn.cursor() as cur:
        cur.execute("SELECT nexus.enqueue('noop', '[9]', 'default', NULL, 'true', 60)")
        first = cur.fetchone()[0]
        cur.execute("SELECT nexus.enqueue('noop', '[9]', unique_for => 60)")
        second = cur.fetchone()[0]
        cur.execute("SELECT nexus.enqueue('noop', '[9]', unique_for => 60, unique_key => 'k')")
        keyed = cur.fetchone()[0]
    conn.commit()
    wait_for(lambda: pg.psql("SELECT count(*) FROM nexus.outbox").strip() == "0", timeout=10,
             what="the outbox relayed")
    queued = [json.loads(j)["jid"] for j in r.lrange("queue:default", 0, -1)]
    assert sorted(queued) == sorted([first, keyed])
    assert second not in queued
    assert r.get(lock_key("noop", [9])) == first and r.get(lock_key("noop", key="k")) == keyed
    with conn.cursor() as cur:
        with pytest.raises(psycopg2.Error) as e:
            cur.execute("SELECT nexus.enqueue('noop', '[]', unique_for => 0)")
    assert "unique_for must be seconds above 0" in str(e.value)
    conn.close()


def test_a_duplicate_is_recorded_in_the_job_history(pg, nexusd, r):
    d = nexusd(FAST, env={"DATABASE_URL": pg.url})
    jobs = [make_job("sleep", [900], unique_for=30) for _ in range(2)]
    push_many(r, jobs)
    dup = d.wait_log(r"event=job .*outcome=duplicate")[0]
    holder = re.search(r"holder=(\w+)", dup).group(1)
    jid = re.search(r"jid=(\w+)", dup).group(1)
    rows = wait_for(lambda: pg.psql("SELECT outcome, attempt FROM nexus.job_history "
                                    "WHERE jid = '%s'" % jid).strip(), timeout=10,
                    what="the duplicate's row")
    assert rows == "duplicate|1"
    d.wait_jobs([holder])


def test_a_unique_schedule_pushes_no_job_while_the_lock_is_held(nexusd, r):
    past = (int(time.time()) // 60 - 3) * 60  # the last ticks fired three minutes ago
    for name in ("held", "free"):
        r.hset("nexus:cron:" + name, "last", past)
    r.set(lock_key("noop", [7]), "someone", px=60000)
    schedule = 'name = "%s"; cron = "* * * * *"; class = "noop"; args = "[%d]"; ' \
               'missed = "run_once"; unique_for = "1m";'
    # the process reads another queue: the fired jobs stay in queue:default
    d = nexusd(make_config({"queues": ["other"]}) + "schedules = ( { %s }, { %s } );\n"
               % (schedule % ("held", 7), schedule % ("free", 8)))
    held = d.wait_log(r"event=schedule_fired schedule=held ")[0]
    assert "outcome=duplicate holder=someone" in held
    d.wait_log(r"event=schedule_fired schedule=free ")
    assert r.hget("nexus:cron:held", "last_jid") == "someone"
    queued = [json.loads(j) for j in r.lrange("queue:default", 0, -1)]
    assert [j["args"] for j in queued] == [[8]]
    assert queued[0]["unique_for"] == 60 and queued[0]["nexus_schedule"] == "free"
    assert r.get(lock_key("noop", [8])) == queued[0]["jid"]
    # nexusctl cron run pushes the same job, through the same lock
    res = run_cmd([NEXUSCTL, "-c", d.conf, "cron", "run", "free"],
                  env={"REDIS_URL": d.redis.url})
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == queued[0]["jid"]
    assert "duplicate of %s" % queued[0]["jid"] in res.stderr
    assert r.llen("queue:default") == 1


def test_the_dashboards_run_now_of_a_unique_schedule_takes_its_lock(nexusd, workdir, r):
    token = os.path.join(workdir, "token")
    with open(token, "w") as f:
        f.write("unique-test-token-0123456789\n")
    os.chmod(token, 0o600)
    d = nexusd(make_config({"queues": ["other"]},
                           extra='http = { listen = "127.0.0.1:0"; token_file = "%s"; };\n'
                                 'schedules = ( { name = "u"; cron = "0 0 1 1 *"; class = "noop";'
                                 ' args = "[5]"; unique_for = "1m"; } );' % token),
               env={"NEXUS_HTTP_TOKEN": ""})
    addr = http_address(d)
    headers = {"Authorization": "Bearer unique-test-token-0123456789",
               "Content-Type": "application/json"}
    first = request(addr, "POST", "/api/schedules/u/run", headers=headers).json()
    again = request(addr, "POST", "/api/schedules/u/run", headers=headers).json()
    assert first["duplicate"] is False and again == dict(first, duplicate=True)
    assert r.llen("queue:default") == 1 and r.get(lock_key("noop", [5])) == first["jid"]
