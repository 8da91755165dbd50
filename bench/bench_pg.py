#!/usr/bin/python3
"""bench_pg.py - nexusd with PostgreSQL: what job history costs, and row-writing jobs.

Each run, against a private redis-server and a private PostgreSQL (initdb into /tmp):
  noop        drain of N preloaded noop jobs, no database (the reference);
  noop+hist   the same with database.url set, so every attempt is recorded in
              nexus.job_history in batches;
  rows        drain of N preloaded `rows.add` jobs: a sql class inserting one row each,
              through the pool and the exactly-once helper (marker + row in one pipelined
              transaction; units waiting together share one, up to database.group_commit:
              --group-commit 1 measures them one transaction each);
  pgbench     the same unit of work from a plain client on the same server, right after:
              the marker INSERT into nexus.jobs_done and the row INSERT in one transaction,
              on as many connections as nexusd's pool (database.pool_size, 4), -M prepared,
              for --seconds: BEGIN/INSERT/INSERT/COMMIT (one round trip per statement) and
              the two INSERTs in one pipeline with one Sync (\startpipeline, as db_atomic()
              sends them: one implicit transaction).
With --through pgbouncer (or both), rows and the two pgbench runs are repeated through
Debian's pgbouncer in transaction mode (tests/integration/pgbouncer.py, a server pool of 4)
in front of the same server: nexusd with database.pool_url (DATABASE_POOL_URL, so no
prepared statements), pgbench with -M extended (unnamed statements: pgbouncer 1.18 cannot
keep -M prepared's named ones across transactions).
Medians of --runs runs; ratios are taken inside each run.
Usage: bench/bench_pg.py [--nexusd build/nexusd] [--jobs 50000] [--runs 3] [--seconds 10]
                         [--through direct|pgbouncer|both] [--group-commit N]
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
sys.path.insert(0, HERE)

from bench import drain, preload, start_redis  # noqa: E402
from pg import PG_USER, PostgresServer  # noqa: E402
from pgbouncer import PgBouncer  # noqa: E402

ROWS_CLASS = ('classes = ( { name = "rows.add"; args = "int, text"; '
              'sql = "INSERT INTO bench_rows (n, note) VALUES ($1, $2)"; } );\n')

POOL_SIZE = 4  # database.pool_size's default: pgbench gets as many connections

# The statements of once_run() (sql/once.c) and of the rows.add class above. The jid is a
# random 63-bit number sent as text (nexusd's are 24 hex digits); the args hash and the note
# are constants here where nexusd sends parameters.
MARKER = ("INSERT INTO nexus.jobs_done (jid, class, args_sha256) "
          "VALUES (:jid, 'rows.add', '%s');" % ("ab" * 32))
ROW = "INSERT INTO bench_rows (n, note) VALUES (:n, 'row');"
PGBENCH_SCRIPTS = {
    "unpipelined": "\\set jid random(1, 9223372036854775806)\n\\set n random(1, 1000000)\n"
                   "BEGIN;\n%s\n%s\nCOMMIT;\n" % (MARKER, ROW),
    "pipelined": "\\set jid random(1, 9223372036854775806)\n\\set n random(1, 1000000)\n"
                 "\\startpipeline\n%s\n%s\n\\endpipeline\n" % (MARKER, ROW),
}


def pgbench(pg, tmp, name, seconds, port=None, mode="prepared"):
    """Transactions/s of one pgbench run of PGBENCH_SCRIPTS[name] (no failed transaction),
    on 127.0.0.1:`port` (the server's by default, or a pooler's in front of it)."""
    script = os.path.join(tmp, name + ".sql")
    with open(script, "w") as f:
        f.write(PGBENCH_SCRIPTS[name])
    os.chmod(tmp, 0o755)
    os.chmod(script, 0o644)
    pg.psql("TRUNCATE bench_rows, nexus.jobs_done")
    cmd = pg._cmd(["pgbench", "-n", "-h", "127.0.0.1", "-p", str(port or pg.port), "-U", PG_USER,
                   "-M", mode, "-c", str(POOL_SIZE), "-j", "2", "-T", str(seconds),
                   "-f", script, "postgres"])
    res = subprocess.run(cmd, capture_output=True, text=True, cwd="/tmp")
    m = re.search(r"^tps = ([0-9.]+)", res.stdout, re.M)
    failed = re.search(r"^number of failed transactions: ([0-9]+)", res.stdout, re.M)
    if res.returncode != 0 or not m or (failed and int(failed.group(1))):
        raise RuntimeError("pgbench %s failed: %s%s" % (name, res.stdout, res.stderr))
    return float(m.group(1))


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
    ap.add_argument("--seconds", type=int, default=10, help="of each pgbench run")
    ap.add_argument("--through", choices=["direct", "pgbouncer", "both"], default="direct",
                    help="how nexusd's pool and pgbench reach PostgreSQL")
    ap.add_argument("--group-commit", type=int, default=None, metavar="N",
                    help="database.group_commit for the rows drains (default: nexusd's, 16)")
    args = ap.parse_args()
    rows_conf = ROWS_CLASS
    if args.group_commit is not None:
        rows_conf += "database = { group_commit = %d; };\n" % args.group_commit
    tmp = tempfile.mkdtemp(prefix="nexus-bench-")
    rproc, sock, r = start_redis(tmp)
    pg = start_pg(args.nexusd)
    bouncer = None
    try:
        pg.psql("CREATE TABLE bench_rows (id bigserial PRIMARY KEY, n integer NOT NULL, "
                "note text)")
        db = {"DATABASE_URL": pg.url}
        # (name, nexusd's environment, pgbench's port, pgbench's -M)
        routes = []
        if args.through in ("direct", "both"):
            routes.append(("direct", db, pg.port, "prepared"))
        if args.through in ("pgbouncer", "both"):
            bouncer = PgBouncer(pg, pool_size=POOL_SIZE).start()
            routes.append(("pgbouncer", dict(db, DATABASE_POOL_URL=bouncer.url),
                           bouncer.port, "extended"))
        noops, hists = [], []
        rows, plain, piped = ({name: [] for name, *_ in routes} for _ in range(3))
        for i in range(args.runs):
            preload(r, args.jobs, "noop", lambda k: [])
            noops.append(drain(args.nexusd, r, sock, tmp, args.jobs, concurrency=50))
            preload(r, args.jobs, "noop", lambda k: [])
            hists.append(drain(args.nexusd, r, sock, tmp, args.jobs, env_extra=db,
                               concurrency=50))
            line = "run %d: noop %.0f/s, noop+history %.0f/s (%.2f)" % (
                i + 1, noops[-1], hists[-1], hists[-1] / noops[-1])
            for name, env, port, mode in routes:
                pg.psql("TRUNCATE bench_rows, nexus.jobs_done, nexus.job_history")
                preload(r, args.jobs, "rows.add", lambda k: [k, "row %d" % k])
                rows[name].append(drain(args.nexusd, r, sock, tmp, args.jobs, rows_conf, env))
                got = int(pg.psql("SELECT count(*) FROM bench_rows").strip())
                if got != args.jobs:
                    raise RuntimeError("%d rows for %d jobs" % (got, args.jobs))
                plain[name].append(pgbench(pg, tmp, "unpipelined", args.seconds, port, mode))
                piped[name].append(pgbench(pg, tmp, "pipelined", args.seconds, port, mode))
                w, p, q = rows[name][-1], plain[name][-1], piped[name][-1]
                line += ("; %s: rows %.0f/s (%.2f of noop), pgbench -M %s %.0f tps, "
                         "pipelined %.0f tps, rows / pipelined %.2f"
                         % (name, w, w / noops[-1], mode, p, q, w / q))
            print(line, flush=True)
        print("median of %d runs (%d jobs each): noop %.0f jobs/s, noop with history %.0f "
              "jobs/s (ratio %.2f)"
              % (args.runs, args.jobs, statistics.median(noops), statistics.median(hists),
                 statistics.median([h / n for h, n in zip(hists, noops)])))
        for name, env, port, mode in routes:
            w, p, q = rows[name], plain[name], piped[name]
            print("median of %d runs, %s, the same unit (marker + row in one transaction) on "
                  "%d connections: nexusd %.0f jobs/s (ratio to noop %.2f), pgbench -M %s "
                  "%.0f tps, pgbench pipelined %.0f tps; nexusd / pipelined pgbench %.2f, "
                  "nexusd / pgbench %.2f (group_commit %s)"
                  % (args.runs, name, POOL_SIZE, statistics.median(w),
                     statistics.median([a / n for a, n in zip(w, noops)]), mode,
                     statistics.median(p), statistics.median(q),
                     statistics.median([a / b for a, b in zip(w, q)]),
                     statistics.median([a / b for a, b in zip(w, p)]),
                     args.group_commit if args.group_commit is not None else "default"))
        if len(routes) == 2:
            d, b = rows["direct"], rows["pgbouncer"]
            print("median of %d runs, pgbouncer / direct: nexusd %.2f, pgbench %.2f, "
                  "pgbench pipelined %.2f"
                  % (args.runs, statistics.median([x / y for x, y in zip(b, d)]),
                     statistics.median([x / y for x, y in zip(plain["pgbouncer"],
                                                              plain["direct"])]),
                     statistics.median([x / y for x, y in zip(piped["pgbouncer"],
                                                              piped["direct"])])))
    finally:
        if bouncer:
            bouncer.stop()
        pg.cleanup()
        rproc.terminate()
        rproc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
