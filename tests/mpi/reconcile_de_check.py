#!/usr/bin/env python3
"""reconcile_de_check.py OUT.h5 FLOWS.csv: `emflow reconcile --model double-entry` against an independent
numpy computation from the CSV (tests/mpi/reconcile.cmake).

The options (countries, years, priors, benchmark, duration entries, relative errors, var-floor) are
taken from the output's /config/options table (/config/reconcile/options in the output of `emflow
run`), i.e. what the run was told; everything else is
recomputed here from the CSV rows with the csv module and numpy:
  corrected report  x = reported * duration factor / coverage, coverage = a / (a + b) of the Beta prior
                    of the report's undercount class (1 for the benchmark source);
  variance          V = (cv of its accuracy class * x)^2 + var-floor;
  reported by both  flow = (x_e / V_e + x_i / V_i) / (1 / V_e + 1 / V_i), sd = (1 / V_e + 1 / V_i)^(-1/2)
                    (the precision-weighted mean: the GLS estimate under x_e = x_i);
  by one            flow = x, sd = sqrt(V);      by none: flow = sd = -1, source 0.
Every flow and sd must agree to 1e-9 relative; source codes and the reported counts exactly; the totals
must be the sums of the file's own flows (and of the expected ones) over the corridors with an estimate.
"""
import csv
import sys

import h5py
import numpy as np

FACTOR = {"0": 0.53, "3": 0.63, "6": 0.73, "12": 1.0, "permanent": 2.26}  # known_answers.md
UCLASS = ("low", "medium", "high")
ACLASS = ("high", "medium", "low", "na")

fails = []


def check(cond, what):
    if not cond:
        fails.append(what)


def close(a, b, rel=1e-9):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return np.abs(a - b) <= rel * np.maximum(np.abs(b), 1.0)


def main():
    out, path = sys.argv[1], sys.argv[2]
    f = h5py.File(out, "r")
    # a reconcile file has /config/options; the output of `emflow run` has each stage's as /config/STAGE/options
    table = f["/config/options"] if "/config/options" in f else f["/config/reconcile/options"]
    opts = {r["name"].decode(): r["value"].decode() for r in table[()]}
    check(opts["model"] == "double-entry", "model is double-entry")
    fcol, fval = (opts["filter"].split("=", 1) if opts["filter"] else (None, None))
    tcol = opts["time-col"] or "Year"
    frm, to = opts["from-col"], opts["to-col"]
    vcol = (opts["emigration-col"], opts["immigration-col"])
    ucol = (opts["emigration-undercount-col"], opts["immigration-undercount-col"])
    acol = (opts["emigration-accuracy-col"], opts["immigration-accuracy-col"])
    prior = {}
    for s, sn in enumerate(("emigration", "immigration")):
        for u in UCLASS:
            v = opts["prior-%s-%s" % (sn, u)]
            if v:
                a, b = (float(z) for z in v.split(","))
                prior[s, u] = a / (a + b)
    cv = {a: float(opts["de-cv-" + a]) for a in ACLASS}
    vfloor = float(opts["var-floor"])
    bsrc, bcode = opts["benchmark"].split(":")
    bsrc = ("emigration", "immigration").index(bsrc)
    dur = {}
    for e in filter(None, opts["duration"].split(",")):
        sc, months = e.strip().split("=")
        sn, code = sc.split(":")
        dur[("emigration", "immigration").index(sn), code] = FACTOR[months]

    with open(path, newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if fcol is None or r[fcol] == fval]
    countries = sorted(filter(None, opts["countries"].split(","))) or sorted({r[frm] for r in rows} | {r[to] for r in rows})
    years = sorted({int(r[tcol]) for r in rows})
    y0 = int(opts["first-year"]) if opts["first-year"] else years[0]
    y1 = int(opts["last-year"]) if opts["last-year"] else years[-1]
    years = [y for y in years if y0 <= y <= y1]
    years = list(range(years[0], years[-1] + 1))
    C, T = len(countries), len(years)
    cix = {c: i for i, c in enumerate(countries)}
    corridors = [(i, j) for i in range(C) for j in range(C) if i != j]
    K = len(corridors)
    kix = {ij: k for k, ij in enumerate(corridors)}

    raw = -np.ones((2, T, K))
    x = np.zeros((2, T, K))
    V = np.zeros((2, T, K))
    nbench = 0
    for r in rows:
        if r[frm] not in cix or r[to] not in cix or int(r[tcol]) not in years:
            continue
        i, j, t = cix[r[frm]], cix[r[to]], years.index(int(r[tcol]))
        k = kix[i, j]
        for s in range(2):
            if r[vcol[s]] in ("NA", "", ":"):
                continue
            v = float(r[vcol[s]])
            reporter = countries[i] if s == 0 else countries[j]
            if s == bsrc and reporter == bcode:
                cov = 1.0
                nbench += 1
            else:
                cov = prior[s, r[ucol[s]].lower()]
            raw[s, t, k] = v
            x[s, t, k] = v * dur.get((s, reporter), 1.0) / cov
            V[s, t, k] = (cv[r[acol[s]].lower()] * x[s, t, k]) ** 2 + vfloor
    has = raw >= 0
    source = has[0] * 1 + has[1] * 2
    both, e_only, i_only = source == 3, source == 1, source == 2
    flow = -np.ones((T, K))
    sd = -np.ones((T, K))
    with np.errstate(divide="ignore", invalid="ignore"):
        w = 1.0 / V[0] + 1.0 / V[1]
        flow[both] = ((x[0] / V[0] + x[1] / V[1]) / w)[both]
        sd[both] = (1.0 / np.sqrt(w))[both]
    flow[e_only], sd[e_only] = x[0][e_only], np.sqrt(V[0][e_only])
    flow[i_only], sd[i_only] = x[1][i_only], np.sqrt(V[1][i_only])

    g = f["/reconciliation"]
    check(g.attrs["model"] == "double-entry", "attribute model")
    check([s.decode() for s in g["country"][()]] == countries, "country scale")
    check([s.decode() for s in g["year"][()]] == ["%04d" % y for y in years], "year scale")
    check([s.decode() for s in g["corridor"][()]] == ["%s->%s" % (countries[i], countries[j]) for i, j in corridors],
          "corridor scale")
    names = ["flows", "flows_sd", "source", "emigration_reported", "immigration_reported", "emigration_total",
             "immigration_total", "gls_max_residual"]
    for n in names + ["year", "corridor", "country"]:
        check(n in g, "dataset %s present" % n)
        if n in g:
            check("units" in g[n].attrs and "long_name" in g[n].attrs and len(g[n].attrs["long_name"]) > 0,
                  "%s has units and long_name" % n)
            if g[n].dtype.kind == "f":
                check(np.all(np.isfinite(g[n][()])), "%s has no NaN/Inf" % n)
    F, S, SRC = g["flows"][()], g["flows_sd"][()], g["source"][()]
    check(F.shape == (T, K), "flows shape %s, expected %s" % (F.shape, (T, K)))
    check(np.array_equal(SRC, source), "source codes (%d differ)" % int(np.sum(SRC != source)))
    check(np.array_equal(g["emigration_reported"][()], raw[0]), "emigration_reported = the raw Emig counts")
    check(np.array_equal(g["immigration_reported"][()], raw[1]), "immigration_reported = the raw Immi counts")
    bad = ~close(F, flow)
    check(not bad.any(), "flows: %d differ, worst %s" % (int(bad.sum()), worst(F, flow)))
    bad = ~close(S, sd)
    check(not bad.any(), "flows_sd: %d differ, worst %s" % (int(bad.sum()), worst(S, sd)))
    check(np.all(F[source == 0] == -1) and np.all(S[source == 0] == -1), "no report: -1")
    check(np.all(F[source > 0] >= 0), "reconciled flows are non-negative")
    # balanced flows lie between the two corrected reports
    lo, hi = np.minimum(x[0], x[1]), np.maximum(x[0], x[1])
    check(np.all((F[both] >= lo[both] * (1 - 1e-12)) & (F[both] <= hi[both] * (1 + 1e-12))), "flows between reports")
    est = np.where(source > 0, F, 0.0)
    exp_est = np.where(source > 0, flow, 0.0)
    fr = np.array([i for i, _ in corridors])
    tt = np.array([j for _, j in corridors])
    ET = np.stack([est[:, fr == c].sum(axis=1) for c in range(C)], axis=1)
    IT = np.stack([est[:, tt == c].sum(axis=1) for c in range(C)], axis=1)
    ETx = np.stack([exp_est[:, fr == c].sum(axis=1) for c in range(C)], axis=1)
    ITx = np.stack([exp_est[:, tt == c].sum(axis=1) for c in range(C)], axis=1)
    check(np.all(close(g["emigration_total"][()], ET, 1e-12)), "emigration_total = sums of flows out")
    check(np.all(close(g["immigration_total"][()], IT, 1e-12)), "immigration_total = sums of flows in")
    check(np.all(close(g["emigration_total"][()], ETx)), "emigration_total = expected sums")
    check(np.all(close(g["immigration_total"][()], ITx)), "immigration_total = expected sums")
    res = g["gls_max_residual"][()]
    check(res.shape == (T,) and np.all(res >= 0) and np.all(res <= 1e-9 * max(1.0, float(np.max(x)))),
          "gls_max_residual small: %s" % res)
    check(np.all(res[~both.any(axis=1)] == 0), "no paired corridor: residual 0")
    # the test data must exercise what it claims to (--partial-sources: data where not every kind occurs)
    for code, what in ((0, "none"), (1, "sending only"), (2, "receiving only"), (3, "both")):
        if code in (1, 2, 3) or "--partial-sources" not in sys.argv:
            check((source == code).any() or ("--partial-sources" in sys.argv and code != 3),
                  "some corridor-year reported by %s" % what)
    check(nbench > 0, "the benchmark has reports")
    if fails:
        print("FAIL:\n  " + "\n  ".join(fails))
        sys.exit(1)
    print("reconcile_de_check: %d countries x %d years x %d corridors: %d both, %d sending only, %d receiving only, "
          "%d none; %d benchmark reports; all values agree" % (C, T, K, both.sum(), e_only.sum(), i_only.sum(),
                                                               (source == 0).sum(), nbench))


def worst(a, b):
    d = np.abs(a - b) / np.maximum(np.abs(b), 1.0)
    i = np.unravel_index(np.argmax(d), d.shape)
    return "at %s: %r vs %r (rel %.3g)" % (tuple(int(z) for z in i), a[i], b[i], d[i])


if __name__ == "__main__":
    main()
