"""Where did one recovery's error come from? Decomposes a two-parameter recovery's
estimate error (γp, R) by the linear theory of the method of simulated moments, with
the true mean moments and slopes measured by many runs at the truth:

    error ≈ (G'WG)⁻¹G'W (target − m(θ₀))   the target run's own noise
          − (G'WG)⁻¹G'W (ē_S)               the ensemble seeds' offset at the truth
          + the rest                        (the ensemble's surface away from the truth,
                                             nonlinearity)

with W the calibration's own weighting (its first K covariance runs), m(θ₀) the mean of
`--runs` runs at the truth on seeds the calibration never uses, G from runs at R ± 0.2
and γp ± 0.01 on common seeds, and ē_S the mean of the ensemble's seeds (1–4) at the
truth less m(θ₀). Also prints the sandwich's standard errors with the true Σ and G, to
set beside the calibration's. docs/CALIBRATION.md ("Recovery") reports its output.

    python bench/calibration/decompose.py --binary target/release/watchtower \\
        --result t1.json --evaluations t1.csv [--g 0.12 --r 2.5] [--runs 64]

`t1.json` is `watchtower calibrate … --json`'s output, `t1.csv` its
`watchtower export --experiment ID --out t1.csv`. Runs 1 + 4 + runs + 2·runs
simulations of 500 firms, 5,000 households, 2,000 ticks (≈0.45 s of CPU each); needs
numpy and pandas.
"""
import argparse
import json
import os
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import moments as M  # noqa: E402

G_, R_ = "firms.price_adjustment", "firms.hiring_firing_ratio"


def regime_kept(x):
    """Runs within 10 robust sd of the median on every moment (the calibration's rule)."""
    med = np.median(x, 0)
    mad = 1.4826 * np.median(np.abs(x - med), 0)
    return ~np.any(np.abs(x - med) > 10 * mad, 1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default="target/release/watchtower")
    ap.add_argument("--result", required=True)
    ap.add_argument("--evaluations", required=True)
    ap.add_argument("--g", type=float, default=0.12)
    ap.add_argument("--r", type=float, default=2.5)
    ap.add_argument("--runs", type=int, default=64)
    ap.add_argument("--jobs", type=int, default=2)
    a = ap.parse_args()
    result = json.load(open(a.result))
    ev = pd.read_csv(a.evaluations)
    names = [c for c in ev.columns if "." in c and not c.startswith("firms.")]
    args = argparse.Namespace(ticks=2000, warmup=200)
    fresh = list(range(100, 100 + a.runs))
    half = fresh[: a.runs // 2]
    jobs = [({G_: a.g, R_: a.r}, s) for s in [99, 1, 2, 3, 4] + fresh]
    jobs += [({G_: a.g, R_: a.r + d}, s) for d in (-0.2, 0.2) for s in half]
    jobs += [({G_: a.g + d, R_: a.r}, s) for d in (-0.01, 0.01) for s in half]
    def moments_of(out, job):
        got = M.run(a.binary, out, job[0], job[1], args)
        return [got[n] for n in names]

    with tempfile.TemporaryDirectory() as out, ThreadPoolExecutor(a.jobs) as ex:
        got = np.array(list(ex.map(lambda j: moments_of(out, j), jobs)))
    target, ens, base = got[0], got[1:5], got[5:5 + a.runs]
    k, h = 5 + a.runs, a.runs // 2
    rm, rp, gm, gp = (got[k + i * h:k + (i + 1) * h] for i in range(4))
    stored = ev[ev.kind == "target"][names].values[0]
    print("target moments equal the calibration's:", bool(np.allclose(stored, target, rtol=1e-9, atol=0)))
    base = base[regime_kept(base)]
    m0, sigma = base.mean(0), np.cov(base.T)

    def slope(lo, hi, step):
        ok = regime_kept(np.vstack([lo, hi]))
        ok = ok[:h] & ok[h:]
        return (hi[ok] - lo[ok]).mean(0) / (2 * step)

    jac = np.stack([slope(gm, gp, 0.01), slope(rm, rp, 0.2)], 1)
    cov = ev[ev.kind == "covariance"]
    first = cov[cov.evaluation == cov.evaluation.min()][names].values
    first = first[regime_kept(first)]
    n, m = first.shape
    w = np.linalg.inv(np.cov(first.T)) * (n - m - 2) / (n - 1)
    lin = np.linalg.inv(jac.T @ w @ jac) @ jac.T @ w
    se = np.sqrt(np.diag(lin @ (1.25 * sigma) @ lin.T))
    actual = np.array([result["estimates"][G_] - a.g, result["estimates"][R_] - a.r])
    parts = {"target run's noise": lin @ (target - m0), "ensemble seeds at the truth": -lin @ (ens.mean(0) - m0)}
    print(f"{len(base)} runs at the truth in its regime; sandwich se with the true Σ and G: "
          f"γp {se[0]:.5f}, R {se[1]:.4f} (the calibration's: γp {result['std_errors'][G_]:.5f}, "
          f"R {result['std_errors'][R_]:.4f})")
    for label, e in parts.items():
        print(f"  {label:28s} γp {e[0]:+.5f} ({e[0] / se[0]:+.2f} se)   R {e[1]:+.4f} ({e[1] / se[1]:+.2f} se)")
    rest = actual - sum(parts.values())
    print(f"  {'the rest':28s} γp {rest[0]:+.5f} ({rest[0] / se[0]:+.2f} se)   R {rest[1]:+.4f} ({rest[1] / se[1]:+.2f} se)")
    print(f"  {'the calibration':28s} γp {actual[0]:+.5f} ({actual[0] / se[0]:+.2f} se)   R {actual[1]:+.4f} ({actual[1] / se[1]:+.2f} se)")


if __name__ == "__main__":
    main()
