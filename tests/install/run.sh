#!/usr/bin/env bash
# run.sh - the install test, as an operator would: builds the .deb (packaging/build-deb.sh,
# with lintian), installs it with apt into a clean Debian 12 root (debootstrap, in a chroot),
# and checks what an operator checks: nexusd --version, nexusd -t on the installed
# configuration (as the nexusd user), man nexusctl/nexusd/nexusd.conf, systemd-analyze verify
# of the installed unit, the user, the configuration's owner and mode, the unit enabled and
# not started. Then removes and purges the package and checks that nothing of it is left
# but what the operator added (kept, as policy wants), and that every other new file
# belongs to a package still installed.
#
#   tests/install/run.sh [--deb FILE]   (--deb: test that package instead of building one)
#
# Needs root (chroot, mounts). The debootstrapped root is cached as a tarball in
# build-install/ (ignored by git), so a rerun skips debootstrap; each run unpacks a fresh
# copy. Runs twice in a row alike. Prints the time of each step.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"

usage() {
    echo "usage: $(basename "$0") [--deb FILE]" >&2
    exit 2
}
deb=
while (($#)); do
    case $1 in
    --deb)
        (($# >= 2)) || usage
        deb=$(realpath "$2")
        shift
        ;;
    *) usage ;;
    esac
    shift
done
[[ $EUID -eq 0 ]] || die "$(basename "$0") needs root (debootstrap, chroot, mounts)"
for tool in debootstrap chroot mount; do
    command -v "$tool" >/dev/null || die "$tool not found (scripts/deps.sh installs it)"
done

MIRROR=${NEXUS_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm
work=$NEXUS_ROOT/build-install
# The cached root: minbase plus what the checks use (man-db for man, systemd for
# systemd-analyze); a change of this list makes a new cache.
BASE_PACKAGES=man-db,systemd,ca-certificates
cache=$work/$SUITE-minbase-$(echo "$BASE_PACKAGES" | tr ',' '-').tar
root=$work/root
t0=$SECONDS
step_start=$SECONDS
step() {
    say "[$((SECONDS - step_start))s] $*"
    step_start=$SECONDS
}

mounted() { # the mount points under the root, deepest first
    awk -v r="$root" '$2 == r || index($2, r "/") == 1 { print $2 }' /proc/mounts | sort -r
}
unmount_all() {
    local m
    for m in $(mounted); do
        umount -l "$m" || true
    done
}
# Never delete the root while something is mounted in it (a bind of /dev would go too).
remove_root() {
    unmount_all
    [[ -z $(mounted) ]] || die "still mounted under $root: $(mounted | tr '\n' ' ')"
    rm -rf --one-file-system "$root"
}
cleanup() {
    local rc=$?
    trap - EXIT
    unmount_all
    exit "$rc"
}
trap cleanup EXIT

in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
    DEBIAN_FRONTEND=noninteractive HOME=/root "$@"; }

mkdir -p "$work"
if [[ -z $deb ]]; then
    deb=$(bash "$NEXUS_ROOT/packaging/build-deb.sh")
    step "built and linted $deb"
fi
[[ -f $deb ]] || die "no such package: $deb"
version=$(dpkg-deb -f "$deb" Version)

if [[ ! -s $cache ]]; then
    say "debootstrap $SUITE (minbase + $BASE_PACKAGES) into a cache: once"
    remove_root
    debootstrap --variant=minbase --include="$BASE_PACKAGES" "$SUITE" "$root" "$MIRROR" \
        >"$work/debootstrap.log" 2>&1 || {
        tail -20 "$work/debootstrap.log" >&2
        die "debootstrap failed: $work/debootstrap.log"
    }
    tar -C "$root" -cf "$cache.tmp" . && mv "$cache.tmp" "$cache"
    step "debootstrap"
fi
remove_root
mkdir -p "$root"
tar -C "$root" -xf "$cache"
mount -t proc proc "$root/proc"
mount --bind /dev "$root/dev"
mount -t tmpfs tmpfs "$root/tmp"
# downloaded packages survive the run (a rerun downloads nothing)
mkdir -p "$work/apt-archives/partial"
mount --bind "$work/apt-archives" "$root/var/cache/apt/archives"
cp /etc/resolv.conf "$root/etc/resolv.conf"
cat >"$root/etc/apt/sources.list" <<EOF
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb ${MIRROR%/debian}/debian-security $SUITE-security main
EOF
in_root apt-get update -q >"$work/apt-update.log" 2>&1 || {
    tail -20 "$work/apt-update.log" >&2
    die "apt-get update failed in the root"
}
step "fresh root from $cache, apt-get update"

# Every file of the root but the pseudo and cache file systems, for the diff after purge.
snapshot() {
    chroot "$root" find / -xdev \( -path /proc -o -path /dev -o -path /tmp -o -path /run \
        -o -path /var/cache -o -path /var/lib/apt/lists -o -path /var/log \) -prune \
        -o -print | sort
}
snapshot >"$work/before.txt"

fail=0
check() { # DESCRIPTION COMMAND...: runs COMMAND, reports
    local what=$1
    shift
    if "$@"; then
        echo "ok: $what"
    else
        echo "FAILED: $what" >&2
        fail=1
    fi
}

cp "$deb" "$root/tmp/"
in_root apt-get install -y -q --no-install-recommends "/tmp/$(basename "$deb")" \
    >"$work/apt-install.log" 2>&1 || {
    tail -30 "$work/apt-install.log" >&2
    die "apt-get install of the package failed: $work/apt-install.log"
}
step "apt-get install $(basename "$deb") (dependencies from the archive)"

upstream=${version%-*}
check "nexusd --version says $upstream" \
    bash -c '[[ $(chroot "$1" nexusd --version) == "nexusd $2" ]]' _ "$root" "$upstream"
check "nexusctl --version says $upstream" \
    bash -c '[[ $(chroot "$1" nexusctl --version) == *"$2"* ]]' _ "$root" "$upstream"
check "nexusd -t on the installed configuration, as the nexusd user" \
    bash -c 'chroot "$1" runuser -u nexusd -- nexusd -t -c /etc/nexusd/nexusd.conf >/dev/null' \
    _ "$root"
check "the nexusd system user and group" \
    bash -c 'chroot "$1" getent passwd nexusd | grep -q ":/var/lib/nexusd:/usr/sbin/nologin$" &&
             chroot "$1" getent group nexusd >/dev/null' _ "$root"
check "/etc/nexusd/nexusd.conf is a conffile, root:nexusd 0640" \
    bash -c '[[ $(chroot "$1" stat -c %U:%G:%a /etc/nexusd/nexusd.conf) == root:nexusd:640 ]] &&
             grep -qx /etc/nexusd/nexusd.conf "$1/var/lib/dpkg/info/nexusd.conffiles"' _ "$root"
check "the templates under /usr/share/nexusd/templates are the default" \
    bash -c 'grep -q /usr/share/nexusd/templates "$1/usr/bin/nexusd" &&
             [[ -f $1/usr/share/nexusd/templates/welcome.subject ]]' _ "$root"
check "the unit is enabled" \
    test -L "$root/etc/systemd/system/multi-user.target.wants/nexusd.service"
check "the unit is not started by the package (a first install; an upgrade try-restarts)" \
    bash -c '! grep -Eq "deb-systemd-invoke (start|restart) " "$1"/var/lib/dpkg/info/nexusd.post*' \
    _ "$root"
check "the commands.conf drop-in is an example in the docs" \
    test -f "$root/usr/share/doc/nexusd/examples/commands.conf"
for page in "1 nexusctl" "8 nexusd" "5 nexusd.conf"; do
    read -r section name <<<"$page"
    check "man $section $name renders without warnings" \
        bash -c 'out=$(chroot "$1" env MANWIDTH=80 man --warnings -P cat "$2" "$3" 2>&1 >/dev/null)
                 [[ -z $out ]] || { echo "$out" >&2; exit 1; }
                 chroot "$1" env MANWIDTH=80 man -P cat "$2" "$3" | grep -q "^NAME"' \
        _ "$root" "$section" "$name"
done
check "systemd-analyze verify of the installed unit" \
    bash -c 'out=$(chroot "$1" systemd-analyze verify /lib/systemd/system/nexusd.service 2>&1)
             [[ -z $out ]] || { echo "$out" >&2; exit 1; }' _ "$root"
step "checks of the installed package"

# What an operator adds is never the package's to delete.
mkdir -p "$root/etc/nexusd/credentials"
echo "REDIS_URL=redis://10.0.0.5:6379/0" >"$root/etc/nexusd/env"
echo "redis://:secret@10.0.0.5:6379/0" >"$root/etc/nexusd/credentials/REDIS_URL"
in_root apt-get remove -y -q nexusd >"$work/apt-remove.log" 2>&1 || die "apt-get remove failed"
check "remove keeps the configuration and the user" \
    bash -c '[[ -f $1/etc/nexusd/nexusd.conf ]] && chroot "$1" getent passwd nexusd >/dev/null &&
             [[ ! -e $1/usr/bin/nexusd ]]' _ "$root"
in_root apt-get purge -y -q nexusd >"$work/apt-purge.log" 2>&1 || die "apt-get purge failed"
check "purge keeps what the operator added" \
    test -f "$root/etc/nexusd/env" -a -f "$root/etc/nexusd/credentials/REDIS_URL"
check "purge removes the user, its group and its home" \
    bash -c '! chroot "$1" getent passwd nexusd && ! chroot "$1" getent group nexusd &&
             [[ ! -e $1/var/lib/nexusd ]]' _ "$root"
check "purge removes the conffile, the unit's enablement and the ownership override" \
    bash -c '[[ ! -e $1/etc/nexusd/nexusd.conf &&
                ! -e $1/etc/systemd/system/multi-user.target.wants/nexusd.service ]] &&
             ! chroot "$1" dpkg-statoverride --list /etc/nexusd/nexusd.conf' _ "$root"
rm -rf "$root/etc/nexusd"
in_root apt-get autoremove --purge -y -q >"$work/apt-autoremove.log" 2>&1 ||
    die "apt-get autoremove failed"
snapshot >"$work/after.txt"
# New files must belong to a package still installed (none may: autoremove took the
# dependencies), or be dpkg's and apt's own records.
comm -13 "$work/before.txt" "$work/after.txt" |
    grep -Ev '^/var/lib/(dpkg|apt|systemd/deb-systemd-helper-enabled)(/|$)' >"$work/left.txt" || true
check "nothing of the package is left after purge and autoremove" \
    bash -c '[[ ! -s $1 ]] || { echo "left behind:" >&2; cat "$1" >&2; exit 1; }' _ "$work/left.txt"
check "no path names nexusd any more" \
    bash -c '! chroot "$1" find / -xdev \( -path /proc -o -path /tmp -o -path /var/cache \) \
             -prune -o -name "*nexus*" -print | grep .' _ "$root"
step "remove, purge, autoremove"

((fail == 0)) || die "install test failed (the root is left in $root)"
remove_root
say "install test passed ($((SECONDS - t0))s)"
