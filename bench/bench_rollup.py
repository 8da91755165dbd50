#!/usr/bin/python3
"""bench_rollup.py - analytics.rollup: how long a run takes, and how long Redis is busy.

Against a private redis-server and PostgreSQL (with the app's tables and some orders), with
--counters funnel counters spread over two days among --noise other keys:
  nexusd   one run over the two days (two SCAN passes, one per day) with analytics.scan_count
           100, 1000 (the default) and 10000: the run's duration_ms and read_ms (its Redis
           part) from its log line, and the slowest PING another client saw meanwhile (how
           long Redis was held);
  lua      the same two passes done by one EVAL each (SCAN + GET inside Redis), timed from
           the client: the alternative, during which Redis serves nobody else.
Medians of --runs runs.
Usage: bench/bench_rollup.py [--nexusd build/nexusd] [--counters 20000] [--noise 200000]
                             [--runs 3]
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import redis

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
sys.path.insert(0, HERE)

from bench import start_redis, stop  # noqa: E402
from bench_pg import start_pg  # noqa: E402

DAYS = ("2026-11-23", "2026-11-24")

# One pass server-side: what a Lua rollup would hold Redis for.
LUA_PASS = """
local cursor, n = '0', 0
repeat
  local page = redis.call('SCAN', cursor, 'MATCH', ARGV[1], 'COUNT', ARGV[2])
  cursor = page[1]
  if #page[2] > 0 then n = n + #redis.call('MGET', unpack(page[2])) end
until cursor == '0'
return n
"""


def load(r, counters, noise):
    r.flushall()
    p = r.pipeline(transaction=False)
    for i in range(counters):
        p.set("funnel:f%d:step:%d:%s" % (i // 20, i % 10, DAYS[(i // 10) % 2]), i)
        if i % 10000 == 9999:
            p.execute()
    for i in range(noise):
        p.set("session:%d" % i, i)
        if i % 10000 == 9999:
            p.execute()
    p.execute()


class PingWatch(threading.Thread):
    """PINGs Redis in a loop; keeps the slowest round trip."""

    def __init__(self, r):
        super().__init__(daemon=True)
        self.r, self.worst, self.done = r, 0.0, False

    def run(self):
        while not self.done:
            t = time.perf_counter()
            self.r.ping()
            self.worst = max(self.worst, time.perf_counter() - t)
            time.sleep(0.001)


def rollup_run(binary, sock, pg, tmp, r, scan_count):
    conf = os.path.join(tmp, "bench.conf")
    log_path = os.path.join(tmp, "nexusd-%d.log" % scan_count)
    with open(conf, "w") as f:
        f.write('analytics = { scan_count = %d; };\n' % scan_count)
    env = dict(os.environ, REDIS_URL="unix://" + sock, DATABASE_URL=pg.url)
    log = open(log_path, "w")
    proc = subprocess.Popen([binary, "-c", conf], env=env, stderr=log)
    try:
        text = ""
        for _ in range(2000):
            text = open(log_path).read()
            if "event=db_up" in text and "event=redis_up" in text:
                break
            time.sleep(0.01)
        pg.psql("TRUNCATE nexus.funnel_daily")
        watch = PingWatch(redis.Redis(unix_socket_path=sock))
        watch.start()
        r.lpush("queue:default", '{"class":"analytics.rollup","args":["%s","%s"],"jid":"b%d",'
                '"retry":false}' % (DAYS[0], DAYS[1], scan_count))
        for _ in range(30000):
            m = re.search(r"event=rollup .*counters=(\d+) .*read_ms=([\d.]+) duration_ms=([\d.]+)",
                          open(log_path).read())
            if m:
                break
            time.sleep(0.01)
        watch.done = True
        watch.join()
        if not m:
            raise RuntimeError("no rollup line in " + log_path)
        return int(m.group(1)), float(m.group(2)), float(m.group(3)), watch.worst * 1000
    finally:
        stop(proc)
        log.close()


def lua_run(r, scan_count):
    """Counters read, total ms, and the longest EVAL (Redis serves no one else meanwhile)."""
    n, total, worst = 0, 0.0, 0.0
    for day in DAYS:
        t = time.perf_counter()
        n += r.eval(LUA_PASS, 0, "funnel:*:step:*:" + day, scan_count)
        ms = (time.perf_counter() - t) * 1000
        total, worst = total + ms, max(worst, ms)
    return n, total, worst


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nexusd", default="build/nexusd")
    ap.add_argument("--counters", type=int, default=20000)
    ap.add_argument("--noise", type=int, default=200000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="nexus-bench-")
    rproc, sock, r = start_redis(tmp)
    pg = start_pg(args.nexusd)
    try:
        pg.psql(open(os.path.join(HERE, "..", "sql", "app", "schema.sql")).read())
        load(r, args.counters, args.noise)
        results = {}
        for run in range(args.runs):
            for count in (100, 1000, 10000):
                n, read, ms, ping = rollup_run(args.nexusd, sock, pg, tmp, r, count)
                assert n == args.counters, n
                results.setdefault(("nexusd", count), []).append((ms, ping, read))
                n, ms, held = lua_run(r, count)
                assert n == args.counters, n
                results.setdefault(("lua", count), []).append((ms, held, ms))
                print("run %d scan_count %5d: nexusd %.1f ms, reading %.1f ms (worst PING "
                      "%.2f ms); lua %.1f ms" % (run + 1, count, results[("nexusd", count)][-1][0],
                                                 results[("nexusd", count)][-1][2],
                                                 results[("nexusd", count)][-1][1], ms),
                      flush=True)
        print("\nmedians (%d counters among %d keys, 2 days):" % (args.counters,
                                                                 args.counters + args.noise))
        for (kind, count), v in sorted(results.items()):
            print("  %-6s scan_count %5d: run %.1f ms, reading counters %.1f ms, Redis held at "
                  "most %.2f ms" % (kind, count, statistics.median(x[0] for x in v),
                                    statistics.median(x[2] for x in v),
                                    statistics.median(x[1] for x in v)))
    finally:
        pg.cleanup()
        stop(rproc)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
