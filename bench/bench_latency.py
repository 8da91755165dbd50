#!/usr/bin/python3
"""bench_latency.py - enqueue -> start latency of nexusd, the Redis floor and beanstalkd, in
interleaved blocks, so that every system samples the same moments of a noisy machine.

usage: bench/bench_latency.py [--nexusd build/nexusd] [--rounds 10] [--jobs 500] [--gap 5]
                              [--variants default,q2,q10,metered]

Each round runs one block of --jobs single jobs, --gap ms apart, for each system in turn (the
order rotates from round to round):
  nexusd       idle, the default configuration (log.level info: its latency_ms lines), on a
               private redis-server over TCP; the producer writes one RESP LPUSH on a plain
               socket, the job's enqueued_at taken just before (bench/peers/nexusd_enqueue.py);
               with --variants, also (or instead) with 2 or 10 queues configured (the jobs
               in `default`, listed last) and with redis.metered = true, as in the peers run
               (bench/peers/nexusd_worker.py's configurations), each a system of its own;
  floor        bench/peers/blmove_floor.c: one connection blocked in BLMOVE, the start taken
               when its reply is parsed: what any Redis-list worker pays, the same producer;
  beanstalkd   1.12, one worker process blocked in `reserve`: the peers harness's own
               client and latency worker (../shared/bench-peers/beanstalkd/bs_bench.py, or
               under PEERS_HARNESS; the time in the body, taken at put, the worker's clock
               read once the body is read).
Prints, per system, the percentiles of all blocks' samples pooled, the samples over 1 ms (stalls:
a p99 moves with a handful of them) and the rounds whose p99 is one, and the median over the
rounds of each round's p99 ratio (nexusd / beanstalkd, nexusd / floor, floor / beanstalkd):
ratios of blocks a few seconds apart, which a drift of the machine's speed moves less than
whole runs minutes apart. Needs redis-server, beanstalkd, gcc, libhiredis-dev, python3-redis
and the peers harness.
"""
import argparse
import json
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import redis

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "peers"))
HARNESS = os.environ.get("PEERS_HARNESS",
                         os.path.join(HERE, "..", "..", "shared", "bench-peers"))
sys.path.insert(0, os.path.join(HARNESS, "beanstalkd"))
from bench import latency_samples, start_nexusd, start_redis, stop  # noqa: E402
from bench_idle import wait_started  # noqa: E402
from nexusd_enqueue import spaced_raw  # noqa: E402
from nexusd_worker import config  # noqa: E402
try:
    import bs_bench  # noqa: E402  the harness's beanstalkd client (BS) and lat_worker
except ImportError:
    sys.exit("no peers harness at %s (PEERS_HARNESS)" % HARNESS)

# A start this late is a stall (a wake-up that waited for the CPU), not the path's length: the
# table counts them apart, since a p99 over 1,000 samples moves with a handful of them.
STALL_MS = 1.0

VARIANTS = {"default": (1, False), "q2": (2, False), "q10": (10, False), "metered": (1, True)}


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, timeout=10.0):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port)).close()
            return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError("nothing listens on port %d" % port)


def spaced_beanstalkd(port, n, gap_ms):
    """bs_bench.py's lat producer: its client's `put` of the time (ms) every gap_ms."""
    c = bs_bench.BS(port)
    t0 = time.monotonic()
    for i in range(n):
        c.put(b"%.4f" % (time.time() * 1000))
        d = t0 + (i + 1) * gap_ms / 1000.0 - time.monotonic()
        if d > 0:
            time.sleep(d)
    c.s.close()


class Systems:
    def __init__(self, args, tmp):
        self.args, self.tmp = args, tmp
        self.rport, self.bport = free_port(), free_port()
        # bench.py's redis-server, reached over TCP as the harness's peers reach theirs
        self.redis, _, _ = start_redis(tmp, ["--port", str(self.rport), "--bind", "127.0.0.1"])
        self.bs = subprocess.Popen(["beanstalkd", "-l", "127.0.0.1", "-p", str(self.bport)])
        wait_port(self.bport)
        self.r = redis.Redis(port=self.rport)
        self.floor = os.path.join(tmp, "blmove_floor")
        subprocess.run(["cc", "-O2", "-Wall", "-o", self.floor,
                        os.path.join(HERE, "peers", "blmove_floor.c"), "-lhiredis"], check=True)

    def close(self):
        for p in (self.redis, self.bs):
            p.terminate()
            p.wait()

    def nexusd(self, n, variant="default"):
        queues, metered = VARIANTS[variant]
        conf = config(argparse.Namespace(queues=queues, metered=metered), self.tmp)
        self.r.flushall()
        proc, log = start_nexusd(self.args.nexusd, "", self.tmp, "info", None, conf,
                                 {"REDIS_URL": "redis://127.0.0.1:%d/0" % self.rport})
        try:
            wait_started(self.r)
            time.sleep(0.5)  # blocked in BLMOVE
            spaced_raw("127.0.0.1", self.rport, n, self.args.gap)
            end = time.time() + 30
            while int(self.r.get("stat:processed") or 0) < n and time.time() < end:
                time.sleep(0.25)
        finally:
            stop(proc)
            log.close()
        lat = latency_samples(log.name)
        if len(lat) != n:
            raise RuntimeError("nexusd: %d of %d latency samples (%s)" % (len(lat), n, log.name))
        return lat

    def floor_block(self, n):
        self.r.flushall()
        proc = subprocess.Popen([self.floor, "127.0.0.1", str(self.rport), str(n)])
        end = time.time() + 10
        while not self.r.get("bench:ready") and time.time() < end:
            time.sleep(0.02)
        time.sleep(0.5)
        spaced_raw("127.0.0.1", self.rport, n, self.args.gap)
        if proc.wait(timeout=30) != 0:
            raise RuntimeError("blmove_floor failed")
        return sorted(json.loads(self.r.get("bench:result"))["lat_ms"])

    def beanstalkd(self, n):
        """bs_bench.py's lat(): its lat_worker in a process of its own, 1 s to settle."""
        out = multiprocessing.Queue()
        proc = multiprocessing.Process(target=bs_bench.lat_worker, args=(self.bport, n, out))
        proc.start()
        time.sleep(1.0)  # blocked in reserve
        spaced_beanstalkd(self.bport, n, self.args.gap)
        lat = sorted(out.get(timeout=30))
        proc.join(timeout=30)
        return lat


def pct(lat, p):
    """Nearest rank, as the harness's calc.py."""
    return lat[max(0, min(len(lat) - 1, -(-p * len(lat) // 100) - 1))]


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nexusd", default=os.path.join(HERE, "..", "build", "nexusd"))
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--jobs", type=int, default=500)
    ap.add_argument("--gap", type=float, default=5.0, help="ms between jobs")
    ap.add_argument("--variants", default="default",
                    help="nexusd's configurations, of " + ",".join(VARIANTS))
    args = ap.parse_args()
    args.nexusd = os.path.realpath(args.nexusd)
    variants = args.variants.split(",")
    if not variants or any(v not in VARIANTS for v in variants):
        sys.exit("--variants: a list of " + ",".join(VARIANTS))
    tmp = tempfile.mkdtemp(prefix="nexus-latency.")
    systems = Systems(args, tmp)
    nexusds = ["nexusd" if v == "default" else "nexusd-" + v for v in variants]
    names = nexusds + ["floor", "beanstalkd"]
    run = {"floor": systems.floor_block, "beanstalkd": systems.beanstalkd}
    for name, v in zip(nexusds, variants):
        run[name] = lambda n, v=v: systems.nexusd(n, v)
    pooled = {k: [] for k in names}
    p99s = []
    print("load average %s; %d rounds of %d jobs %.1f ms apart per system"
          % (" ".join(open("/proc/loadavg").read().split()[:3]), args.rounds, args.jobs, args.gap))
    try:
        for k in range(args.rounds):
            order = names[k % len(names):] + names[:k % len(names)]
            p99 = {}
            for name in order:
                lat = run[name](args.jobs)
                pooled[name] += lat
                p99[name] = pct(lat, 99)
            p99s.append(p99)
            print("round %2d: p99 ms " % (k + 1) + "  ".join(
                "%s %.3f" % (name, p99[name]) for name in names), flush=True)
    finally:
        systems.close()
    print("\n| system | samples | p50 ms | p90 ms | p99 ms | max ms | over %g ms "
          "| rounds p99 over |\n|---|---|---|---|---|---|---|---|" % STALL_MS)
    for name in names:
        lat = sorted(pooled[name])
        over = sum(x > STALL_MS for x in lat)
        print("| %s | %d | %.3f | %.3f | %.3f | %.2f | %d (%.2f %%) | %d of %d |" % (
            name, len(lat), pct(lat, 50), pct(lat, 90), pct(lat, 99), lat[-1], over,
            100.0 * over / len(lat), sum(p[name] > STALL_MS for p in p99s), len(p99s)))
    pairs = [(x, y) for x in nexusds for y in ("beanstalkd", "floor")] + [("floor", "beanstalkd")]
    for a, b in pairs:
        ratios = [p[a] / p[b] for p in p99s]
        print("p99 %s / %s: median of rounds %.2f (below 1 in %d of %d rounds)"
              % (a, b, statistics.median(ratios), sum(x < 1 for x in ratios), len(ratios)))


if __name__ == "__main__":
    sys.exit(main())
