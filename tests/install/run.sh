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
conf=/etc/nexusd/nexusd.conf
wants=$root/etc/systemd/system/multi-user.target.wants/nexusd.service
# The checks: each prints what is wrong, if anything, and fails.
versions_are_the_package_s() {
    [[ $(in_root nexusd --version) == "nexusd $upstream" &&
        $(in_root nexusctl --version) == *"$upstream"* ]]
}
# libcurl and libpq are loaded at their first use (dlopen), so only debian/control's Depends
# brings them: they must be there for the loader
lazy_libraries_are_installed() {
    in_root ldconfig -p | grep -q "libcurl.so.4 (" && in_root ldconfig -p | grep -q "libpq.so.5 ("
}
config_checks_as_nexusd() { in_root runuser -u nexusd -- nexusd -t -c "$conf" >/dev/null; }
user_exists() {
    in_root getent passwd nexusd | grep -q ":/var/lib/nexusd:/usr/sbin/nologin$" &&
        in_root getent group nexusd >/dev/null
}
user_is_gone() {
    ! in_root getent passwd nexusd && ! in_root getent group nexusd &&
        [[ ! -e $root/var/lib/nexusd ]]
}
config_is_nexusd_s() { [[ $(in_root stat -c %U:%G:%a "$conf") == root:nexusd:640 ]]; }
config_is_a_conffile() {
    grep -qx "$conf" "$root/var/lib/dpkg/info/nexusd.conffiles" && config_is_nexusd_s
}
reinstall_kept_all() { user_exists && config_is_nexusd_s && [[ -L $wants ]]; }
remove_kept_config() { [[ -f $root$conf ]] && user_exists && [[ ! -e $root/usr/bin/nexusd ]]; }
purge_removed_config() {
    [[ ! -e $root$conf && ! -e $wants ]] && ! in_root dpkg-statoverride --list "$conf"
}
templates_are_the_default() {
    grep -q /usr/share/nexusd/templates "$root/usr/bin/nexusd" &&
        [[ -f $root/usr/share/nexusd/templates/welcome.subject ]]
}
no_start_on_install() {
    ! grep -Eq "deb-systemd-invoke (start|restart) " "$root"/var/lib/dpkg/info/nexusd.post*
}
man_renders() { # SECTION NAME: no warning from groff, a NAME section
    local out
    out=$(in_root env MANWIDTH=80 man --warnings -P cat "$1" "$2" 2>&1 >/dev/null)
    [[ -z $out ]] || {
        echo "$out" >&2
        return 1
    }
    in_root env MANWIDTH=80 man -P cat "$1" "$2" | grep -q "^NAME"
}
unit_verifies() {
    local out
    out=$(in_root systemd-analyze verify /lib/systemd/system/nexusd.service 2>&1)
    [[ -z $out ]] || {
        echo "$out" >&2
        return 1
    }
}
nothing_new_is_left() {
    [[ ! -s $work/left.txt ]] || {
        echo "left behind:" >&2
        cat "$work/left.txt" >&2
        return 1
    }
}
no_path_names_nexus() {
    ! in_root find / -xdev \( -path /proc -o -path /tmp -o -path /var/cache \) -prune \
        -o -name "*nexus*" -print | grep .
}

check "nexusd --version and nexusctl --version say $upstream" versions_are_the_package_s
check "nexusd -t on the installed configuration, as the nexusd user" config_checks_as_nexusd
check "libcurl.so.4 and libpq.so.5, loaded at first use, are installed" lazy_libraries_are_installed
check "the nexusd system user and group" user_exists
check "$conf is a conffile, root:nexusd 0640" config_is_a_conffile
check "the templates under /usr/share/nexusd/templates are the default" templates_are_the_default
check "the unit is enabled" test -L "$wants"
check "the unit is not started by the package (a first install; an upgrade try-restarts)" \
    no_start_on_install
check "the commands.conf drop-in is an example in the docs" \
    test -f "$root/usr/share/doc/nexusd/examples/commands.conf"
check "man 1 nexusctl renders without warnings" man_renders 1 nexusctl
check "man 8 nexusd renders without warnings" man_renders 8 nexusd
check "man 5 nexusd.conf renders without warnings" man_renders 5 nexusd.conf
check "systemd-analyze verify of the installed unit" unit_verifies
step "checks of the installed package"

# postinst again with the user and the override in place (as on an upgrade)
in_root apt-get install -y -q --reinstall "/tmp/$(basename "$deb")" \
    >"$work/apt-reinstall.log" 2>&1 ||
    die "apt-get install --reinstall failed: $work/apt-reinstall.log"
check "a reinstall keeps the user, the override and the enabled unit" reinstall_kept_all

# What an operator adds is never the package's to delete.
mkdir -p "$root/etc/nexusd/credentials"
echo "REDIS_URL=redis://10.0.0.5:6379/0" >"$root/etc/nexusd/env"
echo "redis://:secret@10.0.0.5:6379/0" >"$root/etc/nexusd/credentials/REDIS_URL"
in_root apt-get remove -y -q nexusd >"$work/apt-remove.log" 2>&1 || die "apt-get remove failed"
check "remove keeps the configuration and the user" remove_kept_config
in_root apt-get purge -y -q nexusd >"$work/apt-purge.log" 2>&1 || die "apt-get purge failed"
check "purge keeps what the operator added" \
    test -f "$root/etc/nexusd/env" -a -f "$root/etc/nexusd/credentials/REDIS_URL"
check "purge removes the user, its group and its home" user_is_gone
check "purge removes the conffile, the unit's enablement and the ownership override" \
    purge_removed_config
rm -rf "$root/etc/nexusd"
in_root apt-get autoremove --purge -y -q >"$work/apt-autoremove.log" 2>&1 ||
    die "apt-get autoremove failed"
snapshot >"$work/after.txt"
# New files must belong to a package still installed (none may: autoremove took the
# dependencies), or be dpkg's and apt's own records.
comm -13 "$work/before.txt" "$work/after.txt" |
    grep -Ev '^/var/lib/(dpkg|apt|systemd/deb-systemd-helper-enabled)(/|$)' \
        >"$work/left.txt" || true
check "nothing of the package is left after purge and autoremove" nothing_new_is_left
check "no path names nexusd any more" no_path_names_nexus
step "remove, purge, autoremove"

((fail == 0)) || die "install test failed (the root is left in $root)"
remove_root
say "install test passed ($((SECONDS - t0))s)"
