#!/usr/bin/env python3
"""reconcile_check.py OUT.h5 [--diffuse | --eurostat]: the hand-computed reconciliation case of
tests/data/reconcile (or, with --eurostat, the same numbers in Eurostat's SDMX-CSV layout with flags,
tests/data/reconcile/eurostat; with --diffuse, tests/data/reconcile_diffuse).

Expected values are derived here independently of emflow:
  GLS by the closed form x - V a (a'Va)^-1 (a'x - b) with numpy (one constraint, diagonal V),
  its covariance V - V a a' V / (a'Va), and the 2x2 IPF fit by the odds-ratio closed form
  (IPF keeps the seed's cross-product ratio; the margins fix the rest: a quadratic in one cell).
/reconciliation/inputs/{border,mirror,declared}: the values, status (0 none, 1 value, 2 missing),
source lines and OBS_FLAG codes as they stand in the input files (listed below by hand).
Also checks units/long_name on every dataset, that dimension scales are attached, and that every
group under /reconciliation opens in xarray (engine h5netcdf) and loads, with its coordinates.
"""
import sys

import h5py
import numpy as np

f = h5py.File(sys.argv[1], "r")
g = f["/reconciliation"]
fails = 0
diffuse = len(sys.argv) > 2 and sys.argv[2] == "--diffuse"
eurostat = len(sys.argv) > 2 and sys.argv[2] == "--eurostat"


def codes(ds):
    return [v.decode() if isinstance(v, bytes) else str(v) for v in ds[()]]


def check_exact(name, got, want):
    global fails
    got, want = np.asarray(got), np.asarray(want)
    if got.shape != want.shape or not (got == want).all():
        print(f"FAIL {name}: got {got.tolist()}, expected {want.tolist()}")
        fails += 1


def check_input(name, values, status, lines, flags, flag_column):
    """/reconciliation/inputs/NAME against the file as listed by hand: flags as strings ('' = none)."""
    global fails
    gi = f[f"/reconciliation/inputs/{name}"]
    check(f"inputs/{name}/value", gi["value"][()], values, tol=0)
    check_exact(f"inputs/{name}/status", gi["status"][()], status)
    check_exact(f"inputs/{name}/line", gi["line"][()], lines)
    fc = list(gi["flag"].attrs["flag_codes"])
    fc = [c.decode() if isinstance(c, bytes) else str(c) for c in np.atleast_1d(fc)]
    decoded = np.vectorize(lambda k: fc[k])(gi["flag"][()]) if gi["flag"].size else np.array([])
    check_exact(f"inputs/{name}/flag", decoded, np.asarray(flags))
    if fc[0] != "" or fc[1:] != sorted(set(np.asarray(flags).ravel()) - {""}):
        print(f"FAIL inputs/{name}/flag flag_codes {fc}")
        fails += 1
    fcol = gi.attrs["flag_column"]
    fcol = fcol.decode() if isinstance(fcol, bytes) else fcol
    if fcol != flag_column:
        print(f"FAIL inputs/{name} flag_column {fcol!r}, expected {flag_column!r}")
        fails += 1
    for d, sc in zip(gi["value"].dims, ["period", "citizen" if name != "mirror" else "destination", "destination"]):
        if d[0].name != f"/reconciliation/inputs/{name}/{sc}":
            print(f"FAIL inputs/{name}/value dimension labelled by {d[0].name}")
            fails += 1


def check_xarray():
    """Every group under /reconciliation opens in xarray (h5netcdf) and loads, labelled."""
    global fails
    try:
        import warnings
        import xarray as xr
        import h5netcdf  # noqa: F401
    except ImportError as e:
        print(f"(xarray check skipped: {e})")
        return
    groups = ["/reconciliation"]
    f["/reconciliation"].visit(lambda n: groups.append("/reconciliation/" + n)
                               if isinstance(f["/reconciliation/" + n], h5py.Group) else None)
    for gname in groups:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                ds = xr.open_dataset(sys.argv[1], group=gname, engine="h5netcdf").load()
        except Exception as e:  # noqa: BLE001
            print(f"FAIL xarray cannot open {gname}: {type(e).__name__}: {e}")
            fails += 1
            continue
        hg = f[gname]
        for k, obj in hg.items():
            if not isinstance(obj, h5py.Dataset) or "CLASS" in obj.attrs:
                continue
            if k not in ds.data_vars:
                print(f"FAIL xarray {gname}: {k} is not a data variable")
                fails += 1
            elif not np.array_equal(ds[k].values, obj[()]):
                print(f"FAIL xarray {gname}/{k}: values differ from h5py's")
                fails += 1
            else:
                for d in ds[k].dims:
                    if d not in ds.coords:
                        print(f"FAIL xarray {gname}/{k}: dimension {d} has no coordinate values")
                        fails += 1


def check(name, got, want, tol=1e-9):
    global fails
    got = np.asarray(got, dtype=float)
    want = np.asarray(want, dtype=float)
    if got.shape != want.shape or not np.allclose(got, want, rtol=tol, atol=tol):
        print(f"FAIL {name}: got {got.tolist()}, expected {want.tolist()}")
        fails += 1


def gls_nonneg(y, v, a, b):
    """GLS with one constraint a'y = b and y >= 0 by the active-set rule of emi_gls.h: solve, hold
    the negative estimates at 0 (as extra equality constraints), solve again from the start."""
    act = np.zeros(len(y), bool)
    while True:
        A = np.vstack([a] + [np.eye(len(y))[i] for i in np.flatnonzero(act)])
        rhs = np.concatenate([[b], np.zeros(act.sum())])
        V = np.diag(v)
        lam = np.linalg.solve(A @ V @ A.T, A @ y - rhs)
        yh = y - V @ A.T @ lam
        cov = V - V @ A.T @ np.linalg.solve(A @ V @ A.T, A @ V)
        neg = (yh < 0) & ~act
        if not neg.any():
            return np.where(act, 0.0, yh), cov, act
        act |= neg


if diffuse:
    # tests/data/reconcile_diffuse: destinations KAZ (declared only), RUS, TUR (':'), _ROW
    assert [s.decode() for s in g["destination"][()]] == ["KAZ", "RUS", "TUR", "_ROW"]
    check("mirror_observed", g["mirror_observed"][0], [0, 1, 0, 0])
    D = np.array([[5.0, 40, 0, 0], [0, 20, 0, 0]])      # AZE, RUS x KAZ, RUS, TUR, _ROW
    B = np.array([100.0, 10.0])
    lb = np.concatenate([D.sum(axis=1), D.sum(axis=0)])
    y = np.concatenate([B, [0.0, 70.0, 0.0, 0.0]]) - lb
    y[[2, 4, 5]] = 0.0                                   # unreported: start at the bound
    diffuse_var = (10.0 * (1.0 + B.sum())) ** 2          # sd = 10 x (1 + sum of border totals)
    v = np.array([(0.1 * 100) ** 2, (0.1 * 10) ** 2, diffuse_var, (0.1 * 70) ** 2, diffuse_var, diffuse_var])
    a = np.array([1.0, 1, -1, -1, -1, -1])
    yh, cov, act = gls_nonneg(y, v, a, lb[2:].sum() - lb[:2].sum())
    check("gls_active", g["gls_active"][()], [act.sum()])
    check("border_reconciled", g["border_reconciled"][0], yh[:2] + lb[:2])
    check("border_sd", g["border_sd"][0], np.sqrt(np.clip(np.diag(cov)[:2], 0, None)), tol=1e-7)
    check("mirror_reconciled", g["mirror_reconciled"][0], yh[2:] + lb[2:])
    check("undeclared_by_citizen", g["undeclared_by_citizen"][0], yh[:2])
    check("undeclared_by_destination", g["undeclared_by_destination"][0], yh[2:])
    U = g["undeclared"][0]
    check("undeclared rows", U.sum(axis=1), yh[:2], tol=1e-7)
    check("undeclared cols", U.sum(axis=0), yh[2:], tol=1e-7)
    if (U < 0).any() or not np.isfinite(U).all():
        print("FAIL undeclared has negative or non-finite cells"); fails += 1
    # mirror.csv: RUS 70 (line 2), TUR ':' (line 3); KAZ and _ROW have no observation; no flag column
    check_input("mirror", [[0, 70, 0, 0]], [[0, 1, 2, 0]], [[0, 2, 3, 0]], [["", "", "", ""]], "")
    check_input("border", [[100, 10]], [[1, 1]], [[2, 3]], [["", ""]], "")
    check_xarray()
    print(f"reconcile_check --diffuse: {'FAILED' if fails else 'ok'} ({fails} failures)")
    sys.exit(1 if fails else 0)

assert codes(g["period"]) == ["2021", "2022"]
assert codes(g["citizen"]) == (["AZ", "RU"] if eurostat else ["AZE", "RUS"])
assert codes(g["destination"]) == (["RU", "TR"] if eurostat else ["RUS", "TUR"])
for name in ("border", "mirror", "declared"):
    gi = f[f"/reconciliation/inputs/{name}"]
    assert codes(gi["period"]) == codes(g["period"]), name
    if "citizen" in gi:
        assert codes(gi["citizen"]) == codes(g["citizen"]), name
    if "destination" in gi:
        assert codes(gi["destination"]) == codes(g["destination"]), name

cv = 0.1
B = np.array([[100.0, 50.0], [80.0, 0.0]])            # border.csv
M = np.array([[120.0, 60.0], [70.0, 30.0]])           # mirror.csv (coverage 1, duration 1)
D = np.zeros((2, 2, 2))                               # declared.csv
D[0] = [[40, 10], [5, 20]]
D[1] = [[30, 5], [0, 0]]

for p in range(2):
    lb = np.concatenate([D[p].sum(axis=1), D[p].sum(axis=0)])
    x = np.concatenate([B[p], M[p]])
    y = x - lb
    V = np.diag((cv * x) ** 2)                        # var-floor = 0
    a = np.array([1.0, 1.0, -1.0, -1.0])
    b = lb[2:].sum() - lb[:2].sum()
    yh = y - V @ a * (a @ y - b) / (a @ V @ a)
    cov = V - np.outer(V @ a, V @ a) / (a @ V @ a)
    assert (yh >= 0).all()                            # no bound active in this case
    check(f"border_reconciled[{p}]", g["border_reconciled"][p], yh[:2] + lb[:2])
    check(f"mirror_reconciled[{p}]", g["mirror_reconciled"][p], yh[2:] + lb[2:])
    check(f"border_sd[{p}]", g["border_sd"][p], np.sqrt(np.diag(cov)[:2]))
    check(f"mirror_sd[{p}]", g["mirror_sd"][p], np.sqrt(np.diag(cov)[2:]))
    check(f"undeclared_by_citizen[{p}]", g["undeclared_by_citizen"][p], yh[:2])
    check(f"undeclared_by_destination[{p}]", g["undeclared_by_destination"][p], yh[2:])
    check(f"declared[{p}]", g["declared"][p], D[p])
    r, c = yh[:2], yh[2:]
    S = D[p]                                          # seed-floor = 0
    if (S > 0).all():
        # F = [[t, r0-t], [c0-t, r1-c0+t]] with t (r1-c0+t) = k (r0-t)(c0-t), k = S00 S11 / (S01 S10)
        k = S[0, 0] * S[1, 1] / (S[0, 1] * S[1, 0])
        qa, qb, qc = 1 - k, (r[1] - c[0]) + k * (r[0] + c[0]), -k * r[0] * c[0]
        roots = np.roots([qa, qb, qc])
        t = [z.real for z in roots if abs(z.imag) < 1e-12 and 0 <= z.real <= min(r[0], c[0])][0]
        F = np.array([[t, r[0] - t], [c[0] - t, r[1] - c[0] + t]])
    else:
        # second row of the seed is zero: row 0 takes the column margins as they are
        F = np.array([c, [0.0, 0.0]])
    check(f"undeclared[{p}]", g["undeclared"][p], F, tol=1e-7)  # IPF tolerance 1e-10 x total

# hand values of period 2021 (README / issue note): 100 + 100*30/305, 50 + 25*30/305
check("border 2021 by hand", g["border_reconciled"][0], [100 + 3000 / 305, 50 + 750 / 305])
check("gls_active", g["gls_active"][()], [0, 0])
check("ipf_converged", g["ipf_converged"][()], [1, 1])

# the inputs as read, with their flags (the files listed by hand)
B_in, B_st = [[100, 50], [80, 0]], [[1, 1], [1, 1]]
M_in, M_st = [[120, 60], [70, 30]], [[1, 1], [1, 1]]
D_in = [[[40, 10], [5, 20]], [[30, 5], [0, 0]]]
D_st = [[[1, 1], [1, 1]], [[1, 1], [0, 0]]]
if eurostat:
    # border.csv lines 2-5; mirror.csv: RU 2021 line 4, TR 2021 line 6, RU 2022 line 5, TR 2022 line 7
    check_input("border", B_in, B_st, [[2, 3], [4, 5]], [["", "e"], ["p", "bu"]], "OBS_FLAG")
    check_input("mirror", M_in, M_st, [[4, 6], [5, 7]], [["", "b"], ["ep", "p"]], "OBS_FLAG")
    check_input("declared", D_in, D_st, [[[2, 3], [4, 5]], [[6, 7], [0, 0]]],
                [[["", ""], ["", ""]], [["", ""], ["", ""]]], "")
else:
    check_input("border", B_in, B_st, [[2, 3], [4, 5]], [["", ""], ["p", "p"]], "OBS_FLAG")
    check_input("mirror", M_in, M_st, [[2, 3], [4, 5]], [["", ""], ["", ""]], "")
    check_input("declared", D_in, D_st, [[[2, 3], [4, 5]], [[6, 7], [0, 0]]],
                [[["", ""], ["", ""]], [["", ""], ["", ""]]], "")
check_xarray()

# self-description
def visit(name, obj):
    global fails
    if isinstance(obj, h5py.Dataset):
        for key in ("units", "long_name"):
            if key not in obj.attrs:
                print(f"FAIL {name} lacks attribute {key}")
                fails += 1
f.visititems(visit)
if g["undeclared"].dims[1][0].name != "/reconciliation/citizen":
    print("FAIL undeclared dimension 1 is not labelled by /reconciliation/citizen")
    fails += 1
for key in ("software", "version", "date", "command_line", "config_sha256", "input_sha256", "mpi_ranks"):
    if key not in f.attrs:
        print(f"FAIL root attribute {key} missing")
        fails += 1

print(f"reconcile_check{' --eurostat' if eurostat else ''}: {'FAILED' if fails else 'ok'} ({fails} failures)")
sys.exit(1 if fails else 0)
