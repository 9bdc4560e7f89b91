"""Which moments pin a parameter down? Runs the economy at three values of one
parameter (and two of another, the nuisance) over many seeds, and prints for candidate
moments their effect in standard deviations of one run, then the best standard error of
the parameter a calibration could reach from each set of moments: the Cramér–Rao-like
bound sqrt([(G'Σ⁻¹G)⁻¹]) of the method of simulated moments with a single target run,
Σ the pooled covariance of the moments over seeds (with the Hartlap factor), G the
slopes between the points. docs/CALIBRATION.md, "Which moments", reports its output.

    python bench/calibration/moments.py [--binary target/release/watchtower] [--seeds 18]

Needs numpy (bench/calibration/run.sh's virtualenv has it). Runs 3×seeds + 2×(seeds/3)
simulations of 500 firms, 5,000 households, 2,000 ticks (about 0.6 s each on one core).
"""
import argparse
import csv
import os
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor

import numpy as np

INDICATORS = ["unemployment_rate", "inflation", "bankruptcies", "active_firms", "gini_wealth", "gini_income"]
SETS = {
    "the issue's six": ["unemployment_rate.mean", "unemployment_rate.sd", "unemployment_rate.acf1",
                        "inflation.mean", "inflation.sd", "inflation.acf1"],
    "+ inflation diff:sd": ["unemployment_rate.mean", "unemployment_rate.sd", "unemployment_rate.acf1",
                            "inflation.mean", "inflation.sd", "inflation.acf1", "inflation.diff:sd"],
}
SETS["+ bankruptcies mean, diff:sd"] = SETS["+ inflation diff:sd"] + ["bankruptcies.mean", "bankruptcies.diff:sd"]
SETS["+ unemployment skewness, diff:sd"] = SETS["+ bankruptcies mean, diff:sd"] + [
    "unemployment_rate.skewness", "unemployment_rate.diff:sd"]
SETS["+ active firms mean, sd"] = SETS["+ unemployment skewness, diff:sd"] + ["active_firms.mean", "active_firms.sd"]
SETS["+ bankruptcies skewness, active firms acf1, skewness"] = SETS["+ active firms mean, sd"] + [
    "bankruptcies.skewness", "active_firms.acf1", "active_firms.skewness"]
SETS["+ both Gini means (shipped)"] = SETS["+ bankruptcies skewness, active firms acf1, skewness"] + [
    "gini_wealth.mean", "gini_income.mean"]


def acf1(x):
    x = x - x.mean()
    d = (x * x).sum()
    return (x[1:] * x[:-1]).sum() / d if d > 0 else 0.0


def stats(x):
    dx = np.diff(x)
    s = x.std()
    return {"mean": x.mean(), "sd": s, "acf1": acf1(x), "diff:sd": dx.std(),
            "skewness": ((x - x.mean()) ** 3).mean() / s ** 3 if s > 0 else 0.0}


def run(binary, out_dir, settings, seed, args):
    path = os.path.join(out_dir, "-".join(f"{v}" for v in settings.values()) + f"-{seed}.csv")
    sets = [a for k, v in settings.items() for a in ("--set", f"{k}={v}")]
    subprocess.run([binary, "run", "--no-store", "--preset", "watchtower", "--firms", "500", "--households", "5000",
                    "--ticks", str(args.ticks), "--seed", str(seed), "--out", path, "--format", "csv", *sets],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with open(path) as f:
        rows = [r for r in csv.DictReader(f) if int(r["tick"]) >= args.warmup]
    moments = {}
    for ind in INDICATORS:
        for k, v in stats(np.array([float(r[ind]) for r in rows])).items():
            moments[f"{ind}.{k}"] = v
    return moments


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default="target/release/watchtower")
    ap.add_argument("--seeds", type=int, default=18)
    ap.add_argument("--ticks", type=int, default=2000)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    g, r = "firms.price_adjustment", "firms.hiring_firing_ratio"
    grid = [({g: 0.12, r: rv}, s) for rv in (2.0, 2.5, 3.0) for s in range(1, args.seeds + 1)]
    grid += [({g: gv, r: 2.5}, s) for gv in (0.10, 0.14) for s in range(1, args.seeds // 3 + 1)]
    with tempfile.TemporaryDirectory() as out, ThreadPoolExecutor(args.jobs) as ex:
        got = list(ex.map(lambda a: run(args.binary, out, a[0], a[1], args), grid))
    names = sorted(got[0])
    at = lambda key, value: np.array([[m[n] for n in names] for (p, _), m in zip(grid, got) if p[key] == value
                                      and (key == g or p[g] == 0.12)])
    by_r = {rv: at(r, rv) for rv in (2.0, 2.5, 3.0)}
    n = sum(len(v) - 1 for v in by_r.values())
    cov = sum((v - v.mean(0)).T @ (v - v.mean(0)) for v in by_r.values()) / n
    slope_r = by_r[3.0].mean(0) - by_r[2.0].mean(0)
    slope_g = (at(g, 0.14).mean(0) - at(g, 0.10).mean(0)) / 0.04
    sd = np.sqrt(np.diag(cov))
    print(f"{len(grid)} runs; effect of R 2 → 3 and of γp 0.10 → 0.14 in sd of one run (γp = 0.12, R = 2.5):")
    for i in np.argsort(-np.abs(slope_r / sd)):
        print(f"  {names[i]:32s} R {slope_r[i] / sd[i]:+6.2f}   γp {slope_g[i] * 0.04 / sd[i]:+6.2f}")
    print("best standard error from one target run (γp also free):")
    for label, keys in SETS.items():
        idx = [names.index(k) for k in keys]
        m = len(idx)
        prec = np.linalg.inv(cov[np.ix_(idx, idx)]) * (n - m - 2) / (n - 1)
        jac = np.stack([slope_g[idx], slope_r[idx]], 1)
        v = np.linalg.inv(jac.T @ prec @ jac)
        print(f"  {label:55s} {m:2d} moments: se(R) {np.sqrt(v[1, 1]):.3f}, se(γp) {np.sqrt(v[0, 0]):.4f}")


if __name__ == "__main__":
    main()
