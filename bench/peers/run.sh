#!/usr/bin/env bash
# Watchtower against Mesa and krABMaga on the Boltzmann wealth model, side by side in one run:
# the same sizes, the same seconds per size, one after the other on the same machine.
#
#   bench/peers/run.sh [SIZES]     # default 1000,10000,100000
#
# Needs Python 3 (Mesa is installed into bench/peers/.venv if missing) and cargo
# (krABMaga is built in its own workspace, bench/peers/krabmaga).
set -euo pipefail
cd "$(dirname "$0")/../.."
sizes="${1:-1000,10000,100000}"
venv=bench/peers/.venv
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet 'mesa==3.3.1'
fi
cargo build --release -q -p watchtower
cargo build --release -q --manifest-path bench/peers/krabmaga/Cargo.toml
wt=$(target/release/watchtower bench engine --model boltzmann --sizes "$sizes" --json)
krab=$(bench/peers/krabmaga/target/release/krabmaga-boltzmann ${sizes//,/ })
mesa=$("$venv/bin/python" bench/peers/mesa_boltzmann.py ${sizes//,/ })
python3 - "$wt" "$krab" "$mesa" <<'PY'
import json, sys
report = json.loads(sys.argv[1])
wt = {r["agents"]: r["agent_updates_per_second"] for r in report["results"]}
peers = [[json.loads(line) for line in arg.splitlines()] for arg in sys.argv[2:]]
print(f"Boltzmann wealth model, agent-steps per second ({report['machine']})")
head = f"{'agents':>10} {'Watchtower':>12}"
for runs in peers:
    head += f" {runs[0]['framework'] + ' ' + runs[0]['version']:>16} {'ratio':>7}"
print(head)
for i, n in enumerate(r["agents"] for r in peers[0]):
    row = f"{n:>10} {wt[n]:>12.3e}"
    for runs in peers:
        rate = runs[i]["agent_steps_per_s"]
        row += f" {rate:>16.3e} {wt[n] / rate:>6.1f}x"
    print(row)
PY
