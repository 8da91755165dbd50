# shellcheck shell=bash disable=SC2034  # variables here are used by the sourcing scripts
# lib.sh - shared bits of the nexusd scripts: paths, ports, logging, root check, build.
# Sourced (never run) by scripts/*.sh, each of which sets `set -euo pipefail` itself.

NEXUS_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
RUN_DIR="$NEXUS_ROOT/.run"

REDIS_DIR="$RUN_DIR/redis"
REDIS_SOCK="$RUN_DIR/redis.sock"
REDIS_PIDFILE="$REDIS_DIR/redis.pid"
REDIS_CONF="$REDIS_DIR/redis.conf"
REDIS_LOG="$REDIS_DIR/redis.log"
REDIS_PORT_FILE="$RUN_DIR/redis.port"  # the port the running redis-server listens on
PG_PORT_FILE="$RUN_DIR/pg.port"        # the port the running postgres listens on
NEXUSD_LOG="$RUN_DIR/nexusd.log"

DEFAULT_REDIS_PORT=6390
DEFAULT_PG_PORT=5440
PG_USER=nexus
PG_DB=nexus

# ---- logging ---------------------------------------------------------------------------
# Messages go to stderr so that stdout stays clean (services.sh env is eval'ed).
if [[ -t 2 ]]; then
    _c_on=$'\e[1m' _c_err=$'\e[1;31m' _c_off=$'\e[0m'
else
    _c_on='' _c_err='' _c_off=''
fi
say() { printf '%s==> %s%s\n' "$_c_on" "$*" "$_c_off" >&2; }
warn() { printf '%swarning:%s %s\n' "$_c_err" "$_c_off" "$*" >&2; }
die() {
    printf '%serror:%s %s\n' "$_c_err" "$_c_off" "$*" >&2
    exit 1
}

# ---- root ------------------------------------------------------------------------------
# require_root "$@": returns when root; otherwise re-runs the calling script with sudo
# (keeping the variables the scripts read), or fails when there is no sudo.
require_root() {
    [[ $EUID -eq 0 ]] && return 0
    command -v sudo >/dev/null 2>&1 ||
        die "$(basename "$0") must be run as root (or with sudo available)"
    local pass=() v
    for v in NEXUS_REDIS_PORT NEXUS_PG_PORT CI CC CFLAGS TERM; do
        [[ -n ${!v+x} ]] && pass+=("$v=${!v}")
    done
    say "not root: re-running $(basename "$0") with sudo"
    exec sudo -- env "${pass[@]}" bash "$NEXUS_ROOT/scripts/$(basename "$0")" "$@"
}

# ---- ports -----------------------------------------------------------------------------
# The port a server uses: $NEXUS_*_PORT when set, else the one the running server was
# started on (recorded by services.sh start), else the default.
redis_port() {
    if [[ -n ${NEXUS_REDIS_PORT:-} ]]; then
        echo "$NEXUS_REDIS_PORT"
    elif [[ -s $REDIS_PORT_FILE ]]; then
        cat "$REDIS_PORT_FILE"
    else
        echo "$DEFAULT_REDIS_PORT"
    fi
}
pg_port() {
    if [[ -n ${NEXUS_PG_PORT:-} ]]; then
        echo "$NEXUS_PG_PORT"
    elif [[ -s $PG_PORT_FILE ]]; then
        cat "$PG_PORT_FILE"
    else
        echo "$DEFAULT_PG_PORT"
    fi
}

# port_busy PORT: true when something listens on 127.0.0.1:PORT (or on all addresses).
port_busy() {
    local out
    out="$(ss -Hltn "( sport = :$1 )" 2>/dev/null)" || return 1
    [[ -n $out ]]
}

redis_url() { echo "redis://127.0.0.1:$(redis_port)/0"; }
database_url() { echo "postgresql://$PG_USER@127.0.0.1:$(pg_port)/$PG_DB"; }

# ---- PostgreSQL ------------------------------------------------------------------------
# The newest installed server's bin directory (one that has initdb, not just a client).
pg_bindir() {
    local d best=''
    for d in /usr/lib/postgresql/*/bin; do
        [[ -x $d/initdb && -x $d/pg_ctl ]] || continue
        if [[ -z $best ]] || [[ $(printf '%s\n%s\n' "$best" "$d" | sort -V | tail -n1) == "$d" ]]; then
            best="$d"
        fi
    done
    [[ -n $best ]] || die "no PostgreSQL server found in /usr/lib/postgresql/*/bin (run scripts/deps.sh)"
    echo "$best"
}

# The data directory: .run/pg when the postgres user can reach the checkout, else a
# directory under /var/tmp named after the checkout path. Its unix socket lives in it.
pg_datadir() {
    local d="$RUN_DIR/pg"
    if ! as_postgres test -x "$NEXUS_ROOT" || ((${#d} > 90)); then
        d="/var/tmp/nexusd-pg-$(printf '%s' "$NEXUS_ROOT" | sha1sum | cut -c1-10)"
    fi
    echo "$d"
}

# as_postgres CMD...: runs CMD as the postgres system user (initdb and pg_ctl refuse root),
# from / so that it never trips over an unreadable working directory.
as_postgres() {
    getent passwd postgres >/dev/null || die "no 'postgres' user (run scripts/deps.sh)"
    (cd / && runuser -u postgres -- "$@")
}

# ---- processes -------------------------------------------------------------------------
# running PID: the process exists and is not a zombie (one not yet reaped by its parent).
running() {
    local state
    state="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
    state="${state##*) }" # after "pid (comm) "; comm may hold spaces and parens
    state="${state%% *}"
    [[ -n $state && $state != Z && $state != X ]]
}

# pid_alive PIDFILE NAME [ARG]: prints the pid and succeeds when PIDFILE names a live
# process whose command is NAME (and whose command line holds ARG), so that a recycled
# pid is never taken for ours.
pid_alive() {
    local pid comm args
    [[ -s $1 ]] || return 1
    pid="$(head -n1 "$1" | tr -dc '0-9')"
    [[ -n $pid ]] && running "$pid" || return 1
    comm="$(cat "/proc/$pid/comm" 2>/dev/null)" || return 1
    [[ $comm == "$2"* ]] || return 1
    if [[ -n ${3:-} ]]; then
        args="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" || return 1
        [[ $args == *"$3"* ]] || return 1
    fi
    echo "$pid"
}

# stop_pid PID NAME [SECONDS]: SIGTERM, wait up to SECONDS (10), then SIGKILL.
stop_pid() {
    local pid=$1 name=$2 secs=${3:-10} i
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < secs * 10; i++)); do
        running "$pid" || return 0
        sleep 0.1
    done
    warn "$name (pid $pid) still running after ${secs}s: killing it"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        running "$pid" || return 0
        sleep 0.1
    done
}

# ---- build -----------------------------------------------------------------------------
# build_tree DIR [CMAKE_ARGS...]: configures and builds DIR (relative to the checkout).
build_tree() {
    local dir=$1
    shift
    say "building $dir/ ${*:+($*)}"
    local cache="$NEXUS_ROOT/$dir/CMakeCache.txt"
    if [[ -f $cache ]] && ! grep -qFx "CMAKE_HOME_DIRECTORY:INTERNAL=$NEXUS_ROOT" "$cache"; then
        warn "$dir/ was configured for another source directory: starting it afresh"
        rm -rf "${NEXUS_ROOT:?}/$dir"
    fi
    # BUILD_TARGETS="a b": only those (and what they need)
    # shellcheck disable=SC2086  # target names are words
    (cd "$NEXUS_ROOT" && cmake -S . -B "$dir" "$@" &&
        cmake --build "$dir" -j2 ${BUILD_TARGETS:+--target $BUILD_TARGETS})
}

# ---- servers for a run ----------------------------------------------------------------
# start_services: starts whichever private server is not running yet, records it in
# STARTED for stop_services, and exports REDIS_URL and DATABASE_URL.
STARTED=()
start_services() {
    local s
    for s in redis pg; do
        if ! run_script services.sh status "$s" >/dev/null; then
            STARTED+=("$s")
            run_script services.sh start "$s"
        fi
    done
    eval "$(run_script services.sh env)"
    export REDIS_URL DATABASE_URL
}
# stop_services: stops exactly the servers start_services started.
stop_services() {
    ((${#STARTED[@]})) || return 0
    run_script services.sh stop "${STARTED[@]}"
    STARTED=()
}

# Helper scripts are run with bash so that they work without their exec bit.
run_script() {
    local name=$1
    shift
    bash "$NEXUS_ROOT/scripts/$name" "$@"
}
