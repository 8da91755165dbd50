"""GET /metrics: checked by Prometheus' own promtool and by a strict parser of the text
format here, with values matching what the process ran and what Redis holds."""
import json
import re
import subprocess
import time

from conftest import make_job, push, push_raw, push_many, wait_for
from httpc import get, http_address, wait_status

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_LABEL = r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"'
_SAMPLE = re.compile(r"^(%s)(\{(?:%s)(?:,%s)*\})? (\S+)$" % (_NAME, _LABEL, _LABEL))
_VALUE = re.compile(r"^([+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?|[+-]Inf|NaN)$")


def parse(text):
    """Strict text format 0.0.4: every sample in a family announced by HELP and TYPE (once),
    names with the suffixes of their type, valid labels and values, histograms whose buckets
    are cumulative and end with le="+Inf" equal to _count. Returns {(name, labels): value}."""
    assert text.endswith("\n")
    families, samples, current = {}, {}, None
    for line in text.splitlines():
        m = re.match(r"^# (HELP|TYPE) (%s) (.+)$" % _NAME, line)
        if m:
            kind, name, rest = m.groups()
            fam = families.setdefault(name, {})
            assert kind not in fam, "second %s for %s" % (kind, name)
            fam[kind] = rest
            if kind == "TYPE":
                assert rest in ("counter", "gauge", "histogram", "summary", "untyped"), line
                assert "HELP" in fam, "TYPE before HELP: " + line
            current = name
            continue
        assert not line.startswith("#"), line
        m = _SAMPLE.match(line)
        assert m, "bad sample line: %r" % line
        name, value = m.group(1), m.group(m.lastindex)
        assert _VALUE.match(value), line
        labels = tuple(re.findall(_LABEL, m.group(2) or ""))
        assert len({k for k, _ in labels}) == len(labels), "repeated label: " + line
        kind = families[current]["TYPE"]
        allowed = {"counter": [current], "gauge": [current],
                   "histogram": [current + s for s in ("_bucket", "_sum", "_count")]}[kind]
        assert name in allowed, "%s outside its family %s" % (name, current)
        if kind == "counter":
            assert name.endswith("_total")
        key = (name, labels)
        assert key not in samples, "duplicate sample " + line
        samples[key] = float(value)
    for name, fam in families.items():
        if fam["TYPE"] != "histogram":
            continue
        series = {}
        for (n, labels), v in samples.items():
            if n == name + "_bucket":
                rest = tuple(l for l in labels if l[0] != "le")
                le = dict(labels)["le"]
                series.setdefault(rest, []).append((float(le), v))
        for rest, buckets in series.items():
            buckets.sort()
            assert buckets[-1][0] == float("inf")
            assert all(a[1] <= b[1] for a, b in zip(buckets, buckets[1:])), buckets
            assert buckets[-1][1] == samples[(name + "_count", rest)]
            assert (name + "_sum", rest) in samples
    return samples


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))))


def test_metrics_pass_promtool_and_count_what_ran(nexusd, r):
    n = nexusd({"queues": ["default"]}, extra='http = { listen = "127.0.0.1:0"; };')
    addr = http_address(n)
    wait_status(addr, "/readyz", 200)
    ok = [push(r, "noop", []) for _ in range(5)]
    slow = push(r, "sleep", [300])
    failed = push(r, "fail", ["boom"], retry=3)
    n.wait_jobs(ok + [slow])
    n.wait_jobs([failed], outcome="retry")
    push_raw(r, "{not json", "default")
    n.wait_log(r"outcome=dead", 10)
    # waiting jobs in a queue no process serves; the oldest enqueued 60 s ago
    old = make_job("noop", [], queue="backlog", enqueued_at=time.time() - 60)
    push_many(r, [old] + [make_job("noop", [], queue="backlog") for _ in range(2)],
              queue="backlog")
    r.zadd("schedule", {json.dumps(make_job("noop", [])): time.time() + 3600})

    res = get(addr, "/metrics")
    assert res.status == 200
    text = res.body.decode()
    check = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                           text=True, timeout=30)
    assert check.returncode == 0, check.stdout + check.stderr + "\n" + text
    s = parse(text)

    assert value(s, "nexus_jobs_processed_total", **{"class": "noop"}) == 5
    assert value(s, "nexus_jobs_failed_total", **{"class": "noop"}) == 0
    assert value(s, "nexus_jobs_processed_total", **{"class": "fail"}) == 1
    assert value(s, "nexus_jobs_failed_total", **{"class": "fail"}) == 1
    assert value(s, "nexus_job_duration_seconds_count", **{"class": "sleep"}) == 1
    assert value(s, "nexus_job_duration_seconds_bucket", **{"class": "sleep", "le": "0.25"}) == 0
    assert value(s, "nexus_job_duration_seconds_bucket", **{"class": "sleep", "le": "0.5"}) == 1
    assert 0.3 <= value(s, "nexus_job_duration_seconds_sum", **{"class": "sleep"}) < 0.5
    assert value(s, "nexus_queue_size", queue="backlog") == 3
    assert value(s, "nexus_queue_size", queue="default") == 0
    assert 59 <= value(s, "nexus_queue_latency_seconds", queue="backlog") < 120
    assert value(s, "nexus_queue_latency_seconds", queue="default") == 0
    assert value(s, "nexus_scheduled_jobs") == 1
    assert value(s, "nexus_retry_jobs") == 1
    assert value(s, "nexus_dead_jobs") == 1
    assert value(s, "nexus_redis_up") == 1
    assert value(s, "nexus_jobs_in_flight") == 0
    assert value(s, "nexus_concurrency") == 10
    assert value(s, "nexus_build_info", version=n.lines(event="start")[0]["version"]) == 1
    assert abs(value(s, "nexus_process_start_time_seconds") - n.started_at) < 5
    assert value(s, "nexus_postgresql_up") is None  # no database.url


def test_in_flight_gauge_and_label_escaping(nexusd, r):
    n = nexusd(extra='http = { listen = "127.0.0.1:0"; };')
    addr = http_address(n)
    wait_status(addr, "/readyz", 200)
    jid = push(r, "sleep", [1500])
    # a queue name with characters the format must escape
    push(r, "noop", [], queue='we"ird\\q')

    def in_flight():
        return value(parse(get(addr, "/metrics").body.decode()), "nexus_jobs_in_flight") == 1

    wait_for(in_flight, 10, what="the job in flight")
    text = get(addr, "/metrics").body.decode()
    assert 'nexus_queue_size{queue="we\\"ird\\\\q"} 1\n' in text
    check = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                           text=True, timeout=30)
    assert check.returncode == 0, check.stdout + check.stderr
    n.wait_jobs([jid])
