#!/usr/bin/python3
"""nexusd_enqueue.py - the peers harness's producer for nexusd: Sidekiq-shaped noop jobs.

usage: nexusd_enqueue.py bulk N        N jobs into queue:default, LPUSH in chunks of 1000
                                       (bench.py's preload, one pipeline)
       nexusd_enqueue.py spaced N MS   N single LPUSHes, one every MS ms (absolute schedule),
                                       each job's enqueued_at taken just before its push
Prints {"n", "secs", "jobs_per_s"} as the harness's other producers do.
env: REDIS_HOST, REDIS_PORT
"""
import json
import os
import sys
import time

import redis

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from bench import job, preload  # noqa: E402


def spaced(r, n, gap_ms):
    t0 = time.monotonic()
    for i in range(n):
        r.lpush("queue:default", job(i, time.time()))
        d = t0 + (i + 1) * gap_ms / 1000.0 - time.monotonic()
        if d > 0:
            time.sleep(d)


def main():
    mode, n = sys.argv[1], int(sys.argv[2])
    r = redis.Redis(host=os.environ.get("REDIS_HOST", "127.0.0.1"),
                    port=int(os.environ.get("REDIS_PORT", "6390")))
    t0 = time.monotonic()
    if mode == "bulk":
        preload(r, n, flush=False)  # the harness has flushed
    elif mode == "spaced":
        spaced(r, n, float(sys.argv[3]))
    else:
        sys.exit(__doc__)
    secs = time.monotonic() - t0
    print(json.dumps({"n": n, "secs": round(secs, 4), "jobs_per_s": round(n / secs)}))


if __name__ == "__main__":
    sys.exit(main())
