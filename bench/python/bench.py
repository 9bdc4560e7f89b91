"""What Python costs: the `watchtower` module against the CLI, on this machine.

    python bench/python/bench.py --cli target/release/watchtower [--json]

1. Stepping: `Economy().step(N)` against `watchtower run --ticks N --no-store` (10,000
   households, 1,000 firms, seed 1), both timing the tick loop alone (the CLI's
   `seconds` in its --json report), alternated, each the median of --repeats runs.
   Target: Python costs under 3% more.
2. history(): a 100,000-tick history to a pyarrow.Table, in a fresh process (the
   first call pays any import), then to polars and pandas. Target: under 50 ms.
3. Experiments on Ray, 2 CPUs (a local cluster, started and warmed up before timing),
   against `watchtower experiment --jobs 2` (which also records to its store), on
   bench/python/experiment.yaml, alternated; the tables are checked identical.
   Target: within 20%.

Every loop is bounded; every process this starts is stopped (Ray: ray.shutdown()).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import watchtower


def cli_run(cli: str, ticks: int, households: int, firms: int) -> float:
    out = subprocess.run(
        [cli, "run", "--ticks", str(ticks), "--households", str(households), "--firms", str(firms), "--seed", "1", "--no-store", "--json"],
        check=True, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=3600,
    ).stdout
    report = json.loads(out.strip().splitlines()[-1])
    assert report["ticks"] == ticks
    return report["seconds"]


def python_run(ticks: int, households: int, firms: int) -> float:
    econ = watchtower.Economy(households=households, firms=firms, seed=1)
    started = time.perf_counter()
    econ.step(ticks)
    return time.perf_counter() - started


def stepping(cli: str, ticks: int, repeats: int, households: int, firms: int) -> dict:
    cli_times, py_times = [], []
    for _ in range(repeats):
        cli_times.append(cli_run(cli, ticks, households, firms))
        py_times.append(python_run(ticks, households, firms))
    c, p = statistics.median(cli_times), statistics.median(py_times)
    return {
        "households": households, "firms": firms, "ticks": ticks, "repeats": repeats,
        "cli_seconds": cli_times, "python_seconds": py_times,
        "cli_ticks_per_second": ticks / c, "python_ticks_per_second": ticks / p,
        "python_overhead_percent": (p / c - 1) * 100,
    }


HISTORY_CHILD = textwrap.dedent(
    """
    import json, sys, time
    import watchtower
    ticks = int(sys.argv[1])
    econ = watchtower.Economy(households=100, firms=10, seed=1)
    econ.step(ticks)
    t = time.perf_counter(); table = econ.history(); first = time.perf_counter() - t
    t = time.perf_counter(); econ.history(); again = time.perf_counter() - t
    import polars as pl, pandas  # imported before timing the conversions
    t = time.perf_counter(); df = pl.from_arrow(table); to_polars = time.perf_counter() - t
    t = time.perf_counter(); pdf = table.to_pandas(); to_pandas = time.perf_counter() - t
    assert table.num_rows == ticks and df.height == ticks and len(pdf) == ticks
    print(json.dumps({"ticks": ticks, "columns": table.num_columns, "bytes": table.nbytes,
                      "history_ms": first * 1e3, "history_again_ms": again * 1e3,
                      "to_polars_ms": to_polars * 1e3, "to_pandas_ms": to_pandas * 1e3}))
    """
)


def history(ticks: int, repeats: int) -> dict:
    runs = []
    for _ in range(repeats):
        out = subprocess.run([sys.executable, "-c", HISTORY_CHILD, str(ticks)], check=True, capture_output=True,
                             text=True, timeout=1800).stdout
        runs.append(json.loads(out.strip().splitlines()[-1]))
    best = {k: statistics.median(r[k] for r in runs) for k in runs[0] if k.endswith("_ms")}
    return {**{k: runs[0][k] for k in ("ticks", "columns", "bytes")}, "repeats": repeats, **best, "runs": runs}


def experiments(cli: str, spec: Path, repeats: int) -> dict | None:
    if not hasattr(watchtower, "experiment"):
        return None
    import ray

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    cli_times, ray_times = [], []
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        # Ray starts its worker processes (and they import the module) on first use: a
        # tiny experiment first, so the timings compare running experiments, not that.
        tiny = {"name": "warm-up", "households": 100, "firms": 10, "ticks": 10, "seeds": 4}
        watchtower.experiment(tiny, executor="ray", chunk_size=1)
        for _ in range(repeats):
            with tempfile.TemporaryDirectory() as d:
                started = time.perf_counter()
                subprocess.run([cli, "experiment", str(spec), "--jobs", "2", "--data-dir", str(Path(d) / "data"),
                                "--out", str(Path(d) / "t.parquet")],
                               check=True, capture_output=True, stdin=subprocess.DEVNULL, timeout=3600)
                cli_times.append(time.perf_counter() - started)
                import pyarrow.parquet as pq

                cli_table = pq.read_table(Path(d) / "t.parquet")
            started = time.perf_counter()
            table = watchtower.experiment(str(spec), executor="ray")
            ray_times.append(time.perf_counter() - started)
            assert table.equals(cli_table), "Ray's table differs from the CLI's"
    finally:
        ray.shutdown()
    c, r = statistics.median(cli_times), statistics.median(ray_times)
    return {"spec": str(spec), "repeats": repeats, "cli_seconds": cli_times, "ray_seconds": ray_times, "identical": True,
            "ray_over_cli_percent": (r / c - 1) * 100}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cli", default="target/release/watchtower", help="the watchtower binary (a release build)")
    p.add_argument("--ticks", type=int, default=2_000, help="ticks per stepping run")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--history-ticks", type=int, default=100_000)
    p.add_argument("--spec", type=Path, default=Path(__file__).with_name("experiment.yaml"))
    p.add_argument("--only", choices=["stepping", "history", "experiments"])
    p.add_argument("--json", action="store_true")
    args = p.parse_args()

    results = {"machine": {"cpus": os.cpu_count(), "load_average": os.getloadavg()}, "watchtower": watchtower.__version__}
    if args.only in (None, "stepping"):
        results["stepping"] = stepping(args.cli, args.ticks, args.repeats, 10_000, 1_000)
    if args.only in (None, "history"):
        results["history"] = history(args.history_ticks, args.repeats)
    if args.only in (None, "experiments") and args.spec.exists():
        results["experiments"] = experiments(args.cli, args.spec, args.repeats)
    results["machine"]["load_average_after"] = os.getloadavg()

    if args.json:
        print(json.dumps(results, indent=2))
        return
    s = results.get("stepping")
    if s:
        print(f"stepping, {s['households']:,} households, {s['ticks']:,} ticks, median of {s['repeats']}: "
              f"CLI {s['cli_ticks_per_second']:.0f} ticks/s, Python {s['python_ticks_per_second']:.0f} ticks/s, "
              f"Python costs {s['python_overhead_percent']:+.1f}%")
    h = results.get("history")
    if h:
        print(f"history() of {h['ticks']:,} ticks ({h['columns']} columns, {h['bytes'] / 1e6:.0f} MB), median of {h['repeats']}: "
              f"{h['history_ms']:.2f} ms (again {h['history_again_ms']:.2f} ms); polars.from_arrow {h['to_polars_ms']:.2f} ms, "
              f".to_pandas() {h['to_pandas_ms']:.1f} ms")
    e = results.get("experiments")
    if e:
        print(f"experiment {e['spec']}, median of {e['repeats']}: CLI --jobs 2 {statistics.median(e['cli_seconds']):.2f} s, "
              f"Ray 2 CPUs {statistics.median(e['ray_seconds']):.2f} s ({e['ray_over_cli_percent']:+.1f}%)")
    elif args.only in (None, "experiments"):
        print("experiments: not measured (watchtower.experiment is not in this build)")


if __name__ == "__main__":
    main()
