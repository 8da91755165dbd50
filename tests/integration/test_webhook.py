"""`http` classes: jobs POSTed as JSON to a URL of the app, signed with HMAC-SHA256; 2xx is
success, anything else a failure naming the status and the body's start; 429/503 with
Retry-After defer the job without spending an attempt. A real HTTP server on loopback."""
import hashlib
import hmac
import json
import os
import socket
import time

import pytest

from conftest import find_in_zset, push, run_cmd, wait_for, NEXUSD
from http_peer import Peer

SECRET = "s3cret-for-tests-only"


@pytest.fixture
def peer():
    p = Peer()
    yield p
    p.close()


def webhook_class(url, **kw):
    c = {"name": "app.hook", "url": url, "secret_env": "NEXUS_TEST_WEBHOOK_SECRET"}
    c.update(kw)
    return c


def start(nexusd, peer_url, worker=None, **kw):
    return nexusd(worker, classes=[webhook_class(peer_url + "/api/jobs/hook", **kw)],
                  env={"NEXUS_TEST_WEBHOOK_SECRET": SECRET})


def check_signature(req, secret=SECRET):
    sig = req["headers"]["X-Nexus-Signature"]
    parts = dict(p.split("=", 1) for p in sig.split(","))
    t = parts["t"]
    want = hmac.new(secret.encode(), t.encode() + b"." + req["body"], hashlib.sha256).hexdigest()
    assert hmac.compare_digest(parts["v1"], want), (sig, want)
    assert abs(int(t) - time.time()) < 60


def test_job_posted_signed_and_succeeds(nexusd, r, peer):
    d = start(nexusd, peer.url)
    jid = push(r, "app.hook", [{"order_id": 42, "note": "caf\u00e9 <b>"}])
    d.wait_jobs([jid])
    assert peer.count() == 1
    req = peer.requests[0]
    assert req["path"] == "/api/jobs/hook"
    assert req["headers"]["Content-Type"] == "application/json"
    assert req["headers"]["X-Nexus-Jid"] == jid
    assert req["headers"]["Idempotency-Key"] == jid
    assert req["headers"]["X-Nexus-Class"] == "app.hook"
    job = json.loads(req["body"])
    assert job["jid"] == jid and job["class"] == "app.hook"
    assert job["args"] == [{"order_id": 42, "note": "caf\u00e9 <b>"}]
    check_signature(req)
    assert int(r.get("stat:processed") or 0) == 1


def test_signature_is_not_valid_for_another_secret(nexusd, r, peer):
    d = start(nexusd, peer.url)
    d.wait_jobs([push(r, "app.hook", [1])])
    with pytest.raises(AssertionError):
        check_signature(peer.requests[0], secret="another")


def test_non_2xx_fails_with_status_and_excerpt(nexusd, r):
    p = Peer(lambda req: (422, {"Content-Type": "application/json"},
                          b'{"error":"order 7 not found"}' + b"x" * 5000))
    try:
        d = start(nexusd, p.url)
        jid = push(r, "app.hook", [7], retry=1)
        e = d.wait_jobs([jid], outcome="retry")[jid]
        assert e["error_class"] == "NexusWebhookFailed"
        job, _ = wait_for(lambda: find_in_zset(r, "retry", jid), what="job in retry")
        assert job["error_message"].startswith('HTTP 422: {"error":"order 7 not found"}xxx')
        assert job["error_message"].endswith("...")
        assert len(job["error_message"]) < 400
    finally:
        p.close()


def test_redirect_is_not_followed(nexusd, r):
    p = Peer(lambda req: (302, {"Location": "http://127.0.0.1:1/elsewhere"}, b""))
    try:
        d = start(nexusd, p.url)
        jid = push(r, "app.hook", [], retry=False)
        e = d.wait_jobs([jid], outcome="dead")[jid]
        assert e["error_class"] == "NexusWebhookFailed"
        assert p.count() == 1
    finally:
        p.close()


def test_429_retry_after_defers_without_spending_an_attempt(nexusd, r):
    calls = []

    def answer(req):
        calls.append(time.time())
        if len(calls) == 1:
            return (429, {"Retry-After": "2"}, b"slow down")
        return (200, {}, b"ok")

    p = Peer(answer)
    try:
        d = start(nexusd, p.url, {"poll_interval": "0.1s"})
        jid = push(r, "app.hook", [], retry=3)
        d.wait_jobs([jid], timeout=20)
        assert len(calls) == 2
        assert 1.8 <= calls[1] - calls[0] <= 5, calls
        deferred = d.lines(event="job", outcome="deferred")
        assert len(deferred) == 1 and deferred[0]["jid"] == jid
        ok = d.lines(event="job", outcome="ok")[0]
        assert ok["attempt"] == "1", "the deferral spent no attempt"
        assert int(r.get("stat:failed") or 0) == 0
    finally:
        p.close()


def test_503_without_retry_after_is_a_failure(nexusd, r):
    p = Peer(lambda req: (503, {}, b"maintenance"))
    try:
        d = start(nexusd, p.url)
        jid = push(r, "app.hook", [], retry=1)
        e = d.wait_jobs([jid], outcome="retry")[jid]
        assert e["error_class"] == "NexusWebhookFailed"
    finally:
        p.close()


def test_unreachable_peer_is_retried_not_lost(nexusd, r):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    d = start(nexusd, "http://127.0.0.1:%d" % port)
    jid = push(r, "app.hook", [], retry=2)
    e = d.wait_jobs([jid], outcome="retry")[jid]
    assert e["error_class"] == "NexusWebhookUnreachable"
    job, _ = wait_for(lambda: find_in_zset(r, "retry", jid), what="job in retry")
    assert "onnect" in job["error_message"], job["error_message"]


def test_hanging_peer_times_out_and_is_retried(nexusd, r):
    p = Peer(lambda req: (200, {}, b"late", 5))
    try:
        d = start(nexusd, p.url, timeout="1s")
        jid = push(r, "app.hook", [], retry=2)
        t0 = time.monotonic()
        e = d.wait_jobs([jid], outcome="retry", timeout=10)[jid]
        assert time.monotonic() - t0 < 4
        assert "imeout" in e["error_class"] or "imeout" in e.get("error", ""), e
        # the loop kept working while the peer hung
        push(r, "noop", [])
    finally:
        p.close()


def test_many_at_once_do_not_block_each_other(nexusd, r):
    p = Peer(lambda req: (200, {}, b"", 0.5))
    try:
        d = start(nexusd, p.url, {"concurrency": 40})
        t0 = time.monotonic()
        jids = [push(r, "app.hook", [i]) for i in range(40)]
        d.wait_jobs(jids, timeout=20)
        # 40 half-second answers in parallel, not one after another (20 s)
        assert time.monotonic() - t0 < 8
        assert p.count() == 40
    finally:
        p.close()


def test_secret_from_a_file(nexusd, r, peer, workdir):
    path = os.path.join(workdir, "hook.secret")
    with open(path, "w") as f:
        f.write("file-secret\n")
    os.chmod(path, 0o600)  # a secret file open to others is refused
    cls = {"name": "app.hook", "url": peer.url + "/h", "secret_file": path}
    d = nexusd(classes=[cls])
    d.wait_jobs([push(r, "app.hook", [])])
    check_signature(peer.requests[0], secret="file-secret")


@pytest.mark.parametrize("cls,expect", [
    ({"url": "ftp://x/y", "secret_env": "HOME"}, "must start with http:// or https://"),
    ({"url": "http://127.0.0.1/x"}, "exactly one of secret_file or secret_env"),
    ({"url": "http://127.0.0.1/x", "secret_env": "NEXUS_NOT_SET_ANYWHERE"},
     "secret_env names NEXUS_NOT_SET_ANYWHERE, which is not set"),
    ({"url": "http://127.0.0.1/x", "secret_file": "/nonexistent/secret"},
     "secret_file cannot be read: /nonexistent/secret"),
    ({"secret_env": "HOME"}, "secret_env needs classes[0].url"),
    ({"url": "http://127.0.0.1/x", "secret_env": "HOME", "sql": "SELECT 1"},
     "both url and sql"),
])
def test_bad_webhook_config_is_refused_with_file_and_line(workdir, cls, expect):
    from conftest import make_config
    c = {"name": "app.hook"}
    c.update(cls)
    path = os.path.join(workdir, "bad.conf")
    with open(path, "w") as f:
        f.write(make_config(classes=[c]))
    out = run_cmd([NEXUSD, "-t", "-c", path])
    assert out.returncode != 0
    assert path + ":" in out.stderr and expect in out.stderr, out.stderr
