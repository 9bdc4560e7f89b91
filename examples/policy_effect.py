"""The effect of a tax rise on unemployment, as a counterfactual: fork the same economy
at tick 500 into "tax up" and "baseline", run both on, and compare, across 10 seeds.

    pip install ./python matplotlib
    python examples/policy_effect.py                    # writes docs/images/policy_effect.png

Each seed's two arms share everything up to the fork (state and random streams), so the
difference between them is the policy's effect alone, tick by tick. The plot shows its
mean over the seeds with a 95% confidence band (Student's t over seeds). The seeds run on
threads at once: the engine releases the GIL while it ticks.
"""

from __future__ import annotations

import argparse
import math
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display needed
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import watchtower  # noqa: E402

KEY = "government.income_tax_rate"

# Two-sided 95% quantiles of Student's t, by degrees of freedom (scipy not needed).
T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228,
       11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131, 19: 2.093, 24: 2.064, 29: 2.045}


def t95(df: int) -> float:
    if df in T95:
        return T95[df]
    below = [d for d in T95 if d <= df]
    return T95[max(below)] if df < 30 else 1.96


def one_seed(seed: int, fork_at: int, horizon: int, tax_up: float, households: int, firms: int) -> np.ndarray:
    """The difference in unemployment (tax up minus baseline) for `horizon` ticks after the fork."""
    econ = watchtower.Economy(households=households, firms=firms, seed=seed)
    econ.step(fork_at)
    arm = econ.fork()  # same state, same random streams
    arm.set(KEY, tax_up)  # applies at the next tick's phase 0
    econ.step(horizon)
    arm.step(horizon)
    base = econ.history().column("unemployment_rate").to_numpy()[fork_at:]
    up = arm.history().column("unemployment_rate").to_numpy()[fork_at:]
    return up - base


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--fork-at", type=int, default=500)
    p.add_argument("--horizon", type=int, default=500, help="ticks after the fork")
    p.add_argument("--tax-up", type=float, default=0.3, help=f"{KEY} in the 'tax up' arm (baseline 0.2)")
    p.add_argument("--households", type=int, default=10_000)
    p.add_argument("--firms", type=int, default=1_000)
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "images" / "policy_effect.png")
    args = p.parse_args()

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        diffs = list(pool.map(lambda s: one_seed(s, args.fork_at, args.horizon, args.tax_up, args.households, args.firms),
                              range(1, args.seeds + 1)))
    d = np.vstack(diffs) * 100  # percentage points
    n = d.shape[0]
    mean = d.mean(axis=0)
    half = t95(n - 1) * d.std(axis=0, ddof=1) / math.sqrt(n) if n > 1 else np.zeros_like(mean)
    ticks = np.arange(args.fork_at, args.fork_at + args.horizon)

    fig, ax = plt.subplots(figsize=(9, 4.5), dpi=110)
    for row in d:
        ax.plot(ticks, row, color="tab:blue", alpha=0.12, linewidth=0.8)
    ax.fill_between(ticks, mean - half, mean + half, color="tab:blue", alpha=0.3, linewidth=0, label="95% confidence band")
    ax.plot(ticks, mean, color="tab:blue", linewidth=1.8, label=f"mean over {n} seeds")
    ax.axhline(0, color="black", linewidth=0.8, linestyle="--")
    ax.set_xlabel("tick")
    ax.set_ylabel("unemployment, tax up − baseline (pp)")
    ax.set_title(f"Income tax 20% → {args.tax_up:.0%} at tick {args.fork_at}: effect on unemployment "
                 f"({args.households:,} households, {n} seeds)", fontsize=10)
    ax.legend(loc="upper left", frameon=False)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out)

    last = d[:, -min(100, d.shape[1]):].mean(axis=1)
    m = last.mean()
    h = t95(n - 1) * last.std(ddof=1) / math.sqrt(n) if n > 1 else 0.0
    print(f"effect on unemployment over the last {min(100, d.shape[1])} ticks: {m:+.2f} pp "
          f"(95% CI {m - h:+.2f} to {m + h:+.2f}), {n} seeds, {time.perf_counter() - started:.1f} s")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
