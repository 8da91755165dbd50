"""Reliable fetch: the in-flight jobs of a dead process come back, once, and crash loops end."""
import json
import time

from conftest import find_in_zset, inflight_keys, make_job, oks, push, push_many, stays, wait_for


def test_kill9_with_jobs_in_flight_loses_none(r, nexusd):
    daemons = [nexusd() for _ in range(3)]
    victim, survivors = daemons[0], daemons[1:]
    jobs = [make_job("sleep", [300]) for _ in range(60)]
    jobs += [make_job("noop", [i]) for i in range(20)]
    jids = push_many(r, jobs)
    wait_for(lambda: r.llen(victim.inflight_key()) >= 3, what="victim running jobs")
    ident = victim.identity
    victim.kill9()
    stuck = [json.loads(t)["jid"] for t in r.lrange("nexus:inflight:%s:default" % ident, 0, -1)]
    assert stuck, "the victim died with jobs in flight"

    def all_ran():
        for d in survivors:
            d.assert_alive()
        return set(jids) <= set(oks(daemons))

    wait_for(all_ran, timeout=30, what="every job to run")
    counts = oks(survivors)
    assert all(counts[j] >= 1 for j in stuck), "stuck jobs ran on a survivor"
    assert max(counts.values()) == 1, "a survivor ran a job twice: %s" % \
        {j: c for j, c in counts.items() if c > 1}
    dead_lines = [e for d in survivors for e in d.lines(event="process_dead")]
    assert [e["identity"] for e in dead_lines] == [ident]
    assert dead_lines[0]["reason"] == "pid_gone"
    recovered = [e for d in survivors for e in d.lines(event="jobs_recovered", identity=ident)]
    assert sum(int(e["jobs"]) for e in recovered) == len(stuck)

    wait_for(lambda: r.llen("queue:default") == 0 and not inflight_keys(r),
             what="queue and in-flight lists empty")
    wait_for(lambda: not r.hexists("nexus:procs", ident), what="victim forgotten")
    assert not r.sismember("processes", ident)
    assert not r.exists(ident)
    assert r.scard("processes") == 2
    assert r.zcard("dead") == 0 and r.zcard("retry") == 0


def test_same_host_recovery_is_fast_even_with_a_long_ttl(r, nexusd):
    conf = {"heartbeat_interval": "5s", "process_ttl": "60s"}
    a = nexusd(conf, name="a")
    jids = [push(r, "sleep", [1000]) for _ in range(3)]
    wait_for(lambda: r.llen(a.inflight_key()) == 3, what="3 jobs in flight on a")
    b = nexusd(conf, name="b")
    ident = a.identity
    a.kill9()
    t0 = time.monotonic()
    b.wait_log(r"event=jobs_recovered identity=%s .*jobs=3" % ident, timeout=10)
    took = time.monotonic() - t0
    # far below process_ttl (60 s) and the beat (5 s): the pid check, not the expiry (the
    # bound leaves room for a loaded CI machine)
    assert took < 3.0, "recovery took %.2fs" % took
    assert b.lines(event="process_dead")[0]["reason"] == "pid_gone"
    b.wait_jobs(jids, timeout=10)
    wait_for(lambda: not r.hexists("nexus:procs", ident), what="a forgotten")


def ghost(r, identity, host_id, job, alive):
    """A process record of another host, with one job in its in-flight list."""
    rec = {"identity": identity, "hostname": identity.split(":")[0], "host_id": host_id,
           "pid": 4242, "pid_start": 1, "queues": ["default"], "started_at": time.time() - 100}
    r.hset("nexus:procs", identity, json.dumps(rec))
    r.sadd("processes", identity)
    r.rpush("nexus:inflight:%s:default" % identity, json.dumps(job))
    if alive:
        r.hset(identity, mapping={"info": json.dumps({"identity": identity}), "busy": 1,
                                  "beat": time.time(), "quiet": "false"})
        r.expire(identity, 60)


def test_heartbeat_expiry_recovers_another_hosts_jobs(r, nexusd):
    d = nexusd()
    dead_ident = "otherhost:4242:0123456789ab"
    live_ident = "thirdhost:4242:ba9876543210"
    lost = make_job("noop", ["lost"])
    kept = make_job("noop", ["kept"])
    ghost(r, live_ident, "another-boot-id/2", kept, alive=True)
    ghost(r, dead_ident, "another-boot-id/1", lost, alive=False)
    r.rpush("nexus:inflight:%s:default" % dead_ident, "{broken")
    t0 = time.monotonic()
    d.wait_jobs([lost["jid"]], timeout=10)
    assert time.monotonic() - t0 < 5
    e = d.lines(event="process_dead")
    assert [(x["identity"], x["reason"]) for x in e] == [(dead_ident, "heartbeat_expired")]
    # the recovered job can run and end before the reaper's reply is read (two connections)
    recovered = wait_for(lambda: d.lines(event="jobs_recovered", identity=dead_ident),
                         what="jobs_recovered for the dead process")
    assert recovered[0]["jobs"] == "2"
    # the text that is not a job was not requeued but buried, as it was
    wait_for(lambda: r.zcard("dead") == 1, what="the broken job in dead")
    buried = json.loads(r.zrange("dead", 0, -1)[0])
    assert buried["nexus_raw"] == "{broken" and buried["error_class"] == "NexusInvalidJob"
    wait_for(lambda: not r.hexists("nexus:procs", dead_ident), what="dead process forgotten")
    assert not r.sismember("processes", dead_ident)
    assert not r.exists("nexus:inflight:%s:default" % dead_ident)
    # a process of another host that still beats is left alone
    live_key = "nexus:inflight:%s:default" % live_ident
    assert stays(lambda: r.llen(live_key) == 1, 1.5)
    assert r.hexists("nexus:procs", live_ident)
    assert not d.lines(event="job", jid=kept["jid"])


def test_crash_loop_ends_in_dead(r, nexusd):
    conf = {"max_recoveries": 2}
    jid = push(r, "sleep", [30000])
    idents = []
    for round_ in (1, 2):
        d = nexusd(conf, name="round%d" % round_)
        wait_for(lambda: r.llen(d.inflight_key()) == 1, timeout=10, what="job in flight")
        job = json.loads(r.lindex(d.inflight_key(), 0))
        assert job["jid"] == jid
        assert job.get("nexus_recoveries", 0) == round_ - 1
        idents.append(d.identity)
        d.kill9()

    last = nexusd(conf, name="last")
    line = last.wait_log(r"event=crash_loop jid=%s" % jid, timeout=10)
    assert "recoveries=2" in line[0] and "outcome=dead" in line[0]
    wait_for(lambda: find_in_zset(r, "dead", jid), what="job in dead")
    job, _ = find_in_zset(r, "dead", jid)
    assert job["error_class"] == "NexusCrashLoop"
    assert "died 2 times" in job["error_message"], job["error_message"]
    assert job["nexus_recoveries"] == 2
    assert job["args"] == [30000]
    # never in a queue again
    assert stays(lambda: r.llen("queue:default") == 0 and r.llen(last.inflight_key()) == 0, 1.0)
    assert not last.lines(event="job", jid=jid)
    wait_for(lambda: not any(r.hexists("nexus:procs", i) for i in idents),
             what="dead processes forgotten")
    assert r.zcard("dead") == 1
