#!/usr/bin/python3
"""Fit the foreigners' anchor intensities of the Azerbaijan profile of `emflow simulate` to the real
yearly border figures (inputs/azerbaijan_border_2020_2022.csv).

    scripts/fit_azerbaijan_sim.py build/engine/emflow [--scale 0.05] [--iterations 3] [--seed N]

Method.  The 12 targets are entries/exits x crossings/documents of foreigners in 2020, 2021 and
Jan-Aug 2022.  The 12 knobs are, for the three foreign behaviours the figures are most sensitive to
(visitor, frequent, worker), the anchor intensity a_k (persons/year at weight 1: before 2020) and
a_k * w_k,p for p = 2020, 2021, 2022 (the weights apply from 2020-01, 2021-01, 2022-01 on; 2022's
also to the simulated tail).  In expectation every count is LINEAR in these knobs: the expected
number of persons anchored in a cell is proportional to its knob, and each person's contribution
(crossings, and documents = persons) does not depend on the knobs.  So one simulation gives the
matrix A[t, j] = (contribution of cell j to target t) / knob_j and the constant c[t] of all other
persons (citizens on a second document, immigrants, overstayers), and the knobs solve
A x = target - c (non-negative least squares on relative errors).  A few iterations remove the
sampling noise of A.  The other behaviours keep their absolute intensities (population x share).

Prints the option values to paste into the options table (engine/emi_cmd_simulate.c) and
inputs/azerbaijan_sim.ini, and the relative errors of the last simulation.
"""
import argparse
import csv
import os
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sim_border_counts as sbc  # noqa: E402

TYPES = ["resident", "emigrant", "returner", "circular", "visitor", "frequent", "worker", "immigrant", "overstayer"]
FITTED = ["visitor", "frequent", "worker"]
BREAKS = ["2020-01", "2021-01", "2022-01"]
HERE = os.path.dirname(os.path.abspath(__file__))
REAL = os.path.join(HERE, "..", "inputs", "azerbaijan_border_2020_2022.csv")


def parse_list(text):
    out = {}
    for item in text.split(","):
        k, v = item.strip().rsplit(":", 1)
        out[k] = float(v)
    return out


def cell_of(ptype, anchor_day):
    """0: before 2020, 1: 2020, 2: 2021, 3: 2022 on (anchor_day: days since 1970-01-01)."""
    if anchor_day < 18262:  # 2020-01-01
        return 0
    if anchor_day < 18628:  # 2021-01-01
        return 1
    if anchor_day < 18993:  # 2022-01-01
        return 2
    return 3


def run(emflow, rates, weights, scale, seed, work):
    pop = sum(rates.values())
    shares = ",".join(f"{t}:{rates[t] / pop:.6g}" for t in TYPES)
    # renormalise the printed shares exactly to 1 by putting the rounding on the largest
    sh = {t: float(f"{rates[t] / pop:.6g}") for t in TYPES}
    big = max(sh, key=sh.get)
    sh[big] = round(sh[big] + 1.0 - sum(sh.values()), 9)
    shares = ",".join(f"{t}:{sh[t]:.9g}" for t in TYPES)
    args = [emflow, "simulate", "-o", os.path.join(work, "t.h5"), "--scale", str(scale), "--seed", str(seed),
            "--population", f"{pop:.9g}", "--type-shares", shares,
            "--persons-dump", os.path.join(work, "p.csv"), "--movements-dump", os.path.join(work, "m.csv")]
    for t in FITTED:
        args += [f"--{t}-weights", ",".join(f"{b}:{weights[t][i]:.6g}" for i, b in enumerate(BREAKS))]
    subprocess.run(args, check=True, stderr=subprocess.DEVNULL)
    group = {}
    with open(os.path.join(work, "p.csv"), newline="") as f:
        for row in csv.DictReader(f):
            g = (row["type"], cell_of(row["type"], int(row["anchor_day"]))) if row["type"] in FITTED else None
            group[row["person_id"]] = g
            if row["person_id2"]:
                group[row["person_id2"]] = g
    total, by_group = sbc.foreign_counts(os.path.join(work, "t_crossings.csv"), attribute=group)
    return pop, shares, args, total, by_group


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("emflow")
    ap.add_argument("--scale", type=float, default=0.05)
    ap.add_argument("--iterations", type=int, default=3)
    ap.add_argument("--seed", type=int, default=20240601)
    ap.add_argument("--population", type=float, default=1930000)
    ap.add_argument("--ridge", type=float, default=0.02)
    ap.add_argument("--type-shares", default="resident:0.13,emigrant:0.0155,returner:0.0042,circular:0.0078,"
                    "visitor:0.814,frequent:0.0155,worker:0.0104,immigrant:0.0016,overstayer:0.001")
    ap.add_argument("--weights", nargs=3, default=["1,0.3,0.6", "1,1,1", "1,1,1"],
                    help="starting weights at 2020-01,2021-01,2022-01 for visitor, frequent, worker")
    a = ap.parse_args()
    real = sbc.real_counts(REAL)
    targets = [(ind, p[0]) for p in sbc.PERIODS for ind in sbc.INDICATORS]
    T = np.array([real[k] for k in targets])
    sh = parse_list(a.type_shares)
    rates = {t: a.population * sh.get(t, 0.0) for t in TYPES}
    weights = {t: [float(x) for x in w.split(",")] for t, w in zip(FITTED, a.weights)}
    work = tempfile.mkdtemp(prefix="emflow_fit_")
    for it in range(a.iterations + 1):
        pop, shares, args, total, by_group = run(a.emflow, rates, weights, a.scale, a.seed, work)
        sim = np.array([total.get(k, 0) for k in targets]) / a.scale
        err = sim / T - 1
        print(f"iteration {it}: relative errors " + " ".join(f"{e:+.4f}" for e in err), flush=True)
        if it == a.iterations:
            break
        knobs = []
        for t in FITTED:
            knobs.append(rates[t])
            knobs += [rates[t] * w for w in weights[t]]
        knobs = np.array(knobs)
        A = np.zeros((len(targets), len(knobs)))
        c = np.zeros(len(targets))
        for g, counts in by_group.items():
            v = np.array([counts.get(k, 0) for k in targets]) / a.scale
            if g is None:
                c += v
            else:
                j = FITTED.index(g[0]) * 4 + g[1]
                A[:, j] += v / knobs[j]
        # relative least squares, non-negative
        # plus a weak ridge towards the current knobs (relative), which keeps knobs the figures cannot
        # tell apart (e.g. a type's level before 2020 vs its weights) where they are
        W = 1.0 / T
        lam = a.ridge
        M = np.vstack([A * W[:, None], lam * np.diag(1.0 / knobs)])
        rhs = np.concatenate([(T - c) * W, lam * np.ones(len(knobs))])
        try:
            from scipy.optimize import nnls
            x, _ = nnls(M, rhs)
        except ImportError:
            x = np.clip(np.linalg.lstsq(M, rhs, rcond=None)[0], 1e-9, None)
        for i, t in enumerate(FITTED):
            rates[t] = max(x[4 * i], 1e-6)
            weights[t] = [max(x[4 * i + 1 + k], 0.0) / rates[t] for k in range(3)]
        pred = A @ x + c
        print("  predicted relative errors " + " ".join(f"{e:+.4f}" for e in pred / T - 1), flush=True)
    print("\n# fitted values (paste into engine/emi_cmd_simulate.c and inputs/azerbaijan_sim.ini)")
    print(f"population = {pop:.9g}")
    print(f"type-shares = {shares}")
    for t in FITTED:
        print(f"{t}-weights = " + ",".join(f"{b}:{weights[t][i]:.6g}" for i, b in enumerate(BREAKS)))
    print("# targets and simulated (scaled) values of the last run")
    for k, s, e in zip(targets, sim, err):
        print(f"#   {k[0]:18s} {k[1]:15s} real {real[k]:10.0f} simulated {s:10.0f} error {e:+.4f}")


if __name__ == "__main__":
    main()
