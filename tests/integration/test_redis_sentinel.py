"""Redis Sentinel on loopback (redis_topo.SentinelTopology): one master, one replica, three
redis-sentinel processes. The topology is checked on its own (it comes up, agrees, fails over
after kill -9 of the master); then nexusd's and nexusctl's part: redis.sentinels and
redis.sentinel_master find the master, and a fleet follows a failover."""
import time

import pytest

from conftest import NEXUSCTL, NexusdFactory, make_config, push, run_cmd, wait_for
from redis_topo import SENTINEL_MASTER, SentinelTopology

SENTINEL_PASSWORD = "sentinel-pw-3c1d"


@pytest.fixture(params=[None, SENTINEL_PASSWORD], ids=["open", "sentinel_password"])
def topo(workdir, request):
    t = SentinelTopology(workdir, sentinel_password=request.param)
    try:
        yield t.start()
    finally:
        t.stop()


@pytest.fixture
def topo_open(workdir):
    t = SentinelTopology(workdir)
    try:
        yield t.start()
    finally:
        t.stop()


@pytest.fixture
def fleet(workdir, topo_open):
    """nexusd processes on the topology (the test's own checks use the first master)."""
    factory = NexusdFactory(workdir, topo_open.master)
    try:
        yield factory
    finally:
        factory.finish()


def sentinel_config(topo, extra="", **worker):
    """The sentinels' password is not in the file: REDIS_SENTINEL_PASSWORD or
    redis.sentinel_password_file (`extra`) gives it."""
    settings = {"sentinels": topo.sentinel_addrs, "sentinel_master": SENTINEL_MASTER}
    body = " ".join("%s = %s;" % (k, "( %s )" % ", ".join('"%s"' % a for a in v)
                                  if isinstance(v, list) else '"%s"' % v)
                    for k, v in settings.items())
    return make_config(worker, extra="redis = { %s %s };" % (body, extra))


def test_the_topology_comes_up_replicates_and_fails_over(topo):
    assert topo.master_addr() == ("127.0.0.1", topo.master.port)
    m = topo.master.client()
    m.set("k", "v")
    assert m.wait(1, 5000) == 1  # WAIT: the replica has it
    assert topo.replica.client().get("k") == "v"
    old = topo.kill_master()
    t0 = time.monotonic()
    new = topo.wait_promotion(old.port)
    assert new is topo.replica
    assert new.client().get("k") == "v"
    new.client().set("after", "1")
    assert time.monotonic() - t0 < 30
    # the dead master comes back as a replica of the new one (the sentinels reconfigure it)
    old.start()
    wait_for(lambda: old.client().info("replication").get("role") == "slave", 30,
             interval=0.2, what="the old master to rejoin as a replica")


def test_nexusd_fleet_follows_a_failover(topo_open, fleet):
    """Two nexusd processes find the master through the sentinels, run jobs, and after
    kill -9 of the master follow the promoted replica and keep processing."""
    config = sentinel_config(topo_open)
    env = {"REDIS_URL": ""}  # the sentinels say where the master is
    daemons = [fleet(config, name="s%d" % i, env=env) for i in range(2)]
    r = topo_open.master.client()
    before = [push(r, "noop", [i]) for i in range(50)]
    for d in daemons:
        d.assert_alive()
    wait_for(lambda: sum(len(d.lines(event="job", outcome="ok")) for d in daemons) >= 50,
             what="the jobs before the failover")
    assert r.wait(1, 5000) == 1
    old = topo_open.kill_master()
    new = topo_open.wait_promotion(old.port)
    after = [push(new.client(), "noop", [i]) for i in range(50)]
    wait_for(lambda: {e["jid"] for d in daemons for e in d.lines(event="job", outcome="ok")}
             >= set(before) | set(after), timeout=30, what="the jobs after the failover")
    for d in daemons:
        d.assert_alive()


def test_nexusctl_finds_the_master_through_the_sentinels(topo_open, fleet, workdir):
    n = fleet(sentinel_config(topo_open), env={"REDIS_URL": ""})
    n.wait_jobs([push(topo_open.master.client(), "noop", [])])
    res = run_cmd([NEXUSCTL, "-c", n.conf, "stats"])
    assert res.returncode == 0 and res.stdout.startswith("processed  1"), res.stderr
    old = topo_open.kill_master()
    topo_open.wait_promotion(old.port)
    res = run_cmd([NEXUSCTL, "-c", n.conf, "stats"])
    assert res.returncode == 0 and res.stdout.startswith("processed  1"), res.stderr
