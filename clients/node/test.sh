#!/usr/bin/env bash
# test.sh - installs (npm ci, from the committed lockfile, when node_modules is missing or
# older than it), builds, tests and packs @nexusd/client: ctest's node_client.
# NEXUSD names the nexusd binary the tests run (default ../../build/nexusd).
set -euo pipefail
cd "$(dirname "$0")"

# one run at a time in this directory (two build trees may test it at once): dist/ is shared
exec 9>.test.lock
flock 9

if [ ! -f node_modules/.package-lock.json ] ||
    [ package-lock.json -nt node_modules/.package-lock.json ] ||
    [ package.json -nt node_modules/.package-lock.json ]; then
    npm ci --no-audit --no-fund
fi
npm run format:check
npm run build
npm test
npm pack --dry-run
