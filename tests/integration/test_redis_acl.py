"""nexusd and nexusctl as a Redis ACL user (redis://user:password@host, AUTH user password)
with exactly the rights docs/redis.md lists (redis_topo.NEXUSD_ACL_COMMANDS and key
patterns): the whole core flow runs without one denial in ACL LOG, and a user missing one
right gets a clear NOPERM error."""
import json
import os
import re
import tempfile
import time
import urllib.parse

import pytest

from conftest import (NEXUSCTL, NEXUSD, SOURCE_DIR, RedisServer, find_in_zset, make_job, push,
                      run_cmd, wait_for)
from httpc import get, http_address
from redis_topo import (NEXUSD_ACL_COMMANDS, acl_line, acl_setuser, free_port,
                        transport_missing)

USER = "nexusd"
PASSWORD = "Acl-p@ss:w0rd/x"  # URL-encoded in the URL: decoded before AUTH
MISSING = transport_missing(NEXUSD, tempfile.mkdtemp(prefix="nxprobe-"))
needs_transport = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")


def acl_url(port, user=USER, password=PASSWORD):
    return "redis://%s:%s@127.0.0.1:%d/0" % (urllib.parse.quote(user, safe=""),
                                             urllib.parse.quote(password, safe=""), port)


@pytest.fixture
def redis_server(workdir):
    """A redis-server on a loopback port with the ACL user nexusd, which nexusd and nexusctl
    use; the test's own clients are the default user on the unix socket."""
    port = free_port()
    server = RedisServer(workdir, args=["--port", str(port), "--bind", "127.0.0.1"],
                         url=acl_url(port))
    server.port = port
    server.start()
    acl_setuser(server.client(), USER, PASSWORD)
    yield server
    server.close_clients()
    server.kill()


def acl_denials(r):
    """ACL LOG: every command or key refused since the start, as short strings."""
    return ["%s %s %s" % (e.get("reason"), e.get("object"), e.get("username"))
            for e in map(as_dict, r.execute_command("ACL", "LOG"))]


def as_dict(entry):
    if isinstance(entry, dict):
        return entry
    return dict(zip(entry[::2], entry[1::2]))


def ctl(server, *args):
    res = run_cmd([NEXUSCTL] + list(args), env={"REDIS_URL": server.url})
    assert PASSWORD not in res.stdout + res.stderr
    return res


def test_docs_show_the_rules_the_tests_grant():
    """docs/redis.md's ready ACL SETUSER line is the one these tests give their user."""
    with open(os.path.join(SOURCE_DIR, "docs", "redis.md")) as f:
        docs = f.read()
    line = acl_line(USER, "CHANGE-ME")
    assert line in docs, "docs/redis.md lacks the line:\n" + line
    assert acl_line(USER, "CHANGE-ME", namespace="myapp:") in docs


def test_the_acl_user_has_those_rights_and_no_other(r, redis_server):
    """The set-up itself: the user exists, may BLMOVE on queue:*, and may not FLUSHALL or
    touch a key outside nexusd's patterns."""
    import redis as redis_py
    u = redis_py.Redis(host="127.0.0.1", port=redis_server.port, username=USER,
                       password=PASSWORD, decode_responses=True)
    assert u.lpush("queue:x", "1") == 1
    with pytest.raises(redis_py.exceptions.NoPermissionError):
        u.flushall()
    with pytest.raises(redis_py.exceptions.NoPermissionError):
        u.set("other:key", "1")
    with pytest.raises(redis_py.exceptions.NoPermissionError):
        u.execute_command("CONFIG", "GET", "dir")
    u.close()


@needs_transport
def test_the_minimal_user_runs_the_core_flow(r, redis_server, nexusd, workdir):
    """Enqueue, fetch, retry, schedule, dead, cron, recovery of a killed process, dashboard
    reads and nexusctl, all as the ACL user: no denial in ACL LOG, every connection of
    nexusd is that user."""
    cron = ('schedules = ( { name = "tick"; cron = "* * * * *"; class = "noop"; '
            'args = "[]"; queue = "default"; } );\n')
    http = 'http = { listen = "127.0.0.1:0"; };\n'
    n1 = nexusd({}, extra=http + cron, name="n1")
    addr = http_address(n1)

    # enqueue and fetch: a client's push and nexusctl's
    jid = push(r, "noop", [1])
    res = ctl(redis_server, "enqueue", "noop", "[2]")
    assert res.returncode == 0, res.stderr
    n1.wait_jobs([jid, res.stdout.strip()])

    # retry: fails once, comes back due now, fails again and goes dead (retry: 1)
    failing = push(r, "fail", ["boom"], retry=1)
    wait_for(lambda: find_in_zset(r, "retry", failing), what="the job in retry")
    for member, _ in r.zrange("retry", 0, -1, withscores=True):
        r.zadd("retry", {member: time.time() - 1}, xx=True)
    n1.wait_jobs([failing], outcome="dead")
    # dead at once
    dead = push(r, "fail", ["no retry"], retry=False)
    n1.wait_jobs([dead], outcome="dead")
    wait_for(lambda: r.zcard("dead") == 2, what="two jobs in dead")

    # schedule: due in a second (nexusctl's --in, a client's ZADD schedule)
    res = ctl(redis_server, "enqueue", "noop", "[3]", "--in", "1s")
    assert res.returncode == 0, res.stderr
    n1.wait_jobs([res.stdout.strip()], timeout=20)

    # recovery: a second process, alone on queue "slow", killed with a job in flight; n1's
    # reaper puts the job back into queue:slow
    n2 = nexusd({"queues": ["slow"]}, name="n2")
    slow = push(r, "sleep", [60000], queue="slow")
    wait_for(lambda: r.llen(n2.inflight_key("slow")) == 1, what="n2 running the slow job")
    ident = n2.identity
    n2.kill9()
    n1.wait_log(r"event=jobs_recovered .*identity=%s" % re.escape(ident), timeout=30)
    assert [json.loads(t)["jid"] for t in r.lrange("queue:slow", 0, -1)] == [slow]

    # dashboard reads and the status page
    for path in ("/api/dead", "/api/retry", "/api/scheduled", "/api/paused", "/status",
                 "/readyz", "/metrics"):
        res = get(addr, path)
        assert res.status == 200, (path, res.status, res.body[:300])
    assert get(addr, "/api/dead").json()["size"] == 2

    # nexusctl's reads and writes
    for args in (("stats",), ("processes",), ("dead", "list"), ("retry", "list"),
                 ("scheduled", "list"), ("pause", "default"), ("resume", "default")):
        res = ctl(redis_server, *args)
        assert res.returncode == 0, (args, res.stderr)
    res = ctl(redis_server, "dead", "retry", dead)
    assert res.returncode == 0, res.stderr

    # cron: the next minute's tick, fired and run
    wait_for(lambda: r.hget("nexus:cron:tick", "last_jid"), timeout=75, interval=0.5,
             what="a cron tick")
    n1.wait_jobs([r.hget("nexus:cron:tick", "last_jid")])

    assert acl_denials(r) == []
    users = [c["user"] for c in r.client_list() if c.get("addr", "").startswith("127.0.0.1")]
    assert users and set(users) == {USER}, users
    assert PASSWORD not in n1.text()


@needs_transport
def test_under_a_namespace_one_key_pattern_is_enough(r, redis_server, nexusd):
    """docs/redis.md's second line: with redis.namespace, ~NAMESPACE* covers every key."""
    acl_setuser(r, USER, PASSWORD, namespace="myapp:")
    n = nexusd({}, extra='redis = { namespace = "myapp:"; };', ns="myapp:")
    job = make_job("noop", [])
    r.sadd("myapp:queues", "default")
    r.lpush("myapp:queue:default", json.dumps(job))
    n.wait_jobs([job["jid"]])
    res = ctl(redis_server, "-c", n.conf, "stats")
    assert res.returncode == 0 and res.stdout.startswith("processed  1"), res.stderr
    assert acl_denials(r) == []
    assert not [k for k in r.keys() if not k.startswith("myapp:")]


@needs_transport
def test_a_user_without_eval_gets_a_clear_noperm(r, redis_server, nexusd):
    acl_setuser(r, USER, PASSWORD, commands=[c for c in NEXUSD_ACL_COMMANDS if c != "eval"])
    n = nexusd(start=False)
    n.start(wait_ready=False)
    push(r, "noop", [])
    line = n.wait_log(r"NOPERM", timeout=15)[0]
    assert "eval" in line.lower(), line
    n.assert_alive()
    # nexusctl stats reads sizes with plain commands: take those away
    acl_setuser(r, USER, PASSWORD, commands=[c for c in NEXUSD_ACL_COMMANDS
                                             if c not in ("llen", "zcard")])
    res = ctl(redis_server, "stats")
    assert res.returncode != 0 and "NOPERM" in res.stderr, res.stderr


@needs_transport
def test_a_user_without_evalsha_still_runs_every_job_with_eval(r, redis_server, nexusd):
    """The minimal user of earlier releases had +eval only: nexusd says so once and sends its
    scripts whole."""
    acl_setuser(r, USER, PASSWORD, commands=[c for c in NEXUSD_ACL_COMMANDS if c != "evalsha"])
    n = nexusd()
    for i in range(20):
        push(r, "noop", [i])
    wait_for(lambda: int(r.get("stat:processed") or 0) == 20, timeout=15)
    assert r.llen("queue:default") == 0
    assert len(n.lines(event="redis_evalsha_denied", conn="main")) == 1
    n.assert_alive()


@needs_transport
def test_a_user_without_the_queue_keys_gets_a_clear_noperm(r, redis_server, nexusd):
    r.execute_command("ACL", "SETUSER", USER, "reset", "on", ">" + PASSWORD,
                      *["+" + c for c in NEXUSD_ACL_COMMANDS], "~nexus:*", "~processes")
    n = nexusd(start=False)
    n.start(wait_ready=False)
    line = n.wait_log(r"NOPERM", timeout=15)[0]
    assert "key" in line.lower(), line
    res = ctl(redis_server, "enqueue", "noop", "[]")
    assert res.returncode != 0 and "NOPERM" in res.stderr, res.stderr
    assert json.dumps(PASSWORD)[1:-1] not in n.text()
