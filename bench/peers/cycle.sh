#!/usr/bin/env bash
# cycle.sh - the minimal reliable cycle alone: the harness's ceiling/cycle consuming
# CYCLE_N (1,000,000) preloaded ids over TCP, 1 connection, 64 LMOVE claims and the previous
# batch's 64 LREM acks per round trip; the one variant of redis-baseline.sh the peers table
# divides by, measured as that script does (Redis CPU from INFO, the client's from
# /usr/bin/time). Then the latency floor: blmove_floor.c, one connection blocked in BLMOVE,
# the start taken when its reply is parsed, under nexusd.sh's latency method (1000 jobs 5 ms
# apart, the same producer and job text). Appends to $RESULTS_DIR/redis.jsonl; PEERS_COPY as
# for nexusd.sh.
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=/dev/null
source "${PEERS_COPY:?PEERS_COPY must name a writable copy of ../shared/bench-peers}/lib.sh"
cd "$PEERS_DIR" || exit 1
N="${CYCLE_N:-1000000}"
: >"$RESULTS_DIR/redis.jsonl"
[[ -x ceiling/cycle ]] || cc -O2 -Wall -o ceiling/cycle ceiling/cycle.c -lhiredis -lpthread
[[ -x ceiling/blmove_floor ]] || cc -O2 -Wall -o ceiling/blmove_floor "$HERE/blmove_floor.c" -lhiredis
enqueue_spaced() { $PY "$HERE/nexusd_enqueue.py" spaced "$1" "$2"; }
wait_ready()     { wait_key get bench:ready; }

trap stop_redis EXIT
start_redis
for run in $(seq 1 "$RUNS"); do
  echo "== minimal cycle, consume-tcp-c1-d64, run $run/$RUNS"
  flush_redis
  ./ceiling/cycle push "$REDIS_HOST" "$REDIS_PORT" "$N" 100 >/dev/null
  c0=$(redis_cpu)
  out=$(/usr/bin/time -f '%U %S' -o "$RUN_DIR/cycle.time" \
    ./ceiling/cycle consume "$REDIS_HOST" "$REDIS_PORT" "$N" 1 64)
  c1=$(redis_cpu)
  [[ "$("${RCLI[@]}" llen q)" == 0 && "$("${RCLI[@]}" llen p)" == 0 ]] ||
    { echo "queue not empty" >&2; exit 1; }
  record redis "cycle:consume-tcp-c1-d64" "$(printf '"redis_cpu_us_per_job":%s,"client_cpu_us_per_job":%s,"r":%s' \
    "$(awk -v a="$c0" -v b="$c1" -v n="$N" 'BEGIN{printf "%.2f",(b-a)*1e6/n}')" \
    "$(awk -v n="$N" '{printf "%.2f",($1+$2)*1e6/n}' "$RUN_DIR/cycle.time")" "$out")"
  echo "== minimal BLMOVE client, latency, run $run/$RUNS"
  # shellcheck disable=SC2034  # lib.sh's latency_run reads WORKER
  WORKER=(./ceiling/blmove_floor "$REDIS_HOST" "$REDIS_PORT" 1000)
  latency_run redis "lat-blmove" 1000 5
done
