#!/usr/bin/env python3
"""estimate_check.py OUT.h5 [--status STATUS]: an `emflow estimate` output describes itself and adds up.

Self-description (STYLE.md "HDF5 output"): every dataset under /posterior, /undeclared and /estimate
has `units` and a non-empty `long_name`; every dataset that is not itself a coordinate has a
dimension scale attached to each of its dimensions, of the dimension's length; no NaN or infinity
in any floating-point dataset or attribute of the file.

Values, recomputed here with numpy from the stored draws and reports (not from emflow's summaries):
  summary means = means of the draws (parameters, flows); q05 <= q50 <= q95 inside [min, max] of
  the draws; sd >= 0; flows > 0;
  undeclared emigration of country i, draw d, year t = sum over corridors i -> j with an emigration
  report of (flow - report x its duration factor); true emigration = sum over i -> j of the flows;
  declared = sum of the reports x factors, corridors_reported their number; mirror = sum of the immigration reports;
  /posterior attributes: chains and draws_per_chain = the draws' shape, max_rhat / min_ess_* = the
  worst over the parameter, flow and undeclared summaries, status as given by --status.
"""
import sys

import h5py
import numpy as np

fails = []


def fail(msg):
    fails.append(msg)
    print("FAIL:", msg)


def text(v):
    return v.decode() if isinstance(v, bytes) else str(v)


def main(path, want_status):
    f = h5py.File(path, "r")
    nds = 0

    def visit(name, obj):
        nonlocal nds
        for k, v in obj.attrs.items():
            a = np.asarray(v) if not isinstance(v, (bytes, str)) else None
            if a is not None and a.dtype.kind == "f" and not np.all(np.isfinite(a)):
                fail(f"/{name}: attribute {k} = {v} is not finite")
        if not isinstance(obj, h5py.Dataset):
            return
        if obj.dtype.kind == "f" and obj.size and not np.all(np.isfinite(obj[()])):
            fail(f"/{name}: {np.count_nonzero(~np.isfinite(obj[()]))} NaN or infinite values")
        if name.split("/")[0] not in ("posterior", "undeclared", "estimate"):
            return
        nds += 1
        if "units" not in obj.attrs:
            fail(f"/{name}: no units attribute")
        if not text(obj.attrs.get("long_name", "")).strip():
            fail(f"/{name}: no long_name attribute")
        if text(obj.attrs.get("CLASS", "")) == "DIMENSION_SCALE":
            if obj.ndim != 1:
                fail(f"/{name}: a dimension scale of rank {obj.ndim}")
            return
        for i in range(obj.ndim):
            dp = obj.dims[i]
            if len(dp) == 0:
                fail(f"/{name}: dimension {i} has no dimension scale")
            elif dp[0].shape != (obj.shape[i],):
                fail(f"/{name}: dimension {i} has length {obj.shape[i]}, its scale {dp[0].name} {dp[0].shape}")

    f.visititems(visit)
    stat = [text(s) for s in f["/estimate/stat"][:]]
    col = {s: stat.index(s) for s in stat}
    post = f["/posterior"]
    pd = f["/posterior/draws"][:]
    nch, nd, npar = pd.shape
    if post.attrs["chains"] != nch or post.attrs["draws_per_chain"] != nd:
        fail(f"/posterior: chains {post.attrs['chains']}, draws_per_chain {post.attrs['draws_per_chain']}, draws {pd.shape}")
    status = text(post.attrs["status"])
    if want_status is not None and status != want_status:
        fail(f"/posterior status '{status}', expected '{want_status}'")
    if status not in ("ok", "diagnostics failed"):
        fail(f"/posterior status '{status}'")

    def check_summary(name, s, draws):
        """draws: chains x draws x items..., s: items... x NSTAT"""
        d = draws.reshape(nch * nd, -1).astype(float)
        s2 = s.reshape(-1, len(stat))
        scale = np.abs(d).max(axis=0) + 1e-300
        if np.max(np.abs(s2[:, col["mean"]] - d.mean(axis=0)) / scale) > 1e-9:
            fail(f"{name}: summary means differ from the means of the draws")
        lo, mid, hi = s2[:, col["q05"]], s2[:, col["q50"]], s2[:, col["q95"]]
        tol = 1e-9 * scale
        if np.any(lo > mid + tol) or np.any(mid > hi + tol) or np.any(lo < d.min(axis=0) - tol) or \
           np.any(hi > d.max(axis=0) + tol):
            fail(f"{name}: quantiles out of order or outside the draws")
        if np.any(s2[:, col["sd"]] < 0):
            fail(f"{name}: negative sd")

    check_summary("/posterior/summary", f["/posterior/summary"][:], pd)
    fl = f["/posterior/flows/draws"][:].astype(float)  # chains x draws x K x T
    fs = f["/posterior/flows/summary"][:]
    check_summary("/posterior/flows/summary", fs, fl)
    if np.any(fl <= 0):
        fail("/posterior/flows/draws: a flow <= 0")
    er = f["/estimate/emigration_reported"][:]
    ir = f["/estimate/immigration_reported"][:]
    # the emigration reports as 12-month migrants: factor of the report's duration definition
    # (known_answers.md: 0 months 0.53, 3: 0.63, 6: 0.73, 12: 1, permanent: 2.26)
    fac = f["/estimate/emigration_duration_factor"][:]
    if not np.all(np.isin(np.round(fac, 12), [0.53, 0.63, 0.73, 1.0, 2.26])):
        fail("/estimate/emigration_duration_factor: a factor outside 0.53, 0.63, 0.73, 1, 2.26")
    corr = [text(c) for c in f["/estimate/corridor"][:]]
    cty = [text(c) for c in f["/estimate/country"][:]]
    frm = np.array([cty.index(c.split("->")[0]) for c in corr])
    C, T = len(cty), fl.shape[3]
    und = np.zeros((nch, nd, C, T))
    emig = np.zeros((nch, nd, C, T))
    decl = np.zeros((C, T))
    nrep = np.zeros((C, T), int)
    mirror = np.zeros((C, T))
    for k in range(len(corr)):
        i = frm[k]
        emig[:, :, i, :] += fl[:, :, k, :]
        have = er[k] >= 0
        und[:, :, i, have] += fl[:, :, k, have] - er[k, have] * fac[k, have]
        decl[i, have] += er[k, have] * fac[k, have]
        nrep[i, have] += 1
        mirror[i, ir[k] >= 0] += ir[k, ir[k] >= 0]
    # flows are stored as float32: 1e-6 of the flows summed is the rounding of the recomputation
    tol = 1e-6 * (emig.max() + 1)
    gu = f["/undeclared/emigration/draws"][:]
    if np.max(np.abs(gu - und)) > tol:
        fail(f"/undeclared/emigration/draws: differ from the flows minus the reports by up to {np.max(np.abs(gu - und)):.3g}")
    us = f["/undeclared/emigration/summary"][:]
    check_summary("/undeclared/emigration/summary", us, gu)
    es = f["/estimate/emigration"][:]
    if np.max(np.abs(es[..., col["mean"]] - emig.mean(axis=(0, 1)))) > tol:
        fail("/estimate/emigration: means differ from the sums of the flow draws")
    if not np.allclose(f["/undeclared/emigration/declared"][:], decl, rtol=1e-12, atol=0):
        fail("/undeclared/emigration/declared differs from the sum of the emigration reports")
    if not np.array_equal(f["/undeclared/emigration/corridors_reported"][:], nrep):
        fail("/undeclared/emigration/corridors_reported differs from the number of emigration reports")
    if not np.array_equal(f["/estimate/emigration_mirror"][:], mirror):
        fail("/estimate/emigration_mirror differs from the sum of the immigration reports")
    # the worst diagnostics over parameters, flows and undeclared emigration are the attributes
    allsum = np.concatenate([f["/posterior/summary"][:].reshape(-1, len(stat)), fs.reshape(-1, len(stat)),
                             us.reshape(-1, len(stat))])
    for attr, c, red in (("max_rhat", "rhat", np.max), ("min_ess_bulk", "ess_bulk", np.min),
                         ("min_ess_tail", "ess_tail", np.min)):
        if post.attrs[attr] != red(allsum[:, col[c]]):
            fail(f"/posterior {attr} = {post.attrs[attr]}, the summaries give {red(allsum[:, col[c]])}")
    print(f"estimate_check: {path}: {nds} datasets, status '{status}', max R-hat {post.attrs['max_rhat']:.4f}, "
          f"min bulk ESS {post.attrs['min_ess_bulk']:.0f}: {len(fails)} failure(s)")
    return 1 if fails else 0


if __name__ == "__main__":
    a = sys.argv[1:]
    st = None
    if len(a) == 3 and a[1] == "--status":
        st = a[2]
        a = a[:1]
    if len(a) != 1:
        sys.exit(__doc__)
    sys.exit(main(a[0], st))
