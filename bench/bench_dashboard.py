#!/usr/bin/python3
"""bench_dashboard.py - what dashboard readers cost the jobs.

Each run, against a private redis-server, drains N preloaded noop jobs twice with one nexusd:
  quiet    nobody reads the dashboard (the reference);
  polled   K clients poll back to back over nexusd's HTTP socket the whole time, each going
           round --paths (GET /api/dead?limit=1000, and the metrics' history of the hour and of
           the day: /api/metrics?window=hour|day), while `dead` holds --dead ordinary entries
           and --huge entries of --huge-mb MB each (one with huge args, one with a huge
           error_message, ...), and the metrics' hashes hold the counts of the drains before.
Both drains start the same way: the queue is paused while nexusd starts (and the pollers
poll for --warmup seconds: nexusd's first read of the huge entries, its one costly read, is
over by then), then resumed; the rate counts from the first finished job to the last. The
default 200,000 jobs make a drain last over a second, so that many reads happen during it.
The ratio polled/quiet is taken inside each run; medians of --runs runs. Pollers still
waiting when nexusd stops get 503.
Usage: bench/bench_dashboard.py [--nexusd build/nexusd] [--jobs 200000] [--runs 5]
       [--clients 4] [--dead 1000] [--huge 2] [--huge-mb 100] [--warmup 3] [--paths P1,P2]
"""
import argparse
import http.client
import json
import os
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from bench import check_none_failed, drain_rate, preload, start_nexusd, start_redis, stop  # noqa: E402,E501


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


class Poller(threading.Thread):
    """GETs each of `paths` in turn over the unix socket, again and again until stopped:
    counts the answers, their bytes and the slowest one."""

    def __init__(self, sock, paths):
        super().__init__(daemon=True)
        self.sock, self.paths = sock, paths
        self.halt = threading.Event()
        self.answers, self.bytes, self.errors, self.slowest = {}, 0, 0, 0.0

    def run(self):
        turn = 0
        while not self.halt.is_set():
            t0 = time.perf_counter()
            turn += 1
            try:
                c = UnixHTTPConnection(self.sock, timeout=120)
                c.request("GET", self.paths[turn % len(self.paths)])
                res = c.getresponse()
                body = res.read()
                c.close()
            except (OSError, http.client.HTTPException):
                self.errors += 1
                time.sleep(0.01)
                continue
            self.slowest = max(self.slowest, time.perf_counter() - t0)
            self.answers[res.status] = self.answers.get(res.status, 0) + 1
            self.bytes += len(body)


def fill_dead(r, ordinary, huge, huge_mb):
    """`ordinary` dead jobs of a few hundred bytes and `huge` of huge_mb MB, alternately with
    huge args and a huge error_message (what a command's output becomes)."""
    now = time.time()
    pipe = r.pipeline(transaction=False)
    for i in range(ordinary):
        job = {"class": "fail", "args": ["dead %d" % i, {"n": i}], "jid": "d%023x" % i,
               "queue": "default", "retry": True, "retry_count": 25, "created_at": now,
               "enqueued_at": now, "failed_at": now, "error_class": "RuntimeError",
               "error_message": "boom %d: " % i + "x" * 200}
        pipe.zadd("dead", {json.dumps(job): now - i})
    pipe.execute()
    blob = "y" * (huge_mb << 20)
    for i in range(huge):
        job = {"class": "shell", "args": [], "jid": "h%023x" % i, "queue": "default",
               "retry": False, "created_at": now, "enqueued_at": now, "failed_at": now,
               "error_class": "NexusCommandFailed", "error_message": "exit 1"}
        job["args" if i % 2 == 0 else "error_message"] = [blob] if i % 2 == 0 else blob
        r.zadd("dead", {json.dumps(job): now + 10 + i})  # the newest: the first page
    del blob


def wait_socket(path, proc, timeout=10):
    deadline = time.time() + timeout
    while not os.path.exists(path):
        if proc.poll() is not None or time.time() > deadline:
            raise RuntimeError("nexusd did not listen on %s" % path)
        time.sleep(0.01)


def drain_once(binary, r, sock, tmp, n, clients, paths, warmup, timeout):
    """Jobs/s of one drain of the n preloaded jobs (paused until nexusd and the pollers are
    up), with `clients` pollers of `paths`; and the pollers."""
    http_sock = os.path.join(tmp, "http.sock")
    r.sadd("nexus:paused", "default")
    proc, log = start_nexusd(binary, sock, tmp, "warn", 50,
                             'http = { listen = "unix:%s"; };\n' % http_sock)
    pollers = []
    try:
        wait_socket(http_sock, proc)
        pollers = [Poller(http_sock, paths) for _ in range(clients)]
        for p in pollers:
            p.start()
        time.sleep(warmup)
        r.srem("nexus:paused", "default")
        rate = drain_rate(r, n, proc, timeout)
    finally:
        for p in pollers:
            p.halt.set()
        stop(proc)
        for p in pollers:
            p.join(timeout=130)
        log.close()
    check_none_failed(r, log)
    return rate, pollers


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nexusd", default="build/nexusd")
    ap.add_argument("--jobs", type=int, default=200000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--dead", type=int, default=1000, help="ordinary dead entries")
    ap.add_argument("--huge", type=int, default=2, help="huge dead entries")
    ap.add_argument("--huge-mb", type=int, default=100)
    ap.add_argument("--paths", default="/api/dead?limit=1000,/api/metrics?window=hour,"
                    "/api/metrics?window=day", help="comma-separated paths each client polls")
    ap.add_argument("--warmup", type=float, default=3.0, help="seconds of polling first")
    ap.add_argument("--timeout", type=float, default=300, help="seconds one drain may take")
    args = ap.parse_args()
    paths = args.paths.split(",")
    tmp = tempfile.mkdtemp(prefix="nexus-bench-")
    rproc, sock, r = start_redis(tmp)
    try:
        r.flushall()
        fill_dead(r, args.dead, args.huge, args.huge_mb)
        quiet, polled, ratios = [], [], []
        for i in range(args.runs):
            preload(r, args.jobs, flush=False)
            q, _ = drain_once(args.nexusd, r, sock, tmp, args.jobs, 0, paths, args.warmup,
                              args.timeout)
            preload(r, args.jobs, flush=False)
            p, pollers = drain_once(args.nexusd, r, sock, tmp, args.jobs, args.clients,
                                    paths, args.warmup, args.timeout)
            quiet.append(q)
            polled.append(p)
            ratios.append(p / q)
            answers = {}
            for x in pollers:
                for k, v in x.answers.items():
                    answers[k] = answers.get(k, 0) + v
            print("run %d: quiet %.0f jobs/s (%.3f s), polled %.0f jobs/s (%.3f s), ratio %.2f; "
                  "answers %s, %.1f MB read, slowest %.3f s, %d errors"
                  % (i + 1, q, args.jobs / q, p, args.jobs / p, p / q,
                     json.dumps(answers, sort_keys=True),
                     sum(x.bytes for x in pollers) / 1e6, max(x.slowest for x in pollers),
                     sum(x.errors for x in pollers)), flush=True)
        print("median of %d runs (%d jobs, %d clients polling %s, dead: %d + %d of %d MB): "
              "quiet %.0f jobs/s (%.3f s), polled %.0f jobs/s (%.3f s), ratio %.2f"
              % (args.runs, args.jobs, args.clients, args.paths, args.dead, args.huge,
                 args.huge_mb, statistics.median(quiet), args.jobs / statistics.median(quiet),
                 statistics.median(polled), args.jobs / statistics.median(polled),
                 statistics.median(ratios)))
    finally:
        rproc.terminate()
        rproc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
