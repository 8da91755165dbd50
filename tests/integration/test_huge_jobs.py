"""Jobs over worker.max_job_size and undecodable jobs over worker.dead_keep_max: they go to
dead as a small entry (an excerpt, the size and SHA-256 of the text), the process's memory
stays bounded, and its loop keeps serving other jobs and /healthz meanwhile."""
import base64
import hashlib
import json
import os
import re
import subprocess
import sys
import time

from conftest import ASAN, NEXUSCTL, NEXUSD, make_config, push, push_raw, run_cmd, wait_for
from httpc import http_address

MIB = 1 << 20
JID = "0123456789abcdef01234567"


def huge_job(size, filler=b"x", jid=JID, cls="noop"):
    """A job of exactly `size` bytes, jid and class first (as in its excerpt), then args."""
    head = b'{"jid":"%s","class":"%s","queue":"default","retry":true,"args":["' % (
        jid.encode(), cls.encode())
    tail = b'"]}'
    n = size - len(head) - len(tail)
    return head + (filler * (n // len(filler) + 1))[:n] + tail


def sanitized():
    """Whether nexusd is an ASan build (its memory then says nothing about nexusd's own)."""
    with open(NEXUSD, "rb") as f:
        return b"__asan_init" in f.read()


def assert_peak_rss_below(pid, mib):
    if not sanitized():
        peak = peak_rss_kib(pid)
        assert peak < mib * 1024, "peak RSS %d KiB" % peak


def peak_rss_kib(pid):
    """The process's peak resident memory (VmHWM) in KiB."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM")


# The prober, a process of its own: as a thread of the test it shared the interpreter lock
# with the test's own copies of the 100 MB (pushing it, hashing it), which then counted as
# nexusd's stall (1.2 s on a quiet machine, 1.7 s beside other tests).
PROBE = """
import json, os, signal, sys, time
from httpc import get
parent = os.getppid()
stop, worst, answers, errors = [], 0.0, 0, []
signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
print("ready", flush=True)
while not stop and os.getppid() == parent:  # the test's end, or its death
    t0 = time.monotonic()
    try:
        assert get(sys.argv[1], "/healthz", timeout=30).status == 200
        answers += 1
    except Exception as e:
        errors.append(repr(e))
    worst = max(worst, time.monotonic() - t0)
    time.sleep(0.02)
print(json.dumps({"worst": worst, "answers": answers, "errors": errors}))
"""


class HealthProbe:
    """Asks /healthz every 20 ms from a process of its own; finish() returns the slowest
    answer (s), `answers` and `errors` are then set."""

    def __init__(self, address):
        self.proc = subprocess.Popen([sys.executable, "-c", PROBE, address],
                                     stdout=subprocess.PIPE, text=True,
                                     cwd=os.path.dirname(os.path.abspath(__file__)))
        assert self.proc.stdout.readline() == "ready\n"
        self.answers, self.errors = 0, []

    def finish(self):
        self.proc.terminate()
        out, _ = self.proc.communicate(timeout=35)
        got = json.loads(out)
        self.answers, self.errors = got["answers"], got["errors"]
        return got["worst"]


def dead_entry(rb):
    wait_for(lambda: rb.zcard("dead") == 1, timeout=60, what="one job in dead")
    member = rb.zrange("dead", 0, -1)[0]
    return member, json.loads(member)


def assert_cut_entry(member, job, text, error_class):
    assert len(member) < 8192, len(member)
    assert job["class"] == "nexus.invalid"
    assert job["error_class"] == error_class
    assert job["nexus_original_size"] == len(text)
    assert job["nexus_original_sha256"] == hashlib.sha256(text).hexdigest()
    assert job["nexus_truncated"] is True
    assert job["nexus_excerpt"] == text[:1024].decode("utf-8", "replace")[:len(job["nexus_excerpt"])]
    assert 1000 <= len(job["nexus_excerpt"].encode()) <= 1024
    assert "nexus_raw" not in job and "nexus_raw_base64" not in job


def test_100mb_job_goes_to_dead_small_while_other_jobs_flow(redis_server, nexusd):
    rb = redis_server.client(decode=False)
    d = nexusd()
    text = huge_job(100 * MIB)
    probe = HealthProbe(http_address(d))
    try:
        push_raw(rb, text)
        others = [push(rb, "noop", [i]) for i in range(20)]
        member, job = dead_entry(rb)
        d.wait_jobs(others, timeout=60)
    finally:
        worst = probe.finish()
    assert not probe.errors, probe.errors[:3]
    assert probe.answers > 0
    assert_cut_entry(member, job, text, "NexusJobTooLarge")
    assert job["jid"] == JID and job["nexus_original_class"] == "noop"
    assert job["queue"] == "default"
    assert job["error_message"] == ("job of 104857600 bytes exceeds worker.max_job_size "
                                    "(1048576); not decoded")
    assert job["retry_count"] == 0
    # nothing left behind: the in-flight entry went by its digest, the text was not sent back
    wait_for(lambda: rb.llen(d.inflight_key()) == 0, what="in-flight list empty")
    assert rb.llen("queue:default") == 0
    line = d.lines(event="job", outcome="dead")[0]
    assert line["jid"] == JID and line["size"] == str(100 * MIB)
    assert line["sha256"] == hashlib.sha256(text).hexdigest()
    # before: 734 MB peak, a 2.9 s stall; now the hiredis reply is the only full copy
    assert_peak_rss_below(d.pid, 400)
    # about 0.45 s here (0.75-0.9 s for the ASan build, unoptimised and checking every
    # access, which copies and reads the 100 MB more slowly)
    bound = 2.0 if ASAN else 1.0
    assert worst < bound, "the loop stalled %.2fs" % worst
    d.assert_alive()


def test_huge_job_in_a_batch_fetch_among_others(redis_server, nexusd):
    """Jobs waiting at start are taken in batches by fetch.lua (not BLMOVE): the same."""
    rb = redis_server.client(decode=False)
    text = huge_job(20 * MIB)
    before = [push(rb, "noop", [i]) for i in range(5)]
    push_raw(rb, text)
    after = [push(rb, "noop", [i]) for i in range(5)]
    d = nexusd()
    member, job = dead_entry(rb)
    assert_cut_entry(member, job, text, "NexusJobTooLarge")
    d.wait_jobs(before + after)
    wait_for(lambda: rb.llen(d.inflight_key()) == 0, what="in-flight list empty")
    assert rb.llen("queue:default") == 0


def test_huge_scheduled_job_goes_to_dead_undecoded(redis_server, nexusd):
    """The poller moving due jobs from `schedule` checks the size before decoding too."""
    rb = redis_server.client(decode=False)
    d = nexusd()
    text = huge_job(20 * MIB)
    rb.zadd("schedule", {text: time.time() - 1})
    member, job = dead_entry(rb)
    assert_cut_entry(member, job, text, "NexusJobTooLarge")
    assert job["jid"] == JID and job["queue"] == "default"
    assert rb.zcard("schedule") == 0 and rb.llen("queue:default") == 0
    line = d.wait_log(r"event=invalid_job where=schedule .*outcome=dead")[0]
    assert "size=%d" % (20 * MIB) in line
    jid = push(rb, "noop", [1])
    d.wait_jobs([jid])


def test_50mb_of_invalid_utf8(redis_server, nexusd):
    rb = redis_server.client(decode=False)
    d = nexusd()
    text = huge_job(50 * MIB, filler=b"\xff\xfe caf\xc3")
    push_raw(rb, text)
    member, job = dead_entry(rb)
    assert_cut_entry(member, job, text, "NexusJobTooLarge")
    assert "\ufffd" in job["nexus_excerpt"]
    d.wait_log(r"event=job .*outcome=dead")
    wait_for(lambda: rb.llen(d.inflight_key()) == 0, what="in-flight list empty")
    assert_peak_rss_below(d.pid, 300)


def test_undecodable_job_under_the_limit_is_kept_whole_only_up_to_dead_keep_max(redis_server,
                                                                               nexusd):
    rb = redis_server.client(decode=False)
    d = nexusd(make_config(worker={"max_job_size": 64 * MIB}))
    # 20 MB of invalid UTF-8: decoded (under the limit), invalid, over dead_keep_max
    big = huge_job(20 * MIB, filler=b"\xff\xfe caf\xc3")
    push_raw(rb, big)
    member, job = dead_entry(rb)
    assert_cut_entry(member, job, big, "NexusInvalidJob")
    assert job["error_message"].startswith("invalid JSON")
    wait_for(lambda: rb.llen(d.inflight_key()) == 0, what="in-flight list empty")
    rb.delete("dead")
    # 60 KiB of invalid UTF-8: within dead_keep_max (64 KiB), kept whole, byte for byte
    small = huge_job(60 * 1024, filler=b"\xff\xfe caf\xc3")
    push_raw(rb, small)
    member, job = dead_entry(rb)
    assert job["error_class"] == "NexusInvalidJob"
    assert "nexus_truncated" not in job
    assert base64.b64decode(job["nexus_raw_base64"]) == small


def test_job_at_the_limit_runs_one_byte_more_goes_to_dead(redis_server, nexusd):
    rb = redis_server.client(decode=False)
    d = nexusd(make_config(worker={"max_job_size": 65536}))
    at = huge_job(65536, jid="a" * 24)
    over = huge_job(65537, jid="b" * 24)
    push_raw(rb, at)
    d.wait_jobs(["a" * 24])
    push_raw(rb, over)
    member, job = dead_entry(rb)
    assert_cut_entry(member, job, over, "NexusJobTooLarge")
    assert job["jid"] == "b" * 24
    assert "65537 bytes exceeds worker.max_job_size (65536)" in job["error_message"]
    # the jobs after it still run
    jid = push(rb, "noop", [1])
    d.wait_jobs([jid])


def test_default_limit_runs_a_job_just_under_1_mib(redis_server, nexusd):
    rb = redis_server.client(decode=False)
    d = nexusd()
    push_raw(rb, huge_job(MIB, jid="c" * 24))
    d.wait_jobs(["c" * 24])
    assert rb.zcard("dead") == 0


def test_max_job_size_is_checked_in_the_config(workdir):
    path = os.path.join(workdir, "bad.conf")
    with open(path, "w") as f:
        f.write("worker = {\n  max_job_size = 100;\n};\n")
    res = run_cmd([NEXUSD, "-c", path, "--check-config"])
    assert res.returncode != 0
    assert "bad.conf:2: worker.max_job_size must be 1024..536870912 (got 100)" in res.stderr, \
        res.stderr


def test_nexusctl_enqueue_refuses_a_job_over_max_job_size(redis_server, workdir):
    path = os.path.join(workdir, "small.conf")
    with open(path, "w") as f:
        f.write("worker = { max_job_size = 1024; };\n")
    env = {"REDIS_URL": redis_server.url}
    res = run_cmd([NEXUSCTL, "-c", path, "enqueue", "noop", json.dumps(["x" * 2000])], env=env)
    assert res.returncode == 2, (res.returncode, res.stdout, res.stderr)
    assert re.search(r"the job is \d+ bytes, above worker.max_job_size \(1024 bytes\): nexusd "
                     r"would not run it", res.stderr), res.stderr
    assert redis_server.client().llen("queue:default") == 0
    res = run_cmd([NEXUSCTL, "-c", path, "enqueue", "noop", json.dumps(["x" * 500])], env=env)
    assert res.returncode == 0, res.stderr
