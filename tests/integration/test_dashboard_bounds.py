"""The dashboard's list reads are bounded: the page size is capped, long texts come as
excerpts with their sizes (short without the token, longer with it, never whole when large),
a 100 MB job is never shipped whole, and a large job once read is not read again while it
stays. Against a real redis-server and nexusd; no timings are asserted."""
import json
import os
import threading
import time

import pytest

from conftest import make_job, push, wait_for
from httpc import get, http_address, request
from test_dashboard import browser_ready, run_browser  # noqa: F401 (a fixture)

TOKEN = "bounds-token-8e1f5a2c7d90b364"
PUBLIC = 200     # EXCERPT_PUBLIC
WITH_TOKEN = 8192  # EXCERPT_TOKEN
MEMBER_MAX = 64 << 10


@pytest.fixture
def token_file(workdir):
    path = os.path.join(workdir, "token")
    with open(path, "w") as f:
        f.write(TOKEN + "\n")
    os.chmod(path, 0o600)
    return path


def start(nexusd, token_file=None):
    s = 'listen = "127.0.0.1:0";'
    if token_file:
        s += ' token_file = "%s";' % token_file
    n = nexusd({}, extra="http = { %s };" % s, env={"NEXUS_HTTP_TOKEN": ""})
    return n, http_address(n)


def bearer(token=TOKEN):
    return {"Authorization": "Bearer " + token}


def dead(r, job, score):
    text = json.dumps(job)
    r.zadd("dead", {text: score})
    return text


def zrevrange_calls(r):
    return r.info("commandstats").get("cmdstat_zrevrange", {}).get("calls", 0)


def test_limit_is_capped_at_100(r, nexusd):
    n, addr = start(nexusd)
    now = time.time()
    for i in range(150):
        dead(r, make_job("fail", [i], error_class="E", error_message="m %d" % i), now - i)
    body = get(addr, "/api/dead?limit=1000").json()
    assert body["size"] == 150 and body["limit"] == 100 and len(body["jobs"]) == 100
    assert body["truncated"] is False
    assert body["jobs"][0]["args"] == [0] and body["jobs"][99]["args"] == [99]
    assert get(addr, "/api/dead?offset=100&limit=1000").json()["jobs"][49]["args"] == [149]
    assert get(addr, "/api/dead?limit=1001").status == 400


def test_long_texts_are_excerpts_short_without_the_token_longer_with_it(r, nexusd, token_file):
    n, addr = start(nexusd, token_file)
    output = "".join("line %05d of a command's output\n" % i for i in range(600))  # ~19 KB
    args = ["a" * 5000, {"k": "é" * 3000}]
    job = make_job("shell", args, error_class="NexusCommandFailed", error_message=output,
                   failed_at=time.time())
    text = dead(r, job, time.time())
    r.zadd("retry", {json.dumps(dict(job, jid="r" * 24)): time.time() + 600})
    r.zadd("schedule", {json.dumps(dict(job, jid="s" * 24)): time.time() + 600})

    for path in ("/api/dead", "/api/retry", "/api/scheduled"):
        for headers, most in ((None, PUBLIC), (bearer("x" * 30), PUBLIC),
                              (bearer(), WITH_TOKEN)):
            res = get(addr, path, headers=headers)
            assert res.status == 200, (path, headers)
            j = res.json()["jobs"][0]
            assert j["truncated"] is True and j["size"] == len(text.encode())
            msg = j["error_message"]
            assert len(msg.encode()) <= most and output.startswith(msg), (path, headers)
            assert len(msg.encode()) > most - 8  # cut at a character boundary near the bound
            assert j["error_message_size"] == len(output)
            assert j["args"] is None and len(j["args_excerpt"].encode()) <= most
            assert json.dumps(args, separators=(",", ":"), ensure_ascii=False).startswith(
                j["args_excerpt"])
            assert j["args_size"] == len(json.dumps(args, separators=(",", ":"),
                                                    ensure_ascii=False).encode())
            assert j["error_class"] == "NexusCommandFailed" and len(j["jid"]) == 24
            assert len(res.body) < 4 * most + 2000


def test_status_shows_running_jobs_args_as_the_lists_do(r, nexusd, token_file):
    """/status follows the same rule for the args of the jobs in flight."""
    n, addr = start(nexusd, token_file)
    args = [30000, "a" * 5000]
    packed = json.dumps(args, separators=(",", ":"))
    jid = push(r, "sleep", args)
    small = push(r, "sleep", [30000, "b"])

    def running(headers=None):
        res = get(addr, "/status", headers=headers)
        jobs = {j["jid"]: j for j in res.json()["jobs"]}
        return (res, jobs) if jid in jobs and small in jobs else None

    wait_for(running, 15, what="both jobs in /status")
    for headers, most in ((None, PUBLIC), (bearer("x" * 30), PUBLIC), (bearer(), WITH_TOKEN)):
        res, jobs = running(headers)
        j = jobs[jid]
        if most < len(packed):
            assert j["args"] is None and j["truncated"] is True and j["args_truncated"] is True
            assert packed.startswith(j["args_excerpt"]), headers
            assert most - 8 < len(j["args_excerpt"]) <= most, headers
            assert j["args_size"] == len(packed)
            assert len(res.body) < 2 * most + 3000
        else:
            assert j["args"] == args and j["truncated"] is False and "args_excerpt" not in j
        assert j["size"] > len(packed) and j["class"] == "sleep"
        s = jobs[small]
        assert s["args"] == [30000, "b"] and s["truncated"] is False
        assert s["args_truncated"] is False and "args_size" not in s


def test_short_texts_are_shown_whole(r, nexusd):
    n, addr = start(nexusd)
    job = make_job("fail", ["x", 1], error_class="E", error_message="short")
    dead(r, job, time.time())
    j = get(addr, "/api/dead").json()["jobs"][0]
    assert j["args"] == ["x", 1] and j["error_message"] == "short"
    assert j["truncated"] is False and "args_excerpt" not in j
    assert "error_message_size" not in j and j["excerpt"] is None


def test_a_100_mb_job_is_never_shipped_whole_and_not_read_again(r, nexusd, token_file):
    n, addr = start(nexusd, token_file)
    now = time.time()
    blob = "y" * (100 << 20)
    # error_message last: the fields before it show; args first: only its class does
    big_msg = dead(r, make_job("shell", [], error_class="NexusCommandFailed",
                               error_message=blob, failed_at=now), now)
    big_args = dead(r, {"class": "shell", "args": [blob], "jid": "b" * 24,
                        "queue": "default"}, now - 1)
    del blob
    small = make_job("fail", [3], error_class="E", error_message="m")
    dead(r, small, now - 2)

    before = zrevrange_calls(r)
    for headers, most in ((None, PUBLIC), (bearer(), WITH_TOKEN)):
        res = get(addr, "/api/dead?limit=1000", headers=headers, timeout=60)
        assert res.status == 200
        assert len(res.body) < 64 * 1024  # not 200 MB
        body = res.json()
        assert body["size"] == 3 and len(body["jobs"]) == 3
        a, b, c = body["jobs"]
        assert a["truncated"] is True and a["size"] == len(big_msg)
        assert a["jid"] == json.loads(big_msg)["jid"] and a["class"] == "shell"
        assert a["error_class"] == "NexusCommandFailed"
        assert a["error_message"] is None  # cut inside it: not shown whole, not shown
        assert 0 < len(a["excerpt"].encode()) <= most and big_msg.startswith(a["excerpt"])
        assert b["truncated"] is True and b["size"] == len(big_args)
        assert b["class"] == "shell" and b["jid"] is None and b["args"] is None
        assert len(b["excerpt"].encode()) <= most
        assert c["jid"] == small["jid"] and c["truncated"] is False
    # the first read took all three members; later ones only the small one
    assert zrevrange_calls(r) - before == 3 + 1

    # once the large job is gone, no stale entry stands in for it
    r.zremrangebyrank("dead", -1, -1)
    body = get(addr, "/api/dead").json()
    assert body["size"] == 2
    assert [j["size"] for j in body["jobs"]] == [len(big_args), len(json.dumps(small))]


def test_a_cut_dead_entry_shows_its_excerpt_and_original_size(r, nexusd):
    n, addr = start(nexusd)
    wrapper = {"class": "nexus.invalid", "args": [], "jid": "c" * 24, "queue": "default",
               "nexus_excerpt": "{\"class\":\"big\"," + "z" * 1000,
               "nexus_original_size": 104857600, "nexus_original_sha256": "0" * 64,
               "nexus_truncated": True, "error_class": "NexusJobTooLarge",
               "error_message": "job of 104857600 bytes exceeds worker.max_job_size (1048576)"}
    dead(r, wrapper, time.time())
    j = get(addr, "/api/dead").json()["jobs"][0]
    assert j["truncated"] is True and j["original_size"] == 104857600
    assert j["excerpt"].startswith("{\"class\":\"big\",") and len(j["excerpt"]) == PUBLIC
    assert j["excerpt_size"] == len(wrapper["nexus_excerpt"])
    assert j["error_class"] == "NexusJobTooLarge"


def test_many_readers_at_once_all_get_an_answer(r, nexusd):
    n, addr = start(nexusd)
    for i in range(20):
        dead(r, make_job("fail", [i], error_message="e" * 300), time.time() - i)
    results = []

    def read(path):
        res = get(addr, path, timeout=30)
        results.append((res.status, res.header("retry-after"), res.body))

    threads = [threading.Thread(target=read, args=("/api/dead?limit=%d" % (1 + i % 3),))
               for i in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 24
    for status, retry_after, body in results:
        assert status in (200, 503), status
        if status == 503:
            assert retry_after == "1"
        else:
            assert len(json.loads(body)["jobs"]) in (1, 2, 3)
    assert sum(1 for s, _, _ in results if s == 200) >= 3


def test_status_with_a_100_mb_job_waiting_reads_the_fleet_once_for_many_readers(r, nexusd):
    n, addr = start(nexusd)
    job = make_job("noop", ["y" * (100 << 20)], queue="held")  # enqueued_at after the args
    r.sadd("nexus:paused", "held")
    r.sadd("queues", "held")
    r.lpush("queue:held", json.dumps(job))
    del job["args"]
    get(addr, "/healthz")
    before = r.info("commandstats").get("cmdstat_lindex", {}).get("calls", 0)
    results = []

    def read():
        results.append(get(addr, "/status", timeout=30))

    threads = [threading.Thread(target=read) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [x.status for x in results] == [200] * 8
    for x in results:
        q = [q for q in x.json()["queues"] if q["name"] == "held"][0]
        assert q["size"] == 1 and 0 < q["latency"] < 600  # from the job's last bytes
    # one or two fleet.lua reads (LINDEX of each queue's oldest job) served them all
    assert r.info("commandstats")["cmdstat_lindex"]["calls"] - before <= 3
    metrics = get(addr, "/metrics").body.decode()
    assert 'nexus_queue_size{queue="held"} 1' in metrics


def test_browser_shows_excerpts_and_jobs_read_in_part(r, nexusd, workdir, token_file,
                                                      browser_ready):
    n, addr = start(nexusd, token_file)
    now = time.time()
    output = "x" * 10000
    long = make_job("shell", [], error_class="NexusCommandFailed", error_message=output,
                    failed_at=now)
    dead(r, long, now)
    part = dead(r, {"class": "shell", "args": ["z" * 100000], "jid": "p" * 24,
                    "queue": "default"}, now - 1)
    push(r, "noop", [1], queue="idle")  # a queue no process serves, for the page's check
    run_browser(browser_ready, workdir, SCENARIO="bounds", DASHBOARD_URL="http://%s/" % addr,
                TOKEN=TOKEN, QUEUE="idle", QUEUE_SIZE=1, LONG_JID=long["jid"],
                LONG_SIZE=len(output), PART_SIZE=len(part))
    assert r.zcard("dead") == 2


def test_a_job_over_16_mib_is_deleted_but_not_run_from_the_dashboard(r, nexusd, token_file):
    n, addr = start(nexusd, token_file)
    now = time.time()
    big = "x" * (17 << 20)
    keep = make_job("shell", [], error_class="E", error_message=big, failed_at=now)
    gone = make_job("shell", [], error_class="E", error_message=big, failed_at=now)
    dead(r, keep, now)
    dead(r, gone, now - 1)
    del big
    res = request(addr, "POST", "/api/dead/%s/retry" % keep["jid"], headers=bearer())
    assert res.status == 409 and "too large" in res.json()["error"]
    assert r.zcard("dead") == 2 and r.llen("queue:default") == 0
    res = request(addr, "DELETE", "/api/dead/" + gone["jid"], headers=bearer())
    assert res.status == 200 and res.json() == {"deleted": 1}
    assert r.zcard("dead") == 1
    assert keep["jid"] in r.zrange("dead", 0, 0)[0][:300]  # the one left is the other
