#!/usr/bin/env bash
# services.sh - private redis-server and PostgreSQL for development and tests.
#
#   scripts/services.sh start  [redis|pg]...   start (no-op for a server already running)
#   scripts/services.sh stop   [redis|pg]...   stop what start started (pidfiles); no-op if down
#   scripts/services.sh status [redis|pg]...   exit 0 when all named servers run, 3 otherwise
#   scripts/services.sh env                    prints `export REDIS_URL=...` lines to eval
#
# With no server named, both. Everything lives under .run/ of the checkout:
#   redis:  .run/redis.sock and 127.0.0.1:${NEXUS_REDIS_PORT:-6390}; files in .run/redis/
#   pg:     127.0.0.1:${NEXUS_PG_PORT:-5440} and a unix socket in the data directory,
#           .run/pg (or /var/tmp/nexusd-pg-HASH when the postgres user cannot reach the
#           checkout); role and database "nexus", trust auth, no durability.
# When the default port is taken by some other program the next free one is used and
# recorded (.run/redis.port, .run/pg.port) so that `env` prints it; a port set through
# NEXUS_*_PORT is used as is.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
    echo "usage: $(basename "$0") start|stop|status|env [redis|pg]..." >&2
    exit 2
}

# pick_port VAR DEFAULT RECORDED: the port to start on.
pick_port() {
    local var=$1 default=$2 recorded=$3 p
    if [[ -n ${!var:-} ]]; then
        port_busy "${!var}" && die "port ${!var} (from $var) is in use by another program"
        echo "${!var}"
        return
    fi
    p=$default
    [[ -s $recorded ]] && p="$(cat "$recorded")"
    local i
    for ((i = 0; i < 50; i++)); do
        if ! port_busy "$p"; then
            [[ $p == "$default" ]] || warn "port $default is busy: using $p (set $var to choose)"
            echo "$p"
            return
        fi
        p=$((p == default + 49 ? default : p + 1))
    done
    die "no free port near $default (set $var)"
}

# port_mismatch NAME VAR PORTFILE: warns when VAR asks for another port than the running
# server's.
port_mismatch() {
    local want=${!2:-} have
    have="$(cat "$3" 2>/dev/null || true)"
    if [[ -n $want && -n $have && $want != "$have" ]]; then
        warn "$1 already runs on port $have, not $2=$want: stop it first to change ports"
    fi
}

# ---- redis -----------------------------------------------------------------------------
redis_pid() { pid_alive "$REDIS_PIDFILE" redis-server; }

redis_ping() {
    [[ $(redis-cli -s "$REDIS_SOCK" ping 2>/dev/null) == PONG ]]
}

redis_start() {
    if redis_pid >/dev/null; then
        port_mismatch redis-server NEXUS_REDIS_PORT "$REDIS_PORT_FILE"
        say "redis-server already running (pid $(redis_pid), $REDIS_SOCK, port $(cat "$REDIS_PORT_FILE" 2>/dev/null))"
        return
    fi
    command -v redis-server >/dev/null || die "redis-server is not installed (run scripts/deps.sh)"
    ((${#REDIS_SOCK} < 104)) || die "unix socket path too long (${#REDIS_SOCK} bytes): $REDIS_SOCK"
    local port
    port="$(pick_port NEXUS_REDIS_PORT "$DEFAULT_REDIS_PORT" "$REDIS_PORT_FILE")"
    mkdir -p "$REDIS_DIR"
    rm -f "$REDIS_SOCK" "$REDIS_PIDFILE"
    # A config file rather than arguments: values are quoted, so paths may hold spaces.
    cat >"$REDIS_CONF" <<EOF
# Written by scripts/services.sh on each start; a disposable server.
bind 127.0.0.1
port $port
unixsocket "$REDIS_SOCK"
unixsocketperm 770
daemonize yes
pidfile "$REDIS_PIDFILE"
dir "$REDIS_DIR"
logfile "$REDIS_LOG"
save ""
appendonly no
EOF
    say "starting redis-server on 127.0.0.1:$port and $REDIS_SOCK"
    redis-server "$REDIS_CONF" || die "redis-server failed to start; see $REDIS_LOG"
    local i
    for ((i = 0; i < 100; i++)); do
        if redis_ping; then
            echo "$port" >"$REDIS_PORT_FILE"
            return
        fi
        sleep 0.1
    done
    tail -n 20 "$REDIS_LOG" >&2 || true
    local pid
    if pid="$(redis_pid)"; then stop_pid "$pid" redis-server; fi
    die "redis-server did not answer PING within 10s; see $REDIS_LOG"
}

redis_stop() {
    local pid
    if pid="$(redis_pid)"; then
        say "stopping redis-server (pid $pid)"
        stop_pid "$pid" redis-server
    else
        say "redis-server not running"
    fi
    rm -f "$REDIS_PIDFILE" "$REDIS_SOCK" "$REDIS_PORT_FILE"
}

redis_status() {
    local pid
    if pid="$(redis_pid)" && redis_ping; then
        echo "redis: running (pid $pid) redis://127.0.0.1:$(cat "$REDIS_PORT_FILE" 2>/dev/null || redis_port)/0 unix:$REDIS_SOCK"
    else
        echo "redis: stopped"
        return 1
    fi
}

# ---- PostgreSQL ------------------------------------------------------------------------
# Set by pg_init (in the main shell, before any pg_* function runs).
PG_BIN='' PG_DATA=''
pg_init() {
    getent passwd postgres >/dev/null || return 0 # not installed: nothing runs
    PG_BIN="$(pg_bindir)"
    PG_DATA="$(pg_datadir)"
}

pg_pid() {
    [[ -n $PG_DATA ]] || return 1
    pid_alive "$PG_DATA/postmaster.pid" postgres "$PG_DATA"
}

pg_ready() {
    "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$1" -d postgres -U postgres
}

# psql as the superuser over the data directory's unix socket.
pg_psql() {
    "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PG_DATA" -p "$(pg_port)" -U postgres -d postgres "$@"
}

pg_initdb() {
    local version
    version="$(basename "$(dirname "$PG_BIN")")"
    if [[ -f $PG_DATA/PG_VERSION ]]; then
        if [[ $(cat "$PG_DATA/PG_VERSION") == "$version" ]]; then
            # A copied checkout may hold root's files: the server must own them.
            [[ $(stat -c %U "$PG_DATA") == postgres ]] || chown -R postgres:postgres "$PG_DATA"
            chmod 700 "$PG_DATA"
            return
        fi
        warn "$PG_DATA holds a PostgreSQL $(cat "$PG_DATA/PG_VERSION") cluster: recreating it for $version"
    fi
    rm -rf "$PG_DATA"
    mkdir -p "$PG_DATA"
    chown postgres:postgres "$PG_DATA"
    chmod 700 "$PG_DATA"
    say "initdb $PG_DATA (PostgreSQL $version)"
    local out
    out="$(as_postgres "$PG_BIN/initdb" -D "$PG_DATA" -U postgres --auth=trust -E UTF8 \
        --no-locale 2>&1)" || die "initdb failed: $out"
    # Port, addresses and socket are in nexus.conf, rewritten on each start.
    cat >>"$PG_DATA/postgresql.conf" <<'EOF'

# Added by scripts/services.sh: a disposable server.
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
include_if_exists = 'nexus.conf'
EOF
}

pg_start() {
    if pg_pid >/dev/null; then
        port_mismatch postgres NEXUS_PG_PORT "$PG_PORT_FILE"
        say "postgres already running (pid $(pg_pid), $PG_DATA, port $(cat "$PG_PORT_FILE" 2>/dev/null))"
        return
    fi
    [[ -n $PG_DATA ]] || die "PostgreSQL is not installed (run scripts/deps.sh)"
    local port
    port="$(pick_port NEXUS_PG_PORT "$DEFAULT_PG_PORT" "$PG_PORT_FILE")"
    pg_initdb
    local q="'"
    cat >"$PG_DATA/nexus.conf" <<EOF
# Written by scripts/services.sh on each start.
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '${PG_DATA//$q/$q$q}'
EOF
    chown postgres:postgres "$PG_DATA/nexus.conf"
    say "starting postgres on 127.0.0.1:$port (data $PG_DATA)"
    if ! as_postgres "$PG_BIN/pg_ctl" start -D "$PG_DATA" -l "$PG_DATA/postgres.log" -w -t 60 -s; then
        tail -n 20 "$PG_DATA/postgres.log" >&2 || true
        die "postgres failed to start; see $PG_DATA/postgres.log"
    fi
    local i
    for ((i = 0; i < 100; i++)); do
        pg_ready "$port" && break
        sleep 0.1
    done
    pg_ready "$port" || die "postgres not ready on 127.0.0.1:$port; see $PG_DATA/postgres.log"
    echo "$port" >"$PG_PORT_FILE"
    if [[ -z $(pg_psql -tAc "select 1 from pg_roles where rolname = '$PG_USER'") ]]; then
        pg_psql -c "create role $PG_USER login superuser"
    fi
    if [[ -z $(pg_psql -tAc "select 1 from pg_database where datname = '$PG_DB'") ]]; then
        pg_psql -c "create database $PG_DB owner $PG_USER"
    fi
}

pg_stop() {
    if pg_pid >/dev/null; then
        say "stopping postgres (pid $(pg_pid))"
        as_postgres "$PG_BIN/pg_ctl" stop -D "$PG_DATA" -m fast -w -t 30 -s ||
            stop_pid "$(pg_pid)" postgres
    else
        say "postgres not running"
    fi
    rm -f "$PG_PORT_FILE"
}

pg_status() {
    local pid
    local port
    port="$(cat "$PG_PORT_FILE" 2>/dev/null || pg_port)" # the running server's
    if pid="$(pg_pid)" && pg_ready "$port"; then
        echo "pg:    running (pid $pid) postgresql://$PG_USER@127.0.0.1:$port/$PG_DB data:$PG_DATA"
    else
        echo "pg:    stopped"
        return 1
    fi
}

# ---- main ------------------------------------------------------------------------------
(($# >= 1)) || usage
cmd=$1
shift
servers=("$@")
((${#servers[@]})) || servers=(redis pg)
for s in "${servers[@]}"; do
    [[ $s == redis || $s == pg ]] || usage
done

case $cmd in
env)
    echo "export REDIS_URL=$(redis_url)"
    echo "export DATABASE_URL=$(database_url)"
    ;;
start | stop | status)
    require_root "$cmd" "$@"
    if [[ $cmd == start ]]; then
        mkdir -p "$RUN_DIR"
        chmod 755 "$RUN_DIR" # the postgres user may need to pass through it
    fi
    if [[ " ${servers[*]} " == *" pg "* ]]; then pg_init; fi
    rc=0
    for s in "${servers[@]}"; do
        if [[ $cmd == status ]]; then
            "${s}_status" || rc=3
        else
            "${s}_$cmd" # not in a || list: errexit stays on inside
        fi
    done
    exit "$rc"
    ;;
*) usage ;;
esac
