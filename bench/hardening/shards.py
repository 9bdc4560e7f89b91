#!/usr/bin/env python3
"""How many corrupted shards `experiment merge` takes silently (issue 21, item 3).

Writes the two shards of a tiny ensemble with `watchtower experiment --shard I/2` (the
binary given), merges them into the reference table, then flips one bit of every byte of
shard 0 in turn (or of every STRIDE-th byte) and merges the damaged file with shard 1:
each merge either fails naming the damaged file, fails otherwise, or exits 0, with the
same table or, silently, a different one. Prints the four counts.

    python3 bench/hardening/shards.py [BINARY] [STRIDE]

(default target/debug/watchtower, every byte). Only the standard library.
"""
import os
import shutil
import subprocess
import sys
import tempfile

binary = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "target/debug/watchtower")
stride = int(sys.argv[2]) if len(sys.argv) > 2 else 1
work = tempfile.mkdtemp(prefix="shards-")
with open(os.path.join(work, "flip.yaml"), "w") as f:
    f.write("name: flip\nfirms: 10\nhouseholds: 100\nticks: 12\nwarmup: 4\nseeds: 4\n"
            "indicators: [unemployment_rate, output_real]\n")


def run(*args):
    return subprocess.run([binary, *args], cwd=work, capture_output=True, text=True)


for i in range(2):
    done = run("experiment", "flip.yaml", "--shard", f"{i}/2", "--jobs", "1", "--out", f"s{i}.parquet")
    assert done.returncode == 0, done.stderr
assert run("experiment", "merge", "s0.parquet", "s1.parquet", "--out", "whole.csv").returncode == 0
whole = open(os.path.join(work, "whole.csv"), "rb").read()
clean = open(os.path.join(work, "s0.parquet"), "rb").read()
named = other = same = silent = 0
for at in range(0, len(clean), stride):
    damaged = bytearray(clean)
    damaged[at] ^= 0x01
    open(os.path.join(work, "flipped.parquet"), "wb").write(damaged)
    out = os.path.join(work, "out.csv")
    if os.path.exists(out):
        os.remove(out)
    merged = run("experiment", "merge", "flipped.parquet", "s1.parquet", "--out", "out.csv")
    if merged.returncode != 0:
        named += "flipped.parquet" in merged.stderr
        other += "flipped.parquet" not in merged.stderr
    elif open(out, "rb").read() == whole:
        same += 1
    else:
        silent += 1
print(f"{len(range(0, len(clean), stride))} flips of a {len(clean)}-byte shard: {named} refused naming the file, "
      f"{other} refused otherwise, {same} merged into the same table, {silent} merged silently into a different table")
shutil.rmtree(work)
