#!/usr/bin/python3
"""bench_idle.py - what nexusd costs Redis: commands while idle, and commands per job.

Figures, each from INFO commandstats of a private redis-server that only nexusd talks to:
  idle:   commands of one idle nexusd (default configuration, then redis.metered = true),
          counted over --seconds after its start-up, per minute and per hour, by command;
  loaded: commands per job while one nexusd runs --jobs preloaded noop jobs (the reset after
          the preload, the count once the last job finished).
Usage: bench/bench_idle.py [--nexusd build/nexusd] [--seconds 60] [--jobs 20000]
                           [--modes default,metered] [--no-loaded]
"""
import argparse
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import preload, start_nexusd, start_redis, stop  # noqa: E402

MODES = {"default": "", "metered": "redis = { metered = true; };\n"}


def commandstats(r):
    """{command: calls} of INFO commandstats, without the INFO and CONFIG calls of this script."""
    out = {}
    for key, value in r.info("commandstats").items():
        name = key[len("cmdstat_"):]
        if name in ("info", "config|resetstat", "config"):
            continue
        out[name] = value["calls"]
    return out


def wait_started(r, timeout=20.0):
    """Until nexusd has beaten once (its process hash is there)."""
    end = time.time() + timeout
    while time.time() < end:
        if r.scard("processes") > 0:
            return
        time.sleep(0.05)
    raise RuntimeError("nexusd did not start")


def idle(binary, mode, seconds, settle):
    tmp = tempfile.mkdtemp(prefix="nxidle")
    rproc, sock, r = start_redis(tmp)
    proc = None
    try:
        r.sadd("queues", "default")
        proc, log = start_nexusd(binary, sock, tmp, extra_conf=MODES[mode])
        wait_started(r)
        time.sleep(settle)  # the start-up burst (first beat, reaper, catch-up) is not idling
        r.config_resetstat()
        time.sleep(seconds)
        stats = commandstats(r)
        return stats
    finally:
        if proc:
            stop(proc)
        rproc.terminate()
        rproc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


def loaded(binary, jobs):
    tmp = tempfile.mkdtemp(prefix="nxload")
    rproc, sock, r = start_redis(tmp)
    proc = None
    try:
        preload(r, jobs)
        r.config_resetstat()
        proc, log = start_nexusd(binary, sock, tmp)
        end = time.time() + 600
        while time.time() < end:
            done = int(r.get("stat:processed") or 0)
            if done >= jobs:
                break
            time.sleep(0.05)
        time.sleep(0.3)  # the last outcomes' flush
        stats = commandstats(r)
        return stats, int(r.get("stat:processed") or 0)
    finally:
        if proc:
            stop(proc)
        rproc.terminate()
        rproc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


def show(stats, seconds):
    total = sum(stats.values())
    per_min = total * 60.0 / seconds
    print("  total %d in %.0f s: %.1f/min, %.0f/hour" % (total, seconds, per_min, per_min * 60))
    for name, calls in sorted(stats.items(), key=lambda kv: -kv[1]):
        print("    %-16s %6d  %8.1f/min" % (name, calls, calls * 60.0 / seconds))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nexusd", default="build/nexusd")
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--settle", type=float, default=3)
    ap.add_argument("--jobs", type=int, default=20000)
    ap.add_argument("--modes", default="default,metered")
    ap.add_argument("--no-loaded", action="store_true")
    a = ap.parse_args()
    for mode in a.modes.split(","):
        print("idle, %s configuration:" % mode)
        show(idle(a.nexusd, mode, a.seconds, a.settle), a.seconds)
    if not a.no_loaded:
        stats, done = loaded(a.nexusd, a.jobs)
        total = sum(stats.values())
        print("loaded: %d jobs, %d commands, %.3f commands/job" % (done, total, total / max(done, 1)))
        for name, calls in sorted(stats.items(), key=lambda kv: -kv[1])[:8]:
            print("    %-16s %8d  %.3f/job" % (name, calls, calls / max(done, 1)))


if __name__ == "__main__":
    main()
