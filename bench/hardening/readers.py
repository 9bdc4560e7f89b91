#!/usr/bin/env python3
"""What heavy readers cost the server (issue 21, item 2's closing note).

Builds a data directory of 100,000 runs (a real run and a real two-seed ensemble of
200 ticks, recorded by the binary given, then copied with sqlite3 into 100,000 rows of
`runs` and an ensemble of 100,000 stored summaries), starts `watchtower view` on it on
loopback, lets six clients read one endpoint in a loop for 10 s, and prints the
server's peak resident memory (VmHWM) for each endpoint:

- `/api/runs`: a client follows `next` (when the answer has one) page after page, then
  starts again from the newest;
- `/api/experiments/1/fan`: the ensemble's fan, over and over.

    python3 bench/hardening/readers.py [BINARY] [RUNS] [SECONDS]

(default target/debug/watchtower, 100,000 runs, 10 s; READERS_CLIENTS=N for another
number of clients, READERS_ONLY=fan or runs for one endpoint). Only the standard library.
"""
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

binary = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "target/debug/watchtower")
runs = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000
seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 10.0
CLIENTS = int(os.environ.get("READERS_CLIENTS", "6"))

work = tempfile.mkdtemp(prefix="readers-")
data = os.path.join(work, "data")
spec = os.path.join(work, "ensemble.yaml")
with open(spec, "w") as f:
    f.write("name: readers-bench\nfirms: 10\nhouseholds: 100\nticks: 200\nwarmup: 10\nseeds: 2\n")
quiet = dict(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
subprocess.run([binary, "run", "--data-dir", data, "--ticks", "1", "--firms", "10", "--households", "100"], **quiet)
subprocess.run([binary, "experiment", spec, "--data-dir", data], **quiet)


def varint(n):
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


db = sqlite3.connect(os.path.join(data, "watchtower.db"))
with db:
    # Runs 2..RUNS: copies of run 1 (its parameters and schedule, about 1 KB a row).
    db.execute(
        """WITH RECURSIVE n(i) AS (SELECT 2 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
           INSERT INTO runs (id, model, seed, households, firms, agents, parameters, model_version,
                             started_at, ended_at, status, last_tick, error, tick_target, schedule)
           SELECT i, model, i, households, firms, agents, parameters, model_version, started_at, ended_at,
                  status, last_tick, error, tick_target, schedule FROM runs, n WHERE runs.id = 1""",
        (runs,))
    # The ensemble grows to RUNS seeds: summary 0 copied with its run index (postcard's
    # leading varint) rewritten.
    template, row = db.execute("SELECT summary, row FROM run_summaries WHERE experiment_id = 1 AND run = 0").fetchone()
    assert template[0] == 0, "run 0's summary starts with its index"
    db.execute("UPDATE experiments SET overrides = ?, runs = ?, done = ? WHERE id = 1",
               (json.dumps([f"seeds={runs}"]), runs, runs))
    db.executemany(
        "INSERT OR IGNORE INTO run_summaries (experiment_id, run, point, seed, phase, error, row, format, summary, finished_at)"
        " VALUES (1, ?, 0, ?, NULL, NULL, ?, 1, ?, 'now')",
        ((i, i + 1, row, varint(i) + template[1:]) for i in range(runs)))
db.close()
print(f"data directory {data}: {os.path.getsize(os.path.join(data, 'watchtower.db')) / 1e6:.0f} MB, {runs} runs")


def measure(path, follow):
    server = subprocess.Popen([binary, "view", "--data-dir", data, "--bind", "127.0.0.1:0"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        url = next(w for line in server.stdout for w in line.split() if w.startswith("http://")).rstrip("/")
        status = f"/proc/{server.pid}/status"

        def kb(field):
            with open(status) as f:
                return next(int(line.split()[1]) for line in f if line.startswith(field))

        start = kb("VmRSS:")
        deadline = time.time() + seconds
        answers, errors, sizes = [0] * CLIENTS, [0] * CLIENTS, [0] * CLIENTS
        kinds, slowest = {}, [0.0]

        def client(i):
            query = ""
            while time.time() < deadline:
                began = time.time()
                try:
                    with urllib.request.urlopen(url + path + query, timeout=60) as r:
                        body = r.read()
                    slowest[0] = max(slowest[0], time.time() - began)
                    answers[i] += 1
                    sizes[i] = max(sizes[i], len(body))
                    nxt = json.loads(body).get("next") if follow else None
                    query = f"?after={nxt}" if nxt is not None else ""
                except Exception as e:
                    errors[i] += 1
                    kind = str(getattr(e, "code", type(e).__name__))
                    kinds[kind] = kinds.get(kind, 0) + 1
                    time.sleep(0.05)

        threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        peak = kb("VmHWM:")
        print(f"{path}: {CLIENTS} clients for {seconds:.0f} s: {sum(answers)} answers (slowest {slowest[0]:.1f} s), "
              f"{sum(errors)} errors {kinds}, "
              f"largest answer {max(sizes) / 1e6:.2f} MB; server RSS at start {start / 1024:.0f} MiB, "
              f"peak {peak / 1024:.0f} MiB (+{(peak - start) / 1024:.0f} MiB)")
    finally:
        server.terminate()
        server.wait()


only = os.environ.get("READERS_ONLY")
if only in (None, "runs"):
    measure("/api/runs", follow=True)
if only in (None, "fan"):
    measure("/api/experiments/1/fan", follow=False)
shutil.rmtree(work)
