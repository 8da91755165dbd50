"""Queue pause and resume (nexus:paused), honoured by every nexusd, set with nexusctl."""
import json

from conftest import NEXUSCTL, blocked_in_blmove, push, run_cmd, stays, wait_for


def ctl(redis_server, *args):
    res = run_cmd([NEXUSCTL] + list(args), env={"REDIS_URL": redis_server.url})
    for mark in ("ERROR: AddressSanitizer", "runtime error:", "LeakSanitizer"):
        assert mark not in res.stderr, res.stderr
    return res


def blmoves(r):
    """BLMOVEs sent so far (Redis counts one when it starts waiting)."""
    return r.info("commandstats").get("cmdstat_blmove", {}).get("calls", 0)


def blocked_blmoves(r):
    return sum(1 for c in r.client_list() if c.get("cmd") == "blmove" and "b" in c.get("flags", ""))


def wait_idle_round(r):
    """Returns once an idle BLMOVE out now has ended and nexusd has sent the next one: a whole
    idle wait has passed, and the fetch that follows it (it names every queue) has run."""
    wait_for(lambda: blocked_in_blmove(r), 10, what="an idle BLMOVE")
    sent = blmoves(r)
    wait_for(lambda: blmoves(r) > sent, 10, what="the next idle BLMOVE")


def test_paused_queue_keeps_its_jobs_until_resumed(r, redis_server, nexusd):
    res = ctl(redis_server, "pause", "slow")
    assert res.returncode == 0 and res.stdout == "paused slow\n", res
    assert r.smembers("nexus:paused") == {"slow"}
    assert ctl(redis_server, "pause", "slow").stdout == "slow was already paused\n"

    held = [push(r, "noop", [i], queue="slow") for i in range(5)]
    d = nexusd({"queues": ["slow", "default"], "concurrency": 4})
    # other queues run; the paused one keeps its jobs through idle waits and fetches
    other = [push(r, "noop", [i]) for i in range(5)]
    d.wait_jobs(other)
    wait_idle_round(r)  # the process waits again meanwhile
    assert r.llen("queue:slow") == 5
    assert d.lines(event="job", queue="slow") == []
    assert r.llen(d.inflight_key("slow")) == 0

    stats = json.loads(ctl(redis_server, "stats", "--json").stdout)
    q = {x["name"]: x for x in stats["queues"]}
    assert q["slow"]["paused"] is True and q["slow"]["size"] == 5
    assert q["default"]["paused"] is False
    assert "PAUSED" in ctl(redis_server, "stats").stdout

    res = ctl(redis_server, "resume", "slow")
    assert res.returncode == 0 and res.stdout == "resumed slow\n", res
    d.wait_jobs(held, timeout=15)
    assert r.llen("queue:slow") == 0
    assert ctl(redis_server, "resume", "slow").stdout == "slow was not paused\n"


def test_pause_while_running_stops_new_fetches(r, redis_server, nexusd):
    d = nexusd({"queues": ["mail", "default"]})
    push(r, "noop", [0], queue="mail")
    wait_for(lambda: r.llen("queue:mail") == 0, 10, what="mail drained")
    wait_for(lambda: blocked_blmoves(r) == 2, 10, what="idle BLMOVEs on mail and default")
    assert ctl(redis_server, "pause", "mail").returncode == 0
    # the idle BLMOVE already out on mail may take one more job until it times out; then none:
    # only default's is left (it is out again within a round trip each time it ends)
    wait_for(lambda: stays(lambda: blocked_blmoves(r) <= 1, 0.5), 10,
             what="mail's idle BLMOVE to end")
    jids = [push(r, "noop", [i], queue="mail") for i in range(3)]
    done = push(r, "noop", ["other"])
    d.wait_jobs([done])
    wait_idle_round(r)
    assert r.llen("queue:mail") == 3
    assert not any(e["jid"] in jids for e in d.lines(event="job"))
    assert ctl(redis_server, "resume", "mail").returncode == 0
    d.wait_jobs(jids, timeout=15)


def test_pause_needs_a_valid_queue_name(redis_server):
    res = ctl(redis_server, "pause")
    assert res.returncode == 2 and "needs a QUEUE" in res.stderr
    res = ctl(redis_server, "pause", "a b")
    assert res.returncode == 2
    assert "QUEUE' must not contain whitespace or control characters" in res.stderr
