#!/usr/bin/env bash
# e2e/run.sh: the dashboard's end-to-end browser tests. Installs their one npm dependency
# (playwright-core, pinned) if needed, builds the debug binary, then drives the dashboard
# in headless Chromium (/usr/bin/chromium; no browser download): the live page
# (dashboard.test.mjs), the what-if branches and resume (whatif.test.mjs), the live
# effect forecast (forecast.test.mjs), and the
# experiments view, with a real experiment followed through `watchtower view`
# (experiments.test.mjs), what --keep-ticks thinned beside the charts
# (retention.test.mjs), how the page reads units: rates per year, time in years,
# differences in pp, redenominations marked (units.test.mjs), and a calibration followed
# live (calibration.test.mjs). Each test starts and stops its own `watchtower serve` (and
# `view`) on loopback with a temporary data directory, every process by its PID. Screenshots land in
# e2e/screenshots/ (whatif.png and experiments.png are committed). Every test runs, even
# after one fails; the script exits non-zero if any failed, naming them.
set -uo pipefail
cd "$(dirname "$0")/.."

if [ ! -d e2e/node_modules/playwright-core ]; then
  npm ci --prefix e2e --no-audit --no-fund || exit 1
fi
cargo build -p watchtower || exit 1

failed=()
passed=0
for test in dashboard whatif forecast experiments retention units calibration; do
  echo "== e2e/$test.test.mjs"
  if node "e2e/$test.test.mjs"; then
    passed=$((passed + 1))
  else
    failed+=("$test")
  fi
done
echo "e2e: ${passed} passed, ${#failed[@]} failed${failed[*]:+: ${failed[*]}}"
[ "${#failed[@]}" -eq 0 ]
