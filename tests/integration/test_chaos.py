"""The total-queue check under faults, short enough for the suite (about a minute): three
nexusd processes run exactly-once `sql` jobs while processes are killed with -9 and
restarted, Redis (AOF, appendfsync always) is killed with -9 and restarted and PostgreSQL is
stopped and restarted; then every enqueued jid has exactly one row and Redis holds nothing.
The logic is in chaos.py; bench/chaos.py runs it for minutes with more faults.

Replay a failure with CHAOS_SEED=<the seed printed>; CHAOS_TEST_DURATION sets the seconds of
faults (30)."""
import os

from chaos import FAULTS, run_chaos, seed_from_env


def test_every_job_once_through_kills_and_restarts(workdir):
    seed = seed_from_env()
    print("chaos seed %d (replay: CHAOS_SEED=%d)" % (seed, seed))
    summary = run_chaos(workdir, seed, duration_s=float(os.environ.get("CHAOS_TEST_DURATION",
                                                                         30)),
                        procs=3, rate_per_s=150, gap_s=(1.0, 2.5), faults=FAULTS, settle_s=40)
    assert set(summary["faults"]) == set(FAULTS), summary["faults"]
    assert summary["jobs"] >= 1000, summary
