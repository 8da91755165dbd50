#!/usr/bin/python3
"""bench_command.py - what a `command` class costs per job: spawn, watch, reap, record.

Each run, against a private redis-server and a private PostgreSQL (initdb into /tmp),
drains N preloaded jobs of a command class running /bin/true:
  serial      concurrency 1, no database: one child at a time (spawn + exit + reap);
  parallel    concurrency 8, no database;
  recorded    concurrency 8, database.url set: each step also INSERTed into
              nexus.command_runs (the run checks that N rows exist).
Medians of --runs runs, in jobs/s; "ms/job" is 1000 / the serial rate.
Usage: bench/bench_command.py [--nexusd build/nexusd] [--jobs 2000] [--runs 3]
"""
import argparse
import os
import shutil
import statistics
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
sys.path.insert(0, HERE)

from bench import drain, preload, start_redis, stop  # noqa: E402
from bench_pg import start_pg  # noqa: E402

TRUE_CLASS = 'classes = ( { name = "cmd.true"; command = ["/bin/true"]; } );\n'


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nexusd", default="build/nexusd")
    ap.add_argument("--jobs", type=int, default=2000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="nexus-bench-")
    rproc, sock, r = start_redis(tmp)
    pg = start_pg(args.nexusd)
    results = {"serial": [], "parallel": [], "recorded": []}
    try:
        for run in range(args.runs):
            for name, conc, env in (("serial", 1, None), ("parallel", 8, None),
                                    ("recorded", 8, {"DATABASE_URL": pg.url})):
                pg.psql("TRUNCATE nexus.command_runs")
                preload(r, args.jobs, "cmd.true", lambda i: [])
                rate = drain(args.nexusd, r, sock, tmp, args.jobs, TRUE_CLASS, env, conc)
                results[name].append(rate)
            rows = int(pg.psql("SELECT count(*) FROM nexus.command_runs").strip())
            if rows < args.jobs:
                raise RuntimeError("%d of %d runs recorded" % (rows, args.jobs))
            print("run %d: serial %.0f, parallel %.0f, recorded %.0f jobs/s"
                  % (run + 1, results["serial"][-1], results["parallel"][-1],
                     results["recorded"][-1]), flush=True)
        med = {k: statistics.median(v) for k, v in results.items()}
        print("median: serial %.0f jobs/s (%.2f ms/job), parallel %.0f jobs/s, "
              "recorded %.0f jobs/s" % (med["serial"], 1000 / med["serial"], med["parallel"],
                                        med["recorded"]))
    finally:
        pg.cleanup()
        stop(rproc)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
