#!/usr/bin/python3
"""numpy peer of emflow's IPF (emi_ipf_fit) on the data bench_ipf exports.

    /usr/bin/python3 bench/peers/ipf_numpy.py --data PREFIX.json [--reps R]

The same iterations as emi_ipf_fit: one sweep fits the margins in the order given (sums over the
margin's complement axes with np.sum, factors t/s with 0 where s == 0, scaling by a broadcast
in-place multiply), then recomputes the sums of every margin on the final table and takes the
largest |s - t| (emflow's convergence check; here with tolerance 0 so every sweep runs).  Like
emflow, the end-of-sweep sums of the first margin are reused as the sums that start the next sweep.

1. Validates before timing: for each case and each sweep count the export holds (1, 3 and 1 + S),
   fits a copy of the seed and compares with emflow's table: max over cells of |np - emflow| /
   |emflow| must be <= 1e-12 (the summation orders differ, so not bitwise).  Otherwise: message
   "VALIDATION FAILED" on stderr, exit 1.
2. Times exactly like bench_ipf: fits of 1 and of 1 + S sweeps from a fresh copy of the seed (the
   copy is outside the timed region, as in the C bench), per sweep = (median(t_{1+S}) -
   median(t_1)) / S, min/max over the repetitions of (t_{1+S} - median(t_1)) / S; S is the C
   bench's (in the export); time.perf_counter (monotonic).
Output: one JSON line on stdout.  numpy's ufuncs and reductions are single-threaded.
"""
import argparse
import json
import sys
import time

import numpy as np

import benchdata

TOL = 1e-12


class Margin:
    def __init__(self, ndim, dims, target):
        self.dims = list(dims)
        self.t = np.ascontiguousarray(target, dtype=np.float64)
        asc = sorted(self.dims)
        self.axes = tuple(d for d in range(ndim) if d not in self.dims)  # summed over
        # np.sum leaves the kept axes in ascending order; the margin lists them in its own order.
        self.to_margin = [asc.index(d) for d in self.dims]
        self.to_table = [self.dims.index(d) for d in asc]
        self.bshape = tuple(1 if d in self.axes else -1 for d in range(ndim))

    def sums(self, x):
        s = x.sum(axis=self.axes)
        return s if self.to_margin == sorted(self.to_margin) else np.transpose(s, self.to_margin)

    def scale(self, x, f):
        f = f if self.to_table == sorted(self.to_table) else np.transpose(f, self.to_table)
        x *= f.reshape([x.shape[d] if b == -1 else 1 for d, b in enumerate(self.bshape)])


def fit(x, margins, sweeps, tol=0.0):
    """IPF in place for `sweeps` sweeps (or until max |s - t| <= tol); returns (sweeps done, max_dev)."""
    s = margins[0].sums(x)
    dev = np.inf
    it = 0
    for it in range(1, sweeps + 1):
        for k, m in enumerate(margins):
            if k > 0:
                s = m.sums(x)
            f = np.zeros_like(s)
            np.divide(m.t, s, out=f, where=s > 0)
            m.scale(x, f)
        # convergence check on the final table, every margin
        sums = [m.sums(x) for m in margins]
        dev = max(float(np.max(np.abs(sk - m.t))) for sk, m in zip(sums, margins))
        s = sums[0]
        if dev <= tol:
            break
    return it, dev


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--data", required=True, help="PREFIX.json written by bench_ipf --export")
    ap.add_argument("--reps", type=int, default=7)
    a = ap.parse_args()
    meta, arr = benchdata.load(a.data)
    seed = arr["seed"]
    S = int(meta["sweeps_timed"])
    out = {"bench": "ipf3d", "impl": "numpy", "numpy": np.__version__, "dims": list(seed.shape),
           "threads": 1, "reps": a.reps, "sweeps_timed": S, "cases": []}
    for case in meta["cases"]:
        margins = [Margin(seed.ndim, m["dims"], arr[m["target"]]) for m in case["margins"]]
        # 1. validate
        checks = {}
        for k in meta["check_sweeps"]:
            ref = arr[f"fit_{case['name']}_{k}"]
            x = seed.copy()
            done, _ = fit(x, margins, k)
            pos = ref > 0
            if done != k or not np.array_equal(x[~pos], ref[~pos]):
                sys.stderr.write(f"ipf_numpy: VALIDATION FAILED: {case['name']}: after {k} sweeps the zero "
                                 f"pattern differs from emflow's\n")
                sys.exit(1)
            rel = float(np.max(np.abs(x[pos] - ref[pos]) / ref[pos])) if pos.any() else 0.0
            checks[str(k)] = rel
            if not rel <= TOL:
                i = np.unravel_index(np.argmax(np.where(pos, np.abs(x - ref) / np.where(pos, ref, 1), 0)), ref.shape)
                sys.stderr.write(f"ipf_numpy: VALIDATION FAILED: {case['name']}: after {k} sweeps numpy and emflow "
                                 f"differ by {rel:.3g} (relative) at cell {tuple(int(v) for v in i)}: "
                                 f"{x[i]!r} vs {ref[i]!r} (tolerance {TOL:g})\n")
                sys.exit(1)
        # 2. time
        t1, tS = [], []
        for _ in range(a.reps):
            for k in (1, 1 + S):
                x = seed.copy()
                t0 = time.perf_counter()
                fit(x, margins, k)
                t = time.perf_counter() - t0
                (t1 if k == 1 else tS).append(t)
        m1, _, _ = benchdata.summary(t1)
        mS, _, _ = benchdata.summary(tS)
        _, dmin, dmax = benchdata.summary([(t - m1) / S for t in tS])
        sweep = (mS - m1) / S
        out["cases"].append({"margins": case["name"], "validated_max_rel_diff": checks, "tolerance": TOL,
                             "sweep_s_median": sweep, "sweep_s_min": dmin, "sweep_s_max": dmax,
                             "setup_s": m1 - sweep})
    out["maxrss_kb"] = benchdata.maxrss_kb()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
