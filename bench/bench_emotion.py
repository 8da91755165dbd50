#!/usr/bin/python3
"""bench_emotion.py - emotion.analyze throughput: endpoint requests, and cache hits.

Each run, against a private redis-server, a private PostgreSQL and the test suite's fake
Hugging Face endpoint (tests/integration/fake_hf.py, a threaded Python server on loopback):
  miss   drain of N preloaded emotion.analyze jobs with N distinct texts: each job reads the
         cache (miss), POSTs to the endpoint through libcurl multi, writes the cache and one
         row in nexus.emotion_results. The fake endpoint, not nexusd, sets this figure.
  hit    the same N texts again: cache read (hit) and the row, no request.
Medians of --runs runs.
Usage: bench/bench_emotion.py [--nexusd build/nexusd] [--jobs 5000] [--runs 3]
"""
import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
sys.path.insert(0, HERE)

from bench import drain, preload, start_redis  # noqa: E402
from bench_pg import start_pg  # noqa: E402
from fake_hf import FakeHF  # noqa: E402


def preload_texts(r, n, run):
    """N jobs with texts "review <run>-<k>"; keeps the cache, resets the counters."""
    preload(r, n, "emotion.analyze", lambda k: ["review %d-%d" % (run, k), "review:%d" % k],
            lambda k: "%08x%016x" % (time.time_ns() & 0xffffffff, k), flush=False)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nexusd", default="build/nexusd")
    ap.add_argument("--jobs", type=int, default=5000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="nexus-bench-")
    rproc, sock, r = start_redis(tmp)
    pg = start_pg(args.nexusd)
    fake = FakeHF().start()
    try:
        conf = 'emotion = { url = "%s"; };\n' % fake.url
        env = {"DATABASE_URL": pg.url, "HF_API_TOKEN": fake.token}
        misses, hits = [], []
        for i in range(args.runs):
            r.flushall()
            pg.psql("TRUNCATE nexus.emotion_results")
            preload_texts(r, args.jobs, i)
            misses.append(drain(args.nexusd, r, sock, tmp, args.jobs, conf, env, 50, 600))
            asked = len(fake.requests)
            preload_texts(r, args.jobs, i)
            hits.append(drain(args.nexusd, r, sock, tmp, args.jobs, conf, env, 50, 600))
            if len(fake.requests) != asked:
                raise RuntimeError("cache hits asked the endpoint")
            rows = int(pg.psql("SELECT count(*) FROM nexus.emotion_results").strip())
            if rows != 2 * args.jobs:
                raise RuntimeError("%d rows for %d jobs" % (rows, 2 * args.jobs))
            print("run %d: miss %.0f jobs/s, hit %.0f jobs/s" % (i + 1, misses[-1], hits[-1]),
                  flush=True)
        print("median of %d runs (%d jobs each): endpoint requests %.0f jobs/s, cache hits "
              "%.0f jobs/s" % (args.runs, args.jobs, statistics.median(misses),
                               statistics.median(hits)))
    finally:
        fake.stop()
        pg.cleanup()
        rproc.terminate()
        rproc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
