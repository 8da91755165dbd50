#!/usr/bin/env bash
# quickstart.sh - from a fresh checkout to a running demo: installs what is missing,
# builds, starts private redis-server and PostgreSQL, starts build/nexusd, enqueues a few
# demo jobs with build/nexusctl, shows nexusd's log for a few seconds, prints
# `nexusctl stats`, then stops nexusd and the servers it started.
#
#   scripts/quickstart.sh [--keep]
#     --keep   keep everything running (log shown) until Ctrl-C, then stop cleanly
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

WATCH_SECONDS=8
CONF=conf/nexus-sales.conf # the app's classes (orders.mark_paid) and schedules

keep=0
args=("$@")
while (($#)); do
    case $1 in
    --keep) keep=1 ;;
    *)
        echo "usage: $(basename "$0") [--keep]" >&2
        exit 2
        ;;
    esac
    shift
done
require_root "${args[@]}"
cd "$NEXUS_ROOT"

run_script deps.sh
build_tree build
[[ -f $CONF ]] || die "$CONF not found"

nexusd_pid='' tail_pid='' smtp_pid=''
stop_tail() {
    [[ -n $tail_pid ]] || return 0
    sleep 0.2 # let tail print the last lines
    kill "$tail_pid" 2>/dev/null || true
    wait "$tail_pid" 2>/dev/null || true
    tail_pid=''
}
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [[ -n $nexusd_pid ]] && running "$nexusd_pid"; then
        local shown
        shown="$(stat -c %s "$NEXUSD_LOG" 2>/dev/null || echo 0)"
        say "stopping nexusd (pid $nexusd_pid, SIGTERM)"
        stop_pid "$nexusd_pid" nexusd 30
        wait "$nexusd_pid" 2>/dev/null || true
        # Its last words, when the log is no longer being followed.
        [[ -n $tail_pid ]] || tail -c +"$((shown + 1))" "$NEXUSD_LOG" >&2 || true
    fi
    stop_tail
    [[ -z $smtp_pid ]] || stop_pid "$smtp_pid" smtp-sink 5
    stop_services || rc=1
    exit "$rc"
}
trap cleanup EXIT
trap 'echo >&2; exit 130' INT
trap 'exit 143' TERM

start_services

say "preparing PostgreSQL: nexusd's migrations, then the app's tables and demo data"
build/nexusd -c "$CONF" migrate
psql_app() { "$(pg_bindir)/psql" -X -q -v ON_ERROR_STOP=1 "$DATABASE_URL" "$@"; }
psql_app -f sql/app/schema.sql
psql_app -f sql/app/seed.sql

# The email classes need an SMTP server: a sink on loopback that prints what it receives.
SMTP_LOG="$RUN_DIR/smtp-sink.log"
smtp_port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
: >"$SMTP_LOG"
setsid /usr/bin/python3 -m aiosmtpd -n -l "127.0.0.1:$smtp_port" >>"$SMTP_LOG" 2>&1 </dev/null &
smtp_pid=$!
for ((i = 0; i < 50; i++)); do
    (exec 3<>"/dev/tcp/127.0.0.1/$smtp_port") 2>/dev/null && break
    running "$smtp_pid" || die "the SMTP sink exited at start (see ${SMTP_LOG#"$NEXUS_ROOT"/})"
    sleep 0.1
done
export SMTP_URL="smtp://127.0.0.1:$smtp_port"
say "SMTP sink (python3 -m aiosmtpd) on $SMTP_URL, messages in ${SMTP_LOG#"$NEXUS_ROOT"/}"

say "starting build/nexusd -c $CONF (REDIS_URL=$REDIS_URL DATABASE_URL=$DATABASE_URL)"
: >"$NEXUSD_LOG"
# In a session of its own, so that Ctrl-C reaches only this script, which then stops
# nexusd with SIGTERM. (setsid execs nexusd: same pid.)
setsid build/nexusd -c "$CONF" >>"$NEXUSD_LOG" 2>&1 </dev/null &
nexusd_pid=$!
say "nexusd pid $nexusd_pid, log in ${NEXUSD_LOG#"$NEXUS_ROOT"/}:"
tail -n +1 -f "$NEXUSD_LOG" &
tail_pid=$!
sleep 1
running "$nexusd_pid" || die "nexusd exited at start (see the log above)"

ctl() { build/nexusctl -c "$CONF" "$@"; }
say "enqueueing demo jobs"
ctl enqueue noop
ctl enqueue sleep '[500]'
ctl enqueue sleep '[200]' --queue default
ctl enqueue noop --in 3
ctl enqueue fail '["demo failure"]' --retry 1
# a pending order of the demo data marked paid by a `sql` class (exactly once per jid)
order_id="$(psql_app -At -c "SELECT id FROM orders WHERE status = 'pending' LIMIT 1")"
[[ -z $order_id ]] || ctl enqueue orders.mark_paid "[\"$order_id\"]"
# a job enqueued inside a PostgreSQL transaction (the outbox), as the app would
psql_app -At -c "BEGIN; SELECT nexus.enqueue('noop', '[\"from the outbox\"]'); COMMIT;"
# the app's funnel counters for today (UTC), then a rollup of yesterday and today
today="$(date -u +%F)"
for step in 1:120 2:64 3:9; do
    redis-cli -u "$REDIS_URL" set "funnel:checkout:step:${step%%:*}:$today" "${step#*:}" >/dev/null
done
ctl enqueue analytics.rollup
ctl enqueue email.send '[{"to": "Ada <ada@example.com>", "subject": "Welcome to Nexus Sales",
  "text": "Your store is ready.", "html": "<p>Your store is <b>ready</b>.</p>"}]'

if ((keep)); then
    say "running; press Ctrl-C to stop (REDIS_URL=$REDIS_URL; try: build/nexusctl stats)"
    while running "$nexusd_pid"; do sleep 1; done
    die "nexusd exited by itself"
fi

sleep "$WATCH_SECONDS"
stop_tail
say "nexusctl stats"
ctl stats
say "the operators' endpoint (docs/operations.md; the dashboard is http://127.0.0.1:7411/)"
http_get() {
    python3 -c 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())' "$1"
}
http_get http://127.0.0.1:7411/readyz
http_get http://127.0.0.1:7411/metrics | grep -E '^nexus_(jobs_processed_total|jobs_failed_total|queue_size|redis_up|postgresql_up)' || true
say "orders by status (the sql class marked one paid)"
psql_app -c "SELECT status, count(*) FROM orders GROUP BY status ORDER BY status"
say "analytics.rollup: funnel counters and paid orders per day (docs/analytics.md)"
psql_app -c "SELECT funnel_id, step, day, count FROM nexus.funnel_daily ORDER BY 1, 2, 3"
psql_app -c "SELECT product_id, day, orders, revenue_cents FROM nexus.sales_daily ORDER BY 1, 2"
say "email.send: what the SMTP sink received, and the delivery record (docs/email.md)"
grep -E '^(From|To|Subject|Message-ID|Content-Type): ' "$SMTP_LOG" || warn "the sink received no message"
psql_app -c "SELECT recipients, subject, status, smtp_code FROM nexus.email_deliveries"
say "job history recorded in PostgreSQL (nexus.job_history)"
psql_app -c "SELECT class, outcome, count(*) FROM nexus.job_history GROUP BY 1, 2 ORDER BY 1, 2"
