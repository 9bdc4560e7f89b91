#!/usr/bin/env python3
"""How much disk fork/drop cycles from one client cost (issue 21, item 4).

Starts `watchtower serve` (the binary given, default target/release/watchtower) on
loopback in a fresh data directory with 10,000 households, lets one client fork the main
run and drop the branch as fast as the server answers for SECONDS (default 20), stops the
server with SIGTERM, and prints the growth of watchtower.db (with its -wal), the forks
made and refused, and the checkpoint rows left. Standard library only; bounded by time.

    python3 bench/hardening/forks.py [BINARY] [SECONDS] [paused|running]
"""
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

binary = sys.argv[1] if len(sys.argv) > 1 else "target/release/watchtower"
seconds = min(float(sys.argv[2]) if len(sys.argv) > 2 else 20.0, 120.0)
mode = sys.argv[3] if len(sys.argv) > 3 else "paused"
token = "bench-forks-token"
work = tempfile.mkdtemp(prefix="forks-")
server = subprocess.Popen(
    [os.path.abspath(binary), "serve", "--bind", "127.0.0.1:0", "--embedding-sample", "0",
     "--households", "10000", "--firms", "1000"],
    cwd=work, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    env={**os.environ, "WATCHTOWER_TOKEN": token})


def call(method, url, body=None):
    request = urllib.request.Request(url, data=body, method=method, headers={
        "authorization": f"Bearer {token}", "content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


try:
    url = server.stdout.readline().split()[-1]
    base = "http://127.0.0.1:" + url.split(":")[2].split("/")[0]
    db = os.path.join(work, "data", "watchtower.db")
    while True:
        try:
            if urllib.request.urlopen(base + "/readyz", timeout=5).status == 200:
                break
        except Exception:
            time.sleep(0.1)
    if mode == "paused":
        call("POST", base + "/api/commands", json.dumps(
            {"id": "p", "key": "sim.paused", "value": True}).encode())
    time.sleep(1.0)

    def size():
        return sum(os.path.getsize(db + ext) for ext in ("", "-wal") if os.path.exists(db + ext))

    before = size()
    made = refused = 0
    deadline = time.time() + seconds
    while time.time() < deadline:
        status, body = call("POST", base + "/api/runs/1/fork", b"{}")
        if status == 201:
            made += 1
            call("DELETE", f"{base}/api/runs/{body['run_id']}")
        else:
            refused += 1
    server.send_signal(signal.SIGTERM)
    server.wait(timeout=60)
    after = size()
    conn = sqlite3.connect(db)
    rows = conn.execute("SELECT count(*), coalesce(sum(length(bytes)), 0) FROM checkpoints").fetchone()
    try:
        blobs = conn.execute("SELECT count(*), coalesce(sum(length(bytes)), 0) FROM checkpoint_blobs").fetchone()
    except sqlite3.OperationalError:
        blobs = (0, 0)
    limited = conn.execute("SELECT count(*) FROM commands WHERE code = 'rate_limited'").fetchone()
    print(json.dumps({
        "mode": mode, "seconds": seconds, "forks_made": made, "forks_refused": refused,
        "db_before_mb": round(before / 1e6, 2), "db_after_mb": round(after / 1e6, 2),
        "growth_mb": round((after - before) / 1e6, 2),
        "checkpoint_rows": rows[0], "checkpoint_row_bytes_mb": round(rows[1] / 1e6, 2),
        "shared_states": blobs[0], "shared_state_bytes_mb": round(blobs[1] / 1e6, 2),
        "rate_limited_rows": limited[0],
    }))
finally:
    if server.poll() is None:
        server.kill()
        server.wait()
    shutil.rmtree(work, ignore_errors=True)
