#!/usr/bin/env bash
# bench_peers.sh - nexusd, the minimal reliable cycle and the peers, in one run on this
# machine, by the one method of ../shared/bench-peers; prints their table with ratios.
#
#   bench/bench_peers.sh [--nexusd build/nexusd] [--sidekiq] [--bullmq] [--full-ceiling]
#
# Each of RUNS runs (default 3) measures in turn: the minimal reliable cycle (bench/peers/
# cycle.sh; --full-ceiling: the harness's whole redis-baseline.sh instead), beanstalkd (1, 2
# and 4 worker processes, and latency), nexusd (bench/peers/nexusd.sh), then Sidekiq and
# BullMQ when asked (skipped, saying why, when ruby-sidekiq, or node >= 18 with its
# node_modules, is missing). The harness is copied into a new directory (it writes beside
# itself) whose results/run*/ keep every JSON line; bench/peers/table.py prints the medians.
# Needs Debian's redis-server redis-tools beanstalkd libhiredis-dev gcc time python3-redis;
# no network (BullMQ's `npm ci` is tried only with --bullmq). Redis and beanstalkd listen on
# free loopback ports unless REDIS_PORT / BS_PORT say which.
# Knobs passed on: NEXUSD_N (300000), CYCLE_N (1000000), BS_N (100000), SIDEKIQ_N,
# SIDEKIQ_CONC (5), BULLMQ_N, BULLMQ_CONC (50); PEERS_HARNESS (../shared/bench-peers).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY=/usr/bin/python3
NEXUSD="$ROOT/build/nexusd"
SIDEKIQ=0 BULLMQ=0 FULL_CEILING=0
while (($#)); do
  case "$1" in
    --nexusd) NEXUSD="$(realpath "$2")"; shift 2 ;;
    --sidekiq) SIDEKIQ=1; shift ;;
    --bullmq) BULLMQ=1; shift ;;
    --full-ceiling) FULL_CEILING=1; shift ;;
    *) sed -n '2,/^set /p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
  esac
done
HARNESS="${PEERS_HARNESS:-$ROOT/../shared/bench-peers}"
[[ -f "$HARNESS/lib.sh" ]] || { echo "no peers harness at $HARNESS (PEERS_HARNESS)" >&2; exit 2; }
[[ -x "$NEXUSD" ]] || { echo "no nexusd at $NEXUSD (--nexusd)" >&2; exit 2; }

free_port() { $PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
WORK="$(mktemp -d /tmp/nexus-peers.XXXXXX)"
cp -r "$HARNESS" "$WORK/harness"
rm -rf "$WORK/harness/results" "$WORK/harness/.run"
TOTAL_RUNS="${RUNS:-3}"
export PEERS_COPY="$WORK/harness" NEXUSD RUNS=1  # each script once per run, in turns
export REDIS_PORT="${REDIS_PORT:-$(free_port)}" BS_PORT="${BS_PORT:-$(free_port)}"
export SIDEKIQ_CONC="${SIDEKIQ_CONC:-5}" SIDEKIQ_JOBLOG=0 BULLMQ_CONC="${BULLMQ_CONC:-50}"

skip() { echo "skipped: $*" | tee -a "$WORK/env.txt"; }
PEERS=(cycle beanstalkd nexusd)
command -v beanstalkd >/dev/null || { skip "beanstalkd (apt-get install beanstalkd)"; PEERS=(cycle nexusd); }
if ((SIDEKIQ)); then
  if ruby -e 'require "sidekiq"' 2>/dev/null; then PEERS+=(sidekiq); else skip "sidekiq (apt-get install ruby-sidekiq)"; fi
fi
if ((BULLMQ)); then
  if ! node -e 'process.exit(+process.versions.node.split(".")[0] >= 18 ? 0 : 1)' 2>/dev/null; then
    skip "bullmq (needs node >= 18)"
  elif (cd "$WORK/harness/node" && timeout 300 npm ci --no-audit --no-fund >/dev/null 2>&1); then
    PEERS+=(bullmq)
  else
    skip "bullmq (npm ci failed: no npm registry here?)"
  fi
fi

{
  echo "date: $(date -u +%FT%TZ); load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "host: $(uname -srm); $(nproc) cpus ($(lscpu | sed -n 's/^Model name: *//p'))"
  echo "redis: $(redis-server --version | cut -d' ' -f3)"
  command -v beanstalkd >/dev/null && echo "beanstalkd: $(beanstalkd -v 2>&1 | cut -d' ' -f2)"
  echo "nexusd: $("$NEXUSD" -V) ($NEXUSD), git $(git -C "$ROOT" rev-parse --short HEAD)"
  echo "peers: ${PEERS[*]}; runs: $TOTAL_RUNS"
} | tee -a "$WORK/env.txt"

for run in $(seq 1 "$TOTAL_RUNS"); do
  export RESULTS_DIR="$WORK/results/run$run"
  mkdir -p "$RESULTS_DIR"
  echo "run $run: load average $(cut -d' ' -f1-3 /proc/loadavg) at $(date -u +%T)" | tee -a "$WORK/env.txt"
  for peer in "${PEERS[@]}"; do
    echo "=== run $run/$TOTAL_RUNS: $peer"
    case "$peer" in
      cycle) if ((FULL_CEILING)); then "$WORK/harness/redis-baseline.sh"; else "$ROOT/bench/peers/cycle.sh"; fi ;;
      nexusd) "$ROOT/bench/peers/nexusd.sh" ;;
      *) "$WORK/harness/$peer.sh" ;;
    esac >>"$WORK/log.txt" 2>&1 || { echo "$peer failed: see $WORK/log.txt" >&2; tail -5 "$WORK/log.txt" >&2; exit 1; }
  done
done

# the harness's own tables over every run's lines, then ours
mkdir -p "$WORK/results/all"
for f in "$WORK/results/run1"/*.jsonl; do
  cat "$WORK/results"/run*/"$(basename "$f")" >"$WORK/results/all/$(basename "$f")"
done
"$WORK/harness/summarize.py" "$WORK/results/all" >"$WORK/summary-harness.md"
$PY "$ROOT/bench/peers/table.py" "$WORK/results" | tee "$WORK/table.md"
echo "all figures: $WORK (env.txt, table.md, summary-harness.md, results/run*/, log.txt)"
