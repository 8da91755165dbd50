"""What an idle nexusd costs Redis (INFO commandstats), and what it still does on time:
a pushed job starts within milliseconds (woken by its push), a due scheduled job or retry
moves within poll_interval (on time when nexusd saw it coming). docs/operations.md, "Redis
cost"."""
import json
import time

from conftest import conf_value, find_in_zset, make_config, make_job, push, wait_for, wakeups

# the defaults of conf/cfg_keys.c, which the tests' WORKER_DEFAULTS shorten
DEFAULTS = {"heartbeat_interval": "10s", "process_ttl": "60s", "poll_interval": "5s",
            "block_timeout": "10s", "orphan_sweep_interval": "1m"}
# nothing of the worker's intervals: redis.metered chooses them
METERED = ("worker = %s;\nclasses = ();\nredis = { metered = true; };\n"
           % conf_value({"concurrency": 10, "queues": ["default"], "shutdown_timeout": "2s"}))


def commands(r):
    """Commands Redis ran since the last reset, those of this test's client left out."""
    stats = r.info("commandstats")
    return {k[len("cmdstat_"):]: v["calls"] for k, v in stats.items()
            if k not in ("cmdstat_info", "cmdstat_config|resetstat", "cmdstat_ping")}


def idle_commands(r, seconds, d=None):
    """Commands Redis ran in `seconds` of idleness; with `d`, also its process's wake-ups."""
    before = wakeups(d.proc.pid) if d else 0
    r.config_resetstat()
    time.sleep(seconds)
    got = commands(r)
    return (got, wakeups(d.proc.pid) - before) if d else got


def started(r, d):
    wait_for(lambda: r.sismember("processes", d.identity), 20, what="the first beat")
    time.sleep(2)  # the start-up burst: first beat, reaper pass, catch-up, first looks


def start_latencies(r, d, n=200):
    """enqueued_at -> start (ms) of n jobs pushed one at a time to the idle process."""
    out = []
    for i in range(n):
        jid = push(r, "noop", [i])
        line = d.wait_jobs([jid], timeout=10)[jid]
        out.append(float(line["latency_ms"]))
        time.sleep(0.005 + (i % 5) * 0.004)  # idle again: the BLMOVE is out once more
    return sorted(out)


def p99(values):
    return values[min(len(values) - 1, int(0.99 * len(values)))]


def assert_woken_by_push(lat):
    """Jobs started as their push woke the process's BLMOVE, not at a look every
    poll_interval (seconds): the bounds leave room for a machine busy with other tests (a CI
    run once saw a p99 of 6.2 ms there), not for a poll."""
    median = lat[len(lat) // 2]
    assert median <= 5.0, "start latency median %.2f ms (max %.2f)" % (median, lat[-1])
    assert p99(lat) <= 50.0, "start latency p99 %.2f ms (max %.2f)" % (p99(lat), lat[-1])


def test_idle_default_configuration_costs_at_most_100_commands_a_minute(r, nexusd):
    d = nexusd(make_config(DEFAULTS))
    started(r, d)
    got, woke = idle_commands(r, 30, d)
    total = sum(got.values())
    assert total <= 50, "%d commands in 30 s: %s" % (total, got)  # 100 a minute
    # Each command's reply wakes it; no timer runs for what is not there: with a cron look-up
    # every 0.25 s without schedules it woke 190 times in 30 s, with a same-host pid check
    # every second without another process on the host 72 times; 40-44 now.
    assert woke <= 60, "%d wake-ups in 30 s" % woke
    assert_woken_by_push(start_latencies(r, d))


def test_idle_metered_redis_stays_within_400_commands_an_hour(r, nexusd):
    d = nexusd(METERED)
    started(r, d)
    got = idle_commands(r, 60)
    total = sum(got.values())
    # steady state about 260 an hour (docs/operations.md); a minute may hold one of the
    # 5-minute beats (6 commands, the signal pop included) and one BLMOVE round (2) on top of
    # 400/60
    assert total <= 400 / 60 + 8, "%d commands in 60 s: %s" % (total, got)
    assert r.ttl(d.identity) > 600  # process_ttl 15 m
    assert_woken_by_push(start_latencies(r, d))


def moved_at(r, key, jid, timeout):
    """When the job left `key` (polled every 10 ms)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if not any(json.loads(j)["jid"] == jid for j in r.zrange(key, 0, -1)):
            return time.time()
        time.sleep(0.01)
    raise AssertionError("%s still holds %s after %.1fs" % (key, jid, timeout))


def test_due_jobs_move_within_poll_interval_and_on_time_when_seen(r, nexusd):
    d = nexusd(make_config(dict(DEFAULTS, poll_interval="2s")))
    started(r, d)
    for key in ("schedule", "retry"):
        # unseen and already due: moved within one poll_interval
        job = make_job("noop", [key, "late"])
        t0 = time.time()
        r.zadd(key, {json.dumps(job): t0 - 1})
        took = moved_at(r, key, job["jid"], 10) - t0
        assert took <= 2.0 + 0.3, "%s: moved %.2fs after it was added" % (key, took)
        # due in 3 s: a look (at most 2 s apart) sees it first, so it moves on time
        at = time.time() + 3
        job = make_job("noop", [key, "seen"])
        r.zadd(key, {json.dumps(job): at})
        late = moved_at(r, key, job["jid"], 10) - at
        assert -0.01 <= late <= 0.25, "%s: moved %.3fs after its time" % (key, late)
        d.wait_jobs([job["jid"]])


def test_a_retry_this_process_wrote_moves_on_its_time(r, nexusd):
    # looks 30..60 s apart: only the retry's own time, known when it was written, is on time
    d = nexusd(make_config(dict(DEFAULTS, poll_interval="60s")))
    started(r, d)
    jid = push(r, "fail", ["once"], retry=1)
    d.wait_jobs([jid], outcome="retry")
    wait_for(lambda: find_in_zset(r, "retry", jid), what="job in retry")
    _, score = find_in_zset(r, "retry", jid)
    late = moved_at(r, "retry", jid, 40) - score
    assert -0.01 <= late <= 0.25, "moved %.3fs after its time" % late


def test_same_host_death_is_recovered_within_a_second_of_checks_and_judged_once(r, nexusd):
    # records read once per 10 s heartbeat; the pids among them are checked every second
    conf = make_config(DEFAULTS)
    a = nexusd(conf, name="a")
    jids = [push(r, "sleep", [600000]) for _ in range(2)]  # ms
    wait_for(lambda: r.llen(a.inflight_key()) == 2, what="2 jobs in flight on a")
    b = nexusd(conf, name="b")
    started(r, b)
    ident = a.identity
    a.kill9()
    t0 = time.monotonic()
    b.wait_log(r"event=jobs_recovered identity=%s .*jobs=2" % ident, timeout=10)
    assert time.monotonic() - t0 < 3.0
    wait_for(lambda: r.llen(b.inflight_key()) == 2, what="both jobs running on b")
    time.sleep(1.5)  # more pid checks: the process is not judged again
    assert [e["reason"] for e in b.lines(event="process_dead")] == ["pid_gone"]
