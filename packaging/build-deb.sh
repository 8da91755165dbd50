#!/usr/bin/env bash
# build-deb.sh - builds the Debian package nexusd_VERSION-REV_ARCH.deb from this checkout
# (debian/, dpkg-buildpackage: the build, its unit tests and man page lint, dpkg-shlibdeps)
# and checks it with lintian (tags a remaining reason covers are in debian/*lintian-overrides).
# Works on a copy of the checkout's files as they are (tracked and new, not ignored), or of
# the last commit with --head, in OUTDIR/src, so that nothing is written next to the
# checkout; the .deb lands in OUTDIR.
#
#   packaging/build-deb.sh [--head] [OUTDIR]   (default: build-deb/ in the checkout)
#
# Prints the .deb's path on stdout. Needs debhelper, lintian and the build's libraries
# (scripts/deps.sh installs them).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"

head=0
if [[ ${1:-} == --head ]]; then
    head=1
    shift
fi
(($# <= 1)) || {
    echo "usage: $(basename "$0") [--head] [OUTDIR]" >&2
    exit 2
}
out=${1:-$NEXUS_ROOT/build-deb}
cd "$NEXUS_ROOT"

# The package's version is the project's (CMakeLists.txt, nexusd --version) plus a revision.
version=$(sed -n 's/^project(nexusd VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
deb_version=$(dpkg-parsechangelog -l debian/changelog -S Version)
[[ -n $version && ${deb_version%-*} == "$version" ]] ||
    die "debian/changelog's version $deb_version is not CMakeLists.txt's $version:" \
        "add an entry (dch -v $version-1)"
arch=$(dpkg-architecture -qDEB_HOST_ARCH)
deb=$out/nexusd_${deb_version}_$arch.deb

start=$SECONDS
rm -rf "$out/src" "$out"/nexusd*_"$deb_version"_*
mkdir -p "$out/src"
if ((head)); then
    git archive HEAD | tar -x -C "$out/src"
else
    git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do
        [[ -e $f ]] && printf '%s\0' "$f"
    done | xargs -0 cp -a --parents -t "$out/src"
fi

say "dpkg-buildpackage in $out/src"
# ccache (when there) keeps a rebuild short: CMake reads the launcher from the environment
if command -v ccache >/dev/null; then
    export CMAKE_C_COMPILER_LAUNCHER=ccache
fi
(cd "$out/src" && DEB_BUILD_OPTIONS="parallel=$(nproc) ${DEB_BUILD_OPTIONS:-}" \
    dpkg-buildpackage -b -us -uc >"$out/build.log" 2>&1) || {
    tail -40 "$out/build.log" >&2
    die "dpkg-buildpackage failed: $out/build.log"
}
[[ -f $deb ]] || die "dpkg-buildpackage made no $deb"
say "built $deb in $((SECONDS - start))s"

say "lintian $deb"
lintian --fail-on error,warning --display-info "$deb" >&2 ||
    die "lintian: fix the tags above, or override one with its reason in" \
        "debian/nexusd.lintian-overrides"
echo "$deb"
