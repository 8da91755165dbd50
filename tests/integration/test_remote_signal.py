"""nexusctl quiet and stop: a live nexusd told through IDENTITY-signals (Sidekiq's API), which
its heartbeat pops and acts on as on SIGTSTP and SIGTERM."""
import json
import signal

import pytest

from conftest import NEXUSCTL, blocked_in_blmove, make_job, push, push_raw, run_cmd, stays, wait_for


def ctl(redis_server, *args):
    res = run_cmd([NEXUSCTL] + list(args), env={"REDIS_URL": redis_server.url})
    for mark in ("ERROR: AddressSanitizer", "runtime error:", "LeakSanitizer"):
        assert mark not in res.stderr, res.stderr
    return res


def live(r, d):
    wait_for(lambda: r.exists(d.identity), 20, what="%s's first beat" % d.name)


def test_quiet_stops_fetching_and_running_jobs_finish(r, redis_server, nexusd):
    d = nexusd()
    live(r, d)
    running = push(r, "sleep", [1000])
    wait_for(lambda: r.llen(d.inflight_key()) == 1, what="the job in flight")
    wait_for(lambda: blocked_in_blmove(r), what="nexusd idle in BLMOVE")
    res = ctl(redis_server, "quiet", d.identity)
    assert res.returncode == 0, res
    assert res.stdout == "sent TSTP to %s (quiet at its next heartbeat)\n" % d.identity
    d.wait_log(r"event=remote_signal signal=TSTP action=quiet from=redis")
    d.wait_log(r"event=signal signal=TSTP action=quiet")
    d.wait_log(r"event=quiet running=1")
    wait_for(lambda: r.hget(d.identity, "quiet") == "true", what="quiet=true in the heartbeat")
    late = make_job("noop", ["late"])
    push_raw(r, json.dumps(late))
    d.wait_jobs([running], timeout=10)
    assert stays(lambda: r.llen("queue:default") == 1, 1.0), "a job pushed after quiet ran"
    assert not d.lines(event="job", jid=late["jid"])
    assert r.llen(d.identity + "-signals") == 0  # popped by the heartbeat
    procs = json.loads(ctl(redis_server, "processes", "--json").stdout)["processes"]
    assert [p["quiet"] for p in procs] == [True]
    d.assert_alive()


def test_stop_drains_requeues_and_exits_cleanly(r, redis_server, nexusd):
    d = nexusd({"shutdown_timeout": "0.5s"})
    live(r, d)
    job = make_job("sleep", [10000])
    push_raw(r, json.dumps(job))
    wait_for(lambda: r.llen(d.inflight_key()) == 1, what="the job in flight")
    res = ctl(redis_server, "stop", d.identity, "--json")
    assert res.returncode == 0, res
    assert json.loads(res.stdout) == {"command": "stop", "signal": "TERM",
                                      "identities": [d.identity]}
    assert d.wait_exit(15) == 0
    assert d.lines(event="remote_signal")[0]["action"] == "stop"
    assert [e["jid"] for e in d.lines(event="job_interrupted")] == [job["jid"]]
    assert r.lrange("queue:default", 0, -1) == [json.dumps(job)]  # requeued unchanged
    assert not r.sismember("processes", d.identity)
    assert not r.exists(d.identity + "-signals")


def test_all_reaches_every_live_process(r, redis_server, nexusd):
    a, b = nexusd(name="a"), nexusd(name="b")
    live(r, a)
    live(r, b)
    res = ctl(redis_server, "quiet", "--all")
    assert res.returncode == 0, res
    assert sorted(res.stdout.splitlines()) == sorted(
        "sent TSTP to %s (quiet at its next heartbeat)" % d.identity for d in (a, b))
    for d in (a, b):
        d.wait_log(r"event=quiet running=0")
    res = ctl(redis_server, "stop", "--all")
    assert res.returncode == 0, res
    assert a.wait_exit(15) == 0 and b.wait_exit(15) == 0
    res = ctl(redis_server, "stop", "--all")
    assert res.returncode == 0 and res.stdout == "no live processes\n"


def test_signal_list_expires_and_unknown_names_are_ignored(r, redis_server, nexusd):
    d = nexusd()
    live(r, d)
    r.lpush(d.identity + "-signals", "TTIN")  # Sidekiq's thread dump: not nexusd's
    d.wait_log(r'event=remote_signal signal=TTIN action=ignored')
    d.assert_alive()
    # a signal list gets at least Sidekiq's 60 s, and at least what the hash has left
    d.signal(signal.SIGSTOP)  # no beat pops it meanwhile
    try:
        assert ctl(redis_server, "quiet", d.identity).returncode == 0
        ttl = r.ttl(d.identity + "-signals")
        assert 55 <= ttl <= 61, ttl
    finally:
        d.signal(signal.SIGCONT)
    d.wait_log(r"event=quiet running=0")


def test_unknown_identity_and_usage_errors(r, redis_server, nexusd):
    d = nexusd()
    live(r, d)
    res = ctl(redis_server, "quiet", "vm:1:000000000000")
    assert res.returncode == 3, res
    assert res.stderr == ("nexusctl: no live process has the identity 'vm:1:000000000000' "
                          "(nexusctl processes lists them)\n")
    assert not r.exists("vm:1:000000000000-signals")
    for args, said in ((["stop"], "'stop' needs an IDENTITY or --all"),
                       (["stop", d.identity, "--all"], "(not both)")):
        res = ctl(redis_server, *args)
        assert res.returncode == 2 and said in res.stderr, (args, res.stderr)
    assert stays(lambda: r.hget(d.identity, "quiet") == "false", 0.5)


def test_sidekiqs_own_api_quiets_and_stops_nexusd(r, redis_server, nexusd):
    """Sidekiq::Process#quiet! and #stop! (ruby-sidekiq) reach nexusd the same way."""
    from test_sidekiq_client import ruby, ruby_has_sidekiq
    if not ruby_has_sidekiq():
        pytest.skip("ruby with the sidekiq gem is not installed")
    d = nexusd()
    live(r, d)
    script = """
Sidekiq::ProcessSet.new.each { |p| p.%s! if p["identity"] == ENV["ID"] }
puts JSON.generate({"ok" => true})
"""
    assert ruby(redis_server, script % "quiet", ID=d.identity) == {"ok": True}
    d.wait_log(r"event=remote_signal signal=TSTP action=quiet from=redis")
    wait_for(lambda: r.hget(d.identity, "quiet") == "true", what="quiet=true in the heartbeat")
    assert ruby(redis_server, script % "stop", ID=d.identity) == {"ok": True}
    assert d.wait_exit(15) == 0
