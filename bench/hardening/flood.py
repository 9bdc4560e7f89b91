#!/usr/bin/env python3
"""How much disk a stranger's command flood costs (issue 13's closing note).

Starts `watchtower serve` (the binary given, default target/release/watchtower) in a
fresh data directory, lets four WebSocket clients without the token send commands with
60 KB ids as fast as they can for 10 s, stops the server with SIGTERM, and prints the
growth of watchtower.db (with its -wal) and the rows the flood left.

    python3 -m venv /tmp/flood-venv && /tmp/flood-venv/bin/pip install websockets==15.0.1
    /tmp/flood-venv/bin/python bench/hardening/flood.py [BINARY] [SECONDS]
"""
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

from websockets.sync.client import connect

binary = sys.argv[1] if len(sys.argv) > 1 else "target/release/watchtower"
seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 10.0
work = tempfile.mkdtemp(prefix="flood-")
server = subprocess.Popen(
    [os.path.abspath(binary), "serve", "--bind", "127.0.0.1:0", "--embedding-sample", "0",
     "--households", "1000", "--firms", "100"],
    cwd=work, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
try:
    url = server.stdout.readline().split()[-1]
    port = url.split(":")[2].split("/")[0]
    db = os.path.join(work, "data", "watchtower.db")
    time.sleep(1.0)

    def size():
        return sum(os.path.getsize(db + ext) for ext in ("", "-wal") if os.path.exists(db + ext))

    before = size()
    sent = [0, 0, 0, 0]
    deadline = time.time() + seconds

    def flood(i):
        message = json.dumps({"type": "command", "id": "x" * 60_000,
                              "key": "government.income_tax_rate", "value": 0.9})
        try:
            send_all(i, message)
        except Exception:  # the server closing the socket at the end
            pass

    def send_all(i, message):
        with connect(f"ws://127.0.0.1:{port}/ws", max_size=None, compression=None) as ws:
            def drain():
                try:
                    for _ in ws:
                        pass
                except Exception:
                    pass
            threading.Thread(target=drain, daemon=True).start()
            while time.time() < deadline:
                ws.send(message)
                sent[i] += 1

    threads = [threading.Thread(target=flood, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    during = size()
    server.send_signal(signal.SIGTERM)
    server.wait(timeout=30)
    after = size()
    rows = sqlite3.connect(db).execute("SELECT count(*) FROM commands").fetchone()[0]
    print(f"{sum(sent)} token-less commands in {seconds:.0f} s from 4 clients: database "
          f"{before / 1e6:.2f} MB -> {during / 1e6:.2f} MB during -> {after / 1e6:.2f} MB after shutdown "
          f"(+{(max(during, after) - before) / 1e6:.2f} MB); {rows} audit rows")
finally:
    if server.poll() is None:
        server.kill()
