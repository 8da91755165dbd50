"""redis.wait_replicas on a real master and replica: nexusd WAITs after its outcomes, cron
fires, outbox relays, dashboard actions and nexusctl's pushes, one WAIT for the writes of a
loop turn (far fewer WAITs than jobs); with the replica frozen (SIGSTOP) the shortfalls are
logged and counted, the outbox keeps its rows until the replica is back (SIGCONT) and then
relays them once; with wait_replicas = 0 no WAIT is sent at all (INFO commandstats)."""
import json
import os
import signal
import subprocess
import time

import pytest

from conftest import (NEXUSCTL, NexusdFactory, RedisServer, make_config, make_job, push_many,
                      stays, wait_for)
from httpc import get, http_address, request
from redis_topo import free_port
from test_dashboard import auth, make_dead, token_file  # noqa: F401 (token_file: a fixture)

class Pair:
    """A master (unix socket for nexusd and the test, TCP for its replica) and one replica."""

    def __init__(self, workdir):
        port = free_port()
        self.master = RedisServer(workdir, name="master",
                                  args=["--port", str(port), "--bind", "127.0.0.1",
                                        "--repl-diskless-sync", "yes",
                                        "--repl-diskless-sync-delay", "0"])
        self.replica = RedisServer(workdir, name="replica",
                                   args=["--port", str(free_port()), "--bind", "127.0.0.1",
                                         "--replicaof", "127.0.0.1", str(port)])
        self.frozen = False

    def start(self):
        self.master.start()
        self.replica.start()
        wait_for(lambda: self.replica.client().info("replication").get("master_link_status")
                 == "up", 30, what="the replica to sync")
        return self

    def freeze(self):
        self.replica.proc.send_signal(signal.SIGSTOP)
        self.frozen = True

    def thaw(self):
        self.replica.proc.send_signal(signal.SIGCONT)
        self.frozen = False

    def stop(self):
        if self.frozen:
            self.thaw()
        for s in (self.master, self.replica):
            s.close_clients()
            s.kill()


@pytest.fixture
def pair(workdir):
    p = Pair(workdir)
    try:
        yield p.start()
    finally:
        p.stop()


@pytest.fixture
def daemons(workdir, pair):
    factory = NexusdFactory(workdir, pair.master)
    try:
        yield factory
    finally:
        factory.finish()


def config(replicas, timeout="1s", worker=None, token_file=None, extra=""):
    text = "redis = { wait_replicas = %d; wait_timeout = \"%s\"; };\n" % (replicas, timeout)
    if token_file:
        text += 'http = { listen = "127.0.0.1:0"; token_file = "%s"; };\n' % token_file
    return make_config(worker, extra=text + extra)


def run_once_schedule(r, name="tick"):
    """A run_once schedule whose last tick was an hour ago: nexusd fires the latest missed tick
    at start (cron.lua), instead of the test waiting for the next minute."""
    r.hset("nexus:cron:" + name, "last", str(int(time.time()) // 60 * 60 - 3600))
    return ('schedules = ( { name = "%s"; cron = "* * * * *"; class = "noop"; args = "[]"; '
            'queue = "default"; missed = "run_once"; } );\n' % name)


def waits(r):
    return r.info("commandstats").get("cmdstat_wait", {}).get("calls", 0)


def ctl(n, *args):
    env = dict(os.environ)
    env["REDIS_URL"] = n.redis.url
    res = subprocess.run([NEXUSCTL, "-c", n.conf] + list(args), capture_output=True, text=True,
                         timeout=30, env=env)
    for mark in ("ERROR: AddressSanitizer", "runtime error:", "LeakSanitizer"):
        assert mark not in res.stderr, res.stderr
    return res


def metric(n, name):
    body = get(http_address(n), "/metrics").body.decode()
    for line in body.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError("no %s in /metrics" % name)


def test_without_wait_replicas_no_wait_is_sent(pair, daemons, token_file):
    r = pair.master.client()
    r.config_resetstat()
    n = daemons(config(0, token_file=token_file, extra=run_once_schedule(r)))
    n.wait_log(r"event=schedule_fired schedule=tick")
    jids = push_many(r, [make_job("noop", [i]) for i in range(200)])
    n.wait_jobs(jids)
    res = ctl(n, "enqueue", "noop")
    assert res.returncode == 0 and res.stderr == "", res.stderr
    dead = make_dead(r, n)
    ans = request(http_address(n), "POST", "/api/dead/%s/retry" % dead, headers=auth())
    assert ans.status == 200 and "replicas" not in ans.json(), ans.body
    assert waits(r) == 0
    assert "cmdstat_wait" not in r.info("commandstats")


def test_jobs_cron_nexusctl_and_the_dashboard_wait_for_the_replica(pair, daemons, token_file):
    r = pair.master.client()
    n = daemons(config(1, token_file=token_file, extra=run_once_schedule(r)))
    n.wait_log(r"event=schedule_fired schedule=tick")
    r.config_resetstat()
    jobs = 3000
    jids = push_many(r, [make_job("noop", [i]) for i in range(jobs)])
    n.wait_jobs(jids, timeout=60)
    burst = waits(r)
    print("\n%d jobs: %d WAITs" % (jobs, burst))
    assert 0 < burst < jobs / 5, "WAITs not coalesced: %d for %d jobs" % (burst, jobs)

    before = waits(r)
    res = ctl(n, "enqueue", "noop", "--queue", "parked")  # a queue nexusd leaves alone
    assert res.returncode == 0, res.stderr
    # no shortfall; only the warning that no live process reads "parked"
    assert res.stderr.startswith("nexusctl: warning: none of the 1 live processes reads queue "
                                 "parked") and res.stderr.count("\n") == 1, res.stderr
    assert waits(r) == before + 1  # nexusctl's own, on its connection

    dead = make_dead(r, n)
    ans = request(http_address(n), "POST", "/api/dead/%s/retry" % dead, headers=auth())
    assert ans.status == 200, ans.body
    assert ans.json()["replicas"] == {"acked": 1, "want": 1} and "warning" not in ans.json()
    assert not n.lines(event="redis_wait_short")
    assert metric(n, "nexus_redis_wait_short_total") == 0


def test_a_frozen_replica_is_a_shortfall_logged_counted_and_reported(pair, daemons,
                                                                     token_file):
    r = pair.master.client()
    pair.freeze()
    n = daemons(config(1, timeout="300ms", token_file=token_file, extra=run_once_schedule(r)))
    # the fired tick's WAIT is the first: its line is the first shortfall of the process
    n.wait_log(r"event=redis_wait_short what=cron acked=0 want=1", 10)
    time.sleep(1.1)  # one line a second
    jids = push_many(r, [make_job("noop", [i]) for i in range(20)])
    n.wait_jobs(jids)  # outcomes are written all the same
    n.wait_log(r"event=redis_wait_short what=finish acked=0 want=1", 10)
    assert metric(n, "nexus_redis_wait_short_total") >= 2

    res = ctl(n, "enqueue", "noop")
    assert res.returncode == 0, res.stderr
    assert "warning: the job was pushed, but only 0 of 1 replicas confirmed it" in res.stderr
    assert len(res.stdout.split()) == 1  # the jid, as always

    dead = make_dead(r, n)
    ans = request(http_address(n), "POST", "/api/dead/%s/retry" % dead, headers=auth())
    assert ans.status == 200, ans.body
    body = ans.json()
    assert body["moved"] == 1 and body["replicas"] == {"acked": 0, "want": 1}
    assert "failover" in body["warning"]
    n.wait_log(r"event=redis_wait_short what=dashboard acked=0 want=1", 5)


@pytest.fixture
def pg(migrated_pg):
    return migrated_pg


def test_the_outbox_keeps_its_rows_until_the_replica_has_the_push(pair, daemons, pg):
    r = pair.master.client()
    n = daemons(config(1, timeout="200ms", worker={"queues": ["other"]}),
                env={"DATABASE_URL": pg.url})
    n.wait_log(r"event=db_listen_up .*channel=nexus_outbox")
    jid = pg.psql("SELECT nexus.enqueue('noop', '[1]', 'held')").strip()
    wait_for(lambda: pg.psql("SELECT count(*) FROM nexus.outbox").strip() == "0", 10,
             what="a relay with the replica up")
    assert r.llen("queue:held") == 1

    pair.freeze()
    jid = pg.psql("SELECT nexus.enqueue('noop', '[2]', 'held')").strip()
    wait_for(lambda: r.llen("queue:held") == 2, 10, what="the push")
    n.wait_log(r"event=redis_wait_short what=outbox acked=0 want=1", 10)
    # pushed, not confirmed: the row stays while rounds come and go
    assert stays(lambda: pg.psql("SELECT count(*) FROM nexus.outbox").strip() == "1", 3, interval=0.25)
    pair.thaw()
    wait_for(lambda: pg.psql("SELECT count(*) FROM nexus.outbox").strip() == "0", 15,
             what="the row deleted once the replica confirmed")
    time.sleep(1.5)  # rounds after the thaw push nothing more
    held = [json.loads(j) for j in r.lrange("queue:held", 0, -1)]
    assert [j["args"] for j in held] == [[2], [1]]
    assert held[0]["jid"] == jid
    assert pair.replica.client().llen("queue:held") == 2
