"""The operators' HTTP endpoint under pressure: it never goes deaf at its connection limit,
idle and slow clients cannot starve health checks, Host is checked against DNS rebinding,
ambiguous requests are refused, and an exposed endpoint without a token is warned about."""
import json
import re
import signal
import socket
import time

from conftest import make_job, push_many, wait_for
from httpc import get, http_address, raw, raw_socket, wait_status


def tcp(**settings):
    """An http group listening on a free loopback port, plus `settings`."""
    s = {"listen": "127.0.0.1:0"}
    s.update(settings)
    return "http = { %s };" % " ".join(
        "%s = %s;" % (k, json.dumps(v) if isinstance(v, (str, list)) else v)
        for k, v in s.items())


def healthz_time(addr):
    """Seconds for GET /healthz on a fresh connection; fails when it does not answer 200."""
    t = time.monotonic()
    assert get(addr, "/healthz", timeout=5).status == 200
    return time.monotonic() - t


def closed_by_server(s, timeout):
    """Whether the server closes `s` within `timeout` seconds (reading what it sends)."""
    s.settimeout(timeout)
    try:
        while s.recv(4096):
            pass
    except ConnectionResetError:
        pass
    except socket.timeout:
        return False
    return True


def close_at_once(n, socks):
    """Closes `socks` while `n` is stopped, so that it sees every close in one loop turn."""
    n.signal(signal.SIGSTOP)
    try:
        for s in socks:
            s.close()
        time.sleep(0.2)
    finally:
        n.signal(signal.SIGCONT)


def rss_kib(n):
    with open("/proc/%d/status" % n.proc.pid) as f:
        return int(re.search(r"^VmRSS:\s+(\d+) kB", f.read(), re.M).group(1))


def test_listener_comes_back_after_the_limit_closes_at_once(nexusd):
    n = nexusd(extra=tcp(max_connections=64))
    addr = http_address(n)
    for _ in range(3):
        held = [raw_socket(addr) for _ in range(64)]
        n.wait_log(r"event=http_limit_reached connections=64 max_connections=64")
        close_at_once(n, held)
        # before the fix, the listener stayed out of libmicrohttpd's epoll set for good
        assert healthz_time(addr) < 2
    n.assert_alive()


def test_listener_comes_back_after_keep_alive_clients_close_at_once(nexusd):
    n = nexusd(extra=tcp(max_connections=64))
    addr = http_address(n)
    for _ in range(3):
        held = [raw_socket(addr) for _ in range(64)]
        for s in held:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        for s in held:
            assert s.recv(4096).startswith(b"HTTP/1.1 200 ")
        close_at_once(n, held)
        assert healthz_time(addr) < 2


def test_reaching_the_connection_limit_is_logged(nexusd):
    n = nexusd(extra=tcp(max_connections=5))
    addr = http_address(n)
    held = [raw_socket(addr) for _ in range(5)]
    line = n.wait_log(r"event=http_limit_reached")[0]
    assert "connections=5 max_connections=5" in line
    assert "more wait in the listen queue until one closes" in line
    for s in held:
        s.close()
    assert healthz_time(addr) < 2


def test_idle_and_slow_headers_do_not_starve_health_checks(nexusd, r):
    # the defaults: max_connections 4096, header_timeout 10s; every client from 127.0.0.1
    n = nexusd({"concurrency": 20}, extra=tcp())
    addr = http_address(n)
    wait_status(addr, "/readyz", 200)
    rss_before = rss_kib(n)
    opened = time.monotonic()
    idle = [raw_socket(addr) for _ in range(1000)]
    slow = [raw_socket(addr) for _ in range(64)]
    for s in slow:
        s.sendall(b"GET /status HTTP/1.1\r\n")
    times = []
    jobs = [make_job("noop", []) for _ in range(500)]
    push_many(r, jobs)
    for i in range(5):
        for k, s in enumerate(slow):
            s.sendall(b"X-%d-%d: y\r\n" % (k, i))  # a header line a second, never finished
        times.append(healthz_time(addr))
        time.sleep(1)
    rss_held = rss_kib(n)
    n.wait_jobs([j["jid"] for j in jobs], timeout=30)
    print("GET /healthz with 1000 idle and 64 slow-header connections open: worst %.3fs; "
          "RSS %d KiB before, %d KiB with them" % (max(times), rss_before, rss_held))
    assert max(times) < 1.0, times
    # every one of them is closed once header_timeout has passed, trickling or not
    for s in slow + idle[:50]:
        assert closed_by_server(s, max(1, opened + 20 - time.monotonic())), "still open"
    assert time.monotonic() - opened > 9
    n.wait_log(r"event=http_header_timeout closed=\d+ peer=\"?127\.0\.0\.1:\d+\"? after=10\.0s")
    for s in idle + slow:
        s.close()
    assert healthz_time(addr) < 1.0


def test_header_timeout_is_a_deadline_not_an_idle_timer(nexusd):
    n = nexusd(extra=tcp(header_timeout="1s", idle_timeout="30s"))
    addr = http_address(n)
    s = raw_socket(addr)
    t = time.monotonic()
    closed = False
    for b in b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: " + b"y" * 100:
        try:
            s.sendall(bytes([b]))
        except (BrokenPipeError, ConnectionResetError):
            closed = True
            break
        time.sleep(0.1)
    assert closed or closed_by_server(s, 1)
    assert 0.9 < time.monotonic() - t < 4
    s.close()
    n.wait_log(r"event=http_header_timeout closed=1 .*after=1\.0s")

    # a kept-alive connection has header_timeout for its next request once answered
    s = raw_socket(addr)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
    assert s.recv(4096).startswith(b"HTTP/1.1 200 ")
    time.sleep(0.5)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
    assert s.recv(4096).startswith(b"HTTP/1.1 200 ")
    t = time.monotonic()
    assert closed_by_server(s, 5)
    assert 0.9 < time.monotonic() - t < 4
    s.close()
    # a request sent whole in time is served however long its handler takes
    assert healthz_time(addr) < 1


def test_host_header_is_checked_against_dns_rebinding(nexusd):
    n = nexusd(extra=tcp(allowed_hosts=["nexus.example", ".ops.example"]))
    addr = http_address(n)
    port = addr.rsplit(":", 1)[1]
    wait_status(addr, "/readyz", 200)

    def status(host):
        return raw(addr, b"GET /api/dead HTTP/1.1\r\nHost: " + host.encode() + b"\r\n\r\n")

    code, out = status("attacker.example")
    assert code == 421, out
    body = json.loads(out.split(b"\r\n\r\n", 1)[1])
    assert body == {"error": "unknown host (see http.allowed_hosts)"}
    assert status("attacker.example:%s" % port)[0] == 421
    assert status("localhost.attacker.example")[0] == 421
    assert status("10.0.0.1")[0] == 421
    line = n.wait_log(r"event=http_refused status=421")[0]
    assert 'host=attacker.example' in line and "path=/api/dead" in line
    for host in ("localhost", "localhost:" + port, "127.0.0.1:" + port, "[::1]:" + port,
                 "nexus.example", "NEXUS.example:8080", "ops.example", "a.ops.example"):
        assert status(host)[0] == 200, host
    # HTTP/1.0 may leave Host out
    assert raw(addr, b"GET /healthz HTTP/1.0\r\n\r\n")[0] == 200


def test_ambiguous_requests_get_400_and_a_closed_connection(nexusd):
    n = nexusd(extra=tcp())
    addr = http_address(n)
    smuggled = b"GET /status HTTP/1.1\r\nHost: localhost\r\n\r\n"
    cases = [
        (b"POST /healthz HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n"
         b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled,
         "both Content-Length and Transfer-Encoding"),
        (b"POST /healthz HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n"
         b"Content-Length: 44\r\n\r\nhello" + smuggled,
         "more than one Content-Length header"),
        (b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nHost: attacker.example\r\n\r\n" + smuggled,
         "more than one Host header"),
        (b"GET /healthz%00.html HTTP/1.1\r\nHost: localhost\r\n\r\n" + smuggled,
         "%00 in the URL"),
        (b"GET /api/dead?queue=a%00b HTTP/1.1\r\nHost: localhost\r\n\r\n" + smuggled,
         "%00 in the URL"),
    ]
    for request, why in cases:
        _, out = raw(addr, request, timeout=5, until_close=True)
        code = int(out[9:12]) if out.startswith(b"HTTP/1.1 ") else None
        assert code == 400, (request, out)
        assert json.loads(out.split(b"\r\n\r\n", 1)[1]) == {"error": why}
        # one answer, then the server closes: the rest is never read as a request
        assert out.count(b"HTTP/1.1 ") == 1, out
    assert n.lines(event="http_refused")
    # an ordinary request still works
    assert healthz_time(addr) < 1


def test_exposed_listener_without_a_token_is_warned_about(nexusd):
    n = nexusd(extra=tcp(listen="0.0.0.0:0"))
    http_address(n)
    line = n.wait_log(r"event=http_exposed")[0]
    assert "level=warn" in line and "listen=0.0.0.0:0" in line
    assert "no token is set" in line

    quiet = [nexusd(extra=tcp(listen="0.0.0.0:0"),
                    env={"NEXUS_HTTP_TOKEN": "0123456789abcdef0123"}),
             nexusd(extra=tcp())]
    for q in quiet:
        http_address(q)
        assert not q.lines(event="http_exposed")


def test_a_low_file_limit_is_raised_or_the_connection_limit_lowered(nexusd):
    n = nexusd(extra=tcp(max_connections=2000), start=False)
    n.wrapper = ["prlimit", "--nofile=512:8192", "--"]
    n.start()
    line = n.wait_log(r"event=http_nofile_raised")[0]
    assert "nofile=2256 max_connections=2000" in line
    held = [raw_socket(http_address(n)) for _ in range(600)]
    assert healthz_time(http_address(n)) < 1
    for s in held:
        s.close()

    low = nexusd(extra=tcp(max_connections=2000), start=False)
    low.wrapper = ["prlimit", "--nofile=1024:1024", "--"]
    low.start()
    line = low.wait_log(r"event=http_nofile_low")[0]
    assert "level=warn" in line and "max_connections=2000 using=768" in line
    addr = http_address(low)
    held = [raw_socket(addr) for _ in range(768)]
    low.wait_log(r"event=http_limit_reached connections=768 max_connections=768")
    for s in held:
        s.close()
    assert healthz_time(addr) < 2
    low.assert_alive()
