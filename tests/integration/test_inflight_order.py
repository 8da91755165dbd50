"""Jobs done in the order they were fetched leave their in-flight list by one LTRIM of a count
(queue/order.h, docs/PROTOCOL.md "Finish"), and only while the process knows the list's
order: a peer that recovers the lists of a live process, or a job a BLMOVE brought, sends
them by their text again, and nothing is lost."""
import json
import os
import re
import subprocess
import time

import pytest

from conftest import SOURCE_DIR, make_job, oks, push, push_many, wait_for

# What reap.lua does to a process judged dead: its in-flight jobs back to the queue, the
# token of its lists deleted.
FAKE_REAP = """
local moved = 0
while redis.call('LMOVE', KEYS[1], KEYS[2], 'LEFT', 'RIGHT') do moved = moved + 1 end
redis.call('DEL', KEYS[3])
return moved
"""


class Monitor:
    """redis-cli MONITOR into a file: every command, those scripts run included."""

    def __init__(self, redis_server, path):
        self.path = path
        self.out = open(path, "wb")
        self.proc = subprocess.Popen(["redis-cli", "-s", redis_server.sock, "monitor"],
                                     stdout=self.out, stderr=subprocess.DEVNULL)
        wait_for(lambda: b"OK" in open(path, "rb").read(), what="MONITOR to start")

    def stop(self):
        time.sleep(0.1)
        self.proc.terminate()
        self.proc.wait()
        self.out.close()
        with open(self.path, "rb") as f:
            return f.read().decode("utf-8", "replace").splitlines()


def lua_calls(lines, command, key):
    """The arguments after the key of each `command` on `key` a script ran."""
    pat = re.compile(r'\[\d+ lua\] "%s" "%s"(.*)$' % (command, re.escape(key)))
    out = []
    for line in lines:
        m = pat.search(line)
        if m:
            out.append(re.findall(r'"((?:[^"\\]|\\.)*)"', m.group(1)))
    return out


def test_jobs_done_in_order_leave_by_a_count(r, redis_server, nexusd, workdir):
    """Jobs waiting before the process starts: its fetches (fetch.lua, no BLMOVE: a job a
    BLMOVE brings makes the jobs fetched while it is in the list leave by their text, how many
    depends on the machine's pace) bring them all."""
    n = 2000
    jids = push_many(r, [make_job("noop", [i]) for i in range(n)])
    mon = Monitor(redis_server, workdir + "/monitor.txt")
    d = nexusd({"concurrency": 10})
    key = d.inflight_key()
    wait_for(lambda: set(jids) <= set(oks([d])), timeout=60, what="the jobs")
    wait_for(lambda: not r.exists(key), what="the in-flight list to empty")
    lines = mon.stop()
    # finish.lua's trims: LTRIM key 0 -(N+1); fetch.lua never trims an in-flight list
    trimmed = sum(-int(a[1]) - 1 for a in lua_calls(lines, "LTRIM", key))
    by_text = len(lua_calls(lines, "LREM", key))
    read_back = len(lua_calls(lines, "LRANGE", key))
    assert trimmed + by_text >= n
    assert trimmed >= 0.9 * n, "only %d of %d jobs left by a trim (%d by LREM)" % (
        trimmed, n, by_text)
    assert read_back <= 0.05 * n / 10, "the in-flight list was read back %d times" % read_back
    assert int(r.get("stat:processed")) == n
    assert max(oks([d]).values()) == 1
    assert r.get("nexus:order:" + d.identity)  # the token of its lists
    assert 0 < r.ttl("nexus:order:" + d.identity) <= 86400


@pytest.mark.parametrize("dest", ["default", "elsewhere"])
def test_lists_recovered_from_a_live_process_lose_no_job(r, nexusd, dest):
    """A peer judged the process dead (it missed its heartbeats) and put its in-flight jobs
    back while it ran them. Trims by a count that counted on the old order would now cut jobs
    fetched since, not yet run: after a kill -9 they would be nowhere. `default`: the process
    fetches them again, so its list holds two jobs of one text (an LREM of one may take the
    other's entry: that draws the line); `elsewhere`: a peer took them, and the process learns
    of it from the token its next fetch finds gone. Every job is done, in flight or queued
    when the process dies. (The trims the token refuses are checked by the script tests
    below: the moments a wrong one would go out are too short to aim at from here.)"""
    d = nexusd({"concurrency": 2, "prefetch": 50})
    jids = push_many(r, [make_job("sleep", [4]) for _ in range(1500)])
    key, token = d.inflight_key(), "nexus:order:" + d.identity
    wait_for(lambda: r.llen(key) > 10 and len(oks([d])) > 20, interval=0.002,
             what="jobs done in order and jobs fetched ahead")
    moved = r.eval(FAKE_REAP, 3, key, "queue:" + dest, token)
    assert moved > 0
    # jobs fetched again since, done in order, trimmed: then the process dies
    done_at_reap = len(oks([d]))
    wait_for(lambda: len(oks([d])) > done_at_reap + 60 and r.llen(key) > 10, interval=0.002,
             timeout=30, what="jobs run after the recovery")
    d.kill9()
    done = set(oks([d]))
    inflight = {json.loads(t)["jid"] for t in r.lrange(key, 0, -1)}
    queued = {json.loads(t)["jid"] for q in ("queue:default", "queue:elsewhere")
              for t in r.lrange(q, 0, -1)}
    lost = set(jids) - done - inflight - queued
    assert not lost, "%d jobs neither done, in flight nor queued, e.g. %s" % (
        len(lost), sorted(lost)[:3])
    changed = d.lines(event="inflight_token_changed")
    assert changed, "the process did not notice its lists were recovered"


def test_a_job_brought_by_blmove_leaves_by_its_text_then_trims_resume(r, redis_server, nexusd,
                                                                     workdir):
    """An idle process gets its first job from BLMOVE, on another connection: its place among
    the jobs fetched meanwhile is not known, so those leave by their text until it is gone;
    then jobs done in order leave by trims again."""
    d = nexusd({"concurrency": 4})
    key = d.inflight_key()
    wait_for(lambda: any(c.get("cmd") == "blmove" for c in r.client_list()),
             what="an idle BLMOVE")
    mon = Monitor(redis_server, workdir + "/monitor.txt")
    first = push(r, "sleep", [1000])
    wait_for(lambda: r.llen(key) == 1, what="the BLMOVE's job in flight")
    during = push_many(r, [make_job("noop", [i]) for i in range(200)])
    wait_for(lambda: set(during) <= set(oks([d])), timeout=30, what="the jobs behind it")
    assert first not in oks([d])
    lines = mon.stop()
    assert any('"BLMOVE"' in line for line in lines)
    assert len(lua_calls(lines, "LREM", key)) >= 200
    assert not lua_calls(lines, "LTRIM", key), "a trim while the BLMOVE's job ran"
    wait_for(lambda: first in oks([d]) and not r.exists(key), what="the BLMOVE's job")
    mon = Monitor(redis_server, workdir + "/monitor2.txt")
    after = push_many(r, [make_job("noop", [i]) for i in range(2000)])
    wait_for(lambda: set(after) <= set(oks([d])), timeout=30, what="the jobs after it")
    wait_for(lambda: not r.exists(key), what="the in-flight list to empty")
    lines = mon.stop()
    trimmed = sum(-int(a[1]) - 1 for a in lua_calls(lines, "LTRIM", key))
    # the first of them comes by BLMOVE too: those fetched while it is in the list go by
    # their text (a few hundred on a loaded machine), the rest by trims
    assert trimmed >= 1000, "trims did not resume (%d jobs trimmed)" % trimmed
    assert int(r.get("stat:processed")) == 2201
    assert max(oks([d]).values()) == 1


# ---- the scripts themselves ----

def script(name):
    with open(os.path.join(SOURCE_DIR, "queue", "lua", name)) as f:
        return f.read()


FINISH_KEYS = ["stat:processed", "stat:processed:D", "stat:failed", "stat:failed:D", "retry",
               "dead", "schedule", "nexus:metrics:60:1", "nexus:metrics:900:1",
               "nexus:order:ID", "nexus:inflight:ID:default"]


def finish(r, token, *records):
    args = ["0", "10000", "100", "", "60", "900", "4096", token] + list(records)
    return r.eval(script("finish.lua"), len(FINISH_KEYS), *(FINISH_KEYS + args))


def test_finish_trims_by_a_count_only_while_the_token_holds(r):
    key = "nexus:inflight:ID:default"
    r.rpush(key, "j5", "j4", "j3", "j2", "j1")  # j1 the oldest, at the right end
    r.set("nexus:order:ID", "7")
    assert finish(r, "6", "T", "11", "2") == [-1, -2]  # a peer took the lists: nothing done
    assert r.lrange(key, 0, -1) == ["j5", "j4", "j3", "j2", "j1"]
    assert r.get("stat:processed") == "0"
    # a removal by text first, then the trim of the oldest two left
    assert finish(r, "7", "a", "11", "j3", "", "0", "0", "", "T", "11", "2") == []
    assert r.lrange(key, 0, -1) == ["j5", "j4"]
    assert r.get("stat:processed") == "3"
    r.delete("nexus:order:ID")
    assert finish(r, "7", "T", "11", "1") == [-1]
    assert r.lrange(key, 0, -1) == ["j5", "j4"]


def test_fetch_sets_a_token_that_is_not_the_one_held(r):
    keys = ["queue:default", "nexus:inflight:ID:default", "nexus:paused", "nexus:order:ID"]
    r.lpush("queue:default", "a", "b")
    out = r.eval(script("fetch.lua"), 4, *keys, "1", "0", "1", "86400", "default")
    assert out == [0, 0, 1, 1, "a"]  # {0, 0}: the token was set
    assert r.get("nexus:order:ID") == "1" and 86000 < r.ttl("nexus:order:ID") <= 86400
    out = r.eval(script("fetch.lua"), 4, *keys, "1", "1", "2", "86400", "default")
    assert out == [1, 1, "b"]
    assert r.get("nexus:order:ID") == "1"
    assert r.lrange("nexus:inflight:ID:default", 0, -1) == ["b", "a"]


def test_a_peer_recovering_a_dead_process_deletes_its_token(r, nexusd):
    victim = nexusd({"concurrency": 2})
    jids = push_many(r, [make_job("sleep", [20]) for _ in range(200)])
    wait_for(lambda: r.llen(victim.inflight_key()) > 2, interval=0.002, what="jobs in flight")
    token = "nexus:order:" + victim.identity
    assert r.exists(token)
    victim.kill9()
    survivor = nexusd({"concurrency": 20})
    wait_for(lambda: set(jids) <= set(oks([victim, survivor])), timeout=60,
             what="every job to run")
    assert not r.exists(token)
    assert r.exists("nexus:order:" + survivor.identity)
