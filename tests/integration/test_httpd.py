"""The operators' HTTP endpoint over real HTTP: status codes, content types, bad and oversized
requests, connection limits, idle and slow clients next to a job loop that keeps its pace,
and /readyz following Redis, PostgreSQL and shutdown."""
import json
import os
import signal
import socket
import time

import pytest

from conftest import make_job, push, push_many, wait_for
from httpc import get, http_address, raw, raw_socket, request, wait_status
from pg import PostgresServer


def tcp(**settings):
    """An http group listening on a free loopback port, plus `settings`."""
    s = {"listen": "127.0.0.1:0"}
    s.update(settings)
    return "http = { %s };" % " ".join(
        "%s = %s;" % (k, json.dumps(v) if isinstance(v, str) else v) for k, v in s.items())


def test_endpoints_answer_with_status_and_content_type(nexusd):
    n = nexusd(extra=tcp())
    addr = http_address(n)
    assert addr.startswith("127.0.0.1:")

    r = get(addr, "/healthz")
    assert r.status == 200 and r.header("content-type") == "application/json"
    assert r.json() == {"status": "ok"}
    assert r.header("cache-control") == "no-store"
    assert r.header("x-content-type-options") == "nosniff"

    r = wait_status(addr, "/readyz", 200)
    assert r.json()["ready"] is True and r.json()["redis"] == "up"
    assert r.json()["postgresql"] == "not configured"

    r = get(addr, "/metrics")
    assert r.status == 200
    assert r.header("content-type") == "text/plain; version=0.0.4; charset=utf-8"
    assert b"\nnexus_redis_up 1\n" in r.body

    r = get(addr, "/status")
    assert r.status == 200 and r.header("content-type") == "application/json"
    assert [p["identity"] for p in r.json()["processes"]] == [n.identity]

    r = get(addr, "/nope")
    assert r.status == 404 and r.json() == {"error": "not found"}
    r = get(addr, "/healthz/x")
    assert r.status == 404

    r = request(addr, "POST", "/metrics", body=b"x")
    assert r.status == 405 and r.header("allow") == "GET, HEAD"
    assert r.header("content-type") == "application/json"
    r = request(addr, "DELETE", "/status")
    assert r.status == 405

    r = request(addr, "HEAD", "/healthz")
    assert r.status == 200 and r.body == b""

    # the query string is not part of the path
    assert get(addr, "/healthz?verbose=1").status == 200


def test_unix_socket_serves_the_same_endpoints(nexusd):
    n = nexusd()
    addr = http_address(n)
    assert addr == "unix:" + n.http_sock
    assert get(addr, "/healthz").status == 200
    assert wait_status(addr, "/readyz", 200).json()["ready"] is True
    n.term()
    n.wait_exit()
    # the socket file goes with the process
    assert wait_for(lambda: not os.path.exists(n.http_sock), 5)


def test_bad_and_oversized_requests(nexusd):
    n = nexusd(extra=tcp(max_body=1000, max_header=4096))
    addr = http_address(n)

    status, _ = raw(addr, b"THIS IS NOT HTTP\r\n\r\n")
    assert status == 400
    status, _ = raw(addr, b"GET /healthz HTTP/1.1\r\n\r\n")  # HTTP/1.1 needs Host
    assert status == 400

    big = b"x" * 8000
    status, _ = raw(addr, b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Big: " + big + b"\r\n\r\n")
    assert status == 431
    status, _ = raw(addr, b"GET /" + big + b" HTTP/1.1\r\nHost: localhost\r\n\r\n")
    assert status in (414, 431)

    # body over max_body: refused from its Content-Length, before it is read
    r = request(addr, "POST", "/healthz", body=b"y" * 1001)
    assert r.status == 413 and r.json() == {"error": "request body too large"}
    # ... and from its size when chunked
    status, out = raw(addr, b"POST /healthz HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n"
                      b"\r\n3e8\r\n" + b"z" * 1000 + b"\r\n10\r\n" + b"z" * 16 + b"\r\n0\r\n\r\n")
    assert status == 413, out[:200]
    # the process and its endpoint are fine afterwards
    assert get(addr, "/healthz").status == 200
    n.assert_alive()


def test_connection_limit_and_idle_timeout(nexusd):
    n = nexusd(extra=tcp(max_connections=5, idle_timeout=2))
    addr = http_address(n)
    held = [raw_socket(addr) for _ in range(5)]
    time.sleep(0.3)
    # a sixth waits in the kernel's backlog, unserved, while five are open
    s = raw_socket(addr)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
    s.settimeout(0.8)
    with pytest.raises(socket.timeout):
        s.recv(100)
    # the silent five are closed after idle_timeout; then the sixth is served
    for h in held:
        h.settimeout(10)
        try:
            assert h.recv(100) == b""
        except ConnectionResetError:
            pass
        h.close()
    s.settimeout(10)
    assert s.recv(100).startswith(b"HTTP/1.1 200 ")
    s.close()


def drain_time(r, n, count):
    """Seconds for nexusd to run `count` noop jobs pushed at once."""
    jobs = [make_job("noop", []) for _ in range(count)]
    start = time.monotonic()
    push_many(r, jobs)
    n.wait_jobs([j["jid"] for j in jobs], timeout=60)
    return time.monotonic() - start


def test_idle_and_slow_clients_do_not_slow_the_job_loop(nexusd, r):
    n = nexusd({"concurrency": 50}, extra=tcp(max_connections=400, idle_timeout=30))
    addr = http_address(n)
    wait_status(addr, "/readyz", 200)
    drain_time(r, n, 500)  # warm-up
    base = min(drain_time(r, n, 10000) for _ in range(2))

    idle = [raw_socket(addr) for _ in range(250)]
    # slowloris: headers one byte at a time, never finished
    slow = [raw_socket(addr) for _ in range(20)]
    for s in slow:
        s.sendall(b"GET /status HTTP/1.1\r\nHost: localhost\r\n")
    with_clients = []
    for _ in range(2):
        for i, s in enumerate(slow):
            s.sendall(b"X-%d: y\r\n" % i)
        with_clients.append(drain_time(r, n, 10000))
    loaded = min(with_clients)
    # the endpoint itself still answers at once
    t = time.monotonic()
    assert get(addr, "/healthz").status == 200
    assert time.monotonic() - t < 2.0
    for s in idle + slow:
        s.close()
    print("drain of 10000 noop jobs: %.3fs alone, %.3fs with 270 idle or slow clients"
          % (base, loaded))
    assert loaded < base * 2 + 1.0, (base, loaded)


def test_readyz_follows_redis(nexusd, redis_server):
    n = nexusd(extra=tcp())
    addr = http_address(n)
    wait_status(addr, "/readyz", 200)
    redis_server.shutdown()
    r = wait_status(addr, "/readyz", 503)
    assert r.header("content-type") == "application/json"
    assert r.json()["ready"] is False and r.json()["redis"] == "down"
    assert r.json()["reason"] == "redis unreachable"
    # liveness is not readiness: the loop is alive
    assert get(addr, "/healthz").status == 200
    # /metrics still answers, with what the process knows
    m = get(addr, "/metrics")
    assert m.status == 200 and b"\nnexus_redis_up 0\n" in m.body
    assert b"nexus_queue_size" not in m.body
    # /status needs Redis
    s = get(addr, "/status")
    assert s.status == 503 and s.json()["error"] == "cannot read the fleet from Redis"
    redis_server.start()
    assert wait_status(addr, "/readyz", 200, timeout=20).json()["redis"] == "up"


def test_readyz_is_503_while_draining(nexusd, r):
    n = nexusd({"shutdown_timeout": "20s"}, extra=tcp())
    addr = http_address(n)
    wait_status(addr, "/readyz", 200)
    jid = push(r, "sleep", [3000])
    jobs = wait_for(lambda: get(addr, "/status").json()["jobs"], 10, what="the job in /status")
    assert jobs[0]["jid"] == jid and jobs[0]["class"] == "sleep" and jobs[0]["args"] == [3000]
    n.term()
    res = wait_status(addr, "/readyz", 503, timeout=5)
    assert res.json()["stopping"] is True and res.json()["reason"] == "shutting down"
    n.wait_jobs([jid], timeout=20)
    n.wait_exit(20)


def test_readyz_follows_postgresql(nexusd, r):
    pg = PostgresServer().start()
    try:
        n = nexusd(extra=tcp() + "\ndatabase = { migrate = true; };",
                   env={"DATABASE_URL": pg.url})
        addr = http_address(n)
        res = wait_status(addr, "/readyz", 200, timeout=20)
        assert res.json()["postgresql"] == "up"
        m = get(addr, "/metrics")
        assert b"\nnexus_postgresql_up 1\n" in m.body
        pg.stop()
        res = wait_status(addr, "/readyz", 503, timeout=30)
        assert res.json()["postgresql"] == "down"
        assert "postgresql unreachable" in res.json()["reason"]
        pg.start()
        assert wait_status(addr, "/readyz", 200, timeout=30).json()["postgresql"] == "up"
    finally:
        pg.cleanup()


def test_address_in_use_stops_the_start_with_a_clear_error(nexusd):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        n = nexusd(extra=tcp(listen="127.0.0.1:%d" % port), start=False)
        n.start(wait_ready=False)
        assert n.wait_exit(15) == 1
    line = n.lines(event="start_failed")[0]
    assert "cannot listen on 127.0.0.1:%d" % port in line["err"]
    assert "Address already in use" in line["err"]


def test_disabled_endpoint_listens_nowhere(nexusd):
    n = nexusd(extra="http = { enabled = false; };")
    assert not n.lines(event="http_listen")
    assert not os.path.exists(n.http_sock)


def test_answer_timeout_and_clients_gone_before_the_answer(nexusd, redis_server):
    n = nexusd(extra=tcp())
    addr = http_address(n)
    wait_status(addr, "/readyz", 200)
    redis_server.proc.send_signal(signal.SIGSTOP)  # connected, but no reply ever comes
    try:
        # a client that leaves while its /status waits for Redis
        gone = raw_socket(addr)
        gone.sendall(b"GET /status HTTP/1.1\r\nHost: localhost\r\n\r\n")
        time.sleep(0.2)
        gone.close()
        t = time.monotonic()
        r = get(addr, "/metrics", timeout=30)
        assert r.status == 504 and r.json() == {"error": "no answer in time"}
        assert 9 <= time.monotonic() - t < 20
        # the loop itself kept serving meanwhile
        assert get(addr, "/healthz").status == 200
    finally:
        redis_server.proc.send_signal(signal.SIGCONT)
    n.wait_log(r"event=http_timeout method=GET path=/metrics", 10)
    # the late replies find their requests answered or abandoned: nothing breaks
    assert wait_status(addr, "/status", 200).json()["processes"]
    n.assert_alive()
