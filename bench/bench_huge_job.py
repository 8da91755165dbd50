#!/usr/bin/python3
"""bench_huge_job.py - one huge job: nexusd's peak memory, how long until it is in `dead`, the
size of its dead entry, and the slowest /healthz answer meanwhile (the event loop's stall).

Against a private redis-server; nexusd runs under /usr/bin/time -v (its "Maximum resident set
size" is the peak). The job is --size MB: a JSON object whose one arg is --filler repeated
(e.g. 'x', or '\\xff\\xfe caf\\xc3' for invalid UTF-8), pushed to queue:default, or with
--schedule put in `schedule`, due now. A thread asks /healthz every 20 ms meanwhile.
Usage: bench/bench_huge_job.py [--nexusd build/nexusd] [--size 100] [--filler x] [--schedule]
"""
import argparse
import os
import shutil
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
sys.path.insert(0, HERE)

from bench import start_redis, stop  # noqa: E402
from httpc import get  # noqa: E402
import subprocess  # noqa: E402


def huge_job(size, filler):
    head = b'{"jid":"0123456789abcdef01234567","class":"noop","queue":"default","args":["'
    n = size - len(head) - 3
    return head + (filler * (n // len(filler) + 1))[:n] + b'"]}'


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nexusd", default=os.path.join(HERE, "..", "build", "nexusd"))
    ap.add_argument("--size", type=int, default=100, help="MB (MiB) of the job")
    ap.add_argument("--filler", default="x")
    ap.add_argument("--schedule", action="store_true")
    a = ap.parse_args()
    filler = a.filler.encode().decode("unicode_escape").encode("latin-1")
    tmp = tempfile.mkdtemp(prefix="nxhuge")
    rproc, sock, r = start_redis(tmp)
    conf = os.path.join(tmp, "nexusd.conf")
    http = os.path.join(tmp, "http.sock")
    with open(conf, "w") as f:
        f.write('worker = { concurrency = 10; };\nhttp = { listen = "unix:%s"; };\n' % http)
    log = open(os.path.join(tmp, "nexusd.log"), "w")
    proc = subprocess.Popen(["/usr/bin/time", "-v", a.nexusd, "-c", conf], stdout=log,
                            stderr=log, env=dict(os.environ, REDIS_URL="unix://" + sock))
    while not os.path.exists(http):
        time.sleep(0.05)
    worst, done = [0.0], threading.Event()

    def probe():
        while not done.is_set():
            t0 = time.monotonic()
            get("unix:" + http, "/healthz", timeout=60)
            worst[0] = max(worst[0], time.monotonic() - t0)
            time.sleep(0.02)

    th = threading.Thread(target=probe)
    th.start()
    text = huge_job(a.size << 20, filler)
    t0 = time.monotonic()
    if a.schedule:
        r.zadd("schedule", {text: time.time() - 1})
    else:
        r.lpush("queue:default", text)
    while r.zcard("dead") < 1:
        time.sleep(0.02)
    took = time.monotonic() - t0
    time.sleep(1)
    done.set()
    th.join()
    entry = len(r.zrange("dead", 0, -1)[0])
    with open("/proc/%d/task/%d/children" % (proc.pid, proc.pid)) as f:
        os.kill(int(f.read().split()[0]), 15)  # nexusd, so that time reports
    proc.wait()
    log.close()
    stop(rproc)
    with open(os.path.join(tmp, "nexusd.log")) as f:
        peak = [l.split(":")[1].strip() for l in f if "Maximum resident set size" in l][0]
    print("job %d MB%s: peak RSS %d MB, in dead after %.2f s, dead entry %d bytes, "
          "slowest /healthz %.2f s" % (a.size, " (schedule)" if a.schedule else "",
                                        int(peak) // 1024, took, entry, worst[0]))
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
