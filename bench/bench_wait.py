#!/usr/bin/python3
"""bench_wait.py - what redis.wait_replicas costs nexusd: bench.py's figures with
wait_replicas = 0 and 1, in turns in the same run, against one private master with one
replica (both redis-server on this host; the replica follows the master over loopback TCP).

Figures, medians of --runs runs, for each setting:
  drain:   jobs/s for one nexusd process to run N preloaded noop jobs (bench.py's drain);
  waits:   WAIT commands per job during that drain (INFO commandstats: the coalescing);
  latency: enqueue -> start of single jobs pushed one at a time to an idle nexusd (p50, p99);
and the cost as ratios: drain wait/none (below 1: slower), latency wait/none (above 1:
slower). Last, once: the drain of --frozen jobs with the replica stopped (SIGSTOP), where
each WAIT waits its whole wait_timeout (100ms here) and holds the main connection meanwhile. nexusd talks to the master over its unix socket; its WAITs are answered once the
replica, over TCP, has acknowledged the writes.
Usage: bench/bench_wait.py [--nexusd build/nexusd] [--jobs 20000] [--runs 3] [--latency 300]
                           [--frozen 2000]
"""
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
sys.path.insert(0, HERE)

from bench import drain, latency_run, parse_args, preload, start_redis  # noqa: E402
from redis_topo import free_port  # noqa: E402

SETTINGS = [("none", ""), ("wait", 'redis = { wait_replicas = 1; wait_timeout = "1s"; };\n')]


def start_pair(tmp):
    """A master (unix socket, TCP for the replica) and its replica, in sync."""
    port = free_port()
    master = start_redis(tmp, ["--port", str(port), "--bind", "127.0.0.1",
                               "--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "0"])
    rdir = os.path.join(tmp, "replica")
    os.makedirs(rdir)
    replica = start_redis(rdir, ["--port", str(free_port()), "--bind", "127.0.0.1",
                                 "--replicaof", "127.0.0.1", str(port)])
    for _ in range(1000):
        if replica[2].info("replication").get("master_link_status") == "up":
            return master, replica
        time.sleep(0.01)
    raise RuntimeError("the replica did not sync")


def frozen_drain(args, tmp, sock, r, replica_proc):
    """Jobs/s of the drain with the replica stopped."""
    conf = 'redis = { wait_replicas = 1; wait_timeout = "100ms"; };\n'
    preload(r, args.frozen)
    r.wait(1, 30000)
    replica_proc.send_signal(signal.SIGSTOP)
    try:
        return drain(args.nexusd, r, sock, tmp, args.frozen, conf,
                     concurrency=args.concurrency, timeout=600)
    finally:
        replica_proc.send_signal(signal.SIGCONT)


def waits(r):
    return r.info("commandstats").get("cmdstat_wait", {}).get("calls", 0)


def frozen_arg(argv):
    """--frozen N (default 2000; 0 skips it), taken out before bench.parse_args()."""
    if "--frozen" in argv:
        i = argv.index("--frozen")
        return argv[:i] + argv[i + 2:], int(argv[i + 1])
    return argv, 2000


def main():
    sys.argv, frozen = frozen_arg(sys.argv)
    args = parse_args(__doc__, jobs=20000, runs=3, latency=300)
    args.frozen = frozen
    tmp = tempfile.mkdtemp(prefix="nexus-bench-")
    master, replica = start_pair(tmp)
    _, sock, r = master
    results = {}
    try:
        for i in range(args.runs):
            for name, conf in SETTINGS:
                preload(r, args.jobs)
                r.wait(1, 30000)  # the replica has the preload before the clock starts
                r.config_resetstat()
                rate = drain(args.nexusd, r, sock, tmp, args.jobs, conf,
                             concurrency=args.concurrency, timeout=300)
                per_job = waits(r) / args.jobs
                p50, p99 = latency_run(args.nexusd, r, sock, tmp, args.latency, conf)
                res = results.setdefault(name, {"drain": [], "waits": [], "p50": [], "p99": []})
                res["drain"].append(rate)
                res["waits"].append(per_job)
                res["p50"].append(p50)
                res["p99"].append(p99)
                print("run %d %s: drain %.0f jobs/s (%.4f WAIT a job), latency p50 %.3f ms "
                      "p99 %.3f ms" % (i + 1, name, rate, per_job, p50, p99), flush=True)
        med = {name: {k: statistics.median(v) for k, v in res.items()}
               for name, res in results.items()}
        for name, m in med.items():
            print("median of %d runs, %s: drain %.0f noop jobs/s (%d jobs, concurrency %d, "
                  "%.4f WAIT a job), enqueue->start p50 %.3f ms, p99 %.3f ms"
                  % (args.runs, name, m["drain"], args.jobs, args.concurrency, m["waits"],
                     m["p50"], m["p99"]))
        none, wait = med["none"], med["wait"]
        print("wait_replicas = 1 cost: drain wait/none %.2f, latency p50 wait/none %.2f, "
              "p99 wait/none %.2f" % (wait["drain"] / none["drain"], wait["p50"] / none["p50"],
                                      wait["p99"] / none["p99"]))
        if args.frozen:
            rate = frozen_drain(args, tmp, sock, r, replica[0])
            print("replica stopped, wait_timeout 100ms: drain %.0f noop jobs/s (%d jobs, "
                  "concurrency %d)" % (rate, args.frozen, args.concurrency))
    finally:
        for proc, _, _ in (replica, master):
            proc.terminate()
            proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
