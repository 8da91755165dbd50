#!/usr/bin/env bash
# deps.sh - installs (apt) every Debian package nexusd needs to build, test and run its
# demo. Idempotent: when all are installed it changes nothing and does not touch apt.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_root "$@"

PACKAGES=(
    tzdata
    # build
    build-essential cmake pkg-config clang libclang-rt-14-dev
    # llvm-symbolizer: file:line in the sanitizer reports of scripts/fuzz.sh
    llvm-14
    # libraries
    libev-dev libhiredis-dev libjansson-dev libyajl-dev libconfig-dev libcurl4-openssl-dev libpq-dev
    libcmocka-dev libmicrohttpd-dev
    libssl-dev  # OpenSSL: TLS to Redis, HMAC of http classes
    nettle-dev  # SHA-1 and SHA-256 (lib/digest.c: no OpenSSL provider loaded for them)
    # servers and tools for the tests and the demo
    redis-server postgresql postgresql-contrib valgrind python3 python3-pytest
    # a transaction-mode pooler in front of the test's PostgreSQL (tests/integration/pgbouncer.py)
    pgbouncer
    # the Sentinel topology of test_redis_sentinel.py (redis-server --sentinel without it)
    redis-sentinel
    python3-redis python3-psycopg2 python3-aiosmtpd ruby-sidekiq procps iproute2
    # bench/bench_peers.sh (not run by the tests): beanstalkd as a peer, /usr/bin/time for RSS
    beanstalkd time
    # promtool checks /metrics output in the tests
    prometheus
    # the dashboard's browser test: Debian's chromium driven by playwright-core (npm)
    chromium
    # certificates for the email tests' STARTTLS and the Redis TLS tests (redis_topo.py)
    openssl
    # the man pages' lint (ctest man_pages), the Debian package (debian/) and its checks, and
    # the install test's clean Debian root (tests/install/run.sh)
    mandoc debhelper fakeroot lintian debootstrap
)
# node and npm for that test and for clients/node (ctest node_client): Debian's, unless a
# node with its npm is already installed (nodejs from nodesource ships npm and conflicts with
# Debian's npm package)
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    PACKAGES+=(nodejs npm)
fi

installed() {
    [[ $(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) == "install ok installed" ]]
}

missing=()
for p in "${PACKAGES[@]}"; do
    installed "$p" || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
    say "all ${#PACKAGES[@]} packages are installed"
    exit 0
fi

command -v apt-get >/dev/null || die "apt-get not found: this script is for Debian 12"
export DEBIAN_FRONTEND=noninteractive
say "installing ${#missing[@]} missing package(s): ${missing[*]}"
apt-get update -q
apt-get install -y -q --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
    "${missing[@]}" </dev/null
for p in "${missing[@]}"; do
    installed "$p" || die "package $p is still not installed"
done
say "installed: ${missing[*]}"
