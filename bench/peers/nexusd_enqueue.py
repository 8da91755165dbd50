#!/usr/bin/python3
"""nexusd_enqueue.py - the peers harness's producer for nexusd: Sidekiq-shaped noop jobs.

usage: nexusd_enqueue.py bulk N        N jobs into queue:default, LPUSH in chunks of 1000
                                       (bench.py's preload, one pipeline)
       nexusd_enqueue.py spaced N MS   N single LPUSHes, one every MS ms (absolute schedule),
                                       each job's enqueued_at taken just before its push
Prints {"n", "secs", "jobs_per_s"} as the harness's other producers do.
env: REDIS_HOST, REDIS_PORT; PRODUCER (spaced): raw (default) or redis-py.

The spaced producer is as light as the harness's beanstalkd one (bs_bench.py: the time
formatted into the body, one write on a plain socket, its reply read): PRODUCER=raw writes
the LPUSH as one RESP command, the job's text a template with the time put in. With
PRODUCER=redis-py the push goes through redis-py, whose own work between the time taken and
the bytes written (its connection checks, packing) is 25 us at the median and 70 us at p99
on the 2-core VM of docs/benchmarks.md: latency counted against nexusd that the beanstalkd
producer does not count against beanstalkd.
"""
import json
import os
import socket
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


def spaced_raw(host, port, n, gap_ms):
    """spaced() on a plain socket: bench.py's job() text with the time put in at the last
    moment, one RESP LPUSH written, its reply (":<length>") read before the next."""
    template = job(0, 1.5).replace("1.5", "%s").replace("%024x" % 0, "%024x")
    s = socket.create_connection((host, port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    t0 = time.monotonic()
    for i in range(n):
        now = repr(time.time())
        body = (template % (i, now, now)).encode()
        s.sendall(b"*3\r\n$5\r\nLPUSH\r\n$13\r\nqueue:default\r\n$%d\r\n%s\r\n"
                  % (len(body), body))
        reply = s.recv(64)
        if not reply.startswith(b":"):
            sys.exit("LPUSH failed: %r" % reply)
        d = t0 + (i + 1) * gap_ms / 1000.0 - time.monotonic()
        if d > 0:
            time.sleep(d)
    s.close()


def main():
    mode, n = sys.argv[1], int(sys.argv[2])
    host = os.environ.get("REDIS_HOST", "127.0.0.1")
    port = int(os.environ.get("REDIS_PORT", "6390"))
    r = redis.Redis(host=host, port=port)
    producer = os.environ.get("PRODUCER", "raw")
    t0 = time.monotonic()
    if mode == "bulk":
        preload(r, n, flush=False)  # the harness has flushed
    elif mode == "spaced" and producer == "raw":
        spaced_raw(host, port, n, float(sys.argv[3]))
    elif mode == "spaced" and producer == "redis-py":
        spaced(r, n, float(sys.argv[3]))
    else:
        sys.exit(__doc__)
    secs = time.monotonic() - t0
    print(json.dumps({"n": n, "secs": round(secs, 4), "jobs_per_s": round(n / secs)}))


if __name__ == "__main__":
    sys.exit(main())
