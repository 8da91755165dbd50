"""The noop path's machinery: jobs fetched ahead of a free slot (worker.prefetch), finish.lua's
one LTRIM for jobs done together, and scripts sent as EVALSHA."""
import datetime
import json
import time

from conftest import (blocked_in_blmove, make_job, oks, push, push_many, stays, wait_for,
                      wakeups)


def ts_of(entry):
    return datetime.datetime.strptime(entry["ts"], "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()


def most_at_once(d):
    """The most jobs the log shows running at the same time (start = end - duration), each
    interval narrowed by the log's millisecond rounding."""
    edges = []
    for e in d.lines(event="job", outcome="ok"):
        end = ts_of(e)
        start = end - float(e["duration_ms"]) / 1000.0
        edges += [(start + 0.002, 1), (end - 0.002, -1)]
    now = most = 0
    for _, step in sorted(edges, key=lambda x: (x[0], x[1])):
        now += step
        most = max(most, now)
    return most


def watch_inflight(r, d, until, timeout=30):
    """Largest length of d's in-flight list seen while polling until until() holds. The list
    holds the jobs running, those fetched ahead, and those done whose removal is on its way
    (the next fetch may go out before the outcome call): up to `concurrency` of those."""
    seen = [0]

    def poll():
        seen[0] = max(seen[0], r.llen(d.inflight_key()))
        return until()

    wait_for(poll, timeout=timeout, interval=0.002, what="the jobs to finish")
    return seen[0]


def test_jobs_fetched_ahead_never_run_beyond_concurrency(r, nexusd):
    d = nexusd({"concurrency": 2, "prefetch": 50})
    jids = push_many(r, [make_job("sleep", [10]) for _ in range(100)])
    most_inflight = watch_inflight(r, d, lambda: set(jids) <= set(oks([d])))
    assert most_inflight > 4, "no job was fetched ahead (in flight at most %d)" % most_inflight
    assert most_at_once(d) <= 2
    assert max(oks([d]).values()) == 1


def test_long_jobs_take_nothing_ahead(r, nexusd):
    """Slots free up slowly: a job fetched ahead would wait long while a peer could run it."""
    d = nexusd({"concurrency": 1, "prefetch": 50})
    jids = push_many(r, [make_job("sleep", [300]) for _ in range(4)])
    most_inflight = watch_inflight(r, d, lambda: set(jids) <= set(oks([d])))
    assert most_inflight <= 2  # the one running, and the one just done


def test_prefetch_0_fetches_only_for_free_slots(r, nexusd):
    d = nexusd({"concurrency": 2, "prefetch": 0})
    jids = push_many(r, [make_job("sleep", [10]) for _ in range(60)])
    most_inflight = watch_inflight(r, d, lambda: set(jids) <= set(oks([d])))
    assert most_inflight <= 4  # with prefetch 50 this pace would allow 10 more


def test_kill9_with_jobs_fetched_ahead_loses_none(r, nexusd):
    victim = nexusd({"concurrency": 2, "prefetch": 50})
    jids = push_many(r, [make_job("sleep", [10]) for _ in range(500)])
    wait_for(lambda: r.llen(victim.inflight_key()) > 4, interval=0.002,
             what="jobs fetched ahead of a free slot")
    ident = victim.identity
    victim.kill9()
    stuck = [json.loads(t)["jid"] for t in r.lrange(victim.inflight_key(), 0, -1)]
    assert len(stuck) > 4, "the victim died holding jobs fetched ahead"
    survivor = nexusd({"concurrency": 20})
    wait_for(lambda: set(jids) <= set(oks([victim, survivor])), timeout=60,
             what="every job to run")
    assert all(oks([survivor])[j] == 1 for j in stuck), "a job fetched ahead was not recovered"
    assert max(oks([survivor]).values()) == 1
    wait_for(lambda: r.llen("queue:default") == 0 and not r.exists(victim.inflight_key()),
             what="queue and the victim's in-flight list empty")
    assert [e["identity"] for e in survivor.lines(event="process_dead")] == [ident]


def test_term_requeues_jobs_fetched_ahead(r, nexusd):
    d = nexusd({"concurrency": 2, "prefetch": 50})
    n = 500
    jids = push_many(r, [make_job("sleep", [10]) for _ in range(n)])
    wait_for(lambda: r.llen(d.inflight_key()) > 4, interval=0.002,
             what="jobs fetched ahead of a free slot")
    d.signal(15)
    assert d.wait_exit(15) == 0
    ran = oks([d])
    assert not r.exists(d.inflight_key())
    assert r.llen("queue:default") + len(ran) == n
    after = nexusd({"concurrency": 20})
    wait_for(lambda: set(jids) <= set(oks([d, after])), timeout=60, what="the rest to run")
    assert max((oks([d]) + oks([after])).values()) == 1


def test_jobs_done_behind_a_long_one_are_removed_one_by_one(r, nexusd):
    """A long job at the in-flight list's oldest end: the short ones done meanwhile are not the
    list's oldest entries, so finish.lua removes each by LREM; the long one stays until done."""
    d = nexusd({"concurrency": 10})
    long_jid = push(r, "sleep", [1500])
    wait_for(lambda: r.llen(d.inflight_key()) == 1, what="the long job in flight")
    short = push_many(r, [make_job("noop", [i]) for i in range(50)])
    wait_for(lambda: set(short) <= set(oks([d])), what="the short jobs")
    assert [json.loads(t)["jid"] for t in r.lrange(d.inflight_key(), 0, -1)] == [long_jid]
    wait_for(lambda: long_jid in oks([d]), what="the long job")
    assert not r.exists(d.inflight_key())
    assert int(r.get("stat:processed")) == 51
    assert not d.lines(event="outcome_dropped")


def test_a_script_cache_flushed_under_load_costs_nothing(r, nexusd):
    """SCRIPT FLUSH between calls: the next EVALSHA gets NOSCRIPT and goes again whole."""
    d = nexusd()
    first = push_many(r, [make_job("noop", [i]) for i in range(200)])
    wait_for(lambda: set(first) <= set(oks([d])), what="the first jobs")
    r.execute_command("SCRIPT", "FLUSH")
    second = push_many(r, [make_job("noop", [i]) for i in range(200)])
    wait_for(lambda: set(second) <= set(oks([d])), what="the jobs after the flush")
    assert int(r.get("stat:processed")) == 400
    assert r.llen("queue:default") == 0 and not r.exists(d.inflight_key())
    stats = r.info("commandstats")
    assert stats["cmdstat_evalsha"]["calls"] > stats.get("cmdstat_eval", {"calls": 0})["calls"]
    assert stays(lambda: d.proc.poll() is None, 0.2)


def test_a_process_that_ran_jobs_goes_idle_in_blmove(r, nexusd):
    """With the prefetch's room open after fast jobs, the fetches of empty queues still end:
    the process waits in BLMOVE and sends nothing more."""
    d = nexusd({"queues": ["default", "other"]})
    jids = push_many(r, [make_job("noop", [i]) for i in range(300)])
    wait_for(lambda: set(jids) <= set(oks([d])), what="the jobs")
    wait_for(lambda: blocked_in_blmove(r), what="an idle BLMOVE")
    before = r.info("commandstats").get("cmdstat_evalsha", {"calls": 0})["calls"]
    assert stays(lambda: blocked_in_blmove(r), 0.5)
    after = r.info("commandstats").get("cmdstat_evalsha", {"calls": 0})["calls"]
    assert after - before <= 50, "%d scripts run by an idle process in 0.5 s" % (after - before)


def test_metrics_held_back_when_redis_goes_do_not_spin(r, redis_server, nexusd):
    """The dashboard's counters of a burst wait up to a second; Redis gone meanwhile, the
    process waits for it to come back instead of waking every millisecond to retry them."""
    d = nexusd()
    jids = push_many(r, [make_job("noop", [i]) for i in range(2000)])
    wait_for(lambda: set(jids) <= set(oks([d])), what="the burst")
    redis_server.kill()
    time.sleep(1.5)  # the held counters are due now
    before = wakeups(d.proc.pid)
    time.sleep(2.0)
    woke = wakeups(d.proc.pid) - before
    assert woke < 200, "%d wake-ups in 2 s with Redis down" % woke
    redis_server.start()
    after = push(redis_server.client(), "noop", ["after"])
    d.wait_jobs([after], timeout=15)
