#!/usr/bin/python3
"""bench.py - nexusd throughput and latency, measured against a private redis-server.

Figures, medians of --runs runs:
  drain:   jobs/s for one nexusd process to run N preloaded noop jobs (reliable fetch,
           batched outcomes), counted from its first finished job to its last;
  latency: enqueue -> start of single jobs pushed one at a time to an idle nexusd
           (p50, p99), from the job's enqueued_at to the start nexusd logs;
  baseline: in the same run, redis-benchmark's rate for a pipelined LMOVE + LREM cycle on
           one connection, the ceiling a Redis-list worker can reach here.
Usage: bench/bench.py [--nexusd build/nexusd] [--jobs 100000] [--runs 5] [--latency 1000]
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import redis


def start_redis(tmp, args=()):
    """redis-server on a unix socket in tmp (plus what `args` adds, e.g. a TLS port)."""
    sock = os.path.join(tmp, "redis.sock")
    proc = subprocess.Popen(
        ["redis-server", "--port", "0", "--unixsocket", sock, "--save", "",
         "--appendonly", "no", "--dir", tmp] + list(args),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    r = redis.Redis(unix_socket_path=sock)
    for _ in range(200):
        try:
            r.ping()
            return proc, sock, r
        except redis.exceptions.ConnectionError:
            time.sleep(0.01)
    raise RuntimeError("redis-server did not start")


def job(i, now, cls="noop", args=(), jid=None):
    return json.dumps({"class": cls, "args": list(args), "jid": jid or "%024x" % i,
                       "queue": "default", "retry": True, "created_at": now,
                       "enqueued_at": now})


def preload(r, n, cls="noop", args_of=lambda i: [], jid_of=None, flush=True):
    """N jobs of `cls` in queue:default, args_of(i) their args, jid_of(i) their jids (default
    %024x of i). flush: FLUSHALL first; otherwise only the counters and the queue go."""
    if flush:
        r.flushall()
    else:
        r.delete("stat:processed", "stat:failed", "queue:default")
    now = time.time()
    pipe = r.pipeline(transaction=False)
    for i in range(0, n, 1000):
        pipe.lpush("queue:default", *[job(k, now, cls, args_of(k), jid_of and jid_of(k))
                                      for k in range(i, min(i + 1000, n))])
    pipe.sadd("queues", "default")
    pipe.execute()


def start_nexusd(binary, sock, tmp, level="warn", concurrency=50, extra_conf="", env_extra=None):
    """nexusd on the private Redis, logging into tmp/nexusd.log (truncated): (proc, log).
    concurrency None leaves worker.concurrency (and the worker group) to extra_conf."""
    conf = os.path.join(tmp, "bench.conf")
    worker = "" if concurrency is None else "worker = { concurrency = %d; };\n" % concurrency
    with open(conf, "w") as f:
        f.write('log = { level = "%s"; };\n%s%s' % (level, worker, extra_conf))
    log = open(os.path.join(tmp, "nexusd.log"), "w")
    env = dict(os.environ, REDIS_URL="unix://" + sock)
    env.update(env_extra or {})
    return subprocess.Popen([binary, "-c", conf], env=env, stderr=log), log


def stop(proc):
    proc.terminate()
    proc.wait(timeout=30)


def cpu_seconds(pid):
    """User + system CPU seconds a process has used so far (10 ms ticks)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def drain_rate(r, n, proc, timeout):
    """Jobs/s from the first finished job to the n-th, polling stat:processed every 0.5 ms
    (process start-up is left out)."""
    first, base, deadline = None, 0, time.time() + timeout
    while time.time() < deadline:
        done = int(r.get("stat:processed") or 0)
        if first is None and done > 0:
            first, base = time.perf_counter(), done
        if done >= n:
            return (n - base) / (time.perf_counter() - first)
        time.sleep(0.0005)
    stop(proc)
    raise RuntimeError("nexusd did not drain %d jobs in %d s" % (n, timeout))


def check_none_failed(r, log):
    failed = int(r.get("stat:failed") or 0)
    if failed:
        raise RuntimeError("%d jobs failed; see %s" % (failed, log.name))


def drain(binary, r, sock, tmp, n, extra_conf="", env_extra=None, concurrency=200,
          timeout=300):
    """Jobs/s of one nexusd draining the n preloaded jobs, none of which may fail."""
    proc, log = start_nexusd(binary, sock, tmp, "warn", concurrency, extra_conf, env_extra)
    rate = drain_rate(r, n, proc, timeout)
    stop(proc)
    log.close()
    check_none_failed(r, log)
    return rate


def drain_run(binary, r, sock, tmp, n, concurrency):
    preload(r, n)
    return drain(binary, r, sock, tmp, n, concurrency=concurrency, timeout=120)


def latency_samples(log_path):
    """Sorted enqueue -> start latencies (ms): the latency_ms of the info lines of jobs done."""
    pattern = re.compile(r"event=job .*outcome=ok .*latency_ms=([0-9.]+)")
    with open(log_path) as f:
        return sorted(float(m.group(1)) for m in map(pattern.search, f) if m)


def latency_run(binary, r, sock, tmp, count, extra_conf="", env_extra=None):
    r.flushall()
    proc, log = start_nexusd(binary, sock, tmp, "info", 50, extra_conf, env_extra)
    time.sleep(0.5)  # connected and idle, blocked in BLMOVE
    for i in range(count):
        r.lpush("queue:default", job(i, time.time()))
        time.sleep(0.002)
    deadline = time.time() + 30
    while int(r.get("stat:processed") or 0) < count and time.time() < deadline:
        time.sleep(0.01)
    stop(proc)
    log.close()
    lat = latency_samples(os.path.join(tmp, "nexusd.log"))
    if len(lat) < count:
        raise RuntimeError("only %d of %d latency samples" % (len(lat), count))
    return lat[len(lat) // 2], lat[int(len(lat) * 0.99) - 1]


def baseline_run(sock, n):
    """redis-benchmark: a pipelined push + LMOVE (queue -> in-flight) + LREM (ack) cycle."""
    out = subprocess.run(
        ["redis-benchmark", "-s", sock, "-n", str(n), "-P", "100", "-q", "--csv",
         "EVAL", "redis.call('LPUSH', KEYS[1], ARGV[1]); "
         "local j = redis.call('LMOVE', KEYS[1], KEYS[2], 'RIGHT', 'LEFT'); "
         "return redis.call('LREM', KEYS[2], -1, j)", "2", "q", "inflight", job(1, 0.0)],
        capture_output=True, text=True, check=True).stdout
    return float(out.strip().splitlines()[-1].split(",")[-7].strip('"'))


def parse_args(doc, jobs=100000, runs=5, latency=1000):
    """The options of the drain and latency benchmarks (this one, bench_tls.py)."""
    ap = argparse.ArgumentParser(description=doc,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nexusd", default="build/nexusd")
    ap.add_argument("--jobs", type=int, default=jobs)
    ap.add_argument("--runs", type=int, default=runs)
    ap.add_argument("--latency", type=int, default=latency, help="single jobs per latency run")
    ap.add_argument("--concurrency", type=int, default=50)
    return ap.parse_args()


def main():
    args = parse_args(__doc__)
    tmp = tempfile.mkdtemp(prefix="nexus-bench-")
    rproc, sock, r = start_redis(tmp)
    try:
        drains, p50s, p99s, bases = [], [], [], []
        for i in range(args.runs):
            drains.append(drain_run(args.nexusd, r, sock, tmp, args.jobs, args.concurrency))
            p50, p99 = latency_run(args.nexusd, r, sock, tmp, args.latency)
            p50s.append(p50)
            p99s.append(p99)
            r.flushall()
            bases.append(baseline_run(sock, args.jobs))
            print("run %d: drain %.0f jobs/s, latency p50 %.3f ms p99 %.3f ms, "
                  "baseline LMOVE+LREM %.0f/s" % (i + 1, drains[-1], p50, p99, bases[-1]),
                  flush=True)
        d, b = statistics.median(drains), statistics.median(bases)
        print("median of %d runs: drain %.0f noop jobs/s (%d jobs, concurrency %d), "
              "enqueue->start p50 %.3f ms, p99 %.3f ms; baseline %.0f cycles/s; "
              "nexusd/baseline %.2f"
              % (args.runs, d, args.jobs, args.concurrency, statistics.median(p50s),
                 statistics.median(p99s), b, d / b))
    finally:
        rproc.terminate()
        rproc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
