#!/usr/bin/python3
"""bench_idle.py - what nexusd costs Redis: commands while idle, and commands per job.

Figures, each from INFO commandstats of a private redis-server that only nexusd talks to:
  idle:   commands of one idle nexusd (default configuration, then redis.metered = true),
          counted over --seconds after its start-up, per minute and per hour, by command;
          then the LPUSH -> start latency (p50, p99) of --latency jobs pushed one at a time;
  loaded: commands per job while one nexusd runs --jobs preloaded noop jobs (the reset after
          the preload, the count once the last job finished).
Usage: bench/bench_idle.py [--nexusd build/nexusd] [--seconds 60] [--jobs 20000] [--latency 500]
                           [--modes default,metered] [--no-loaded]
"""
import argparse
import contextlib
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import job, latency_samples, preload, start_nexusd, start_redis, stop  # noqa: E402,E501

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


def http(tmp):
    """The HTTP endpoint on a socket of its own: runs side by side never collide on a port."""
    return 'http = { listen = "unix:%s/http.sock"; };\n' % tmp


def wait_started(r, timeout=20.0):
    """Until nexusd has beaten once (its process hash is there)."""
    end = time.time() + timeout
    while time.time() < end:
        if r.scard("processes") > 0:
            return
        time.sleep(0.05)
    raise RuntimeError("nexusd did not start")


@contextlib.contextmanager
def private_redis(prefix, args=()):
    """A redis-server of its own in a temporary directory (start_redis's `args` added):
    (tmp, sock, client, processes stopped first); torn down after."""
    tmp = tempfile.mkdtemp(prefix=prefix)
    rproc, sock, r = start_redis(tmp, args)
    procs = []
    try:
        yield tmp, sock, r, procs
    finally:
        for proc in procs:
            stop(proc)
        rproc.terminate()
        rproc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


def start_latencies(r, tmp, n):
    """enqueued_at -> start (ms) of n jobs pushed one at a time, each to an idle process."""
    for i in range(n):
        r.lpush("queue:default", job(i, time.time()))
        end = time.time() + 10
        while int(r.get("stat:processed") or 0) < i + 1 and time.time() < end:
            time.sleep(0.001)
        time.sleep(0.01)  # idle again: the BLMOVE is out once more
    return latency_samples(os.path.join(tmp, "nexusd.log"))


def idle(binary, mode, seconds, settle, latency):
    """(commandstats over `seconds` of idling, start latencies of `latency` pushes)."""
    with private_redis("nxidle") as (tmp, sock, r, procs):
        r.sadd("queues", "default")
        procs.append(start_nexusd(binary, sock, tmp, "info",
                                  extra_conf=MODES[mode] + http(tmp))[0])
        wait_started(r)
        time.sleep(settle)  # the start-up burst (first beat, reaper, catch-up) is not idling
        r.config_resetstat()
        time.sleep(seconds)
        stats = commandstats(r)
        return stats, start_latencies(r, tmp, latency)


def loaded(binary, jobs):
    with private_redis("nxload") as (tmp, sock, r, procs):
        preload(r, jobs)
        r.config_resetstat()
        procs.append(start_nexusd(binary, sock, tmp, extra_conf=http(tmp))[0])
        end = time.time() + 600
        while time.time() < end and int(r.get("stat:processed") or 0) < jobs:
            time.sleep(0.05)
        time.sleep(0.3)  # the last outcomes' flush
        return commandstats(r), int(r.get("stat:processed") or 0)


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
    ap.add_argument("--latency", type=int, default=500, help="jobs pushed one at a time")
    ap.add_argument("--modes", default="default,metered")
    ap.add_argument("--no-loaded", action="store_true")
    a = ap.parse_args()
    for mode in a.modes.split(","):
        print("idle, %s configuration:" % mode)
        stats, lat = idle(a.nexusd, mode, a.seconds, a.settle, a.latency)
        show(stats, a.seconds)
        if lat:
            print("  LPUSH -> start of %d jobs pushed one at a time: p50 %.3f ms, p99 %.3f ms, "
                  "max %.3f ms" % (len(lat), lat[len(lat) // 2],
                                   lat[min(len(lat) - 1, int(0.99 * len(lat)))], lat[-1]))
    if not a.no_loaded:
        stats, done = loaded(a.nexusd, a.jobs)
        total = sum(stats.values())
        print("loaded: %d jobs, %d commands, %.3f commands/job" % (done, total, total / max(done, 1)))
        for name, calls in sorted(stats.items(), key=lambda kv: -kv[1])[:8]:
            print("    %-16s %8d  %.3f/job" % (name, calls, calls / max(done, 1)))


if __name__ == "__main__":
    main()
