#!/usr/bin/python3
"""numpy peer of emflow's GLS reconciliation (emi_gls_solve) on the data bench_gls exports.

    /usr/bin/python3 bench/peers/gls_numpy.py --data PREFIX.json [--reps R]

    xhat = x - V A^T (A V A^T)^{-1} (A x - b)

written the way a numpy user would, with numpy.linalg.cholesky and numpy.linalg.solve:
    diagonal V (n variances v):  B = A * sqrt(v);  M = B @ B.T   (numpy calls BLAS syrk for X @ X.T)
                                 xhat = x - v * (A.T @ lam)
    dense V:                     AV = A @ V;  M = AV @ A.T;  xhat = x - AV.T @ lam
    M = L L^T (cholesky);  lam = solve(L^T, solve(L, A x - b)).
numpy has no triangular solve, so numpy.linalg.solve runs an LU (dgesv) on the triangular factors:
2/3 m^3 extra flops each, small next to forming M (m^2 n).  This is the dense formulation a numpy user
writes from the formula; emflow, for diagonal V and sparse A (the flow case), forms M from A's
nonzeros instead (kernels/emi_gls.h, "sparse constraints"), so the flow rows compare emflow's solve
with numpy's dense one, both taking the same dense A.  V is not checked for definiteness
(emflow is timed with check_v = 0 to match).

1. Validates before timing: max |xhat_numpy - xhat_emflow| <= 1e-10 max |x| (the two round
   differently; the error of either is about cond(A V A^T) * eps * |adjustment|, and the
   benchmark problems have cond(A V A^T) of about 1e4, so about 1e-12; seen: 1e-14), and
   max |A xhat - b| <= 1e-9 max |b|.  Otherwise "VALIDATION FAILED" on stderr, exit 1.
2. Times the solve R times (data already in memory; time.perf_counter, monotonic): median, min, max.
The BLAS threads follow OMP_NUM_THREADS / OPENBLAS_NUM_THREADS.  Output: one JSON line on stdout.
"""
import argparse
import json
import os
import sys
import time

import numpy as np

import benchdata

TOL = 1e-10
RES_TOL = 1e-9


def gls(x, V, A, b, v_diag):
    r = A @ x - b
    if v_diag:
        B = A * np.sqrt(V)
        M = B @ B.T
    else:
        AV = A @ V
        M = AV @ A.T
    L = np.linalg.cholesky(M)
    lam = np.linalg.solve(L.T, np.linalg.solve(L, r))
    return x - V * (A.T @ lam) if v_diag else x - AV.T @ lam


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--data", required=True, help="PREFIX.json written by bench_gls --export")
    ap.add_argument("--reps", type=int, default=5)
    a = ap.parse_args()
    meta, arr = benchdata.load(a.data)
    x, V, A, b, ref = arr["x"], arr["V"], arr["A"], arr["b"], arr["xhat"]
    v_diag = bool(meta["v_diag"])
    m, n = A.shape
    # 1. validate
    xh = gls(x, V, A, b, v_diag)
    diff = float(np.max(np.abs(xh - ref)) / np.max(np.abs(x)))
    res = float(np.max(np.abs(A @ xh - b)) / np.max(np.abs(b)))
    if not (diff <= TOL and res <= RES_TOL):
        sys.stderr.write(f"gls_numpy: VALIDATION FAILED: {meta['case']} n={n} m={m}: numpy and emflow differ by "
                         f"{diff:.3g} (relative to max |x|, tolerance {TOL:g}); numpy's max |A xhat - b| / max |b| "
                         f"= {res:.3g}\n")
        sys.exit(1)
    # 2. time
    t = []
    for _ in range(a.reps):
        t0 = time.perf_counter()
        gls(x, V, A, b, v_diag)
        t.append(time.perf_counter() - t0)
    med, tmin, tmax = benchdata.summary(t)
    threads = os.environ.get("OPENBLAS_NUM_THREADS") or os.environ.get("OMP_NUM_THREADS")
    print(json.dumps({"bench": "gls", "impl": "numpy", "numpy": np.__version__, "case": meta["case"], "n": n, "m": m,
                      "v": "diagonal" if v_diag else "dense", "threads": int(threads) if threads else None,
                      "reps": a.reps, "solve_s_median": med, "solve_s_min": tmin, "solve_s_max": tmax,
                      "validated": {"rel_diff_vs_emflow": diff, "tolerance": TOL, "rel_residual": res},
                      "blas": benchdata.blas_info(), "maxrss_kb": benchdata.maxrss_kb()}))


if __name__ == "__main__":
    main()
