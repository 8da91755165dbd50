"""W3C trace context through jobs: a job's traceparent (docs/PROTOCOL.md) puts its trace id on
the job's log lines, goes on to an http class's request and a command's environment with a
parent-id of the attempt's own, and a malformed one is ignored, logged and counted. A real
redis-server, a loopback HTTP server, a real child process."""
import os
import re

from conftest import push, wait_for
from http_peer import Peer
from httpc import get, http_address, wait_status

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
TRACEPARENT = "00-%s-%s-01" % (TRACE_ID, PARENT_ID)
TRACESTATE = "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"
W3C = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


def header(req, name):
    """A request header by name, whatever its case (None when absent)."""
    for k, v in req["headers"].items():
        if k.lower() == name:
            return v
    return None


def test_a_traced_jobs_log_lines_carry_its_trace_id(nexusd, r):
    d = nexusd()
    traced = push(r, "noop", [], traceparent=TRACEPARENT)
    failed = push(r, "fail", ["boom"], retry=False, traceparent=TRACEPARENT)
    plain = push(r, "noop", [])
    lines = d.wait_jobs([traced, plain])
    assert lines[traced]["trace_id"] == TRACE_ID
    assert re.fullmatch(r"[0-9a-f]{16}", lines[traced]["span_id"])
    assert lines[traced]["span_id"] not in ("0" * 16, PARENT_ID), "the attempt's own span id"
    assert "trace_id" not in lines[plain] and "span_id" not in lines[plain]
    dead = d.wait_jobs([failed], outcome="dead")[failed]
    assert dead["trace_id"] == TRACE_ID and dead["span_id"] != lines[traced]["span_id"]
    assert not d.lines(event="traceparent_invalid")


def test_http_class_request_carries_the_trace_with_a_new_parent_id_each_attempt(nexusd, r):
    answers = []

    def answer(req):
        answers.append(req)
        return (429, {"Retry-After": "0"}, b"later") if len(answers) == 1 else (204, {}, b"")

    p = Peer(answer)
    try:
        d = nexusd({"poll_interval": "0.1s"},
                   classes=[{"name": "app.hook", "url": p.url + "/hook",
                             "secret_env": "NEXUS_TEST_WEBHOOK_SECRET"}],
                   env={"NEXUS_TEST_WEBHOOK_SECRET": "s3cret-for-tests-only"})
        jid = push(r, "app.hook", [1], traceparent=TRACEPARENT, tracestate=TRACESTATE)
        ok = d.wait_jobs([jid])[jid]  # deferred once (429), then run again
        deferred = d.wait_jobs([jid], outcome="deferred")[jid]
        assert len(answers) == 2
        seen = []
        for req in answers:
            m = W3C.match(header(req, "traceparent") or "")
            assert m, req["headers"]
            trace_id, parent_id, flags = m.groups()
            assert trace_id == TRACE_ID and flags == "01"
            assert parent_id not in (PARENT_ID, "0" * 16)
            assert header(req, "tracestate") == TRACESTATE
            seen.append(parent_id)
        assert seen[0] != seen[1], "each attempt is a span of its own"
        assert deferred["trace_id"] == TRACE_ID and deferred["span_id"] == seen[0]
        assert ok["trace_id"] == TRACE_ID and ok["span_id"] == seen[1]
    finally:
        p.close()


def test_http_class_request_of_an_untraced_job_has_no_trace_headers(nexusd, r):
    p = Peer()
    try:
        d = nexusd(classes=[{"name": "app.hook", "url": p.url + "/hook",
                             "secret_env": "NEXUS_TEST_WEBHOOK_SECRET"}],
                   env={"NEXUS_TEST_WEBHOOK_SECRET": "s3cret-for-tests-only"})
        d.wait_jobs([push(r, "app.hook", [], tracestate=TRACESTATE)])
        req = p.requests[0]
        assert header(req, "traceparent") is None and header(req, "tracestate") is None
    finally:
        p.close()


def test_a_command_job_sees_traceparent_in_its_environment(nexusd, r, workdir):
    out = os.path.join(workdir, "trace.out")
    body = 'printf "%s|%s\\n" "$TRACEPARENT" "${TRACESTATE-unset}" >> ' + out
    d = nexusd(classes=[{"name": "tests.trace", "command": ["sh", "-c", body]}])
    traced = push(r, "tests.trace", [], traceparent=TRACEPARENT, tracestate=TRACESTATE)
    lines = d.wait_jobs([traced])
    plain = push(r, "tests.trace", [])
    d.wait_jobs([plain])
    got = open(out).read().splitlines()
    m = W3C.match(got[0].split("|")[0])
    assert m, got
    assert m.group(1) == TRACE_ID and m.group(2) == lines[traced]["span_id"]
    assert m.group(3) == "01"
    assert got[0].split("|")[1] == TRACESTATE
    assert got[1] == "|unset", "no trace context for a job without one"


def test_a_malformed_traceparent_is_ignored_logged_and_counted(nexusd, r):
    p = Peer()
    try:
        d = nexusd(classes=[{"name": "app.hook", "url": p.url + "/hook",
                             "secret_env": "NEXUS_TEST_WEBHOOK_SECRET"}],
                   env={"NEXUS_TEST_WEBHOOK_SECRET": "s3cret-for-tests-only"},
                   extra='http = { listen = "127.0.0.1:0"; };')
        bad = {
            push(r, "app.hook", [], traceparent="01-%s-%s-01" % (TRACE_ID, PARENT_ID)):
                "'traceparent' version must be 00",
            push(r, "app.hook", [], traceparent="00-%s-%s-01" % ("0" * 32, PARENT_ID)):
                "'traceparent' trace-id must not be all zeros",
            push(r, "app.hook", [], traceparent=TRACEPARENT.upper()):
                "must be lowercase hex digits",
            push(r, "app.hook", [], traceparent=42): "'traceparent' must be a string",
        }
        lines = d.wait_jobs(list(bad))
        for jid, why in bad.items():
            assert "trace_id" not in lines[jid], "the job ran, untraced"
            warn = d.lines(event="traceparent_invalid", jid=jid)
            assert len(warn) == 1 and warn[0]["level"] == "warn", warn
            assert why in warn[0]["err"], warn[0]
        assert all(header(req, "traceparent") is None for req in p.requests)
        addr = http_address(d)
        wait_status(addr, "/readyz", 200)
        text = get(addr, "/metrics").body.decode()
        assert 'nexus_jobs_traceparent_invalid_total{class="app.hook"} 4\n' in text
    finally:
        p.close()
