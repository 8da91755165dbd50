#!/usr/bin/env bash
# test.sh - installs (npm ci, from the committed lockfile, when node_modules is missing or
# older than it), builds, tests and packs @nexusd/client, then type-checks the Next.js example
# against it: ctest's node_client.
# NEXUSD names the nexusd binary the tests run (default ../../build/nexusd).
set -euo pipefail
cd "$(dirname "$0")"

# one run at a time in this directory (two build trees may test it at once): dist/ is shared
exec 9>.test.lock
flock 9

# npm ci in directory $1, from its committed lockfile, when node_modules is missing or older
install_deps() {
    if [ ! -f "$1/node_modules/.package-lock.json" ] ||
        [ "$1/package-lock.json" -nt "$1/node_modules/.package-lock.json" ] ||
        [ "$1/package.json" -nt "$1/node_modules/.package-lock.json" ]; then
        (cd "$1" && npm ci --no-audit --no-fund)
    fi
}
install_deps .
npm run format:check
npm run build
# typed classes: the declaration nexusctl writes from test/types/jobs.conf, which
# test/types/typed.mts is checked against (NEXUSCTL: default beside NEXUSD)
nexusd="${NEXUSD:-../../build/nexusd}"
"${NEXUSCTL:-$(dirname "$nexusd")/nexusctl}" -c test/types/jobs.conf types \
    -o test/types/nexus-jobs.d.ts
npm test
npm pack --dry-run

# the Next.js example type-checks against this build (@nexusd/client is file:../.., a link
# here). prisma generate reads the schema in WASM and needs no schema engine, but the CLI
# first fetches one from Prisma's servers, which CI cannot reach: `true` stands in for it.
install_deps examples/next
(cd examples/next && PRISMA_SCHEMA_ENGINE_BINARY="$(type -P true)" npm run typecheck)
echo "examples/next: prisma generate and tsc --noEmit passed"
