"""A Jepsen-style total-queue check: several nexusd processes run exactly-once `sql` jobs while
processes are killed with -9 and restarted, Redis (AOF, appendfsync always) is killed with -9
and restarted, and PostgreSQL is stopped (or crashed) and restarted. Afterwards every jid that
was enqueued has exactly one row, no row is unexpected, and no job is left in the queue, retry,
schedule, dead or in-flight lists.

Used by test_chaos.py (short, in the suite) and bench/chaos.py (long, tunable). Faults come
from a seeded random generator; the seed is printed so that a failure can be replayed (the
interleaving with the processes differs from run to run, the fault schedule does not).

Dead must be empty too: every job is valid, a job may be in flight in up to 100 crashed
processes (worker.max_recoveries), and the class allows 25 retries, which the retry pump
spaces linearly (the n-th RETRY_STEP_S × n after the failure, instead of Sidekiq's n⁴ + 15 s
and more, which would make the run wait for hours): 25 failures in a row take 325 s of
failing attempts, longer than PostgreSQL is ever away here. So nothing can bury a job
legitimately; a job in dead is a failure.
"""
import json
import os
import random
import re
import threading
import time
from collections import Counter

import redis

from conftest import NexusdFactory, RedisServer, make_config, make_job, run_cmd, wait_for
import conftest
from pg import PostgresServer

# 50 ms in PostgreSQL per job, so that a process always holds jobs in flight when it is killed
CLASS = {"name": "chaos.row", "args": "text, int", "max_retries": 25,
         "sql": "INSERT INTO chaos_rows (jid, n) SELECT $1, $2 FROM pg_sleep(0.05)"}
WORKER = {"concurrency": 10, "heartbeat_interval": "0.2s", "process_ttl": "1s",
          "poll_interval": "0.1s", "shutdown_timeout": "2s", "max_recoveries": 100}
FAULTS = ("kill_nexusd", "kill_redis", "stop_postgres")
RETRY_STEP_S = 1.0
OUTCOME = re.compile(rb" outcome=(\w+)")
RECOVERED = re.compile(rb" jobs=(\d+)")
ALL_FAULTS = FAULTS + ("crash_postgres",)


class Chaos:
    """One run. Parameters: duration_s of faults, procs nexusd processes, rate_per_s jobs
    enqueued (in batches), gap_s (min, max) seconds between faults, faults: the kinds used."""

    def __init__(self, workdir, seed, duration_s=30.0, procs=3, rate_per_s=100.0,
                 gap_s=(1.0, 3.0), faults=FAULTS, settle_s=60.0, log=print):
        self.workdir = workdir
        self.seed = seed
        self.rng = random.Random(seed)
        self.duration_s = duration_s
        self.nprocs = procs
        self.rate = rate_per_s
        self.gap_s = gap_s
        self.kinds = tuple(faults)
        self.settle_s = settle_s
        self.log = log
        self.faults = Counter()
        self.bag = []
        self.killed_in_flight = 0  # jobs in flight in processes killed
        self.enqueued = []  # jids whose push was acknowledged (in push order)
        self.push_retries = 0
        self.redis = None
        self.pg = None
        self.factory = None
        self.procs = []
        self.stop_enqueue = threading.Event()
        self.stop_pump = threading.Event()

    # -- set-up --

    def start(self):
        self.log("chaos: seed=%d duration=%.0fs procs=%d rate=%.0f/s faults=%s"
                 % (self.seed, self.duration_s, self.nprocs, self.rate, ",".join(self.kinds)))
        self.redis = RedisServer(self.workdir, aof=True).start()
        # pg.py's synchronous_commit = off acknowledges a commit before its WAL is written:
        # a crash (crash_postgres) then loses jobs that nexusd saw committed
        self.pg = PostgresServer(settings={"synchronous_commit": "on"}).start()
        res = run_cmd([conftest.NEXUSD, "migrate"], env={"DATABASE_URL": self.pg.url},
                      timeout=60)
        assert res.returncode == 0, res.stderr
        # no unique key on jid: a second row for a jid must be possible, to be seen
        self.pg.psql("CREATE TABLE chaos_rows (id bigserial PRIMARY KEY, jid text NOT NULL, "
                     "n integer NOT NULL)")
        self.factory = NexusdFactory(self.workdir, self.redis)
        self.config = make_config(WORKER, [CLASS])
        for _ in range(self.nprocs):
            self.procs.append(self.spawn())
        for p in self.procs:
            p.wait_ready(30)

    def spawn(self):
        n = self.factory(self.config, start=False, env={"DATABASE_URL": self.pg.url})
        n.start(wait_ready=False)
        return n

    def client(self):
        return redis.Redis(unix_socket_path=self.redis.sock, decode_responses=True,
                           socket_timeout=10)

    # -- load --

    def enqueue_loop(self):
        """Batches of jobs at the rate asked; a push that fails is sent again, same jids,
        until Redis acknowledges it (a failed reply may hide a push that was applied: then
        the jobs are in the queue twice, which exactly-once must absorb)."""
        r = self.client()
        batch, n = 20, 0
        while not self.stop_enqueue.is_set():
            jobs = [make_job("chaos.row", [None, n + i]) for i in range(batch)]
            for j in jobs:
                j["args"][0] = j["jid"]
            n += batch
            texts = [json.dumps(j) for j in jobs]
            while True:
                try:
                    p = r.pipeline(transaction=True)
                    p.sadd("queues", "default")
                    p.lpush("queue:default", *texts)
                    p.execute()
                    break
                except (redis.ConnectionError, redis.TimeoutError, OSError):
                    self.push_retries += 1
                    time.sleep(0.05)
            self.enqueued.extend(j["jid"] for j in jobs)
            time.sleep(batch / self.rate)

    def retry_pump(self):
        """The n-th retry falls due RETRY_STEP_S × n after the failure instead of after
        Sidekiq's backoff (n⁴ + 15 s and more), so that retries run, through the poller,
        while faults go on. ZADD XX: a member the poller has just moved is not added back."""
        r = self.client()
        while not self.stop_pump.wait(0.5):
            try:
                now = time.time()
                sooner = {}
                for m, score in r.zrangebyscore("retry", now + RETRY_STEP_S, "+inf",
                                                withscores=True):
                    due = now + RETRY_STEP_S * (json.loads(m).get("retry_count", 0) + 1)
                    if score > due:
                        sooner[m] = due
                if sooner:
                    r.zadd("retry", sooner, xx=True)
            except (redis.ConnectionError, redis.TimeoutError, OSError):
                pass

    # -- faults --

    def fault(self):
        # every kind once, in a shuffled order, then again: a short run sees each
        if not self.bag:
            self.bag = list(self.kinds)
            self.rng.shuffle(self.bag)
        kind = self.bag.pop()
        down = self.rng.uniform(0.2, 2.0)
        self.log("chaos: %7.1fs %s, down %.1fs" % (time.monotonic() - self.t0, kind, down))
        if kind == "kill_nexusd":
            live = [p for p in self.procs if p.alive()]
            victim = live[self.rng.randrange(len(live))]
            try:
                self.killed_in_flight += self.client().llen(victim.inflight_key())
            except (redis.ConnectionError, redis.TimeoutError, OSError, IndexError):
                pass  # not registered yet
            victim.kill9()
            self.procs.remove(victim)
            time.sleep(down / 2)
            self.procs.append(self.spawn())
        elif kind == "kill_redis":
            self.redis.kill()
            time.sleep(down)
            self.redis.start(timeout=30)
        elif kind == "stop_postgres":
            self.pg.stop(mode="fast")
            time.sleep(down)
            self.pg.start()
        elif kind == "crash_postgres":
            self.pg.kill()
            time.sleep(down)
            self.pg.start()
        self.faults[kind] += 1

    def check_alive(self):
        for p in self.procs:
            p.assert_alive()

    # -- the run --

    def run(self):
        self.t0 = t0 = time.monotonic()
        threads = [threading.Thread(target=self.enqueue_loop, daemon=True),
                   threading.Thread(target=self.retry_pump, daemon=True)]
        for t in threads:
            t.start()
        end = t0 + self.duration_s
        while time.monotonic() < end:
            time.sleep(min(self.rng.uniform(*self.gap_s), max(0.0, end - time.monotonic())))
            if time.monotonic() >= end:
                break
            self.fault()
            self.check_alive()
        self.stop_enqueue.set()
        threads[0].join(30)
        assert not threads[0].is_alive(), "the enqueuer is stuck"
        self.fault_s = time.monotonic() - t0
        self.settle_took = self.settle()
        self.stop_pump.set()
        threads[1].join(10)
        return self.verify()

    def leftovers(self, r):
        inflight = {k: r.llen(k) for k in r.scan_iter("nexus:inflight:*")}
        return {"queue": r.llen("queue:default"), "retry": r.zcard("retry"),
                "schedule": r.zcard("schedule"), "dead": r.zcard("dead"),
                "inflight": sum(inflight.values())}

    def rows(self):
        return int(self.pg.psql("SELECT count(DISTINCT jid) FROM chaos_rows").strip())

    def settle(self):
        """Until every enqueued job has its row and Redis holds nothing: the time it took."""
        t0 = time.monotonic()
        r = self.client()
        want = len(set(self.enqueued))

        def done():
            self.check_alive()
            left = self.leftovers(r)
            if left["dead"]:
                raise AssertionError("seed %d: %d jobs in dead, e.g. %s" % (
                    self.seed, left["dead"], r.zrange("dead", 0, 0)[0][:300]))
            return (left["queue"] == 0 and left["retry"] == 0 and left["inflight"] == 0
                    and self.rows() >= want)

        try:
            wait_for(done, self.settle_s, interval=0.25, what="the queue to drain")
        except AssertionError as e:
            if str(e).startswith("seed "):
                raise
            raise AssertionError("seed %d: not drained after %.0fs: %s, %d of %d rows"
                                 % (self.seed, self.settle_s, self.leftovers(r), self.rows(),
                                    want))
        took = time.monotonic() - t0
        time.sleep(1.0)  # a late second delivery would write now
        return took

    def verify(self):
        r = self.client()
        want = set(self.enqueued)
        rows = Counter(self.pg.psql("SELECT jid FROM chaos_rows").split())
        twice = {j: c for j, c in rows.items() if c > 1}
        missing = want - set(rows)
        unexpected = set(rows) - want
        done = set(self.pg.psql("SELECT jid FROM nexus.jobs_done").split())
        left = self.leftovers(r)
        attempts, recovered = self.log_counts()
        problems = []
        if twice:
            problems.append("%d jids with more than one row, e.g. %s"
                            % (len(twice), sorted(twice.items())[:3]))
        if missing:
            problems.append("%d enqueued jids without a row, e.g. %s"
                            % (len(missing), sorted(missing)[:3]))
        if unexpected:
            problems.append("%d rows of jids never enqueued, e.g. %s"
                            % (len(unexpected), sorted(unexpected)[:3]))
        if done != set(rows):
            problems.append("nexus.jobs_done differs from the rows: %d markers, %d jids"
                            % (len(done), len(rows)))
        if any(left.values()):
            problems.append("left in Redis: %s" % left)
        summary = {"seed": self.seed, "faults": dict(self.faults), "jobs": len(want),
                   "rows": sum(rows.values()), "attempts": dict(attempts),
                   "jobs_recovered": recovered, "killed_in_flight": self.killed_in_flight,
                   "processes_started": len(self.factory.all),
                   "push_retries": self.push_retries, "fault_phase_s": round(self.fault_s, 1),
                   "settle_s": round(self.settle_took, 1),
                   "duration_s": round(self.fault_s + self.settle_took, 1)}
        self.log("chaos: %s" % json.dumps(summary, sort_keys=True))
        assert not problems, "seed %d: %s" % (self.seed, "; ".join(problems))
        return summary

    def log_counts(self):
        """Attempts by outcome and jobs recovered, from every process's log (minutes of logs
        are hundreds of MB: lines are picked by substring before they are parsed)."""
        attempts = Counter()
        recovered = 0
        for n in self.factory.all:
            with open(n.logfile, "rb") as f:
                for raw in f:
                    if b" event=job " in raw:
                        m = OUTCOME.search(raw)
                        attempts[m.group(1).decode() if m else "?"] += 1
                    elif b" event=jobs_recovered " in raw:
                        m = RECOVERED.search(raw)
                        recovered += int(m.group(1)) if m else 0
        return attempts, recovered

    def keep_evidence(self):
        """On failure: the enqueued jids and the rows' jids, next to the processes' logs."""
        with open(os.path.join(self.workdir, "enqueued.txt"), "w") as f:
            f.write("\n".join(self.enqueued) + "\n")
        try:
            with open(os.path.join(self.workdir, "rows.txt"), "w") as f:
                f.write(self.pg.psql("SELECT jid FROM chaos_rows ORDER BY id"))
        except Exception as e:  # PostgreSQL may be what failed
            self.log("chaos: rows not saved: %s" % e)

    def cleanup(self):
        self.stop_enqueue.set()
        self.stop_pump.set()
        try:
            if self.factory:
                self.factory.finish()
        finally:
            if self.redis:
                self.redis.close_clients()
                self.redis.kill()
            if self.pg:
                self.pg.cleanup()


def seed_from_env(name="CHAOS_SEED"):
    v = os.environ.get(name)
    return int(v) if v else random.SystemRandom().randrange(1, 2 ** 31)


def run_chaos(workdir, seed, log=print, **kw):
    """Runs one Chaos and returns its summary; raises AssertionError on any violation."""
    c = Chaos(workdir, seed, log=log, **kw)
    try:
        c.start()
        return c.run()
    except AssertionError as e:
        c.keep_evidence()
        if not str(e).startswith("seed "):
            raise AssertionError("seed %d: %s" % (seed, e)) from e
        raise
    finally:
        c.cleanup()

