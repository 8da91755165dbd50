#!/usr/bin/python3
"""nexusd_worker.py - nexusd as a worker of the peers harness (../shared/bench-peers).

The harness runs a worker until it has done BENCH_N jobs and then reads the JSON it left in
the Redis key bench:result (n, t_first_ms, t_last_ms, cpu_ms, lat_ms: see its calc.py).
nexusd has no such hook, and gets none: this wrapper starts nexusd (bench.py's start_nexusd)
on a generated configuration holding only what the variant needs, watches stat:processed,
and writes bench:result for it:

  n           jobs done inside the window (BENCH_N less those already done when the first
              completion was seen: one outcome call carries many jobs);
  t_first_ms  wall clock when stat:processed was first seen above 0;
  t_last_ms   wall clock when it was first seen at BENCH_N or more;
  cpu_ms      nexusd's CPU time between those two moments, every thread's, in ns from
              /proc/PID/task/*/schedstat (/proc/PID/stat counts 10 ms ticks: 40 of them
              in a drain of 100,000 jobs at 250,000 jobs/s);
  lat_ms      (lat) enqueued_at -> start of each job, from nexusd's info lines (latency_ms);
  rss_kb      nexusd's peak resident memory (VmHWM), since /usr/bin/time around this
              wrapper sees Python's.

The watch is one GET stat:processed every 0.5 ms while draining (thr), every 0.25 s while
waiting for spaced jobs (lat): docs/benchmarks.md gives its cost. (Every 10 ms, as it was,
its wake-ups and Redis's for each GET were counted against nexusd's latency: the minimal
BLMOVE client's p50 / p99 went from 0.054 / 0.268 to 0.098 / 0.546 ms with such a poller
beside it; beanstalkd's latency worker has no watcher.)

usage: nexusd_worker.py thr|lat [--queues K] [--metered]
  --queues K   K queues configured, jobs in `default`, listed last (K-1 empty ones first)
  --metered    redis.metered = true (docs/redis.md)
env: NEXUSD (binary), BENCH_N, REDIS_HOST, REDIS_PORT, RUN_DIR (the harness's),
     NEXUSD_TRANSPORT=tcp (default, as the other peers) | unix ($RUN_DIR/redis.sock)
"""
import argparse
import json
import os
import signal
import sys
import time

import redis

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from bench import check_none_failed, latency_samples, start_nexusd, stop  # noqa: E402
from bench_idle import http, wait_started  # noqa: E402

POLL_S = {"thr": 0.0005, "lat": 0.25}


def config(args, tmp):
    """The default configuration but for what the variant asks, and the HTTP endpoint on a
    unix socket of its own (the default 127.0.0.1:7411 may be taken by another nexusd)."""
    conf = http(tmp)
    if args.queues > 1:
        names = ['"q%d"' % i for i in range(1, args.queues)] + ['"default"']
        conf += "worker = { queues = ( %s ); };\n" % ", ".join(names)
    if args.metered:
        conf += "redis = { metered = true; };\n"
    return conf


def cpu_seconds(pid):
    """CPU time of the process's live threads so far, to the ns (a lookup thread that has
    ended takes its few µs with it)."""
    total = 0
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                total += int(f.read().split()[0])
        except FileNotFoundError:
            pass
    return total / 1e9


def peak_rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def watch(r, proc, n, poll_s, deadline):
    """(t_first_ms, t_last_ms, cpu_s, jobs in the window) once stat:processed reaches n."""
    first = None
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("nexusd exited with %d" % proc.returncode)
        done = int(r.get("stat:processed") or 0)
        if first is None and done > 0:
            first = (time.time() * 1000.0, cpu_seconds(proc.pid), done)
        if done >= n:
            t_last, cpu = time.time() * 1000.0, cpu_seconds(proc.pid)
            return first[0], t_last, cpu - first[1], n - first[2]
        time.sleep(poll_s)
    raise RuntimeError("nexusd did not finish %d jobs in time" % n)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=sorted(POLL_S))
    ap.add_argument("--queues", type=int, default=1)
    ap.add_argument("--metered", action="store_true")
    args = ap.parse_args()
    n = int(os.environ.get("BENCH_N", "100000"))
    host, port = os.environ.get("REDIS_HOST", "127.0.0.1"), os.environ.get("REDIS_PORT", "6390")
    run_dir = os.environ["RUN_DIR"]
    tmp = os.path.join(run_dir, "nexusd")
    os.makedirs(tmp, exist_ok=True)
    env = {}
    if os.environ.get("NEXUSD_TRANSPORT", "tcp") == "tcp":
        env["REDIS_URL"] = "redis://%s:%s/0" % (host, port)
    # the harness's `timeout` sends TERM: nexusd goes down with this wrapper
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("nexusd_worker: terminated"))
    r = redis.Redis(host=host, port=int(port))
    level = "warn" if args.mode == "thr" else "info"
    proc, log = start_nexusd(os.environ.get("NEXUSD", "build/nexusd"),
                             os.path.join(run_dir, "redis.sock"), tmp, level, None,
                             config(args, tmp), env)
    try:
        if args.mode == "lat":
            wait_started(r)
            r.set("bench:ready", "1")
        t_first, t_last, cpu_s, jobs = watch(r, proc, n, POLL_S[args.mode], time.time() + 280)
        rss = peak_rss_kb(proc.pid)
    finally:
        stop(proc)
        log.close()
    check_none_failed(r, log)
    lat = latency_samples(log.name) if args.mode == "lat" else []
    if args.mode == "lat" and len(lat) < n:
        raise RuntimeError("only %d of %d latency samples in %s" % (len(lat), n, log.name))
    r.set("bench:result", json.dumps({"n": jobs, "t_first_ms": t_first, "t_last_ms": t_last,
                                      "cpu_ms": cpu_s * 1000.0, "lat_ms": lat, "rss_kb": rss}))


if __name__ == "__main__":
    sys.exit(main())
