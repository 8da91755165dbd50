#!/usr/bin/python3
"""bench_memory.py - nexusd's resident memory: idle, with jobs in flight, and over a soak.

Figures, each from /proc/PID/smaps_rollup of one nexusd on a private redis-server (default
configuration: concurrency 50, the HTTP endpoint on a unix socket):
  idle:     RSS (and its anonymous part) --settle seconds after nexusd first beat, with the
            --top mappings that hold most of it (the shared libraries' pages count in RSS);
  idle-db:  the same with a database (a private PostgreSQL, initdb into /tmp, migrated):
            libpq and what it pulls in are loaded only then (lib/lazy.h);
  inflight: RSS with --inflight jobs of the built-in sleep class running at once (concurrency
            as many, each sleeping --sleep-ms), once every one of them is in its in-flight
            list and the queue is empty;
  soak:     --soak-seconds of a full-speed noop drain, a producer keeping the queue between
            --low and --high jobs, RSS sampled every --every seconds and printed, then first,
            max, last and the slope (least squares, KB per minute) of RSS and of its
            anonymous part, over the whole soak and over its second half.
Usage: bench/bench_memory.py [--nexusd build/nexusd] [--modes idle,idle-db,inflight,soak]
                             [--inflight 10000] [--soak-seconds 600] [--every 5]
"""
import argparse
import os
import sys
import threading
import time

import redis

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import job, preload, start_nexusd  # noqa: E402
from bench_idle import http, private_redis, wait_started  # noqa: E402
from bench_pg import start_pg  # noqa: E402


def rollup(pid):
    """{field: kB} of /proc/PID/smaps_rollup (Rss, Pss, Anonymous, ...)."""
    out = {}
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 3 and parts[2] == "kB":
                out[parts[0].rstrip(":")] = int(parts[1])
    return out


def mappings(pid):
    """[(rss kB, anonymous kB, name)] of /proc/PID/smaps summed per file (or [heap], ...)."""
    rss, anon, name = {}, {}, None
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            parts = line.split()
            if "-" in parts[0] and not parts[0].endswith(":"):
                name = os.path.basename(parts[5]) if len(parts) > 5 else "[anon]"
            elif parts[0] == "Rss:":
                rss[name] = rss.get(name, 0) + int(parts[1])
            elif parts[0] == "Anonymous:":
                anon[name] = anon.get(name, 0) + int(parts[1])
    return sorted(((rss[n], anon.get(n, 0), n) for n in rss), reverse=True)


def mb(kb):
    return kb / 1024.0


def kill(proc):
    """SIGKILL: the private Redis goes with the run, nothing needs giving back."""
    proc.kill()
    proc.wait()


def idle(binary, settle, top, database_url=None):
    with private_redis("nxmem") as (tmp, sock, r, procs):
        r.sadd("queues", "default")
        env = {"DATABASE_URL": database_url} if database_url else None
        proc = start_nexusd(binary, sock, tmp, "info", extra_conf=http(tmp), env_extra=env)[0]
        procs.append(proc)
        wait_started(r)
        time.sleep(settle)
        m = rollup(proc.pid)
        print("idle%s: RSS %.1f MB (anonymous %.1f MB, PSS %.1f MB), %d mappings' files"
              % (" with a database" if database_url else "", mb(m["Rss"]), mb(m["Anonymous"]),
                 mb(m["Pss"]), len(mappings(proc.pid))))
        for rss, anon, name in mappings(proc.pid)[:top]:
            print("    %6d kB  (anonymous %5d kB)  %s" % (rss, anon, name))
        return m


def inflight_count(r):
    return sum(r.llen(k) for k in r.scan_iter(match="nexus:inflight:*", count=1000))


def inflight(binary, n, sleep_ms, idle_anon=None, timeout=300):
    with private_redis("nxmem") as (tmp, sock, r, procs):
        preload(r, n, cls="sleep", args_of=lambda i: [sleep_ms])
        proc = start_nexusd(binary, sock, tmp, "warn", concurrency=n, extra_conf=http(tmp))[0]
        procs.append(proc)
        end = time.time() + timeout
        while time.time() < end and (r.llen("queue:default") or inflight_count(r) < n):
            time.sleep(0.2)
        if inflight_count(r) < n:
            raise RuntimeError("only %d of %d jobs in flight" % (inflight_count(r), n))
        time.sleep(2)  # every job started: its timer armed
        m = rollup(proc.pid)
        per_job = ""
        if idle_anon is not None:
            per_job = ", %.2f kB a job over the idle anonymous part" % (
                (m["Anonymous"] - idle_anon) / n)
        print("inflight: %d sleep jobs running: RSS %.1f MB (anonymous %.1f MB)%s"
              % (n, mb(m["Rss"]), mb(m["Anonymous"]), per_job))
        kill(proc)
        procs.remove(proc)
        return m


def producer(r, stop, low, high):
    """Keeps queue:default between low and high noop jobs (the same 1,000 texts, pushed again
    and again: the noop class reads none of it) until `stop` is set."""
    now = time.time()
    texts = [job(i, now) for i in range(1000)]
    while not stop.is_set():
        if r.llen("queue:default") < low:
            pipe = r.pipeline(transaction=False)
            for _ in range(0, high - low, 1000):
                pipe.lpush("queue:default", *texts)
            pipe.execute()
        else:
            time.sleep(0.05)


def slope(samples, key):
    """KB per minute of samples[i][key] against samples[i]["t"], least squares."""
    if len(samples) < 2:
        return 0.0
    ts = [s["t"] for s in samples]
    vs = [s[key] for s in samples]
    mt, mv = sum(ts) / len(ts), sum(vs) / len(vs)
    den = sum((t - mt) ** 2 for t in ts)
    return 60.0 * sum((t - mt) * (v - mv) for t, v in zip(ts, vs)) / den if den else 0.0


def soak(binary, seconds, every, low, high):
    with private_redis("nxsoak") as (tmp, sock, r, procs):
        preload(r, high)
        stop = threading.Event()
        feeder = threading.Thread(target=producer,
                                  args=(redis.Redis(unix_socket_path=sock), stop, low, high))
        feeder.start()
        try:
            proc = start_nexusd(binary, sock, tmp, "warn", extra_conf=http(tmp))[0]
            procs.append(proc)
            wait_started(r)
            samples, start = [], time.time()
            print("soak: %.0f s, RSS every %.0f s" % (seconds, every))
            print("    %7s %9s %9s %11s %9s %8s" % ("t s", "RSS kB", "anon kB", "processed",
                                                     "jobs/s", "queued"))
            last_done, last_t = None, start
            while True:
                now = time.time()
                m = rollup(proc.pid)
                done = int(r.get("stat:processed") or 0)
                rate = "-" if last_done is None else "%.0f" % ((done - last_done) / (now - last_t))
                last_done, last_t = done, now
                samples.append({"t": now - start, "rss": m["Rss"], "anon": m["Anonymous"]})
                print("    %7.0f %9d %9d %11d %9s %8d" % (now - start, m["Rss"], m["Anonymous"],
                                                          done, rate, r.llen("queue:default")),
                      flush=True)
                if now - start >= seconds:
                    break
                time.sleep(max(0.0, start + len(samples) * every - time.time()))
        finally:
            stop.set()
            feeder.join()
        failed = int(r.get("stat:failed") or 0)
        second = [s for s in samples if s["t"] >= seconds / 2]
        rss = [s["rss"] for s in samples]
        print("soak: %d jobs in %.0f s (%.0f jobs/s), %d failed; RSS first %d kB, max %d kB, "
              "last %d kB; slope %+.1f kB/min (anonymous %+.1f), second half %+.1f kB/min "
              "(anonymous %+.1f)"
              % (done, samples[-1]["t"], done / samples[-1]["t"], failed, rss[0], max(rss),
                 rss[-1], slope(samples, "rss"), slope(samples, "anon"),
                 slope(second, "rss"), slope(second, "anon")))
        return samples


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nexusd", default="build/nexusd")
    ap.add_argument("--modes", default="idle,inflight,soak")
    ap.add_argument("--settle", type=float, default=3, help="seconds idle before the sample")
    ap.add_argument("--top", type=int, default=12, help="mappings listed for idle")
    ap.add_argument("--inflight", type=int, default=10000, help="sleep jobs running at once")
    ap.add_argument("--sleep-ms", type=int, default=600000)
    ap.add_argument("--soak-seconds", type=float, default=600)
    ap.add_argument("--every", type=float, default=5, help="seconds between soak samples")
    ap.add_argument("--low", type=int, default=20000, help="queue length the producer refills at")
    ap.add_argument("--high", type=int, default=60000, help="queue length it refills to")
    a = ap.parse_args()
    idle_anon = None
    for mode in a.modes.split(","):
        if mode == "idle":
            idle_anon = idle(a.nexusd, a.settle, a.top)["Anonymous"]
        elif mode == "idle-db":
            pg = start_pg(a.nexusd)
            try:
                idle(a.nexusd, a.settle, a.top, pg.url)
            finally:
                pg.cleanup()
        elif mode == "inflight":
            inflight(a.nexusd, a.inflight, a.sleep_ms, idle_anon)
        elif mode == "soak":
            soak(a.nexusd, a.soak_seconds, a.every, a.low, a.high)
        else:
            ap.error("unknown mode %r (idle, idle-db, inflight, soak)" % mode)


if __name__ == "__main__":
    main()
