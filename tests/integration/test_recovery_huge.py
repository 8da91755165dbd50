"""Recovery of a job over worker.max_job_size: the survivor neither reads it nor decodes it
(reap_read.lua names it by size and SHA-1), reap.lua moves it back to its queue as it is, and
the fetch buries it as NexusJobTooLarge, once."""
import hashlib
import json
import time

from conftest import inflight_keys, make_job, stays, wait_for
from test_huge_jobs import MIB, assert_cut_entry, huge_job, peak_rss_kib, sanitized


def victim_with(rb, nexusd, queue, texts):
    """A nexusd on `queue` whose in-flight list holds `texts` (head first), as if it had
    fetched them."""
    v = nexusd({"queues": [queue]}, name="victim")
    key = v.inflight_key(queue)
    for t in texts:
        rb.rpush(key, t)
    return v, key


def test_kill9_holding_a_huge_job_requeues_it_undecoded(redis_server, nexusd):
    rb = redis_server.client(decode=False)
    survivor = nexusd({"queues": ["default"]}, name="survivor")
    text = huge_job(64 * MIB)
    victim, key = victim_with(rb, nexusd, "huge", [text])
    ident = victim.identity
    victim.kill9()
    wait_for(lambda: not rb.hexists("nexus:procs", ident), timeout=20, what="victim forgotten")
    assert not rb.exists(key)
    # back in its queue byte for byte: not decoded, no nexus_recoveries added
    assert rb.llen("queue:huge") == 1
    assert rb.lindex("queue:huge", 0) == text
    line = survivor.lines(event="job_requeued_undecoded")
    assert len(line) == 1, survivor.tail()
    assert line[0]["identity"] == ident and line[0]["queue"] == "huge"
    assert line[0]["size"] == str(len(text))
    assert line[0]["sha1"] == hashlib.sha1(text).hexdigest()
    assert survivor.lines(event="jobs_recovered", identity=ident)[0]["jobs"] == "1"
    # the survivor never held it (12 MiB here; before, its LRANGE reply and the decoding held
    # the 64 MiB several times over)
    if not sanitized():
        assert peak_rss_kib(survivor.pid) < 24 * 1024, "peak RSS %d KiB" % peak_rss_kib(
            survivor.pid)
    # a process on that queue fetches it and buries it, once
    fetcher = nexusd({"queues": ["huge"]}, name="fetcher")
    wait_for(lambda: rb.zcard("dead") == 1, timeout=60, what="one job in dead")
    member = rb.zrange("dead", 0, -1)[0]
    assert_cut_entry(member, json.loads(member), text, "NexusJobTooLarge")
    assert stays(lambda: rb.zcard("dead") == 1, 1.0)
    assert rb.llen("queue:huge") == 0 and rb.zcard("retry") == 0
    wait_for(lambda: all(rb.llen(k) == 0 for k in inflight_keys(rb)), what="nothing in flight")
    survivor.assert_alive()
    fetcher.assert_alive()


def test_huge_job_among_others_in_a_dead_hosts_list(redis_server, nexusd):
    """Heartbeat expiry on another host: the small jobs are recovered (counted), the huge one
    between them goes back as it is; the survivor runs the first and buries the second."""
    rb = redis_server.client(decode=False)
    d = nexusd()
    ident = "otherhost:4242:0123456789ab"
    small = [make_job("noop", [i]) for i in range(2)]
    text = huge_job(4 * MIB)
    rec = {"identity": ident, "hostname": "otherhost", "host_id": "another-boot-id/1",
           "pid": 4242, "pid_start": 1, "queues": ["default"], "started_at": time.time() - 100}
    rb.hset("nexus:procs", ident, json.dumps(rec))
    rb.sadd("processes", ident)
    key = "nexus:inflight:%s:default" % ident
    rb.rpush(key, json.dumps(small[0]), text, json.dumps(small[1]))
    d.wait_jobs([j["jid"] for j in small], timeout=15)
    assert d.lines(event="jobs_recovered", identity=ident)[0]["jobs"] == "3"
    assert d.lines(event="job_requeued_undecoded", identity=ident)[0]["size"] == str(len(text))
    wait_for(lambda: rb.zcard("dead") == 1, timeout=30, what="one job in dead")
    member = rb.zrange("dead", 0, -1)[0]
    assert_cut_entry(member, json.loads(member), text, "NexusJobTooLarge")
    assert stays(lambda: rb.zcard("dead") == 1, 1.0)
    wait_for(lambda: not rb.exists(key), what="dead host's list gone")
    wait_for(lambda: all(rb.llen(k) == 0 for k in inflight_keys(rb)), what="nothing in flight")
    assert not rb.hexists("nexus:procs", ident)
