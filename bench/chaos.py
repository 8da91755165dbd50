#!/usr/bin/python3
"""chaos.py - the long total-queue check: nexusd processes run exactly-once `sql` jobs for
minutes while processes are killed with -9 and restarted, Redis (AOF, appendfsync always) is
killed with -9 and restarted, and PostgreSQL is stopped, or crashed with SIGKILL, and
restarted. Then every enqueued jid must have exactly one row, no row may be unexpected, and
the queue, retry, schedule, dead and in-flight lists must be empty. The logic is
tests/integration/chaos.py, the same as the suite's short test_chaos.py.

Settings (flags, or environment variables as defaults):
  CHAOS_DURATION   seconds of faults (300)
  CHAOS_PROCS      nexusd processes (4)
  CHAOS_RATE       jobs enqueued per second (150)
  CHAOS_GAP        seconds between faults, "MIN,MAX" (0.5,2)
  CHAOS_FAULTS     kinds, comma-separated (kill_nexusd,kill_redis,stop_postgres,crash_postgres)
  CHAOS_SEED       the random seed (printed; give it to replay a failure's fault schedule)
Usage: bench/chaos.py [--nexusd build/nexusd] [--duration S] [--procs N] [--rate R]
                      [--gap MIN,MAX] [--faults a,b] [--seed N]
Exit 0 when the check holds, 1 when it does not (its logs are kept and their folder named).
"""
import argparse
import json
import os
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))

import conftest  # noqa: E402
from chaos import ALL_FAULTS, run_chaos, seed_from_env  # noqa: E402


def main():
    env = os.environ.get
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--nexusd", default=env("NEXUSD") or os.path.join(HERE, "..", "build",
                                                                      "nexusd"))
    ap.add_argument("--duration", type=float, default=float(env("CHAOS_DURATION", "300")))
    ap.add_argument("--procs", type=int, default=int(env("CHAOS_PROCS", "4")))
    ap.add_argument("--rate", type=float, default=float(env("CHAOS_RATE", "150")))
    ap.add_argument("--gap", default=env("CHAOS_GAP", "0.5,2"))
    ap.add_argument("--faults", default=env("CHAOS_FAULTS", ",".join(ALL_FAULTS)))
    ap.add_argument("--seed", type=int, default=seed_from_env())
    args = ap.parse_args()
    gap = tuple(float(x) for x in args.gap.split(","))
    faults = [f for f in args.faults.split(",") if f]
    bad = [f for f in faults if f not in ALL_FAULTS]
    if len(gap) != 2 or gap[0] < 0 or gap[1] < gap[0] or not faults or bad:
        ap.error("--gap MIN,MAX with 0 <= MIN <= MAX; --faults from %s" % ",".join(ALL_FAULTS))
    conftest.NEXUSD = os.path.abspath(args.nexusd)
    workdir = tempfile.mkdtemp(prefix="nxchaos-", dir="/tmp")
    print("chaos seed %d (replay: CHAOS_SEED=%d), logs in %s" % (args.seed, args.seed, workdir),
          flush=True)
    try:
        summary = run_chaos(workdir, args.seed, duration_s=args.duration, procs=args.procs,
                            rate_per_s=args.rate, gap_s=gap, faults=faults,
                            settle_s=max(60.0, args.duration / 2),
                            log=lambda m: print(m, flush=True))
    except AssertionError as e:
        print("FAILED: %s\nlogs kept in %s" % (e, workdir), flush=True)
        return 1
    print(json.dumps(summary, indent=2, sort_keys=True))
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
