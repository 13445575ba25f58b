#!/usr/bin/env bash
# `npm test`: installs the Debian tools the tests use (when missing), builds, and runs every test —
# unit tests beside the code (src/**/*.test.ts) and end-to-end suites (test/**/*.test.ts) — with node's
# test runner on the compiled output.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
[ -d node_modules ] || npm ci
npm run --silent build
rm -rf test-artifacts && mkdir -p test-artifacts
mapfile -t files < <(find dist/src dist/test -name '*.test.js' | sort)
exec node --test --test-concurrency=2 --test-timeout=120000 "${files[@]}"
