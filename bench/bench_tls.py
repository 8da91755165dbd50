#!/usr/bin/python3
"""bench_tls.py - what TLS costs nexusd: bench.py's figures over plain TCP and over TLS,
in turns in the same run, against one private redis-server listening on both.

Figures, medians of --runs runs, for each transport:
  drain:   jobs/s for one nexusd process to run N preloaded noop jobs (bench.py's drain);
  latency: enqueue -> start of single jobs pushed one at a time to an idle nexusd (p50, p99);
and the TLS cost as ratios: drain tls/tcp (below 1: slower) and latency tls/tcp (above 1:
slower). Both transports connect to 127.0.0.1 (redis://127.0.0.1:PORT and
rediss://127.0.0.1:PORT2), with a CA and a server certificate made by openssl for the run
(tests/integration/redis_topo.py), verification on, TLS 1.3 as negotiated by default.
Usage: bench/bench_tls.py [--nexusd build/nexusd] [--jobs 50000] [--runs 3] [--latency 500]
"""
import os
import shutil
import statistics
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
sys.path.insert(0, HERE)

from bench import drain, latency_run, parse_args, preload  # noqa: E402
from bench import start_redis as start_plain_redis  # noqa: E402
from redis_topo import Pki, free_port, tls_args  # noqa: E402


def transports(pki, tcp_port, tls_port):
    """(name, REDIS_URL, configuration text) of each transport compared."""
    return [("tcp", "redis://127.0.0.1:%d/0" % tcp_port, ""),
            ("tls", "rediss://127.0.0.1:%d/0" % tls_port,
             'redis = { tls_ca_file = "%s"; };\n' % pki.ca)]


def main():
    args = parse_args(__doc__, jobs=50000, runs=3, latency=500)
    tmp = tempfile.mkdtemp(prefix="nexus-bench-")
    pki = Pki(os.path.join(tmp, "pki"))
    tcp_port, tls_port = free_port(), free_port()
    rproc, sock, r = start_plain_redis(tmp, ["--port", str(tcp_port), "--bind", "127.0.0.1"]
                                       + tls_args(pki, tls_port))
    results = {}
    try:
        for i in range(args.runs):
            for name, url, conf in transports(pki, tcp_port, tls_port):
                env = {"REDIS_URL": url}
                preload(r, args.jobs)
                rate = drain(args.nexusd, r, sock, tmp, args.jobs, conf, env,
                             concurrency=args.concurrency, timeout=300)
                p50, p99 = latency_run(args.nexusd, r, sock, tmp, args.latency, conf, env)
                res = results.setdefault(name, {"drain": [], "p50": [], "p99": []})
                res["drain"].append(rate)
                res["p50"].append(p50)
                res["p99"].append(p99)
                print("run %d %s: drain %.0f jobs/s, latency p50 %.3f ms p99 %.3f ms"
                      % (i + 1, name, rate, p50, p99), flush=True)
        med = {name: {k: statistics.median(v) for k, v in res.items()}
               for name, res in results.items()}
        for name, m in med.items():
            print("median of %d runs, %s: drain %.0f noop jobs/s (%d jobs, concurrency %d), "
                  "enqueue->start p50 %.3f ms, p99 %.3f ms"
                  % (args.runs, name, m["drain"], args.jobs, args.concurrency, m["p50"],
                     m["p99"]))
        tcp, tls = med["tcp"], med["tls"]
        print("TLS cost: drain tls/tcp %.2f, latency p50 tls/tcp %.2f, p99 tls/tcp %.2f"
              % (tls["drain"] / tcp["drain"], tls["p50"] / tcp["p50"], tls["p99"] / tcp["p99"]))
    finally:
        rproc.terminate()
        rproc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
