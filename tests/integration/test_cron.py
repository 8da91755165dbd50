"""Cron schedules fired exactly once per tick across processes, missed-tick policies, reload,
and `nexusctl cron`, against a real redis-server."""
import json
import signal
import time

from conftest import NEXUSCTL, make_config, run_cmd, wait_for


def every_minute(name="tick", missed="skip", queue="ticks"):
    return {"name": name, "cron": "* * * * *", "class": "noop", "args": '[1, "x"]',
            "queue": queue, "tz": "Europe/Paris", "missed": missed}


def schedule_config(schedules, queues=("other",)):
    # the processes fire into "ticks" and take jobs from another queue, so the fired jobs
    # stay in the list to be counted
    text = make_config({"queues": list(queues)})
    return text + "schedules = ( %s );\n" % ", ".join(
        "{ %s }" % " ".join('%s = "%s";' % (k, v.replace('"', '\\"')) for k, v in s.items())
        for s in schedules)


def ticks_in(r, queue="ticks"):
    return [json.loads(j) for j in r.lrange("queue:" + queue, 0, -1)]


def test_three_processes_fire_each_minute_once(nexusd, r):
    config = schedule_config([every_minute()])
    procs = [nexusd(config, name="n%d" % i) for i in range(3)]
    # two ticks: at most two minutes
    wait_for(lambda: len({j["nexus_tick"] for j in ticks_in(r)}) >= 2, timeout=150,
             interval=0.5, what="two ticks")
    time.sleep(1.0)  # a late duplicate would have landed by now
    jobs = ticks_in(r)
    ticks = [j["nexus_tick"] for j in jobs]
    assert len(ticks) == len(set(ticks)), "a tick fired twice: %s" % ticks
    assert all(t % 60 == 0 for t in ticks)
    assert all(j["class"] == "noop" and j["args"] == [1, "x"] and j["nexus_schedule"] == "tick"
               for j in jobs)
    assert int(r.hget("nexus:cron:tick", "last")) == max(ticks)
    fired = sum(len(p.lines(event="schedule_fired")) for p in procs)
    assert fired == len(ticks)


def test_missed_tick_runs_once_at_start_with_run_once(nexusd, r):
    past = (int(time.time()) // 60 - 3) * 60  # the last tick fired three minutes ago
    r.hset("nexus:cron:catchup", "last", past)
    r.hset("nexus:cron:skipper", "last", past)
    config = schedule_config([every_minute("catchup", "run_once"),
                              every_minute("skipper", "skip", queue="skipped")])
    procs = [nexusd(config, name="n%d" % i) for i in range(2)]
    wait_for(lambda: len(ticks_in(r)) >= 1, timeout=10, what="the missed tick")
    latest = int(time.time()) // 60 * 60
    assert ticks_in(r)[0]["nexus_tick"] in (latest, latest - 60), "the latest missed tick"
    time.sleep(0.5)
    assert len([j for j in ticks_in(r) if j["nexus_tick"] <= latest]) == 1, "once"
    now = time.time()
    if now % 60 < 58:  # unless a real tick came meanwhile, skip fired nothing
        assert ticks_in(r, "skipped") == []
    assert sum(len(p.lines(event="schedule_missed")) for p in procs) == 1


def test_schedules_come_and_go_with_sighup(nexusd, r):
    d = nexusd(schedule_config([]))
    assert "schedules=0" not in d.text()
    past = (int(time.time()) // 60 - 2) * 60
    r.hset("nexus:cron:later", "last", past)
    d.write_config(schedule_config([every_minute("later", "run_once")]))
    d.signal(signal.SIGHUP)
    d.wait_log(r"event=reloaded .*schedules=1")
    wait_for(lambda: len(ticks_in(r)) == 1, timeout=10, what="the new schedule's missed tick")


def test_bad_schedules_are_config_errors_with_file_and_line(nexusd, workdir):
    import os
    bad = schedule_config([dict(every_minute(), cron="61 * * * *")])
    path = os.path.join(workdir, "bad.conf")
    with open(path, "w") as f:
        f.write(bad)
    from conftest import NEXUSD
    res = run_cmd([NEXUSD, "--check-config", "-c", path])
    assert res.returncode == 2
    assert ": schedules[0].cron: minute: '61' is out of range 0-59" in res.stderr
    assert res.stderr.startswith("nexusd: %s:" % path)
    with open(path, "w") as f:
        f.write(schedule_config([dict(every_minute(), tz="Mars/Base")]))
    res = run_cmd([NEXUSD, "--check-config", "-c", path])
    assert res.returncode == 2 and "schedules[0].tz: unknown time zone 'Mars/Base'" in res.stderr


def test_nexusctl_cron_lists_and_runs(nexusd, r, redis_server):
    d = nexusd(schedule_config([every_minute("tick")]))
    env = {"REDIS_URL": redis_server.url}
    listed = run_cmd([NEXUSCTL, "-c", d.conf, "cron", "--json"], env=env)
    assert listed.returncode == 0, listed.stderr
    s = json.loads(listed.stdout)["schedules"][0]
    assert (s["name"], s["cron"], s["tz"], s["class"], s["queue"]) == \
        ("tick", "* * * * *", "Europe/Paris", "noop", "ticks")
    assert s["next_fire"] % 60 == 0 and 0 < s["next_fire"] - time.time() <= 60
    table = run_cmd([NEXUSCTL, "-c", d.conf, "cron"], env=env)
    assert "tick" in table.stdout and "NEXT FIRE" in table.stdout
    ran = run_cmd([NEXUSCTL, "-c", d.conf, "cron", "run", "tick"], env=env)
    assert ran.returncode == 0, ran.stderr
    jid = ran.stdout.strip()
    jobs = ticks_in(r)
    assert any(j["jid"] == jid and j["nexus_schedule"] == "tick" for j in jobs)
    missing = run_cmd([NEXUSCTL, "-c", d.conf, "cron", "run", "nope"], env=env)
    assert missing.returncode == 3 and "no schedule named 'nope'" in missing.stderr


def test_check_config_lists_schedules_and_warns_of_stuck_ones(workdir):
    """`nexusd -t` shows each schedule with its next tick, and warns (still valid) of one whose
    class no handler knows or whose queue this configuration does not read."""
    import os
    from conftest import NEXUSD
    path = os.path.join(workdir, "s.conf")
    with open(path, "w") as f:
        f.write('worker = { queues = ("default"); };\n'
                'http = { listen = "127.0.0.1:7499"; };\n'
                'schedules = (\n'
                ' { name = "ok"; cron = "0 3 * * *"; class = "noop"; tz = "Europe/Paris"; },\n'
                ' { name = "stuck"; cron = "@daily"; class = "nope.thing"; queue = "mailers"; }\n'
                ');\n')
    res = run_cmd([NEXUSD, "-t", "-c", path])
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "  http: 127.0.0.1:7499\n" in out and "  schedules: 2\n" in out
    assert '    ok: "0 3 * * *" Europe/Paris, class noop on queue default, next 20' in out
    assert "warning: schedule ok" not in out
    assert ("warning: schedule stuck enqueues class nope.thing, which no handler of nexusd "
            "knows") in out
    assert "warning: schedule stuck enqueues to queue mailers, which worker.queues does not" in out
