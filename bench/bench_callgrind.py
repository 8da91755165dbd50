#!/usr/bin/python3
"""bench_callgrind.py - instructions nexusd spends per job, counted by callgrind.

nexusd runs under valgrind --tool=callgrind on a private redis-server (default configuration,
log level warn); once it is idle its counters are zeroed (callgrind_control -z), --jobs jobs
of --class are pushed, and the counters are dumped (callgrind_control -d) when stat:processed
reaches them: start-up is left out. Prints the instructions per job and the --top functions by
inclusive cost per job (callgrind_annotate --inclusive=yes); the dump stays in --keep.
With --spaced MS the jobs are pushed one at a time, MS ms apart, to the idle process: the
path of a job that wakes it (its BLMOVE's reply, the outcome, the fetch that finds nothing,
the next BLMOVE), where a drain shares each call among many jobs.
Usage: bench/bench_callgrind.py [--nexusd build/nexusd] [--jobs 20000] [--class noop]
                                [--spaced MS] [--top 25] [--keep DIR]
"""
import argparse
import glob
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import job, preload, start_redis, stop  # noqa: E402

SETTLE_S = 8  # valgrind's start-up, and nexusd's first fetch


def callgrind_control(flag, pid):
    subprocess.run(["callgrind_control", flag, str(pid)], check=True, stdout=subprocess.DEVNULL)


def measure(binary, n, cls, tmp, spaced_ms=0.0):
    """(instructions, annotate output) of nexusd running n jobs of cls (spaced_ms > 0: pushed
    one at a time, that far apart)."""
    rproc, sock, r = start_redis(tmp)
    conf = os.path.join(tmp, "bench.conf")
    with open(conf, "w") as f:
        f.write('log = { level = "warn"; };\n')
    out = os.path.join(tmp, "callgrind.out")
    log = open(os.path.join(tmp, "nexusd.log"), "w")
    proc = subprocess.Popen(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out, binary, "-c", conf],
        env=dict(os.environ, REDIS_URL="unix://" + sock), stderr=log)
    try:
        time.sleep(SETTLE_S)
        callgrind_control("-z", proc.pid)
        if spaced_ms > 0:
            r.delete("stat:processed", "stat:failed")
            for i in range(n):
                r.lpush("queue:default", job(i, time.time(), cls))
                time.sleep(spaced_ms / 1000.0)
        else:
            preload(r, n, cls, flush=False)
        deadline = time.time() + 1200
        while int(r.get("stat:processed") or 0) < n:
            if time.time() > deadline:
                raise RuntimeError("nexusd did not run %d jobs; see %s" % (n, log.name))
            time.sleep(0.2)
        callgrind_control("-d", proc.pid)
    finally:
        stop(proc)
        rproc.terminate()
        log.close()
    dump = sorted(glob.glob(out + ".*"))[0]
    ann = subprocess.run(["callgrind_annotate", "--inclusive=yes", dump],
                         capture_output=True, text=True, check=True).stdout
    total = re.search(r"^\s*([\d,]+) \S*\s*PROGRAM TOTALS", ann, re.M)
    return int(total.group(1).replace(",", "")), ann, dump


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--nexusd", default="build/nexusd")
    ap.add_argument("--jobs", type=int, default=20000)
    ap.add_argument("--class", dest="cls", default="noop")
    ap.add_argument("--spaced", type=float, default=0.0, metavar="MS")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--keep", help="directory for the dump (default: a temporary one)")
    a = ap.parse_args()
    tmp = a.keep or tempfile.mkdtemp(prefix="bench-callgrind-")
    os.makedirs(tmp, exist_ok=True)
    ir, ann, dump = measure(a.nexusd, a.jobs, a.cls, tmp, a.spaced)
    print("%s: %d %s jobs%s, %d instructions, %.0f per job (dump %s)"
          % (a.nexusd, a.jobs, a.cls, " %g ms apart" % a.spaced if a.spaced else "", ir,
             ir / a.jobs, dump))
    rows = re.findall(r"^\s*([\d,]+) \([ \d.]+%\)\s+(\S+) \[", ann, re.M)
    for cost, fn in rows[:a.top]:
        print("%10.0f  %s" % (int(cost.replace(",", "")) / a.jobs, fn))


if __name__ == "__main__":
    main()
