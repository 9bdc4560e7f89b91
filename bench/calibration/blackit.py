"""Watchtower's calibration against black-it on the same two-parameter recovery problem.

The problem is a calibration spec (experiments/calibrate-recovery.yaml by default): a
synthetic truth (one run of the economy at known values, with a seed of its own), the
economy's size and window, and the bounds of the free parameters. Both methods get the
same truth's run, the same model and the same budget of simulations:

- black-it (the Bank of Italy's calibration kit; AGPL, so it lives only in this
  benchmark's virtualenv, bench/calibration/.venv, and is called through its public
  API): its model is one Watchtower simulation through the Python module, returning
  the series of unemployment_rate and inflation after the warm-up (--blackit-series);
  its default MethodOfMomentsLoss (18 moments of each series, identity weighting); the
  samplers of its README, Halton + RandomForest + BestBatch, in batches of 8, round
  robin; an ensemble of 3 seeds per point, as its README configures it; 2 processes.
- `watchtower calibrate SPEC --jobs 2 --json` (the release binary).

It prints one table (method, estimate per parameter, relative error, 90% interval,
covers the truth?, simulations, wall time) and writes it as JSON with --json-out.

    bench/calibration/run.sh [--small] [--spec FILE] [--json-out FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

# One engine thread per simulation on both sides: `watchtower calibrate --jobs 2` runs
# two single-threaded simulations at once, and black-it's two processes do the same.
# Set before the module is imported, and inherited by black-it's worker processes.
os.environ["WATCHTOWER_ENGINE_THREADS"] = "1"

import numpy as np  # noqa: E402
import yaml  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]

# black-it's configuration, as its README sets it: batches of 8 points per sampler call,
# 3 seeds per point.
BATCH_SIZE = 8
ENSEMBLE = 3
# The grid black-it searches on: its samplers draw from a discretised space.
PRECISION = {"firms.price_adjustment": 0.0005, "firms.hiring_firing_ratio": 0.005}


@dataclass(frozen=True)
class Problem:
    """The economy and the window both methods calibrate against."""

    preset: str | None
    firms: int
    households: int
    ticks: int
    warmup: int
    settings: dict
    indicators: list
    free: dict  # key -> (min, max)
    truth: dict  # key -> value
    seed: int


class Model:
    """black-it's model: one Watchtower simulation at `theta` (the free parameters, in
    the spec's order) on `seed`, as an (N, indicators) array of the window's series.
    A class, not a closure, so black-it's worker processes can unpickle it."""

    def __init__(self, problem: Problem):
        self.problem = problem

    def series(self, values: dict, seed: int) -> np.ndarray:
        import watchtower

        p = self.problem
        econ = watchtower.Economy(
            preset=p.preset,
            firms=p.firms,
            households=p.households,
            seed=int(seed),
            settings={**p.settings, **values},
        )
        econ.step(p.ticks)
        history = econ.history()
        ticks = history.column("tick").to_numpy()
        window = ticks >= p.warmup
        return np.column_stack([history.column(name).to_numpy()[window].astype(np.float64) for name in p.indicators])

    def __call__(self, theta, n: int, seed: int) -> np.ndarray:
        values = {key: float(v) for key, v in zip(self.problem.free, theta)}
        out = self.series(values, seed)
        if out.shape[0] != n:
            raise ValueError(f"the model gave {out.shape[0]} ticks after the warm-up, black-it asked for {n}")
        return out


def load_problem(spec: dict, indicators: list) -> Problem:
    """The problem a calibration spec describes (a synthetic target only), with the
    indicators whose series black-it's model returns."""
    synthetic = spec["target"].get("synthetic")
    if synthetic is None:
        sys.exit("error: the spec's target must be synthetic (a known truth) for this comparison")
    if spec.get("schedule"):
        sys.exit("error: this benchmark does not pass a spec's `schedule` to black-it's model")
    free = {key: (float(b["min"]), float(b["max"])) for key, b in spec["free"].items()}
    if any(b.get("log") for b in spec["free"].values()):
        print("note: black-it searches every parameter on a linear grid (the spec's log: is ignored there)", file=sys.stderr)
    return Problem(
        preset=spec.get("preset", "watchtower"),
        firms=int(spec["firms"]),
        households=int(spec["households"]),
        ticks=int(spec["ticks"]),
        warmup=int(spec.get("warmup", 0)),
        settings=dict(spec.get("set") or {}),
        indicators=indicators,
        free=free,
        truth={key: float(synthetic["set"][key]) for key in free},
        seed=int(synthetic["seed"]),
    )


def run_blackit(problem: Problem, budget: int, jobs: int, random_state: int) -> dict:
    from black_it.calibrator import Calibrator
    from black_it.loss_functions.msm import MethodOfMomentsLoss
    from black_it.samplers.best_batch import BestBatchSampler
    from black_it.samplers.halton import HaltonSampler
    from black_it.samplers.random_forest import RandomForestSampler

    n_batches = budget // (BATCH_SIZE * ENSEMBLE)
    if n_batches < 3:
        sys.exit(f"error: a budget of {budget} is fewer than 3 batches of {BATCH_SIZE} points x {ENSEMBLE} seeds")
    model = Model(problem)
    start = time.perf_counter()
    # The target: the same synthetic truth as the spec's (its seed, its settings).
    target = model.series(problem.truth, problem.seed)
    keys = list(problem.free)
    # black-it prints its search space and a report per batch: to stderr, so stdout is the table.
    with contextlib.redirect_stdout(sys.stderr):
        calibrator = Calibrator(
            loss_function=MethodOfMomentsLoss(),
            real_data=target,
            model=model,
            parameters_bounds=[[problem.free[k][0] for k in keys], [problem.free[k][1] for k in keys]],
            parameters_precision=[PRECISION.get(k, (problem.free[k][1] - problem.free[k][0]) / 1000) for k in keys],
            ensemble_size=ENSEMBLE,
            samplers=[
                HaltonSampler(batch_size=BATCH_SIZE),
                RandomForestSampler(batch_size=BATCH_SIZE),
                BestBatchSampler(batch_size=BATCH_SIZE),
            ],
            random_state=random_state,
            n_jobs=jobs,
            verbose=True,
        )
        params, losses = calibrator.calibrate(n_batches=n_batches)
    wall = time.perf_counter() - start
    points = len(calibrator.params_samp)
    return {
        "method": "black-it",
        "estimates": {k: float(params[0][i]) for i, k in enumerate(keys)},
        "intervals": None,
        "simulations": points * ENSEMBLE + 1,
        "simulations_note": f"{points} points x {ENSEMBLE} seeds + the target's run",
        "wall_seconds": wall,
        "loss": float(losses[0]),
        "config": {
            "loss": "MethodOfMomentsLoss() (18 moments per series, identity weighting)",
            "samplers": ["HaltonSampler", "RandomForestSampler", "BestBatchSampler"],
            "batch_size": BATCH_SIZE,
            "n_batches": n_batches,
            "ensemble_size": ENSEMBLE,
            "series": problem.indicators,
            "n_jobs": jobs,
            "random_state": random_state,
            "precision": {k: PRECISION.get(k) for k in keys},
        },
    }


def run_watchtower(spec: dict, binary: Path, jobs: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="wt-calibrate-") as tmp:
        path = Path(tmp) / "spec.yaml"
        path.write_text(yaml.safe_dump(spec, sort_keys=False))
        start = time.perf_counter()
        done = subprocess.run(
            [str(binary), "calibrate", str(path), "--jobs", str(jobs), "--json", "--data-dir", str(Path(tmp) / "data")],
            stdout=subprocess.PIPE,
            check=True,
            text=True,
        )
        wall = time.perf_counter() - start
    report = json.loads(done.stdout)
    return {
        "method": "watchtower calibrate",
        "estimates": report["estimates"],
        "intervals": report["intervals"],
        "std_errors": report["std_errors"],
        "simulations": report["simulations"],
        "simulations_note": "the target's run included",
        "wall_seconds": wall,
        "loss": report["loss"],
        "j_test": report.get("j_test"),
        "warnings": report.get("warnings"),
        "moments": report.get("moments"),
    }


def score(result: dict, truth: dict) -> dict:
    result["relative_errors"] = {k: (result["estimates"][k] - v) / v for k, v in truth.items()}
    if result["intervals"] is None:
        result["covers"] = None
    else:
        result["covers"] = {k: result["intervals"][k][0] <= v <= result["intervals"][k][1] for k, v in truth.items()}
    return result


def table(results: list, truth: dict) -> str:
    keys = list(truth)
    head = ["method"]
    for k in keys:
        head += [f"{k} (truth {truth[k]:g})", "rel. error", "90% interval", "covers"]
    head += ["simulations", "wall time"]
    rows = [head]
    for r in results:
        row = [r["method"]]
        for k in keys:
            row.append(f"{r['estimates'][k]:.4g}")
            row.append(f"{100 * r['relative_errors'][k]:+.1f}%")
            if r["intervals"] is None:
                row += ["none", "-"]
            else:
                lo, hi = r["intervals"][k]
                row += [f"[{lo:.4g}, {hi:.4g}]", "yes" if r["covers"][k] else "no"]
        row += [str(r["simulations"]), f"{r['wall_seconds']:.0f} s"]
        rows.append(row)
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--spec", type=Path, default=ROOT / "experiments/calibrate-recovery.yaml")
    # The small check's budget is 240, not less: the shipped spec's 18 moments need 194
    # simulations at least (the target, the covariances' runs and the Jacobian's).
    ap.add_argument("--small", action="store_true", help="100 firms, 1,000 households, 1,000 ticks, warm-up 500, budget 240")
    ap.add_argument("--budget", type=int, help="simulations for each side (default: the spec's)")
    ap.add_argument("--price-adjustment", type=float, default=0.12, help="the truth of firms.price_adjustment")
    ap.add_argument("--hiring-firing-ratio", type=float, default=2.5, help="the truth of firms.hiring_firing_ratio")
    ap.add_argument("--seed", type=int, default=99, help="the synthetic target's seed")
    ap.add_argument(
        "--blackit-series",
        default="unemployment_rate,inflation",
        help="the indicators whose series black-it's model returns (its loss takes 18 moments of each)",
    )
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--random-state", type=int, default=1, help="black-it's random state (its seeds and samplers)")
    ap.add_argument("--watchtower", type=Path, default=ROOT / "target/release/watchtower")
    ap.add_argument("--only", choices=["black-it", "watchtower"], help="run one side only")
    ap.add_argument("--json-out", type=Path)
    ap.add_argument("--merge", type=Path, action="append", help="add the results of an earlier --json-out (of the same problem)")
    args = ap.parse_args()

    spec = yaml.safe_load(args.spec.read_text())
    spec["target"] = {
        "synthetic": {
            "set": {"firms.price_adjustment": args.price_adjustment, "firms.hiring_firing_ratio": args.hiring_firing_ratio},
            "seed": args.seed,
        }
    }
    if args.small:
        spec.update(firms=100, households=1000, ticks=1000, warmup=500, budget=240)
    if args.budget is not None:
        spec["budget"] = args.budget
    problem = load_problem(spec, args.blackit_series.split(","))
    budget = int(spec["budget"])
    load_before = os.getloadavg()

    results = []
    for earlier in args.merge or []:
        results += json.loads(earlier.read_text())["results"]
    sides = [
        ("watchtower", lambda: run_watchtower(spec, args.watchtower, args.jobs)),
        ("black-it", lambda: run_blackit(problem, budget, args.jobs, args.random_state)),
    ]
    for name, run in sides:
        if args.only in (None, name):
            print(f"{name} (budget {budget}, {args.jobs} jobs) …", file=sys.stderr)
            before = os.getloadavg()
            result = score(run(), problem.truth)
            result["load_average"] = {"before": before, "after": os.getloadavg()}
            results.append(result)
            print(f"  done in {result['wall_seconds']:.0f} s; load average {result['load_average']}", file=sys.stderr)
    load_after = os.getloadavg()

    size = f"{problem.firms} firms, {problem.households} households, {problem.ticks} ticks (warm-up {problem.warmup})"
    print(f"Recovery of {problem.truth} (seed {problem.seed}), {size}, budget {budget}, {args.jobs} jobs")
    print(table(results, problem.truth))
    print(f"load average (1, 5, 15 min): before {load_before}, after {load_after}")
    if args.json_out:
        report = {
            "spec": str(args.spec),
            "problem": {**problem.__dict__, "budget": budget},
            "jobs": args.jobs,
            "load_average_before": load_before,
            "load_average_after": load_after,
            "results": results,
        }
        args.json_out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
