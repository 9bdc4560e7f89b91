#!/usr/bin/env bash
# Watchtower's calibration against black-it on the same two-parameter recovery problem
# (experiments/calibrate-recovery.yaml: the same synthetic truth, bounds and budget):
#
#   bench/calibration/run.sh [--small] [--spec FILE] [--json-out FILE] [...]   # see blackit.py --help
#
# black-it is AGPL: it is installed only into this benchmark's virtualenv,
# bench/calibration/.venv (git-ignored), never into the project, with the Watchtower
# Python module built from python/ in release mode, so black-it's model calls Watchtower.
# black-it pins numpy < 2, hence pyarrow < 18 beside it.
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=bench/calibration/.venv
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'black-it==0.3.3' 'pyarrow<18' pyyaml 'maturin>=1.16,<2'
fi
# The release binary for `watchtower calibrate`, and the module's wheel in release mode
# (python/ is its own cargo workspace; it shares target/ so the dependencies both
# workspaces have in common compile once).
cargo build --release -q -p watchtower
dist=$(mktemp -d)
trap 'rm -rf "$dist"' EXIT
CARGO_TARGET_DIR="$PWD/target" "$venv/bin/maturin" build --release --locked --quiet \
  --manifest-path python/Cargo.toml --interpreter "$venv/bin/python" --out "$dist"
"$venv/bin/pip" install --quiet --disable-pip-version-check --force-reinstall --no-deps "$dist"/watchtower-*.whl
"$venv/bin/python" bench/calibration/blackit.py --watchtower target/release/watchtower "$@"
