#!/usr/bin/env bash
# The Python module's CI, run by .ci/run after the Rust tests (whose build leaves the CLI
# at target/debug/watchtower, which the tests compare against):
#   formatting and lints of python/ (its own cargo workspace), a fresh virtualenv with the
#   pinned tools, the abi3 wheel built by maturin and installed with its extras, pytest
#   (which must collect and pass tests), and the example that README's picture comes from.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== python: cargo fmt and clippy (python/ is its own workspace)"
cargo fmt --manifest-path python/Cargo.toml --all -- --check
cargo clippy --manifest-path python/Cargo.toml --all-targets --locked -- -D warnings

echo "== python: a fresh virtualenv with the pinned tools (python/requirements-ci.txt)"
"$python" -m venv "$work/venv"
venv="$work/venv/bin"
"$venv/pip" install --quiet --disable-pip-version-check -r python/requirements-ci.txt

echo "== python: the wheel (maturin, abi3; the ci profile: dev without debug info, the engine optimised) into the virtualenv, with its extras"
"$venv/maturin" build --profile ci --locked --manifest-path python/Cargo.toml --interpreter "$venv/python" --out "$work/dist"
wheel=$(ls "$work"/dist/watchtower-*.whl)
case "$wheel" in
  *-cp39-abi3-*) ;;
  *) echo "error: expected an abi3 wheel for CPython 3.9 and newer, got $wheel" >&2; exit 1 ;;
esac
"$venv/pip" install --quiet --disable-pip-version-check "$wheel[ray,dask,pandas,polars]"

echo "== python: pytest"
export WATCHTOWER_BIN=${WATCHTOWER_BIN:-$PWD/target/debug/watchtower}
if [ ! -x "$WATCHTOWER_BIN" ]; then
  cargo build -p watchtower
fi
export RAY_AUTH_MODE=disabled RAY_USAGE_STATS_ENABLED=0
# From a directory outside the checkout, so `import watchtower` is the installed wheel.
set +e
root=$PWD
(cd "$work" && timeout 1200 "$venv/pytest" "$root/python/tests" -p no:cacheprovider --rootdir "$root/python" -q)
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "error: pytest collected no tests" >&2
  exit 1
elif [ "$status" -ne 0 ]; then
  echo "error: pytest failed (exit $status)" >&2
  exit "$status"
fi

# The wheel claims CPython 3.9 and newer (abi3): where a 3.9 is at hand (pyenv's, on this
# project's machines), the same wheel runs the core tests there too.
py39=$(ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.9*/bin/python /usr/bin/python3.9 2>/dev/null | head -1 || true)
if [ -n "$py39" ] && [ -x "$py39" ]; then
  echo "== python: the same wheel on CPython 3.9 ($py39): the core tests"
  "$py39" -m venv "$work/venv39"
  "$work/venv39/bin/pip" install --quiet --disable-pip-version-check -r python/requirements-py39.txt "$wheel"
  (cd "$work" && timeout 600 "$work/venv39/bin/pytest" "$root/python/tests/test_economy.py" "$root/python/tests/test_arrow.py" \
    "$root/python/tests/test_read_run.py" -p no:cacheprovider --rootdir "$root/python" -q)
else
  echo "== python: no CPython 3.9 on this machine: the wheel was tested on $("$venv/python" --version) only"
fi

echo "== python: examples/policy_effect.py (README's picture), into a scratch file"
timeout 600 "$venv/python" examples/policy_effect.py --out "$work/policy_effect.png"
test -s "$work/policy_effect.png"
