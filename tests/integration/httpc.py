"""A small HTTP client for the tests of nexusd's operators' endpoint: real requests over TCP
or a unix socket (http.client), raw bytes for requests no client library would send."""
import http.client
import json
import re
import socket
import time

from conftest import wait_for


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=10):
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


def http_address(n, timeout=10):
    """The address a nexusd logged at start (event=http_listen)."""
    line = n.wait_log(r"event=http_listen", timeout)[0]
    return re.search(r"address=(\S+)", line).group(1).strip('"')


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def header(self, name):
        return self.headers.get(name.lower())

    def json(self):
        return json.loads(self.body)


def connect(address, timeout=10):
    if address.startswith("unix:"):
        return UnixHTTPConnection(address[5:], timeout=timeout)
    host, port = address.rsplit(":", 1)
    return http.client.HTTPConnection(host, int(port), timeout=timeout)


def request(address, method, path, body=None, headers=None, timeout=10):
    c = connect(address, timeout)
    try:
        try:
            c.request(method, path, body=body, headers=headers or {})
        except (BrokenPipeError, ConnectionResetError):
            # the server answered before the body was all written (a 413 from the
            # Content-Length) and closed: its answer is read all the same, as curl does
            pass
        r = c.getresponse()
        return Response(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
    finally:
        c.close()


def get(address, path, **kw):
    return request(address, "GET", path, **kw)


def slowest_answer(address, path, seconds, interval=0.05):
    """GETs `path` every `interval` for `seconds`, each answered 200; returns the slowest
    answer's time in seconds (how long the loop kept an answer waiting)."""
    worst, t_end = 0.0, time.monotonic() + seconds
    while time.monotonic() < t_end:
        t0 = time.monotonic()
        assert get(address, path).status == 200
        worst = max(worst, time.monotonic() - t0)
        time.sleep(interval)
    return worst


def raw_socket(address, timeout=10):
    if address.startswith("unix:"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.connect(address[5:])
        return s
    host, port = address.rsplit(":", 1)
    return socket.create_connection((host, int(port)), timeout=timeout)


def raw(address, data, timeout=10, until_close=False):
    """Sends bytes as they are; returns (status or None, whole answer) once the server closes
    or, unless `until_close`, the answer is complete (a socket.timeout when neither comes)."""
    s = raw_socket(address, timeout)
    try:
        s.sendall(data)
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            out += chunk
            if until_close:
                continue
            m = re.search(rb"\r\nContent-Length: (\d+)\r\n", out, re.I)
            head_end = out.find(b"\r\n\r\n")
            if m and head_end >= 0 and len(out) >= head_end + 4 + int(m.group(1)):
                break
    finally:
        s.close()
    m = re.match(rb"HTTP/1\.[01] (\d{3}) ", out)
    return (int(m.group(1)) if m else None), out


def wait_status(address, path, status, timeout=15):
    """Polls until `path` answers `status`; returns that response."""
    def check():
        try:
            r = get(address, path, timeout=5)
        except OSError:
            return None
        return r if r.status == status else None

    return wait_for(check, timeout, interval=0.05, what="%s to answer %d" % (path, status))
