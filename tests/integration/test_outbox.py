"""Transactional enqueue: nexus.enqueue() inside the app's transaction, relayed to Redis by
nexusd exactly once, in id order, surviving kill -9 while relaying, and at once on commit
(LISTEN/NOTIFY) rather than at the next poll."""
import collections
import json
import statistics
import threading
import time

import psycopg2
import pytest

from conftest import log_time, make_config, wait_for


@pytest.fixture
def pg(migrated_pg):
    return migrated_pg


def relay(nexusd, pg, queues=("default",), name=None, extra=""):
    config = make_config({"queues": list(queues)}, extra=extra)
    return nexusd(config, name=name, env={"DATABASE_URL": pg.url})


# a poll too slow to explain a job relayed within a second: only the notification can
SLOW_POLL = 'database = { outbox_interval = "30s"; };'


def listening_relay(nexusd, pg, queues=("default",)):
    d = relay(nexusd, pg, queues=queues, extra=SLOW_POLL)
    d.wait_log(r"event=db_listen_up .*channel=nexus_outbox")
    d.wait_log(r"event=db_up ")
    return d


def test_committed_jobs_run_and_rolled_back_ones_never_exist(pg, nexusd, r):
    d = relay(nexusd, pg)
    conn = psycopg2.connect(pg.url)
    with conn.cursor() as cur:
        cur.execute("SELECT nexus.enqueue('noop', '[1, \"x\"]')")
        kept = cur.fetchone()[0]
    conn.commit()
    with conn.cursor() as cur:
        cur.execute("SELECT nexus.enqueue('noop', '[2]')")
        dropped = cur.fetchone()[0]
    conn.rollback()
    d.wait_jobs([kept], timeout=10)
    time.sleep(0.5)
    assert not d.lines(event="job", jid=dropped)
    assert pg.psql("SELECT count(*) FROM nexus.outbox").strip() == "0"
    conn.close()


def test_enqueue_rejects_bad_arguments_with_a_clear_error(pg):
    conn = psycopg2.connect(pg.url)
    with conn.cursor() as cur:
        with pytest.raises(psycopg2.Error) as e:
            cur.execute("SELECT nexus.enqueue('noop', '{\"a\": 1}')")
    assert "args must be a JSON array (got object)" in str(e.value)
    conn.close()


def test_a_job_enqueued_for_later_waits_in_the_schedule(pg, nexusd, r):
    relay(nexusd, pg)
    jid = pg.psql("SELECT nexus.enqueue('noop', '[]', 'default', now() + interval '1 hour')")
    jid = jid.strip()
    wait_for(lambda: r.zcard("schedule") == 1, timeout=10, what="the job in schedule")
    job = json.loads(r.zrange("schedule", 0, -1)[0])
    assert job["jid"] == jid and job["class"] == "noop"
    assert r.llen("queue:default") == 0


def test_relayed_in_id_order(pg, nexusd, r):
    # a process that takes no jobs from "orders": relayed jobs stay in the list, in order
    relay(nexusd, pg, queues=("other",))
    pg.psql("SELECT nexus.enqueue('noop', jsonb_build_array(n), 'orders') "
            "FROM generate_series(1, 1200) AS n")
    wait_for(lambda: r.llen("queue:orders") == 1200, timeout=20, what="1200 relayed jobs")
    # LPUSH puts the newest first: the oldest is at the right, fetched first
    ns = [json.loads(j)["args"][0] for j in reversed(r.lrange("queue:orders", 0, -1))]
    assert ns == list(range(1, 1201))
    assert all("enqueued_at" in json.loads(j) for j in r.lrange("queue:orders", 0, 2))


def test_exactly_once_while_relays_are_killed(pg, nexusd, r):
    """20,000 jobs enqueued in 40 transactions while two relaying processes are killed with
    -9 and replaced, again and again: every jid reaches Redis exactly once."""
    procs = [relay(nexusd, pg, queues=("other",), name="relay%d" % i) for i in range(2)]
    stop = threading.Event()

    def enqueue_all():
        conn = psycopg2.connect(pg.url)
        for batch in range(40):
            with conn.cursor() as cur:
                cur.execute("SELECT nexus.enqueue('noop', jsonb_build_array(n), 'bulk') "
                            "FROM generate_series(%s, %s) AS n", (batch * 500 + 1,
                                                                  batch * 500 + 500))
            conn.commit()
            time.sleep(0.02)
        conn.close()
        stop.set()

    t = threading.Thread(target=enqueue_all)
    t.start()
    kills = 0
    while not stop.is_set() or kills < 4:
        time.sleep(0.15)
        victim = procs.pop(0)
        victim.kill9()
        kills += 1
        procs.append(relay(nexusd, pg, queues=("other",), name="relay-k%d" % kills))
    t.join()
    wait_for(lambda: pg.psql("SELECT count(*) FROM nexus.outbox").strip() == "0",
             timeout=60, what="the outbox to drain")
    jobs = [json.loads(j) for j in r.lrange("queue:bulk", 0, -1)]
    counts = collections.Counter(j["args"][0] for j in jobs)
    assert len(jobs) == 20000, "duplicates: %s" % [n for n, c in counts.items() if c > 1][:10]
    assert set(counts) == set(range(1, 20001))


def test_a_committed_job_runs_within_a_second_without_waiting_for_the_poll(pg, nexusd, r):
    d = listening_relay(nexusd, pg)
    conn = psycopg2.connect(pg.url)
    with conn.cursor() as cur:
        cur.execute("SELECT nexus.enqueue('noop', '[]')")
        jid = cur.fetchone()[0]
    committing = time.time()
    conn.commit()
    line = d.wait_jobs([jid], timeout=10)[jid]
    latency = max(log_time(line) - committing, 0.0)  # the log's times are whole ms
    print("commit -> job's log line: %.0f ms" % (latency * 1000))
    assert latency < 1.0, "the job ran %.2fs after its commit" % latency
    conn.close()


def test_commit_to_redis_latency(pg, nexusd, r):
    """50 enqueues, one transaction each: the time from COMMIT to the job in its Redis list.
    A queue that nothing takes, so the job stays there for BRPOP to see."""
    listening_relay(nexusd, pg, queues=("other",))
    conn = psycopg2.connect(pg.url)
    latencies = []
    for n in range(50):
        with conn.cursor() as cur:
            cur.execute("SELECT nexus.enqueue('noop', jsonb_build_array(%s), 'latency')", (n,))
        committing = time.monotonic()
        conn.commit()
        popped = r.brpop("queue:latency", timeout=5)
        latencies.append(time.monotonic() - committing)
        assert popped and json.loads(popped[1])["args"] == [n]
    conn.close()
    latencies.sort()
    median = statistics.median(latencies)
    print("commit -> Redis over 50 enqueues: median %.1f ms, p90 %.1f ms, max %.1f ms"
          % (median * 1000, latencies[44] * 1000, latencies[-1] * 1000))
    assert median < 0.2


def test_direct_inserts_notify_too_and_a_relay_that_missed_a_notification_catches_up(
        pg, nexusd, r):
    """A plain INSERT into nexus.outbox wakes the relay (the trigger, not nexus.enqueue()),
    and a relay whose listener was cut off looks at once, on reconnecting, for what it
    missed meanwhile."""
    d = listening_relay(nexusd, pg)
    pg.psql("INSERT INTO nexus.outbox (queue, job) VALUES ('default', "
            "'{\"class\":\"noop\",\"args\":[],\"jid\":\"direct1\",\"queue\":\"default\"}')")
    d.wait_jobs(["direct1"], timeout=1)
    conn = psycopg2.connect(pg.url)
    with conn.cursor() as cur:
        cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE query LIKE '%%LISTEN \"nexus_outbox\"'")
        assert cur.fetchall() == [(True,)]
        time.sleep(0.02)  # it is gone; it reconnects after 0.1 s
        cur.execute("SELECT nexus.enqueue('noop', '[]')")
        jid = cur.fetchone()[0]
    conn.commit()  # the notification reaches no one
    conn.close()
    d.wait_jobs([jid], timeout=5)
    assert len(d.lines(event="db_listen_down")) == 1
    assert len(d.lines(event="db_listen_up")) == 2


def test_relayed_in_commit_order_not_insert_order(pg, nexusd, r):
    """Two transactions enqueue to one queue; the one that inserted first commits last. Both
    commit before any relay runs, so the relay sees both at once: the later commit still
    reaches the queue last (id order would put it first)."""
    first, second = psycopg2.connect(pg.url), psycopg2.connect(pg.url)
    with first.cursor() as cur:
        cur.execute("SELECT nexus.enqueue('noop', '[\"inserted first\"]', 'ordered')")
    with second.cursor() as cur:
        cur.execute("SELECT nexus.enqueue('noop', '[\"inserted second\"]', 'ordered')")
    second.commit()
    first.commit()
    relay(nexusd, pg, queues=("other",))
    wait_for(lambda: r.llen("queue:ordered") == 2, timeout=10, what="both relayed")
    fetched_order = [json.loads(j)["args"][0] for j in reversed(r.lrange("queue:ordered", 0, -1))]
    assert fetched_order == ["inserted second", "inserted first"]
    first.close()
    second.close()


def test_commit_order_lock_is_per_queue(pg):
    """A transaction holding its queue's commit lock does not delay commits to other queues."""
    holder, other = psycopg2.connect(pg.url), psycopg2.connect(pg.url)
    with holder.cursor() as cur:
        cur.execute("SELECT nexus.enqueue('noop', '[]', 'ordered')")
        cur.execute("SET CONSTRAINTS ALL IMMEDIATE")  # numbers now: takes the lock and keeps it
    with other.cursor() as cur:
        cur.execute("SET lock_timeout = '2s'")
        cur.execute("SELECT nexus.enqueue('noop', '[]', 'elsewhere')")
    other.commit()  # would fail with lock_timeout if the lock were shared
    holder.commit()
    assert pg.psql("SELECT count(*) FROM nexus.outbox WHERE commit_seq IS NULL").strip() == "0"
    holder.close()
    other.close()
