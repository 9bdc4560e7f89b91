#!/usr/bin/env bash
# Watchtower against Mesa on the Boltzmann wealth model, side by side in one run:
# the same sizes, the same seconds per size, one after the other on the same machine.
#
#   bench/peers/run.sh [SIZES]     # default 1000,10000,100000
#
# Needs Python 3 and Mesa (installed here into bench/peers/.venv if missing).
set -euo pipefail
cd "$(dirname "$0")/../.."
sizes="${1:-1000,10000,100000}"
venv=bench/peers/.venv
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet 'mesa==3.3.1'
fi
cargo build --release -q -p watchtower
wt=$(target/release/watchtower bench engine --model boltzmann --sizes "$sizes" --json)
mesa=$("$venv/bin/python" bench/peers/mesa_boltzmann.py ${sizes//,/ })
python3 - "$wt" "$mesa" <<'PY'
import json, sys
wt = {r["agents"]: r["agent_updates_per_second"] for r in json.loads(sys.argv[1])["results"]}
mesa = [json.loads(line) for line in sys.argv[2].splitlines()]
print(f"Boltzmann wealth model, agent-steps per second ({json.loads(sys.argv[1])['machine']})")
print(f"{'agents':>10} {'Watchtower':>14} {'Mesa ' + mesa[0]['version']:>14} {'ratio':>10}")
for m in mesa:
    n = m["agents"]
    print(f"{n:>10} {wt[n]:>14.3e} {m['agent_steps_per_s']:>14.3e} {wt[n] / m['agent_steps_per_s']:>9.0f}x")
PY
