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
from fake_hf import FakeHF  # noqa: E402
from pg import PostgresServer  # noqa: E402


def preload(r, n, run):
    """N jobs with texts "review <run>-<k>"; keeps the cache, resets the counters."""
    r.delete("stat:processed", "stat:failed", "queue:default")
    now = time.time()
    pipe = r.pipeline(transaction=False)
    for i in range(0, n, 1000):
        pipe.lpush("queue:default", *[
            json.dumps({"class": "emotion.analyze", "args": ["review %d-%d" % (run, i + k),
                                                             "review:%d" % (i + k)],
                        "jid": "%08x%016x" % (time.time_ns() & 0xffffffff, i + k),
                        "queue": "default", "retry": True, "created_at": now,
                        "enqueued_at": now}) for k in range(min(1000, n - i))])
    pipe.execute()


def drain(binary, r, sock, tmp, n, conf_text, env_extra):
    conf = os.path.join(tmp, "bench.conf")
    with open(conf, "w") as f:
        f.write(conf_text)
    env = dict(os.environ, REDIS_URL="unix://" + sock, **env_extra)
    log = open(os.path.join(tmp, "nexusd.log"), "a")
    proc = subprocess.Popen([binary, "-c", conf], env=env, stderr=log)
    rate = drain_rate(r, n, proc, 600)
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
    ap.add_argument("--jobs", type=int, default=5000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="nexus-bench-")
    rproc, sock, r = start_redis(tmp)
    pg = PostgresServer().start()
    fake = FakeHF().start()
    try:
        res = subprocess.run([args.nexusd, "migrate"], env=dict(os.environ, DATABASE_URL=pg.url),
                             capture_output=True, text=True)
        if res.returncode != 0:
            raise RuntimeError(res.stderr)
        conf = ('log = { level = "warn"; };\nworker = { concurrency = 50; };\n'
                'emotion = { url = "%s"; };\n' % fake.url)
        env = {"DATABASE_URL": pg.url, "HF_API_TOKEN": fake.token}
        misses, hits = [], []
        for i in range(args.runs):
            r.flushall()
            pg.psql("TRUNCATE nexus.emotion_results")
            preload(r, args.jobs, i)
            misses.append(drain(args.nexusd, r, sock, tmp, args.jobs, conf, env))
            asked = len(fake.requests)
            preload(r, args.jobs, i)
            hits.append(drain(args.nexusd, r, sock, tmp, args.jobs, conf, env))
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
