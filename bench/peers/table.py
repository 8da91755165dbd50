#!/usr/bin/python3
"""table.py - the peers run's table: medians over runs, and ratios taken inside each run.

usage: table.py RESULTS   (RESULTS/run1/*.jsonl, RESULTS/run2/*.jsonl ...: the harness's
                           JSON lines, one directory per run, as bench/bench_peers.sh
                           leaves them)
Throughput rows are every drain variant; jobs/s and CPU per job are divided by those of the
minimal reliable cycle of the same run (ceiling/cycle consume, TCP, 1 connection, depth 64),
p99 latency by beanstalkd's of the same run; each ratio shown is the median of the runs'.
beanstalkd is not Redis-backed: its column is the server's CPU, including the enqueue.
The latency rows start with the floor of a Redis-list worker (blmove_floor.c: one connection
blocked in BLMOVE, the start taken when the reply is parsed), the other rows' p99 also as a
ratio to it (× floor).
"""
import glob
import json
import os
import statistics
import sys

CYCLE = ("redis", "cycle:consume-tcp-c1-d64")
REFERENCE_LATENCY = ("beanstalkd", "lat-p1")
FLOOR_LATENCY = ("redis", "lat-blmove")
ORDER = ["redis", "nexusd", "beanstalkd", "sidekiq", "bullmq", "beequeue", "rq"]

# column: (path in the redis peer's cycle record, path in the other peers' records)
THR = {
    "jobs/s": (("r", "jobs_per_s"), ("jobs_per_s",)),
    "worker CPU µs/job": (("client_cpu_us_per_job",), ("worker_cpu_us_per_job",)),
    "Redis CPU µs/job": (("redis_cpu_us_per_job",), ("redis_cpu_us_per_job",)),
}


def load(results):
    """{run: {(peer, variant): record}} (the last record of a pair in a run)."""
    runs = {}
    for d in sorted(glob.glob(os.path.join(results, "run*"))):
        recs = runs.setdefault(os.path.basename(d), {})
        for f in sorted(glob.glob(os.path.join(d, "*.jsonl"))):
            for line in open(f):
                if line.strip():
                    rec = json.loads(line)
                    recs[(rec["peer"], rec["variant"])] = rec
    return runs


def get(rec, path):
    for k in path:
        if not isinstance(rec, dict) or k not in rec:
            return None
        rec = rec[k]
    return rec


def thr_value(key, rec, column):
    cycle_path, path = THR[column]
    v = get(rec, cycle_path if key == CYCLE else path)
    if v is None and column == "Redis CPU µs/job":
        v = get(rec, ("server_cpu_us_per_job_incl_enqueue",))
    return v


def median_and_ratio(runs, key, value_of, ref_key):
    """(median of the values, median of value / reference in the same run) or Nones;
    value_of(key, record) reads one figure."""
    values, ratios = [], []
    for recs in runs.values():
        v = value_of(key, recs[key]) if key in recs else None
        if v is None:
            continue
        values.append(v)
        ref = value_of(ref_key, recs[ref_key]) if ref_key in recs else None
        if ref:
            ratios.append(v / ref)
    if not values:
        return None, None
    return statistics.median(values), statistics.median(ratios) if ratios else None


def cell(value, ratio, fmt):
    if value is None:
        return ""
    return fmt.format(value) + ("" if ratio is None else " (%.2f)" % ratio)


def keys_of(runs, kind):
    seen = []
    for recs in runs.values():
        for key in recs:
            wanted = key == CYCLE if key[0] == "redis" and kind == "thr" else \
                key[1].startswith(kind)
            if key not in seen and wanted:
                seen.append(key)
    rank = {p: i for i, p in enumerate(ORDER)}
    return sorted(seen, key=lambda k: rank.get(k[0], len(ORDER)))


def field(name):
    return lambda key, rec: rec.get(name)


def latency_cell(runs, key):
    p50, _ = median_and_ratio(runs, key, field("p50_ms"), key)
    v, ratio = median_and_ratio(runs, key, field("p99_ms"), REFERENCE_LATENCY)
    if v is None:
        return ""
    return "%.3f / %s" % (p50, cell(v, ratio, "{:.3f}"))


def throughput_table(runs, out):
    lat_of = {}
    for peer, variant in keys_of(runs, "lat"):
        lat_of.setdefault(peer, (peer, variant))  # a peer's first latency variant
    out.append("| system | variant | runs | jobs/s (× cycle) | worker CPU µs/job (× cycle) | "
               "Redis CPU µs/job (× cycle) | p50 / p99 ms (p99 × beanstalkd) | "
               "max RSS MB |")
    out.append("|---|---|---|---|---|---|---|---|")
    for key in keys_of(runs, "thr"):
        n = sum(key in recs for recs in runs.values())
        cells = [cell(*median_and_ratio(runs, key, lambda k, rec, c=c: thr_value(k, rec, c),
                                        CYCLE), "{:,.0f}" if c == "jobs/s" else "{:.1f}")
                 for c in THR]
        rss, _ = median_and_ratio(runs, key, lambda k, rec: get(rec, ("time", "maxrss_kb")), key)
        lat = latency_cell(runs, lat_of[key[0]]) if key[0] in lat_of else ""
        name = "minimal cycle" if key == CYCLE else key[0]
        variant = key[1] + (", " + lat_of[key[0]][1] if lat else "")
        out.append("| %s | %s | %d | %s | %s | %s | %s | %s |"
                   % (name, variant, n, *cells, lat, "" if rss is None else "%.0f" % (rss / 1024)))


def latency_table(runs, out):
    out.append("| system | variant | runs | p50 ms | p99 ms (× beanstalkd) | p99 × floor | "
               "max ms |")
    out.append("|---|---|---|---|---|---|---|")
    for key in keys_of(runs, "lat"):
        n = sum(key in recs for recs in runs.values())
        p50, _ = median_and_ratio(runs, key, field("p50_ms"), key)
        v, ratio = median_and_ratio(runs, key, field("p99_ms"), REFERENCE_LATENCY)
        _, to_floor = median_and_ratio(runs, key, field("p99_ms"), FLOOR_LATENCY)
        worst, _ = median_and_ratio(runs, key, field("max_ms"), key)
        name = "minimal BLMOVE client" if key == FLOOR_LATENCY else key[0]
        out.append("| %s | %s | %d | %.3f | %s | %s | %.2f |"
                   % (name, key[1], n, p50, cell(v, ratio, "{:.3f}"),
                      "" if to_floor is None else "%.2f" % to_floor, worst))


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    runs = load(sys.argv[1])
    if not runs:
        sys.exit("no results in %s/run*/" % sys.argv[1])
    out = ["Medians of %d runs; in parentheses, the median of each run's ratio." % len(runs), ""]
    throughput_table(runs, out)
    out.append("")
    latency_table(runs, out)
    print("\n".join(out))


if __name__ == "__main__":
    sys.exit(main())
