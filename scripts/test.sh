#!/usr/bin/env bash
# test.sh - the whole suite: installs what is missing, starts the private servers, builds
# build/ and runs ctest, then builds build-asan/ (ASan + UBSan, Debug) and runs ctest again,
# then builds build-release/ (gcc, Release) and build-clang/ (clang, Debug) warning-free,
# then runs every libFuzzer target for a few seconds (scripts/fuzz.sh, build-fuzz/), then
# builds the Debian package and installs it into a clean chroot (tests/install/run.sh).
# Exits non-zero when any step fails; stops the servers it started in every case.
#
#   scripts/test.sh [--fast] [-R REGEX]
#     --fast     skip the sanitizer pass, the other builds, the fuzzing and the install test
#     -R REGEX   only the tests whose names match (passed to ctest); no other builds, no fuzzing,
#                no install test
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
    echo "usage: $(basename "$0") [--fast] [-R REGEX]" >&2
    exit 2
}

fast=0
filter=()
args=("$@")
while (($#)); do
    case $1 in
    --fast) fast=1 ;;
    -R)
        (($# >= 2)) || usage
        filter=(-R "$2")
        shift
        ;;
    -R*) filter=(-R "${1#-R}") ;;
    -h | --help) usage ;;
    *) usage ;;
    esac
    shift
done
require_root "${args[@]}"
cd "$NEXUS_ROOT"

run_script deps.sh

# Start only the servers that are not running yet, and stop exactly those on exit.
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop_services || rc=1
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
start_services
say "REDIS_URL=$REDIS_URL DATABASE_URL=$DATABASE_URL"

# run_ctest DIR: ctest prints its summary ("100% tests passed, 0 tests failed out of N").
run_ctest() {
    say "ctest in $1/ ${filter[*]}"
    ctest --test-dir "$1" --output-on-failure -j2 --no-tests=error "${filter[@]}"
}

start=$SECONDS
build_tree build
run_ctest build
# The core integration tests once more with their Redis serving TLS only (rediss://, a test
# CA: docs/redis.md, "Running the tests over TLS"): about 3 minutes.
if ((${#filter[@]} == 0)); then
    say "core integration tests over TLS"
    (cd tests/integration && NEXUS_TEST_REDIS_TLS=1 NEXUSD="$NEXUS_ROOT/build/nexusd" \
        NEXUSCTL="$NEXUS_ROOT/build/nexusctl" NEXUS_SOURCE_DIR="$NEXUS_ROOT" \
        NEXUS_BUILD_DIR="$NEXUS_ROOT/build" /usr/bin/python3 -m pytest -q -p no:cacheprovider \
        test_basic.py test_failures.py test_schedule.py test_cron.py test_recovery.py \
        test_dashboard.py test_nexusctl.py test_limits.py test_shutdown.py)
fi

if ((fast)); then
    say "--fast: skipping the sanitizer pass"
else
    build_tree build-asan -DENABLE_ASAN=ON -DENABLE_UBSAN=ON -DCMAKE_BUILD_TYPE=Debug
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
        UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        run_ctest build-asan
fi
# The builds users and packagers make, warning-free (-Werror) with both compilers; built,
# not run again (the two passes above ran the suite): about 2 minutes.
if ((fast)); then
    say "--fast: skipping the gcc Release and clang Debug builds"
elif ((${#filter[@]})); then
    say "-R: skipping the gcc Release and clang Debug builds"
else
    build_tree build-release -DCMAKE_BUILD_TYPE=Release -DENABLE_INTEGRATION_TESTS=OFF
    CC=clang build_tree build-clang -DCMAKE_BUILD_TYPE=Debug -DENABLE_INTEGRATION_TESTS=OFF
fi
# 11 targets of 10 s and their build: about 2.5 minutes.
if ((fast)); then
    say "--fast: skipping the fuzzing"
elif ((${#filter[@]})); then
    say "-R: skipping the fuzzing"
else
    run_script fuzz.sh --seconds 10
fi
# The Debian package as an operator installs it (tests/install/run.sh): built with its unit
# tests and lintian, installed with apt into a clean Debian 12 chroot, checked, purged.
# About 2 minutes (plus about 1 for debootstrap when build-install/ has no cached root).
if ((fast)); then
    say "--fast: skipping the install test"
elif ((${#filter[@]})); then
    say "-R: skipping the install test"
else
    bash tests/install/run.sh
fi
say "all tests passed ($((SECONDS - start))s)"
