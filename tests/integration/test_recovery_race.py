"""Recovery never orphans a job: a process judged dead that beats again keeps its jobs and its
records, lists nobody owns are swept up, a short Redis outage kills nobody, and a process
whose jobs were taken notices and writes no outcome for them."""
import json
import signal
import time

from conftest import (blocked_in_blmove, inflight_keys, log_time, make_job, oks, push, push_many,
                      stays, wait_for)


def test_a_process_that_beats_again_keeps_its_jobs_and_records(r, nexusd):
    """The reaper judges a SIGSTOPped process dead; it is continued, beats and fetches jobs
    before the recovery runs (held by the test-only delay): the recovery must do nothing.
    Killed -9 afterwards, its jobs are recovered, as its records are still there."""
    conf = {"heartbeat_interval": "0.5s", "process_ttl": "2s"}
    reaper = nexusd(dict(conf, queues=["other"]), name="reaper",
                    env={"NEXUSD_TEST_REAP_DELAY_S": "2"})
    victim = nexusd(conf, name="victim")
    ident = victim.identity
    victim.signal(signal.SIGSTOP)
    try:
        reaper.wait_log(r"event=process_dead identity=%s reason=heartbeat_expired" % ident,
                        timeout=15)
    finally:
        victim.signal(signal.SIGCONT)
    # back before the recovery runs: it beats at once and takes three jobs, long enough to be
    # running still at the kill below (with 3 s jobs, a loaded CI machine saw them end, their
    # lines written and the kill land before their outcome call: recovered and run twice,
    # as at-least-once allows)
    jids = push_many(r, [make_job("sleep", [10000]) for _ in range(3)])
    wait_for(lambda: r.llen(victim.inflight_key()) == 3, timeout=5, what="3 jobs on the victim")
    # the delay (2 s from the judgement) is over: the live process lost nothing
    judged = log_time(reaper.lines(event="process_dead", identity=ident)[0])
    time.sleep(max(0.0, judged + 3.0 - time.time()))
    assert not reaper.lines(event="jobs_recovered", identity=ident), \
        "jobs of a live process were taken"
    assert not reaper.lines(event="process_forgotten", identity=ident)
    assert r.hexists("nexus:procs", ident) and r.sismember("processes", ident)
    assert r.llen(victim.inflight_key()) == 3
    reaper.wait_log(r"event=recovery_skipped identity=%s reason=alive" % ident, timeout=10)

    victim.kill9()
    runner = nexusd(conf, name="runner")
    wait_for(lambda: sum(int(e["jobs"]) for d in (reaper, runner)
                         for e in d.lines(event="jobs_recovered", identity=ident)) == 3,
             timeout=10, what="the victim's 3 jobs recovered")
    assert {e["reason"] for d in (reaper, runner)
            for e in d.lines(event="jobs_recovered", identity=ident)} == {"pid_gone"}
    runner.wait_jobs(jids, timeout=30)
    assert not oks([victim]), "the victim's jobs ended before its kill"
    counts = oks([victim, reaper, runner])
    assert all(counts[j] == 1 for j in jids), counts
    wait_for(lambda: not r.hexists("nexus:procs", ident), what="the victim forgotten")
    wait_for(lambda: not inflight_keys(r), what="no in-flight list left")


def test_a_job_taken_by_a_forgotten_process_is_swept_up(r, nexusd):
    """The issue's orphan: a stopped process is judged dead and forgotten (rightly: it is
    silent); a fetch of its lands after that (here by hand, as its BLMOVE would, which Redis
    answers while it is stopped), and it is killed before it beats again. No record names it:
    only the sweep finds the job."""
    conf = {"heartbeat_interval": "0.5s", "process_ttl": "2s", "orphan_sweep_interval": "1s"}
    peer = nexusd(dict(conf, queues=["other"]), name="peer")
    victim = nexusd(conf, name="victim")
    ident = victim.identity
    victim.signal(signal.SIGSTOP)
    try:
        peer.wait_log(r"event=process_forgotten identity=%s" % ident, timeout=15)
        jid = push(r, "noop", ["orphaned"])
        r.lmove("queue:default", victim.inflight_key(), "RIGHT", "LEFT")
        assert not r.hexists("nexus:procs", ident)
    finally:
        victim.kill9()
    runner = nexusd(conf, name="runner")
    runner.wait_jobs([jid], timeout=15)
    assert [e["identity"] for d in (peer, runner) for e in d.lines(event="orphan_recovered")] \
        == [ident]
    wait_for(lambda: not inflight_keys(r), what="no in-flight list left")


def test_sweep_recovers_lists_no_registered_process_owns(r, nexusd):
    d = nexusd({"orphan_sweep_interval": "1s"})
    orphan = "gonehost:77:0123456789ab"
    lost = make_job("noop", ["lost"])
    r.rpush("nexus:inflight:%s:default" % orphan, json.dumps(lost))
    # a process that beats but whose record is missing (it is about to write it) and one
    # registered with an expired heartbeat (the reaper's to judge, not the sweep's) are not
    # orphans
    beating = "beathost:78:0123456789ab"
    kept = make_job("noop", ["kept"])
    r.rpush("nexus:inflight:%s:default" % beating, json.dumps(kept))
    r.hset(beating, mapping={"beat": time.time(), "busy": 1})
    r.expire(beating, 60)

    d.wait_jobs([lost["jid"]], timeout=10)
    line = d.lines(event="orphan_recovered", identity=orphan)
    assert len(line) == 1 and line[0]["queue"] == "default" and line[0]["jobs"] == "1", line
    assert not r.exists("nexus:inflight:%s:default" % orphan)
    assert stays(lambda: r.llen("nexus:inflight:%s:default" % beating) == 1, 2.5)
    assert not d.lines(event="job", jid=kept["jid"])
    assert not d.lines(event="orphan_recovered", identity=beating)
    assert d.lines(event="job", jid=lost["jid"], outcome="ok")[0]


def test_sweep_matches_the_namespace_literally(r, nexusd):
    """SCAN's pattern escapes the namespace: '*' and '[' in it match only themselves."""
    ns = "a*[b]:"
    d = nexusd({"orphan_sweep_interval": "1s"}, extra='redis = { namespace = "%s"; };' % ns,
               ns=ns)
    lost = make_job("noop", ["lost"])
    other = make_job("noop", ["other namespace"])
    r.rpush(ns + "nexus:inflight:gonehost:77:0123456789ab:default", json.dumps(lost))
    r.rpush("axb:nexus:inflight:gonehost:77:0123456789ab:default", json.dumps(other))
    d.wait_jobs([lost["jid"]], timeout=10)
    assert stays(lambda: r.llen("axb:nexus:inflight:gonehost:77:0123456789ab:default") == 1,
                 2.5)
    assert not d.lines(event="job", jid=other["jid"])


def test_sweep_is_cheap_when_idle(r, nexusd):
    """One SCAN per sweep interval while nothing is orphaned (Redis bills per command)."""
    fast = nexusd({"orphan_sweep_interval": "1s"}, name="fast")
    slow = nexusd(name="slow")  # the default interval, 1 minute
    r.config_resetstat()
    time.sleep(3.5)
    stats = r.info("commandstats")
    scans = stats.get("cmdstat_scan", {}).get("calls", 0)
    # fast: about one per second; slow: none within its first minute
    assert 2 <= scans <= 5, stats.get("cmdstat_scan")
    assert "cmdstat_keys" not in stats
    fast.assert_alive()
    slow.assert_alive()


def test_outage_shorter_than_process_ttl_kills_nobody(aof_redis, nexusd_aof):
    """Redis away 3.4 s with process_ttl 5 s, and a peer started as it comes back: nobody is
    declared dead and no job runs twice (the reconnect back-off once let processes come back
    after 6.3 s)."""
    aof_redis.start()
    r = aof_redis.client()
    conf = {"heartbeat_interval": "1s", "process_ttl": "5s", "concurrency": 4}
    workers = [nexusd_aof(conf, name="w%d" % i) for i in range(2)]
    jids = push_many(r, [make_job("sleep", [6000]) for _ in range(8)])
    wait_for(lambda: sum(r.llen(w.inflight_key()) for w in workers) == 8, timeout=10,
             what="8 jobs in flight")
    aof_redis.shutdown()
    down = time.monotonic()
    r.connection_pool.reset()
    time.sleep(max(0.0, 3.4 - (time.monotonic() - down)))
    aof_redis.start()
    peer = nexusd_aof(dict(conf, queues=["other"]), name="peer")
    wait_for(lambda: set(jids) <= set(oks(workers)), timeout=30, what="every job to run")
    # the peer has judged everybody several times over by now
    time.sleep(2.0)
    for d in workers + [peer]:
        assert not d.lines(event="process_dead"), d.tail()
        assert not d.lines(event="declared_dead"), d.tail()
    counts = oks(workers)
    assert max(counts.values()) == 1, "jobs run twice: %s" % counts
    for w in workers:
        assert r.hexists("nexus:procs", w.identity)
        assert len(w.lines(event="redis_up", conn="main")) == 2
    wait_for(lambda: not inflight_keys(r), what="in-flight lists empty")


def test_a_process_whose_registration_is_gone_says_so_and_registers_again(r, nexusd):
    d = nexusd({"heartbeat_interval": "0.2s", "process_ttl": "1s"})
    ident = d.identity
    wait_for(lambda: r.hexists("nexus:procs", ident), what="registered")
    assert not d.lines(event="declared_dead")
    p = r.pipeline(transaction=True)
    p.hdel("nexus:procs", ident)
    p.srem("processes", ident)
    p.delete(ident)
    p.execute()
    d.wait_log(r"event=declared_dead identity=%s outcome=registered_again" % ident, timeout=5)
    wait_for(lambda: r.hexists("nexus:procs", ident) and r.sismember("processes", ident)
             and r.exists(ident), what="registered again")
    assert len(d.lines(event="declared_dead")) == 1
    jid = push(r, "noop", [])
    d.wait_jobs([jid])


def test_no_outcome_for_a_job_taken_while_it_runs(r, nexusd):
    d = nexusd()
    ok_job = make_job("sleep", [1500])
    failing = make_job("fail", ["boom"], retry=True)
    jids = push_many(r, [ok_job])
    wait_for(lambda: r.llen(d.inflight_key()) == 1, what="the job in flight")
    before = int(r.get("stat:processed") or 0)
    # a peer judged the process dead and took the job from its in-flight list (by hand here)
    taken = r.lrange(d.inflight_key(), 0, -1)[0]
    r.lrem(d.inflight_key(), -1, taken)
    d.wait_log(r"event=outcome_dropped reason=taken jid=%s queue=default outcome=ok"
               % jids[0], timeout=10)
    assert int(r.get("stat:processed") or 0) == before
    # a failure taken before its outcome is written: no retry, nothing counted. Stopped, the
    # process cannot run it, but Redis still answers its waiting BLMOVE
    wait_for(lambda: blocked_in_blmove(r), what="the process idle in BLMOVE")
    failed_before = int(r.get("stat:failed") or 0)
    d.signal(signal.SIGSTOP)
    try:
        push_many(r, [failing])
        wait_for(lambda: r.llen(d.inflight_key()) == 1, what="the failing job in flight")
        r.lrem(d.inflight_key(), -1, r.lrange(d.inflight_key(), 0, -1)[0])
    finally:
        d.signal(signal.SIGCONT)
    d.wait_log(r"event=outcome_dropped reason=taken jid=%s queue=default outcome=retry"
               % failing["jid"], timeout=10)
    assert r.zcard("retry") == 0
    assert int(r.get("stat:failed") or 0) == failed_before
    assert int(r.get("stat:processed") or 0) == before
