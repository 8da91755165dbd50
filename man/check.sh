#!/usr/bin/env bash
# check.sh - the man pages against mandoc and against the programs (ctest man_pages): fails
# on a mandoc warning in any page, an option of `nexusd --help` that nexusd(8) does not list
# (or one it lists that nexusd does not have), and a command of `nexusctl --help` that
# nexusctl(1) does not list under COMMANDS (or one it lists that nexusctl does not have).
#
#   man/check.sh NEXUSD NEXUSCTL BUILD/man/nexusd.conf.5
set -euo pipefail

(($# == 3)) || {
    echo "usage: $(basename "$0") NEXUSD NEXUSCTL NEXUSD.CONF.5" >&2
    exit 2
}
nexusd=$1 nexusctl=$2 conf_page=$3
dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
command -v mandoc >/dev/null || {
    echo "man/check.sh: mandoc is not installed (scripts/deps.sh installs it)" >&2
    exit 1
}

bad=0
fail() {
    echo "man/check.sh: $*" >&2
    bad=1
}

for page in "$dir/nexusd.8" "$dir/nexusctl.1" "$conf_page"; do
    mandoc -T lint -W warning "$page" >&2 || fail "mandoc -T lint -W warning $page"
done

# "  -c, --config FILE  ..." -> "c config"; mdoc "Fl c , Fl \-config" -> the same pair
help_options() {
    sed -n 's/^ *-\([A-Za-z]\), --\([a-z-]*\).*/\1 \2/p' | sort
}
page_options() {
    sed -n 's/^\.It Fl \([A-Za-z]\) , Fl \\-\([a-z-]*\).*/\1 \2/p' "$1" | sort
}
diff_lists() { # WHAT LEFT_NAME LEFT RIGHT_NAME RIGHT
    local only
    only=$(comm -23 <(echo "$3") <(echo "$5"))
    [[ -z $only ]] || fail "$1 in $2, not in $4: $(echo "$only" | tr '\n' ' ')"
    only=$(comm -13 <(echo "$3") <(echo "$5"))
    [[ -z $only ]] || fail "$1 in $4, not in $2: $(echo "$only" | tr '\n' ' ')"
}
diff_lists "options" "nexusd --help" "$("$nexusd" --help | help_options)" \
    "man/nexusd.8" "$(page_options "$dir/nexusd.8")"
diff_lists "options" "nexusctl --help" "$("$nexusctl" --help | help_options)" \
    "man/nexusctl.1" "$(page_options "$dir/nexusctl.1")"

# nexusctl --help: the lines "  name  words" between "Commands:" and the next blank line
help_commands=$("$nexusctl" --help | sed -n '/^Commands:/,/^$/s/^  \([a-z][a-z-]*\) .*/\1/p' | sort)
page_commands=$(sed -n '/^\.Sh COMMANDS/,/^\.Sh /s/^\.It Cm \([a-z][a-z-]*\).*/\1/p' \
    "$dir/nexusctl.1" | sort)
[[ -n $help_commands ]] || fail "no commands found in nexusctl --help"
diff_lists "commands" "nexusctl --help" "$help_commands" "man/nexusctl.1" "$page_commands"

# nexusd.conf(5) holds every group of the reference file
while read -r group; do
    grep -q "^\.Ss $group\$" "$conf_page" || fail "$conf_page has no section $group"
done < <(sed -n 's/^\([a-z_]*\) = [{(].*/\1/p' "$dir/../conf/nexusd.conf")

((bad == 0)) && echo "man pages: lint clean, options and commands agree with --help"
exit "$bad"
