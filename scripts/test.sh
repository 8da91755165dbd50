#!/usr/bin/env bash
# test.sh - the whole suite: installs what is missing, starts the private servers, builds
# build/ and runs ctest (the core integration tests also over TLS), then builds build-asan/
# (ASan + UBSan, Debug) and runs ctest again (all but the TLS repeats),
# then builds build-release/ (gcc, Release) and build-clang/ (clang, Debug) warning-free, and
# nexusd and nexusctl in the other build types of both compilers (build-gcc-MinSizeRel/, ...),
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

# lap WHAT: how long the step since the last lap took (CI's 30 minutes are shared by all).
lap_at=$SECONDS
lap() {
    say "$1: $((SECONDS - lap_at))s (${SECONDS}s in all)"
    lap_at=$SECONDS
}

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

# run_ctest DIR [CTEST-ARGS...]: ctest prints its summary ("100% tests passed, 0 tests failed
# out of N"). Two tests at a time hold a slot of `busy` (NEXUS_TEST_JOBS=N for more), and up to
# three that mostly wait (idle windows, minute ticks, failovers: CMakeLists.txt's IT_IDLE) hold
# one of `waits` beside them (together: 759 -> 448 s). Three busy ones at a time (-j3 before
# the slots) failed a few tests that bound a delay in every trial run here.
run_ctest() {
    local dir=$1 busy=${NEXUS_TEST_JOBS:-2} waits=3 spec
    shift
    spec=$(realpath "$dir")/resources.json # ctest reads it from within $dir
    printf '{"version": {"major": 1, "minor": 0}, "local": [{%s, %s}]}\n' \
        "\"busy\": [{\"id\": \"0\", \"slots\": $busy}]" \
        "\"waits\": [{\"id\": \"0\", \"slots\": $waits}]" >"$spec"
    say "ctest in $dir/ ${filter[*]} $*"
    ctest --test-dir "$dir" --output-on-failure -j$((busy + waits)) --no-tests=error \
        --resource-spec-file "$spec" "${filter[@]}" "$@"
}

lap "packages and servers"
build_tree build
lap "build/"
# every test, the core integration tests also over TLS (the tests labelled tls)
run_ctest build
lap "ctest in build/"

if ((fast)); then
    say "--fast: skipping the sanitizer pass"
else
    build_tree build-asan -DENABLE_ASAN=ON -DENABLE_UBSAN=ON -DCMAKE_BUILD_TYPE=Debug
    lap "build-asan/"
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
        UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        run_ctest build-asan -LE tls
    lap "ctest in build-asan/"
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
    lap "build-release/ and build-clang/"
    # the build types not built yet, the programs only (their sources are the ones whose
    # warnings depend on the optimiser; the tests' were built above): about 1.5 minutes
    for combo in gcc:MinSizeRel clang:Release clang:RelWithDebInfo clang:MinSizeRel; do
        CC=${combo%:*} BUILD_TARGETS="nexusd nexusctl" build_tree "build-${combo/:/-}" \
            -DCMAKE_BUILD_TYPE="${combo#*:}" -DENABLE_INTEGRATION_TESTS=OFF
    done
    lap "the other build types"
fi
# 14 targets of 10 s, one per core at a time, and their build: about 2 minutes.
if ((fast)); then
    say "--fast: skipping the fuzzing"
elif ((${#filter[@]})); then
    say "-R: skipping the fuzzing"
else
    run_script fuzz.sh --seconds 10
    lap "fuzzing"
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
    lap "install test"
fi
say "all tests passed (${SECONDS}s in all)"
