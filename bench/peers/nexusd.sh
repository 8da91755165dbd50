#!/usr/bin/env bash
# nexusd.sh - nexusd through the peers harness's method, as one more peer script beside its
# sidekiq.sh and beanstalkd.sh: lib.sh's throughput_run (a drain of NEXUSD_N preloaded noop
# jobs) with the default configuration, and its latency_run (1000 single jobs 5 ms apart to
# an idle process) with the default configuration, 2 and 10 queues, and redis.metered, the
# producer writing on a plain socket as the beanstalkd one does; and lat-default again with
# the producer through redis-py (nexusd_enqueue.py says why). Appends one JSON line per run to $RESULTS_DIR/nexusd.jsonl.
#
# PEERS_COPY is a writable copy of ../shared/bench-peers (bench/bench_peers.sh makes one);
# NEXUSD the binary (default build/nexusd). The worker is nexusd_worker.py, which starts
# nexusd and leaves the harness's bench:result; the producer is nexusd_enqueue.py.
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=/dev/null
source "${PEERS_COPY:?PEERS_COPY must name a writable copy of ../shared/bench-peers}/lib.sh"
PEER=nexusd
# 300,000: a drain of 100,000 (the other peers' N) now lasts a third of a second, at the mercy
# of one scheduling hiccup on a shared machine
N="${NEXUSD_N:-300000}"
NEXUSD="$(realpath "${NEXUSD:-$HERE/../../build/nexusd}")"
export NEXUSD RUN_DIR
: >"$RESULTS_DIR/$PEER.jsonl"

enqueue_bulk()   { $PY "$HERE/nexusd_enqueue.py" bulk "$1"; }
enqueue_spaced() { $PY "$HERE/nexusd_enqueue.py" spaced "$1" "$2"; }
wait_ready()     { wait_key get bench:ready; }
queue_left() {  # the queue and every in-flight list (SIGTERM puts in-flight jobs back)
  local left key
  left=$("${RCLI[@]}" llen queue:default)
  for key in $("${RCLI[@]}" --scan --pattern 'nexus:inflight:*'); do
    left=$((left + $("${RCLI[@]}" llen "$key")))
  done
  echo "$left"
}

# lib.sh's time_json reads /usr/bin/time, whose peak RSS is the Python wrapper's: maxrss_kb
# becomes nexusd's own (rss_kb in bench:result), the wrapper's stays as wrapper_maxrss_kb.
eval "lib_$(declare -f time_json)"
time_json() {
  lib_time_json "$1" | $PY -c 'import json, sys
t = json.load(sys.stdin)
t["wrapper_maxrss_kb"], t["maxrss_kb"] = t["maxrss_kb"], json.loads(sys.argv[1])["rss_kb"]
print(json.dumps(t, separators=(",", ":")))' "$(get_result)"
}

trap stop_redis EXIT
start_redis
echo "$("$NEXUSD" -V 2>&1 | head -1) ($NEXUSD), git $(git -C "$HERE" rev-parse --short HEAD)"

LATENCY_VARIANTS=("default:" "q2:--queues 2" "q10:--queues 10" "metered:--metered")
for run in $(seq 1 "$RUNS"); do
  echo "== nexusd throughput, default configuration, run $run/$RUNS"
  WORKER=("$PY" "$HERE/nexusd_worker.py" thr)
  throughput_run "$PEER" "thr-default" "$N"
  for v in "${LATENCY_VARIANTS[@]}"; do
    echo "== nexusd latency ${v%%:*} run $run/$RUNS"
    # shellcheck disable=SC2034,SC2206  # lib.sh's latency_run reads WORKER; options are words
    WORKER=("$PY" "$HERE/nexusd_worker.py" lat ${v#*:})
    latency_run "$PEER" "lat-${v%%:*}" 1000 5
  done
  # the same as lat-default with the producer through redis-py (nexusd_enqueue.py says why
  # the others use a plain socket)
  echo "== nexusd latency default, producer redis-py, run $run/$RUNS"
  WORKER=("$PY" "$HERE/nexusd_worker.py" lat)
  export PRODUCER=redis-py
  latency_run "$PEER" "lat-default-redispy" 1000 5
  unset PRODUCER
done
echo "nexusd done: $RESULTS_DIR/$PEER.jsonl"
