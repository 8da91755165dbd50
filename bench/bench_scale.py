#!/usr/bin/python3
"""bench_scale.py - two nexusd processes against one, on one Redis and one machine.

Each run drains N preloaded noop jobs (bench.py's preload) once with one nexusd and once
with two, in turns (odd runs one first, even runs two first). Every process has the default
configuration (only log.level = "warn" and, so that two fit on one host, its HTTP endpoint
on a unix socket of its own) and reaches Redis over TCP on loopback, as a fleet would over
the network. Per drain: jobs/s from stat:processed (bench.py's drain_rate: first finished job
to the N-th), Redis CPU per job (INFO cpu, from before the processes start to the N-th job)
and nexusd CPU per job (/proc/PID/stat, all processes, start-up included). Prints each run,
then the medians, the ratio two / one, and what they say for a fleet: jobs/s one Redis core
carries (1e6 / Redis µs per job) and how many processes it takes to get there.
Usage: bench/bench_scale.py [--nexusd build/nexusd] [--jobs 200000] [--runs 5]
"""
import argparse
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
sys.path.insert(0, HERE)
from bench import check_none_failed, cpu_seconds, drain_rate, preload  # noqa: E402
from bench import start_nexusd, stop  # noqa: E402
from bench_idle import http, private_redis  # noqa: E402
from redis_topo import free_port  # noqa: E402


def redis_cpu_seconds(r):
    info = r.info("cpu")
    return info["used_cpu_user"] + info["used_cpu_sys"]


def drain_with(args, r, url, tmp, nprocs):
    """(jobs/s, Redis CPU µs per job, nexusd CPU µs per job) of nprocs processes draining."""
    preload(r, args.jobs)
    redis0 = redis_cpu_seconds(r)
    procs = []
    try:
        for i in range(nprocs):
            home = os.path.join(tmp, "p%d" % i)
            os.makedirs(home, exist_ok=True)
            procs.append(start_nexusd(args.nexusd, "", home, "warn", None, http(home),
                                      {"REDIS_URL": url}))
        rate = drain_rate(r, args.jobs, procs[0][0], 300)
        redis_us = (redis_cpu_seconds(r) - redis0) * 1e6 / args.jobs
        nexusd_us = sum(cpu_seconds(proc.pid) for proc, _ in procs) * 1e6 / args.jobs
    finally:
        for proc, log in procs:
            stop(proc)
            log.close()
    for _, log in procs:
        check_none_failed(r, log)
    return rate, redis_us, nexusd_us


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nexusd", default="build/nexusd")
    ap.add_argument("--jobs", type=int, default=200000)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    port = free_port()
    url = "redis://127.0.0.1:%d/0" % port
    with private_redis("nexus-scale-", ["--port", str(port), "--bind", "127.0.0.1"]) as (
            tmp, _, r, _):
        got = {1: [], 2: []}
        for i in range(args.runs):
            for k in ((1, 2) if i % 2 == 0 else (2, 1)):
                got[k].append(drain_with(args, r, url, tmp, k))
            (one, r1, n1), (two, r2, n2) = got[1][-1], got[2][-1]
            print("run %d: one %.0f jobs/s (Redis %.1f, nexusd %.1f µs/job), two %.0f (Redis "
                  "%.1f, nexusd %.1f µs/job): two / one %.2f"
                  % (i + 1, one, r1, n1, two, r2, n2, two / one), flush=True)
        med = {k: [statistics.median(x[j] for x in v) for j in range(3)] for k, v in got.items()}
        ratio = statistics.median(b[0] / a[0] for a, b in zip(got[1], got[2]))
        per_core = 1e6 / med[2][1]
        print("median of %d runs (%d jobs): one process %.0f jobs/s, two %.0f; two / one %.2f "
              "(median of the runs' ratios)" % (args.runs, args.jobs, med[1][0], med[2][0], ratio))
        print("per job: Redis %.1f µs (one) / %.1f µs (two), nexusd %.1f / %.1f µs"
              % (med[1][1], med[2][1], med[1][2], med[2][2]))
        print("fleet: one Redis core carries 1e6 / %.1f = %.0f jobs/s, the rate of about %.1f "
              "processes at one's %.0f jobs/s; nexusd needs %.2f cores per Redis core"
              % (med[2][1], per_core, per_core / med[1][0], med[1][0], med[2][2] / med[2][1]))


if __name__ == "__main__":
    sys.exit(main())
