#!/usr/bin/env python3
"""What a live run costs on disk, with and without `--keep-ticks` (issue 21, item 5).

Starts `watchtower serve` (the binary given, default target/release/watchtower) on
loopback in a fresh data directory, as fast as the engine goes (`--tick-rate 0`), with
`--ticks TICKS` (so it stops itself cleanly), and samples the size of watchtower.db and
its -wal every few seconds until it exits or SECONDS pass (then SIGTERM, to its PID).
Prints one line per sample (tick, database and WAL bytes) and a summary: bytes per tick,
the final size, the free-list pages SQLite keeps for reuse, and what `runs` says was
thinned. Standard library only; bounded by time.

    python3 bench/hardening/retention.py [BINARY] TICKS [KEEP_TICKS|none] [SECONDS] [-- serve flags...]

e.g. 24 simulated hours at 20 ticks/s, kept one hour whole, on a small economy:

    python3 bench/hardening/retention.py target/release/watchtower 1728000 72000 1200 \\
        -- --households 1000 --firms 100
"""
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

args = sys.argv[1:]
extra = []
if "--" in args:
    extra = args[args.index("--") + 1:]
    args = args[:args.index("--")]
binary = args[0] if args else "target/release/watchtower"
ticks = int(args[1]) if len(args) > 1 else 20_000
keep = args[2] if len(args) > 2 else "none"
seconds = min(float(args[3]) if len(args) > 3 else 600.0, 3600.0)
work = tempfile.mkdtemp(prefix="retention-")
command = [os.path.abspath(binary), "serve", "--bind", "127.0.0.1:0", "--embedding-sample", "0",
           "--tick-rate", "0", "--ticks", str(ticks)] + extra
if keep != "none":
    command += ["--keep-ticks", keep]
db = os.path.join(work, "data", "watchtower.db")


def size(path):
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def last_tick():
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return conn.execute("SELECT coalesce(max(tick), -1) FROM ticks").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error:
        return -1


print(" ".join(command[1:]), flush=True)
server = subprocess.Popen(command, cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
started = time.monotonic()
peak_db = peak_wal = 0
try:
    while server.poll() is None and time.monotonic() - started < seconds:
        time.sleep(5.0)
        db_bytes, wal_bytes = size(db), size(db + "-wal")
        peak_db, peak_wal = max(peak_db, db_bytes), max(peak_wal, wal_bytes)
        print(f"{time.monotonic() - started:7.0f} s  tick {last_tick():>9}  db {db_bytes:>13,}  wal {wal_bytes:>12,}",
              flush=True)
finally:
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
elapsed = time.monotonic() - started
conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
last, thinned_before, every = conn.execute(
    "SELECT last_tick, thinned_before, thin_every FROM runs WHERE id = 1").fetchone()
rows = conn.execute("SELECT count(*) FROM ticks").fetchone()[0]
stats = conn.execute("SELECT count(*) FROM agent_stats").fetchone()[0]
commands = conn.execute("SELECT count(*) FROM commands").fetchone()[0]
checkpoints = conn.execute("SELECT count(*), coalesce(sum(length(bytes)), 0) FROM checkpoints").fetchone()
page_size = conn.execute("PRAGMA page_size").fetchone()[0]
pages = conn.execute("PRAGMA page_count").fetchone()[0]
free = conn.execute("PRAGMA freelist_count").fetchone()[0]
conn.close()
final = size(db) + size(db + "-wal")
ran = (last or 0) + 1
print(f"exit {server.returncode} after {elapsed:.0f} s; {ran:,} ticks ({ran / elapsed:,.0f} ticks/s)")
print(f"database {final:,} bytes ({final / ran:,.1f} bytes per tick over the run); peak db {peak_db:,}, "
      f"peak wal {peak_wal:,}")
print(f"rows: ticks {rows:,}, agent_stats {stats:,}, commands {commands:,}, checkpoints {checkpoints[0]} "
      f"({checkpoints[1]:,} bytes)")
print(f"pages: {pages:,} of {page_size} bytes, {free:,} free (reused by new rows)")
if thinned_before:
    print(f"thinned: ticks 0-{thinned_before - 1} kept 1 in {every}")
print(f"data directory: {work}")
