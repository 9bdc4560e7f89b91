#!/usr/bin/env bash
# e2e/run.sh: the dashboard's end-to-end browser test. Installs the test's one npm
# dependency (playwright-core, pinned) if needed, builds the debug binary, then drives
# the dashboard in headless Chromium (/usr/bin/chromium; no browser download).
# Screenshots land in e2e/screenshots/. Exits non-zero on failure.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -d e2e/node_modules/playwright-core ]; then
  npm ci --prefix e2e --no-audit --no-fund
fi
cargo build -p watchtower
node e2e/dashboard.test.mjs
