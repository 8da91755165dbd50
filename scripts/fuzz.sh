#!/usr/bin/env bash
# fuzz.sh - builds the libFuzzer targets of tests/fuzz/ in build-fuzz/ (clang, ASan + UBSan)
# and runs each for a few seconds on its seed corpus (tests/fuzz/corpus/TARGET/, read only)
# plus the inputs it found before (build-fuzz/corpus/TARGET/, kept between runs), as many
# targets at once as there are cores.
# Exits non-zero when a target crashes, leaks, trips a sanitizer or an assertion, or hangs;
# the input that did it is saved under build-fuzz/findings/ and its path printed.
#
#   scripts/fuzz.sh [--seconds N] [TARGET...]
#     --seconds N   how long each target runs (default 15)
#     TARGET        only these targets (default: all of them)
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# The targets and the largest input each is given: room for its biggest seed (a whole
# config, an npm audit report, an email template) without slowing the small ones.
declare -A MAX_LEN=(
    [job]=4096
    [cfg]=4096
    [cron]=128
    [emotion_parse]=2048
    [mail_msg]=4096
    [mail_tmpl]=2048
    [npm_audit]=4096
    [urlmask]=512
    [rollup_parse]=512
    [sql_args]=2048
    [excerpt]=1024
    [sentinel]=512
    [pgurl]=512
    [traceparent]=640
)
ALL_TARGETS=(job cfg cron emotion_parse mail_msg mail_tmpl npm_audit urlmask rollup_parse sql_args
             excerpt sentinel pgurl traceparent)
BUILD_DIR=build-fuzz

usage() {
    echo "usage: $(basename "$0") [--seconds N] [TARGET...]" >&2
    echo "targets: ${ALL_TARGETS[*]}" >&2
    exit 2
}

seconds=15
targets=()
while (($#)); do
    case $1 in
    --seconds)
        (($# >= 2)) || usage
        seconds=$2
        shift
        ;;
    --seconds=*) seconds=${1#--seconds=} ;;
    -h | --help) usage ;;
    -*) usage ;;
    *)
        [[ -n ${MAX_LEN[$1]+x} ]] || {
            echo "unknown target: $1" >&2
            usage
        }
        targets+=("$1")
        ;;
    esac
    shift
done
[[ $seconds =~ ^[1-9][0-9]*$ ]] || die "--seconds wants a whole number of seconds above 0 (got $seconds)"
((${#targets[@]})) || targets=("${ALL_TARGETS[@]}")
command -v clang >/dev/null || die "clang not found (run scripts/deps.sh)"

cd "$NEXUS_ROOT"
# Only the fuzz targets are built: the daemon and the unit tests have their own builds.
say "building the fuzz targets in $BUILD_DIR/ (clang, ASan + UBSan)"
cache="$NEXUS_ROOT/$BUILD_DIR/CMakeCache.txt"
if [[ -f $cache ]] && ! grep -qFx "CMAKE_HOME_DIRECTORY:INTERNAL=$NEXUS_ROOT" "$cache"; then
    warn "$BUILD_DIR/ was configured for another source directory: starting it afresh"
    rm -rf "${NEXUS_ROOT:?}/$BUILD_DIR"
fi
cmake -S . -B "$BUILD_DIR" -DCMAKE_C_COMPILER=clang -DENABLE_FUZZ=ON -DENABLE_ASAN=ON \
    -DENABLE_UBSAN=ON -DENABLE_INTEGRATION_TESTS=OFF >/dev/null
cmake --build "$BUILD_DIR" -j2 --target "${targets[@]/%/_fuzz}"

# A sanitizer report stops the run at once (libFuzzer saves the input and exits 1), with a
# symbolized stack when llvm-symbolizer is installed.
export ASAN_OPTIONS=detect_leaks=1:symbolize=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
if [[ -z ${ASAN_SYMBOLIZER_PATH:-} ]] && ! command -v llvm-symbolizer >/dev/null; then
    for s in /usr/bin/llvm-symbolizer-*; do
        [[ -x $s ]] && export ASAN_SYMBOLIZER_PATH=$s
    done
fi

out="$NEXUS_ROOT/$BUILD_DIR"
mkdir -p "$out/findings" "$out/logs"

# fuzz_one TARGET: runs it, its output in logs/TARGET.log, its exit status in logs/TARGET.rc.
# New inputs go to the first directory (the working corpus); the seeds are only read.
# -timeout: one input running 10 s is a hang, reported like a crash.
fuzz_one() {
    local t=$1 rc=0
    (cd "$out" && "./${t}_fuzz" -max_total_time="$seconds" -max_len="${MAX_LEN[$t]}" \
        -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$out/findings/$t-" "$out/corpus/$t" \
        "$NEXUS_ROOT/tests/fuzz/corpus/$t") >"$out/logs/$t.log" 2>&1 || rc=$?
    echo "$rc" >"$out/logs/$t.rc"
}

for t in "${targets[@]}"; do
    seeds="$NEXUS_ROOT/tests/fuzz/corpus/$t"
    [[ -d $seeds ]] || die "no seed corpus for $t: $seeds"
done
# As many targets at once as there are cores (each target is one process on one core).
slots="$(nproc)"
for t in "${targets[@]}"; do
    mkdir -p "$out/corpus/$t"
    rm -f "$out/logs/$t.rc"
    while (($(jobs -pr | wc -l) >= slots)); do
        wait -n || true
    done
    say "fuzzing $t for ${seconds}s (max_len ${MAX_LEN[$t]})"
    fuzz_one "$t" &
done
wait

failed=()
for t in "${targets[@]}"; do
    log="$out/logs/$t.log"
    rc="$(cat "$out/logs/$t.rc" 2>/dev/null || echo 'none')"
    if [[ $rc == 0 ]]; then
        runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")"
        printf '    %s: %s runs, %s inputs in its corpus, no finding\n' \
            "$t" "${runs:-?}" "$(find "$out/corpus/$t" -type f | wc -l)" >&2
        continue
    fi
    input="$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n1)"
    # The report: libFuzzer's and the sanitizer's lines, not the progress lines before them.
    grep -v -E '^#[0-9]+[[:space:]]+(NEW|REDUCE|pulse|INITED|RELOAD)|^INFO:' "$log" | tail -n 40 >&2
    if [[ -n $input ]]; then
        failed+=("$t (exit $rc) on the input $input; reproduce: $BUILD_DIR/${t}_fuzz $input")
    else
        failed+=("$t (exit $rc) without saving an input; full log: $log")
    fi
    warn "${failed[-1]}"
done

if ((${#failed[@]})); then
    printf '  %s\n' "${failed[@]}" >&2
    die "fuzzing failed in ${#failed[@]} of ${#targets[@]} target(s); logs in $BUILD_DIR/logs/"
fi
say "fuzzing: ${#targets[@]} target(s), ${seconds}s each, no finding"
