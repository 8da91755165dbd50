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
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
sys.path.insert(0, HERE)

from bench import drain_rate, start_redis, stop  # noqa: E402
from pg import PostgresServer  # noqa: E402

ROWS_CLASS = ('classes = ( { name = "rows.add"; args = "int, text"; '
              'sql = "INSERT INTO bench_rows (n, note) VALUES ($1, $2)"; } );\n')


def preload(r, n, cls, args_of):
    r.flushall()
    now = time.time()
    pipe = r.pipeline(transaction=False)
    for i in range(0, n, 1000):
        pipe.lpush("queue:default", *[
            json.dumps({"class": cls, "args": args_of(i + k), "jid": "%024x" % (i + k),
                        "queue": "default", "retry": True, "created_at": now,
                        "enqueued_at": now}) for k in range(min(1000, n - i))])
    pipe.execute()


def drain(binary, r, sock, tmp, n, extra_conf="", env_extra=None, concurrency=200):
    conf = os.path.join(tmp, "bench.conf")
    with open(conf, "w") as f:
        f.write('log = { level = "warn"; };\nworker = { concurrency = %d; };\n%s'
                % (concurrency, extra_conf))
    env = dict(os.environ, REDIS_URL="unix://" + sock)
    env.update(env_extra or {})
    log = open(os.path.join(tmp, "nexusd.log"), "a")
    proc = subprocess.Popen([binary, "-c", conf], env=env, stderr=log)
    rate = drain_rate(r, n, proc, 300)
    stop(proc)
    log.close()
    failed = int(r.get("stat:failed") or 0)
    if failed:
        raise RuntimeError("%d jobs failed; see %s" % (failed, log.name))
    return rate


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nexusd", default="build/nexusd")
    ap.add_argument("--jobs", type=int, default=50000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="nexus-bench-")
    rproc, sock, r = start_redis(tmp)
    pg = PostgresServer().start()
    try:
        res = subprocess.run([args.nexusd, "migrate"], env=dict(os.environ, DATABASE_URL=pg.url),
                             capture_output=True, text=True)
        if res.returncode != 0:
            raise RuntimeError(res.stderr)
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
