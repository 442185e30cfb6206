#!/usr/bin/python3
"""Checks of `emflow forecast` outputs.

    forecast_check.py exact FC.h5         every summary against numpy on the stored trajectories:
                                          means and type-7 quantiles (numpy's default 'linear') equal
                                          exactly, exceedance shares equal, _TOTAL = the sum of the
                                          series in every trajectory, quantiles ordered, no NaN
    forecast_check.py backtest FC.h5 CSV  the NZ backtest: the real PLT departures 2007-2016
                                          (nz_plt_by_citizenship_1979_2016.csv) against the forecast
                                          from the 1979-2006 fit: prints how often they fall inside the
                                          80% and 95% intervals (the issue asks for the report; the
                                          assertions are structural: periods 2007..2016, finite,
                                          ordered quantiles)
"""
import csv
import sys

import numpy as np

Q = [0.025, 0.05, 0.10, 0.25, 0.50, 0.75, 0.90, 0.95, 0.975]


def text(a):
    return [x.decode() if isinstance(x, bytes) else x for x in a]


def exact(path):
    import h5py
    fails = 0
    with h5py.File(path, "r") as f:
        stat = text(f["/forecast/stat"][:])
        assert stat == ["mean", "q025", "q05", "q10", "q25", "q50", "q75", "q90", "q95", "q975"], stat
        thr = f["/forecast/threshold"][:] if "threshold" in f["/forecast"] else []
        n = 0
        for sc in f["/forecast"]:
            g = f["/forecast"][sc]
            if not hasattr(g, "keys"):
                continue
            for part in ("flows", "undeclared"):
                if part not in g:
                    continue
                s = g[part][:]
                t = g[part + "_trajectories"][:]
                n += 1
                if not np.all(np.isfinite(s)):
                    print("FAIL: %s/%s holds a non-finite value" % (sc, part)); fails += 1
                m = t.mean(axis=0)
                if not np.allclose(s[:, :, 0], m, rtol=1e-15, atol=0):
                    print("FAIL: %s/%s means differ from numpy by %g" % (sc, part, np.abs(s[:, :, 0] - m).max())); fails += 1
                q = np.moveaxis(np.quantile(t, Q, axis=0), 0, -1)
                d = np.abs(q - s[:, :, 1:]).max()
                if d != 0:
                    print("FAIL: %s/%s quantiles differ from numpy's type 7 by %g" % (sc, part, d)); fails += 1
                if np.any(np.diff(s[:, :, 1:], axis=-1) < 0):
                    print("FAIL: %s/%s quantiles not ordered" % (sc, part)); fails += 1
                if not np.array_equal(t[:, -1, :], t[:, :-1, :].sum(axis=1)):
                    print("FAIL: %s/%s _TOTAL is not the sum of the series" % (sc, part)); fails += 1
                if len(thr):
                    e = g[part + "_exceed"][:]
                    want = np.stack([(t > x).mean(axis=0) for x in thr])
                    if not np.array_equal(e, want):
                        print("FAIL: %s/%s exceedance shares differ" % (sc, part)); fails += 1
                print("%s/%s: %d trajectories x %d series x %d periods: means, quantiles, totals%s equal numpy's" %
                      (sc, part, t.shape[0], t.shape[1], t.shape[2], ", exceedances" if len(thr) else ""))
        if n == 0:
            print("FAIL: no scenario with stored trajectories"); fails += 1
        fails += traj_draws(f)
    return 1 if fails else 0


def traj_draws(f):
    """Which posterior draw every stored trajectory continues (README: chain k mod chains, the
    M = ceil(N / chains) trajectories of a chain spread evenly over its draws: draw floor(i draws / M)
    for its i-th trajectory).  Checked against that formula, and for what it is for: every chain
    used in equal shares (within one), draws of a chain strictly increasing from 0 to the last
    stretch of the chain, no draw used twice while trajectories <= chains x draws."""
    fails = 0
    N = int(f["/forecast"].attrs["trajectories"])
    nch = int(f["/forecast"].attrs["posterior_chains"])
    nd = int(f["/forecast"].attrs["posterior_draws"])
    M = -(-N // nch)
    for sc in f["/forecast"]:
        g = f["/forecast"][sc]
        if not hasattr(g, "keys") or "trajectory_chain" not in g:
            continue
        c, d = g["trajectory_chain"][:], g["trajectory_draw"][:]
        k = np.arange(N)
        want_d = (k // nch) * nd // M if M <= nd else (k // nch) % nd
        if not (np.array_equal(c, k % nch) and np.array_equal(d, want_d)):
            print("FAIL: %s: trajectory chains/draws differ from the documented mapping" % sc); fails += 1
        share = np.bincount(c, minlength=nch)
        if share.min() == 0 or share.max() - share.min() > 1:
            print("FAIL: %s: trajectories per chain %s: expected equal shares" % (sc, share.tolist())); fails += 1
        for ch in range(nch):
            dc = d[c == ch]
            if N <= nch * nd and (np.any(np.diff(dc) <= 0) or dc[0] != 0 or dc[-1] < nd - 2 * -(-nd // len(dc))):
                print("FAIL: %s: chain %d draws %s..%s not spread over its %d draws" % (sc, ch, dc[:3], dc[-3:], nd)); fails += 1
        if N <= nch * nd and len(set(zip(c.tolist(), d.tolist()))) != N:
            print("FAIL: %s: a posterior draw is continued twice" % sc); fails += 1
        print("%s: %d trajectories over %d chains x %d draws: %s per chain, draws %d..%d of chain 0" %
              (sc, N, nch, nd, share.tolist(), d[c == 0][0], d[c == 0][-1]))
    return fails


def backtest(path, csvpath):
    import h5py
    actual = {}
    with open(csvpath, newline="") as fh:
        for row in csv.DictReader(fh):
            if row["Measure"] == "Departures" and row["Country"] == "All countries" and row["Value"]:
                actual[(row["Citizenship"], row["Year"])] = float(row["Value"])
    with h5py.File(path, "r") as f:
        ser = text(f["/forecast/series"][:])
        per = text(f["/forecast/period"][:])
        s = f["/forecast/baseline/flows"][:]
    if per != [str(y) for y in range(2007, 2017)]:
        print("FAIL: forecast periods %s, expected 2007..2016" % per)
        return 1
    if not np.all(np.isfinite(s)) or np.any(np.diff(s[:, :, 1:], axis=-1) < 0):
        print("FAIL: non-finite or unordered quantiles")
        return 1
    in80 = in95 = n = 0
    for i, g in enumerate(ser):
        if g == "_TOTAL":
            continue
        for j, y in enumerate(per):
            a = actual[(g, y)]
            lo80, hi80, lo95, hi95 = s[i, j, 3], s[i, j, 7], s[i, j, 1], s[i, j, 9]
            in80 += lo80 <= a <= hi80
            in95 += lo95 <= a <= hi95
            n += 1
            print("  %-22s %s actual %7.0f  median %8.0f  80%% [%8.0f, %8.0f]  95%% [%8.0f, %8.0f]" %
                  (g, y, a, s[i, j, 5], lo80, hi80, lo95, hi95))
    print("NZ backtest 2007-2016 (fit 1979-2006): actual departures inside the 80%% interval in %d of %d "
          "group-years (%.0f%%), inside the 95%% interval in %d of %d (%.0f%%)" %
          (in80, n, 100.0 * in80 / n, in95, n, 100.0 * in95 / n))
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "exact":
        sys.exit(exact(sys.argv[2]))
    if len(sys.argv) == 4 and sys.argv[1] == "backtest":
        sys.exit(backtest(sys.argv[2], sys.argv[3]))
    sys.exit("usage: forecast_check.py exact FC.h5 | backtest FC.h5 NZ.csv")
