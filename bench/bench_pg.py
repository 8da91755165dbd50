#!/usr/bin/python3
"""bench_pg.py - nexusd with PostgreSQL: what job history costs, and row-writing jobs.

Each run, against a private redis-server and a private PostgreSQL (initdb into /tmp):
  noop        drain of N preloaded noop jobs, no database (the reference);
  noop+hist   the same with database.url set, so every attempt is recorded in
              nexus.job_history in batches;
  rows        drain of N preloaded `rows.add` jobs: a sql class inserting one row each,
              through the pool and the exactly-once helper (marker + row in one pipelined
              transaction).
Medians of --runs runs; ratios are taken inside each run.
Usage: bench/bench_pg.py [--nexusd build/nexusd] [--jobs 50000] [--runs 3]
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

from bench import drain, preload, start_redis  # noqa: E402
from pg import PostgresServer  # noqa: E402

ROWS_CLASS = ('classes = ( { name = "rows.add"; args = "int, text"; '
              'sql = "INSERT INTO bench_rows (n, note) VALUES ($1, $2)"; } );\n')


def start_pg(binary):
    """A private PostgreSQL (initdb into /tmp) with nexusd's migrations applied."""
    pg = PostgresServer().start()
    res = subprocess.run([binary, "migrate"], env=dict(os.environ, DATABASE_URL=pg.url),
                         capture_output=True, text=True)
    if res.returncode != 0:
        pg.cleanup()
        raise RuntimeError(res.stderr)
    return pg


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nexusd", default="build/nexusd")
    ap.add_argument("--jobs", type=int, default=50000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="nexus-bench-")
    rproc, sock, r = start_redis(tmp)
    pg = start_pg(args.nexusd)
    try:
        pg.psql("CREATE TABLE bench_rows (id bigserial PRIMARY KEY, n integer NOT NULL, "
                "note text)")
        db = {"DATABASE_URL": pg.url}
        noops, hists, rows = [], [], []
        for i in range(args.runs):
            preload(r, args.jobs, "noop", lambda k: [])
            noops.append(drain(args.nexusd, r, sock, tmp, args.jobs, concurrency=50))
            preload(r, args.jobs, "noop", lambda k: [])
            hists.append(drain(args.nexusd, r, sock, tmp, args.jobs, env_extra=db,
                               concurrency=50))
            pg.psql("TRUNCATE bench_rows, nexus.jobs_done, nexus.job_history")
            preload(r, args.jobs, "rows.add", lambda k: [k, "row %d" % k])
            rows.append(drain(args.nexusd, r, sock, tmp, args.jobs, ROWS_CLASS, db))
            got = int(pg.psql("SELECT count(*) FROM bench_rows").strip())
            if got != args.jobs:
                raise RuntimeError("%d rows for %d jobs" % (got, args.jobs))
            print("run %d: noop %.0f/s, noop+history %.0f/s (%.2f), rows %.0f/s (%.2f of noop)"
                  % (i + 1, noops[-1], hists[-1], hists[-1] / noops[-1], rows[-1],
                     rows[-1] / noops[-1]), flush=True)
        print("median of %d runs (%d jobs each): noop %.0f jobs/s, noop with history %.0f "
              "jobs/s (ratio %.2f), row-writing jobs %.0f jobs/s (ratio to noop %.2f)"
              % (args.runs, args.jobs, statistics.median(noops), statistics.median(hists),
                 statistics.median([h / n for h, n in zip(hists, noops)]),
                 statistics.median(rows),
                 statistics.median([w / n for w, n in zip(rows, noops)])))
    finally:
        pg.cleanup()
        rproc.terminate()
        rproc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
