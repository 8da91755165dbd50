#!/usr/bin/env bash
# layers.sh - checks that the C sources' layers only point down (STYLE.md section 1): reads
# every #include "..." under the layer folders and fails, listing each offending line, when
#   - a layer includes a higher one:  lib < conf < queue < sql < jobs < daemon, ctl
#   - daemon/ includes ctl/ or ctl/ includes daemon/ (both at the top, apart)
#   - an include goes through "../" or "./", or names a folder that is not a layer
#   - a bare "x.h" names a file that is not in the including file's own folder
# Fuzz targets (tests/fuzz/) may include any layer; they are checked for "../" only.
# Run by ctest as the test "layers".
#
#   scripts/layers.sh [ROOT]   (ROOT: the source tree, default this checkout)
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

(($# <= 1)) || {
    echo "usage: $(basename "$0") [ROOT]" >&2
    exit 2
}
root=${1:-$NEXUS_ROOT}
cd "$root" || die "no such directory: $root"

declare -A RANK=([lib]=0 [conf]=1 [queue]=2 [sql]=3 [jobs]=4 [daemon]=5 [ctl]=5)
LAYERS=(lib conf queue sql jobs daemon ctl)
for d in "${LAYERS[@]}" tests/fuzz; do
    [[ -d $d ]] || die "$root/$d: no such directory"
done

bad=0
count=0
# report FILE:LINE MESSAGE
report() {
    printf '%s: %s\n' "$1" "$2"
    bad=$((bad + 1))
}

while IFS= read -r -d '' file; do
    top=${file%%/*}
    while IFS=: read -r line text; do
        [[ $text =~ ^[[:space:]]*#[[:space:]]*include[[:space:]]*\"([^\"]*)\" ]] || continue
        inc=${BASH_REMATCH[1]}
        count=$((count + 1))
        if [[ $inc == ../* || $inc == */../* || $inc == ./* || $inc == */./* ]]; then
            report "$file:$line" "relative include \"$inc\" (write it from the root)"
            continue
        fi
        [[ $top == tests ]] && continue
        if [[ $inc != */* ]]; then
            [[ -e $(dirname "$file")/$inc ]] ||
                report "$file:$line" "bare include \"$inc\" of a file not in $(dirname "$file")/"
            continue
        fi
        to=${inc%%/*}
        if [[ -z ${RANK[$to]+x} ]]; then
            report "$file:$line" "include \"$inc\" outside the layers (${LAYERS[*]})"
        elif ((RANK[$to] > RANK[$top])); then
            report "$file:$line" "layer $top includes layer $to (\"$inc\")"
        elif [[ $top != "$to" && ${RANK[$to]} == "${RANK[$top]}" ]]; then
            report "$file:$line" "layer $top includes layer $to (\"$inc\"): they stay apart"
        fi
    done < <(grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$file" || true)
done < <(find "${LAYERS[@]}" tests/fuzz -type f \( -name '*.c' -o -name '*.h' \) -print0 | sort -z)

if ((bad)); then
    echo "layers: $bad include(s) out of $count break the layering (STYLE.md section 1)" >&2
    exit 1
fi
echo "layers: $count includes, all pointing down"
