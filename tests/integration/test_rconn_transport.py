"""nexusd's own Redis transport (queue/rconn.c): replies in order under pipelining, large
replies over plain and TLS connections, a server that closes idle connections, a server
that stops answering (the read timeout), and reconnection after each."""
import json
import os
import signal
import time

import pytest

from conftest import NEXUSCTL, make_config, push, push_many, make_job, run_cmd, wait_for
from redis_topo import tls_conf, tls_redis

MIB = 1024 * 1024


@pytest.fixture
def tls_server(workdir, tls_pki):
    server = tls_redis(workdir, tls_pki, name="tls").start()
    yield server
    server.close_clients()
    server.kill()


def test_pipelined_replies_come_back_in_order(r, nexusd):
    """2000 jobs pushed at once: every fetch batch, finish and record travels pipelined on
    the same connections, and each job ends once with its own outcome."""
    n = nexusd({"concurrency": 200, "fetch_batch": 50})
    jobs = [make_job("noop", [i]) for i in range(2000)]
    push_many(r, jobs)
    seen = n.wait_jobs([j["jid"] for j in jobs], timeout=120)
    assert len(seen) == 2000
    assert r.llen("queue:default") == 0
    assert len(n.lines(event="job")) == 2000  # none twice


@pytest.mark.parametrize("over", ["plain", "tls"])
def test_a_100mb_reply(over, request, r, nexusd, tls_pki, workdir):
    """LMOVE of a 100 MB job is one 100 MB bulk reply: read whole, over TLS too."""
    if over == "tls":
        server = request.getfixturevalue("tls_server")
        client = server.client(decode=False)
        n = nexusd(make_config({"max_job_size": 128 * MIB}, extra=tls_conf(tls_pki)),
                   start=False, env={"REDIS_URL": server.url})
        n.start(wait_ready=False)
        n.wait_log(r"event=redis_up conn=main .*tls=on")
    else:
        client = r
        n = nexusd({"max_job_size": 128 * MIB})
    big = make_job("noop", ["x" * (100 * MIB)])
    small = make_job("noop", [1])
    push(client, "noop", [0])  # the connection warm first
    client.lpush("queue:default", json.dumps(big))
    client.lpush("queue:default", json.dumps(small))
    n.wait_jobs([big["jid"], small["jid"]], timeout=120)
    n.assert_alive()


def test_server_closing_idle_connections_is_logged_and_healed(r, nexusd):
    """Redis's `timeout` (what hosted Redis does on its own): the idle connections are closed,
    nexusd says so plainly and connects again; jobs keep flowing."""
    n = nexusd({"heartbeat_interval": "5s", "process_ttl": "20s", "block_timeout": "10s",
                "poll_interval": "5s"})
    r.config_set("timeout", 1)
    line = n.wait_log(r"event=redis_down .*closed the idle connection", timeout=30)[0]
    assert "reconnecting" in line
    n.wait_log(r"event=redis_up", count=2, timeout=30)
    r.config_set("timeout", 0)
    jid = push(r, "noop", [])
    n.wait_jobs([jid], timeout=30)


def test_a_stopped_server_hits_the_read_timeout_then_nexusd_comes_back(r, redis_server,
                                                                         nexusd):
    """SIGSTOP: the connection stays open but nothing answers. redis.read_timeout drops it
    (a clear line), connecting fails until SIGCONT, then nexusd comes back by itself. The
    heartbeats written meanwhile (the stopped server's socket takes them) do not put it off:
    the main connection goes within about a second (9 s when each write restarted the clock,
    on this unix socket; on TCP, whose buffers are larger, much longer)."""
    n = nexusd(make_config({"heartbeat_interval": "0.2s", "process_ttl": "10s"},
                           extra='redis = { read_timeout = "1s"; connect_timeout = "1s"; };'))
    os.kill(redis_server.proc.pid, signal.SIGSTOP)
    stopped = time.monotonic()
    try:
        line = n.wait_log(r"event=redis_down conn=main .*no reply within 1s", timeout=15)[0]
        assert "read_timeout" in line
        assert time.monotonic() - stopped < 4, "noticed after %.1f s" % (time.monotonic() - stopped)
    finally:
        os.kill(redis_server.proc.pid, signal.SIGCONT)
    n.wait_log(r"event=redis_up conn=main", count=2, timeout=30)
    jid = push(r, "noop", [])
    n.wait_jobs([jid], timeout=30)


def test_blocking_fetch_is_not_cut_by_the_read_timeout(r, nexusd):
    """BLMOVE waits block_timeout on the server: the read timeout counts from there, so a
    read_timeout shorter than block_timeout drops nothing on an idle process."""
    n = nexusd(make_config({"block_timeout": "3s"},
                           extra='redis = { read_timeout = "0.5s"; };'))
    time.sleep(5)
    assert "event=redis_down" not in n.text(), n.tail()
    jid = push(r, "noop", [])
    n.wait_jobs([jid])


def test_nexusctl_over_tls_and_its_errors(tls_server, tls_pki, workdir):
    """nexusctl runs the same transport: the right CA works, a wrong one fails at once with
    the masked URL and the verify error."""
    conf = os.path.join(workdir, "ctl.conf")

    def ctl(extra, *args):
        with open(conf, "w") as f:
            f.write(extra + "\n")
        return run_cmd([NEXUSCTL, "-c", conf] + list(args), env={"REDIS_URL": tls_server.url})

    res = ctl(tls_conf(tls_pki), "stats")
    assert res.returncode == 0, res.stderr
    assert res.stderr == ""
    start = time.monotonic()
    res = ctl(tls_conf(tls_pki, tls_ca_file=tls_pki.wrong_ca), "stats")
    assert res.returncode == 1, res.stderr
    assert time.monotonic() - start < 5
    assert "cannot connect to Redis at %s" % tls_server.url in res.stderr, res.stderr
    assert "certificate verify failed" in res.stderr, res.stderr


def test_a_server_announcing_a_huge_array_is_dropped_not_obeyed(workdir):
    """A hostile or broken server answers with an array header of 2,000,000,000 elements:
    hiredis would reserve 16 GB for it up front. The connection is dropped with a sentence
    instead (without the cap the 16 GB reservation succeeds, virtually, and nexusctl waits
    for elements until the server closes)."""
    import socket
    import threading
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    port = srv.getsockname()[1]

    def serve():
        while True:
            try:
                c, _ = srv.accept()
            except OSError:
                return
            c.recv(65536)
            c.sendall(b"*2000000000\r\n:1\r\n")
            time.sleep(0.5)
            c.close()
    threading.Thread(target=serve, daemon=True).start()
    try:
        res = run_cmd([NEXUSCTL, "stats"], env={"REDIS_URL": "redis://127.0.0.1:%d" % port})
        assert res.returncode == 1, res.stdout + res.stderr
        assert "more elements than nexusd ever asks for" in res.stderr, res.stderr
    finally:
        srv.close()


def test_a_slow_name_lookup_does_not_stall_the_loop(nexusd, workdir):
    """A nameserver that never answers (a UDP socket on 127.0.0.1:53 that reads and keeps
    quiet; nexusd sees it through its own /etc/resolv.conf, bind-mounted in a private mount
    namespace): each connection attempt waits for the lookup, cut by redis.connect_timeout,
    while the loop answers /healthz at once. With the lookup on the loop (as before), each
    attempt froze the loop for the resolver's 5 s timeout."""
    from dnshole import silent_nameserver
    from httpc import http_address, slowest_answer
    with silent_nameserver(workdir, timeout_s=5) as wrapper:
        n = nexusd(extra='redis = { connect_timeout = 1.0; };',
                   start=False, env={"REDIS_URL": "redis://redis.nexus-test.example:6379"})
        n.wrapper = wrapper
        n.start(wait_ready=False)
        addr = http_address(n)
        worst = slowest_answer(addr, "/healthz", 6)
        assert worst < 0.5, worst
        n.wait_log(r"connect timed out looking up the host's name", 10)
