#!/usr/bin/python3
"""bench_webhook.py - `http` class throughput: jobs POSTed (signed) to a local HTTP peer.

Each run, against a private redis-server and bench/http_sink.py (an asyncio peer answering
204 at once over keep-alive connections):
  noop      drain of N preloaded noop jobs (the reference, same run);
  http@C    drain of N preloaded jobs of an http class at worker.concurrency C.
Each drain also gives nexusd's CPU per job (user + system, start to stop, in µs): the sink,
one Python thread, may set the rate before nexusd does, so the CPU is what shows nexusd's
own cost. Medians of --runs runs; ratios are taken inside each run.
Usage: bench/bench_webhook.py [--nexusd build/nexusd] [--jobs 20000] [--runs 3]
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
sys.path.insert(0, HERE)

from bench import check_none_failed, cpu_seconds, drain_rate, preload, start_nexusd  # noqa: E402,E501
from bench import start_redis, stop  # noqa: E402

CONCURRENCY = (10, 50, 200)


def drain_cpu(binary, r, sock, tmp, n, extra_conf="", env_extra=None, concurrency=200):
    """(jobs/s, nexusd CPU µs per job) of one nexusd draining the n preloaded jobs."""
    proc, log = start_nexusd(binary, sock, tmp, "warn", concurrency, extra_conf, env_extra)
    rate = drain_rate(r, n, proc, 300)
    cpu = cpu_seconds(proc.pid)
    stop(proc)
    log.close()
    check_none_failed(r, log)
    return rate, cpu * 1e6 / n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nexusd", default=os.path.join(HERE, "..", "build", "nexusd"))
    ap.add_argument("--jobs", type=int, default=20000)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="nxbench-")
    rs, sock, r = start_redis(tmp)
    sink = subprocess.Popen([sys.executable, os.path.join(HERE, "http_sink.py")],
                            stdout=subprocess.PIPE, text=True)
    port = int(sink.stdout.readline())
    hook = ('classes = ( { name = "app.hook"; url = "http://127.0.0.1:%d/api/jobs"; '
            'secret_env = "BENCH_WEBHOOK_SECRET"; } );\n' % port)
    env = {"BENCH_WEBHOOK_SECRET": "bench-only"}
    results = {"noop": []}
    results.update({"http@%d" % c: [] for c in CONCURRENCY})
    cpu = {k: [] for k in results}
    try:
        for run in range(a.runs):
            preload(r, a.jobs, "noop", lambda i: [i])
            rate, us = drain_cpu(a.nexusd, r, sock, tmp, a.jobs)
            results["noop"].append(rate)
            cpu["noop"].append(us)
            for c in CONCURRENCY:
                preload(r, a.jobs, "app.hook", lambda i: [{"order": i}])
                rate, us = drain_cpu(a.nexusd, r, sock, tmp, a.jobs, hook, env, concurrency=c)
                results["http@%d" % c].append(rate)
                cpu["http@%d" % c].append(us)
            print("run %d: %s" % (run + 1, "  ".join(
                "%s %.0f/s %.1f us" % (k, v[-1], cpu[k][-1]) for k, v in results.items())),
                flush=True)
    finally:
        stop(sink)
        stop(rs)
        shutil.rmtree(tmp, ignore_errors=True)
    base = statistics.median(results["noop"])
    print("\nmedians of %d runs, %d jobs each:" % (a.runs, a.jobs))
    for k, v in results.items():
        m = statistics.median(v)
        print("  %-9s %9.0f jobs/s  (%.3f of noop)  nexusd CPU %.1f us/job"
              % (k, m, m / base, statistics.median(cpu[k])))


if __name__ == "__main__":
    main()
