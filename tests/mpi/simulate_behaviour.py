#!/usr/bin/python3
"""Behaviour tests of `emflow simulate` (issue 3): the simulated persons do what the options say.

    simulate_behaviour.py EMFLOW PROFILE.ini WORKDIR

Two runs at scale 0.006 with the same seed and options (type shares raised for emigrants, circular
migrants, residents and foreign workers; anchor weights 1; raised fault rates; resident trips of
mean 2 days; declaration factors by citizenship), one with --closure-factor 0.2, one with 1.0, with
the truth dumps (--persons-dump, --movements-dump).  Every check states the value the model implies
(kernels/emi_sim.c, engine/emi_cmd_simulate.c) and accepts the observation within 4 standard errors
(binomial, Poisson or conditional binomial; a correct simulator fails one of the ~75 checks with probability ~5e-3 for a
random seed; the seed is fixed, so the outcome is deterministic):

  emigrants    each emigrant whose departure is in the period has exactly one migrant departure (12/16),
               at the departure or at a short trip just before it (<= 487 days), >= 365 of its 487 days
               abroad by an independent count.  Expected: all (the visits home, 0.5 a year of <= 30 days,
               keep an emigrant home > 122 days of 487 with probability < 6e-4).
  circular     absences (days abroad in the 487 days from an exit) on both sides of 365: for an exit
               followed by another cycle (t + 330 + 150 < anchor + 1095), days abroad = 487 - home
               spell, so P(>= 365) = P(home <= 122) = 93/121 with home ~ U{30..150}; for a last exit
               (no next cycle possible) days abroad = spell abroad <= 330 < 365: share 0.
  seasonality  residents' trip starts after the first, per day at home (closure factor 1): rate
               proportional to s(doy) = 1 + 0.5 cos(2 pi (doy - 200) / 365.25) (kernels/emi_sim.c
               next_start; fixed in the kernel, not an option): July / January = 2.95.  Tested within
               persons (a start in July or January is in July with probability S_jul / (S_jul + S_jan),
               S = the person's s-weighted days at home: the person's own gamma rate cancels, which the
               pooled ratio does not quite do: it comes out ~3-6% low), and the 24 monthly counts fit
               the shape (chi-square, p > 1e-4).
  closure      factor 0.2 vs 1.0, April-December 2020: persons anchored (first trip, departure,
               arrival) in those months x 0.2 for every type but frequent travellers (x 1, exempt);
               residents' later trip starts per day at home x 0.2 (between the runs, and within each
               resident of the 0.2 run); frequent travellers' entries x 1; anchors in 2021 x 1.  All
               exits in those months are not x 0.2 (return legs are never blocked): printed only.
  faults       shares of each fault kind (/truth/faults) among its opportunities (true movements in the
               period; kernels/emi_sim.c fault order: missed, then late, then the rest) = the rates;
               missed exits / entries at land points = rate x miss-land-factor (5), elsewhere = rate.
  declarations every true migrant departure is declared with probability
               coverage x age factor x (1.2 women) x (0.3 foreigners) x citizenship factor: declared
               counts by sex, age group, citizen/foreigner and citizenship = sum of those probabilities.
  citizenship  foreign persons and their true crossings in the period: the mix of PROFILE.ini's
               foreign-citizenships (the defaults); crossings are clustered by person (one person,
               one citizenship), so their standard error is the cluster-robust one.
"""
import csv
import datetime as dt
import math
import os
import subprocess
import sys

import h5py
import numpy as np

emflow, ini, work = sys.argv[1:4]
os.makedirs(work, exist_ok=True)

W, THR = 487, 365                       # kernels/emi_rule1216.h
START, MONTHS, BURN, TAIL = (2020, 1), 24, 36, 17   # TAIL_MONTHS in engine/emi_cmd_simulate.c
SCALE, SEED = "0.006", "11"
LAND = {"SAMUR", "RED-BRIDGE", "ASTARA", "BILASUVAR", "SADARAK"}  # emi_sim_point_is_land
CITIZEN_TYPES = {"resident", "emigrant", "returner", "circular"}
RATES = dict(miss_exit=0.02, miss_entry=0.01, land=5.0, dup=0.02, date=0.03, swap=0.3, late=0.02, late_days=20.0,
             doc2=0.3)
COVERAGE, FEMALE, FOREIGN = 0.3, 1.2, 0.3
AGE_F = [1.0, 0.8, 0.9, 1.0, 1.1, 1.3, 1.5]
CIT_F = {"AZE": 0.8, "RUS": 2.0, "GEO": 0.5}
ARGS = ["--start", "2020-01", "--months", str(MONTHS), "--burn-in-months", str(BURN), "--seed", SEED,
        "--scale", SCALE, "--log-level", "warn",
        "--type-shares", "resident:0.35,emigrant:0.15,returner:0.02,circular:0.08,visitor:0.25,frequent:0.05,"
        "worker:0.07,immigrant:0.02,overstayer:0.01",
        "--visitor-weights", "2000-01:1", "--frequent-weights", "2000-01:1", "--worker-weights", "2000-01:1",
        "--resident-trip-days", "2", "--closure-start", "2020-04", "--closure-end", "2020-12",
        "--miss-exit-rate", str(RATES["miss_exit"]), "--miss-entry-rate", str(RATES["miss_entry"]),
        "--miss-land-factor", str(RATES["land"]), "--duplicate-rate", str(RATES["dup"]),
        "--date-error-rate", str(RATES["date"]), "--date-swap-share", str(RATES["swap"]),
        "--late-rate", str(RATES["late"]), "--late-days", str(RATES["late_days"]),
        "--second-document-rate", str(RATES["doc2"]), "--dual-share", "0.2",
        "--declare-coverage", str(COVERAGE), "--declare-female-factor", str(FEMALE),
        "--declare-foreign-factor", str(FOREIGN), "--declare-age-factors", ",".join(map(str, AGE_F)),
        "--declare-citizenship-factors", ",".join(f"{k}:{v}" for k, v in CIT_F.items())]
FAULTS = ["missed_exit", "missed_entry", "duplicate", "date_off_by_one", "date_day_month_swap", "second_document",
          "late_reordered", "late_missing"]
EPOCH = dt.date(1970, 1, 1)
failures = []


def day_of(y, m):
    y, m = y + (m - 1) // 12, (m - 1) % 12 + 1
    return (dt.date(y, m, 1) - EPOCH).days


PLO, PHI = day_of(START[0], START[1]), day_of(START[0], START[1] + MONTHS)
HLO, HHI = day_of(START[0], START[1] - BURN), day_of(START[0], START[1] + MONTHS + TAIL)
CLO, CHI = day_of(2020, 4), day_of(2021, 1)


def check(name, ok, text):
    print(f"{'ok  ' if ok else 'FAIL'} {name}: {text}")
    if not ok:
        failures.append(name)


def binom(name, k, n, p, z=4.0):
    se = math.sqrt(n * p * (1 - p)) if n else 0
    zz = (k - n * p) / se if se else float("inf")
    check(name, n > 0 and abs(zz) <= z, f"{k}/{n} = {k / max(n, 1):.4f}, expected {p:.4f} (z = {zz:+.2f})")


def poisson_binom(name, k, ps, z=4.0):
    mu, var = float(np.sum(ps)), float(np.sum(ps * (1 - ps)))
    zz = (k - mu) / math.sqrt(var) if var > 0 else float("inf")
    check(name, len(ps) > 0 and abs(zz) <= z,
          f"declared {k} of {len(ps)} = {k / max(len(ps), 1):.4f}, expected {mu / max(len(ps), 1):.4f} (z = {zz:+.2f})")


def ratio(name, x1, x2, expected, var1=None, var2=None, e1=1.0, e2=1.0, z=4.0):
    """(x1/e1) / (x2/e2) vs expected; log-ratio standard error from the counts' variances
    (Poisson unless given).  The two runs share the seed, so they are positively correlated and
    this independent-runs error is conservative."""
    var1 = x1 if var1 is None else var1
    var2 = x2 if var2 is None else var2
    if x1 <= 0 or x2 <= 0:
        check(name, False, f"empty counts {x1}, {x2}")
        return
    r = (x1 / e1) / (x2 / e2)
    se = math.sqrt(var1 / x1 ** 2 + var2 / x2 ** 2)
    zz = (math.log(r) - math.log(expected)) / se
    check(name, abs(zz) <= z, f"ratio {r:.4f} ({x1:.0f} vs {x2:.0f}), expected {expected:.4f}, "
          f"log-ratio se {se:.4f} (z = {zz:+.2f})")


def season(days):
    """kernels/emi_sim.c next_start: 1 + 0.5 cos(2 pi (doy - 200) / 365.25), doy from Jan 1 = 0."""
    d = np.asarray(days)
    jan1 = d.astype("datetime64[D]").astype("datetime64[Y]").astype("datetime64[D]").astype(np.int64)
    return 1.0 + 0.5 * np.cos(2 * math.pi * (d - jan1) / 365.25 - 2 * math.pi * 200 / 365.25)


def month_index(days):
    """months since 1970-01 of days since 1970-01-01"""
    return np.asarray(days).astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)


def run(tag, closure):
    base = os.path.join(work, tag)
    cmd = [emflow, "simulate", "-o", base + ".h5", *ARGS, "--closure-factor", str(closure),
           "--persons-dump", base + "_persons.csv", "--movements-dump", base + "_movements.csv"]
    subprocess.run(cmd, check=True)
    def table(path):
        with open(path) as f:
            lines = f.read().splitlines()[1:]
        return np.array([ln.split(",") for ln in lines])
    t = table(base + "_persons.csv")
    assert np.array_equal(t[:, 0].astype(np.int64), np.arange(len(t)))
    P = {"type": t[:, 3], "cit": t[:, 4], "dual": t[:, 5] != "", "female": t[:, 6] == "F",
         "by": t[:, 7].astype(np.int64), "anchor": t[:, 8].astype(np.int64)}
    t = table(base + "_movements.csv")
    M = {"pid": t[:, 0].astype(np.int64), "day": t[:, 1].astype(np.int64), "out": t[:, 3] == "OUT",
         "land": np.isin(t[:, 4], list(LAND)), "cls": t[:, 5].astype(np.int64), "declared": t[:, 6] == "1",
         "faults": t[:, 9].astype(np.int64)}
    del t
    M["first"] = np.searchsorted(M["pid"], np.arange(len(P["type"]) + 1))  # moves of person i: [first[i], first[i+1])
    with h5py.File(base + ".h5", "r") as f:
        T = dict(zip([x.decode() for x in f["/truth/fault_kind"][()]], f["/truth/faults"][()].tolist()))
    for suffix in ("_crossings.csv", "_declarations.csv", "_persons.csv", "_movements.csv", ".h5"):
        os.remove(base + suffix)
    return P, M, T


def abroad_days(days, outs, k):
    """days abroad in [days[k], days[k] + W) (location = direction of the last crossing on or before a day)"""
    end, n, j = days[k] + W, 0, k
    while j < len(days) and days[j] < end:
        nxt = days[j + 1] if j + 1 < len(days) else end
        if outs[j]:
            n += min(nxt, end) - days[j]
        j += 1
    return n


def persons_of(P, M, typ):
    for i in np.nonzero(P["type"] == typ)[0]:
        a, b = M["first"][i], M["first"][i + 1]
        yield i, M["day"][a:b].tolist(), M["out"][a:b].tolist(), M["cls"][a:b].tolist()


def check_emigrants(P, M):
    n = bad = on_anchor = 0
    for i, days, outs, cls in persons_of(P, M, "emigrant"):
        a0 = int(P["anchor"][i])
        if not PLO <= a0 < PHI:
            continue
        n += 1
        near = [k for k in range(len(days)) if a0 - W <= days[k] <= a0]
        deps = [k for k in near if cls[k] == 1]
        long_abs = [k for k in near if outs[k] and abroad_days(days, outs, k) >= THR]
        if len(deps) != 1 or not long_abs or deps[0] != long_abs[0]:
            bad += 1
        elif days[deps[0]] == a0:
            on_anchor += 1
    # expected: all; allow 4 sd of the upper bound 6e-4 per emigrant
    allowed = int(n * 6e-4 + 4 * math.sqrt(n * 6e-4) + 1)
    check("emigrants: one 12/16 migrant departure at or just before the departure", n > 500 and bad <= allowed,
          f"{n - bad}/{n} emigrants ({on_anchor} on the departure day itself, the rest at a short trip "
          f"before it), failures {bad} (allowed {allowed})")


def check_circular(P, M):
    cont = [0, 0]   # exits followed by another cycle: [< 365 abroad, >= 365]
    last = [0, 0]   # exits with no next cycle possible
    for i, days, outs, cls in persons_of(P, M, "circular"):
        until = int(P["anchor"][i]) + 1095  # circular_span_days (emi_sim_params_default)
        for k in range(len(days)):
            t = days[k]
            if not outs[k] or not (HLO <= t < PHI) or t + W > HHI:
                continue
            ab = abroad_days(days, outs, k)
            if t + 330 + 150 < until:
                cont[ab >= THR] += 1
            elif t + 240 + 30 >= until:
                last[ab >= THR] += 1
    nc, nl = sum(cont), sum(last)
    binom("circular: exits followed by another cycle, share with >= 365 days abroad of 487", cont[1], nc, 93 / 121)
    check("circular: both sides of the threshold", nc > 500 and 0.1 < cont[1] / nc < 0.9,
          f"{cont[1]} exits >= 365 days abroad, {cont[0]} < 365")
    check("circular: last exits (no next cycle), share >= 365 days abroad", nl > 200 and last[1] == 0,
          f"{last[1]}/{nl}, expected 0 (spell abroad <= 330 days)")


GRID = np.arange(HLO, HHI + 1)                      # every day of the history
GRID_MONTH = month_index(GRID)
MONTH_START = {int(m): HLO + int(np.argmax(GRID_MONTH == m)) for m in np.unique(GRID_MONTH)}


def resident_exposure(P, M, lo, hi, weight, keep=None):
    """Residents' trip starts after the first (exits after the anchor day) with day in [lo, hi), and the
    days at home on which such a start was possible (the day after a return .. the next exit, or the
    end of the active spell anchor + 730), each day weighted by weight(day); both by month index.
    keep: a set of month indexes: also returns, per person, {month: [starts, exposure]} for those."""
    cum = np.concatenate([[0.0], np.cumsum(weight(GRID))])  # cum[d - HLO] = sum of weights before day d
    starts, expo, per = {}, {}, []
    for i, days, outs, cls in persons_of(P, M, "resident"):
        if keep is not None:
            mine = {m: [0, 0.0] for m in keep}
            per.append(mine)
            expo0, starts0 = dict(expo), dict(starts)
        a0 = int(P["anchor"][i])
        until = min(a0 + 730, HHI)  # resident_span_days (emi_sim_params_default)
        for k in range(1, len(days), 2):  # returns (IN) at odd positions: OUT at the anchor first
            r = days[k]
            if k + 1 < len(days):
                e = days[k + 1]
                if lo <= e < hi:
                    mi = int(GRID_MONTH[e - HLO])
                    starts[mi] = starts.get(mi, 0) + 1
            else:
                e = until - 1
            s, e = max(r + 1, lo), min(e, hi - 1)
            m = int(GRID_MONTH[s - HLO]) if s <= e else 0
            while s <= e:
                b = min(e + 1, MONTH_START.get(m + 1, HHI + 1))
                expo[m] = expo.get(m, 0.0) + float(cum[b - HLO] - cum[s - HLO])
                s, m = b, m + 1
        if keep is not None:
            for m in keep:
                mine[m][0] = starts.get(m, 0) - starts0.get(m, 0)
                mine[m][1] = expo.get(m, 0.0) - expo0.get(m, 0.0)
    return (starts, expo, per) if keep is not None else (starts, expo)


def check_seasonality(P, M):
    starts, sx = resident_exposure(P, M, PLO, PHI, season)
    _, ex = resident_exposure(P, M, PLO, PHI, lambda d: np.ones(len(d)))
    months = sorted(ex)
    N = np.array([starts.get(m, 0) for m in months], dtype=float)
    X = np.array([sx[m] for m in months])
    lam = N.sum() / X.sum()
    chi2 = float(np.sum((N - lam * X) ** 2 / (lam * X)))
    # chi-square with len(months) - 1 degrees of freedom: the p = 1e-4 point (Wilson-Hilferty)
    df = len(months) - 1
    crit = df * (1 - 2 / (9 * df) + 3.719 * math.sqrt(2 / (9 * df))) ** 3
    check("seasonality: monthly trip starts per day at home follow 1 + 0.5 cos(2 pi (doy - 200) / 365.25)",
          df == MONTHS - 1 and chi2 <= crit, f"chi-square {chi2:.1f} on {df} df (p = 1e-4 point {crit:.1f})")
    # July vs January within each resident: given a person's trip starts in January and July, each is
    # in July with probability S_jul / (S_jul + S_jan) (S: the person's season-weighted days at home
    # in those months), whatever the person's own trip rate (which cancels): a conditional binomial
    # test free of the rate heterogeneity (gamma) and of time spent abroad.
    jan = {m for m in months if m % 12 == 0}
    jul = {m for m in months if m % 12 == 6}
    _, _, per = resident_exposure(P, M, PLO, PHI, season, keep=jan | jul)
    obs = exp_ = var = 0.0
    for d in per:
        nu, nj = sum(d[m][0] for m in jul), sum(d[m][0] for m in jan)
        su, sj = sum(d[m][1] for m in jul), sum(d[m][1] for m in jan)
        if nu + nj == 0 or su + sj <= 0:
            continue
        pi = su / (su + sj)
        obs, exp_, var = obs + nu, exp_ + (nu + nj) * pi, var + (nu + nj) * pi * (1 - pi)
    z = (obs - exp_) / math.sqrt(var)
    nj = sum(starts.get(m, 0) for m in jan)
    nu = sum(starts.get(m, 0) for m in jul)
    ej, eu = sum(ex[m] for m in jan), sum(ex[m] for m in jul)
    expected = (sum(sx[m] for m in jul) / eu) / (sum(sx[m] for m in jan) / ej)
    check("seasonality: residents' trip starts in July vs January, within persons (conditional binomial)",
          abs(z) <= 4 and obs > 1000,
          f"July {obs:.0f} of {obs + nj:.0f} starts in July or January, expected {exp_:.1f} (z = {z:+.2f}); pooled "
          f"rate per day at home July / January {(nu / eu) / (nj / ej):.3f}, configured seasonality {expected:.3f}")


def check_closure(P1, M1, P2, M2):
    def anchored(P, lo, hi, frequent):
        sel = (P["anchor"] >= lo) & (P["anchor"] < hi)
        return int(np.sum(sel & ((P["type"] == "frequent") == frequent)))
    ratio("closure: persons anchored Apr-Dec 2020, all types but frequent (0.2 / 1.0)",
          anchored(P1, CLO, CHI, False), anchored(P2, CLO, CHI, False), 0.2)
    ratio("closure: frequent travellers anchored Apr-Dec 2020 (exempt)",
          anchored(P1, CLO, CHI, True), anchored(P2, CLO, CHI, True), 1.0)
    c2021 = (day_of(2021, 1), day_of(2022, 1))
    ratio("closure: persons anchored in 2021 (no closure), all types", anchored(P1, *c2021, False) +
          anchored(P1, *c2021, True), anchored(P2, *c2021, False) + anchored(P2, *c2021, True), 1.0)
    w = lambda d: season(d)  # noqa: E731
    s1, x1 = resident_exposure(P1, M1, CLO, CHI, w)
    s2, x2 = resident_exposure(P2, M2, CLO, CHI, w)
    ratio("closure: residents' later trip starts per (seasonal) day at home, Apr-Dec 2020", sum(s1.values()),
          sum(s2.values()), 0.2, e1=sum(x1.values()), e2=sum(x2.values()))

    # within each resident of the 0.2 run: a later trip start falls in the closure months with
    # probability 0.2 S_c / (0.2 S_c + S_o) (S: season-weighted days at home in the closure months /
    # the other months of the period), the person's own rate cancelling
    cm = set(int(m) for m in np.unique(GRID_MONTH[CLO - HLO:CHI - HLO]))
    pm = set(int(m) for m in np.unique(GRID_MONTH[PLO - HLO:PHI - HLO]))
    _, _, per = resident_exposure(P1, M1, PLO, PHI, w, keep=pm)
    obs = exp_ = var = 0.0
    for d in per:
        nc, no = sum(d[m][0] for m in cm), sum(d[m][0] for m in pm - cm)
        sc, so = sum(d[m][1] for m in cm), sum(d[m][1] for m in pm - cm)
        if nc + no == 0 or sc + so <= 0:
            continue
        pi = 0.2 * sc / (0.2 * sc + so)
        obs, exp_, var = obs + nc, exp_ + (nc + no) * pi, var + (nc + no) * pi * (1 - pi)
    z = (obs - exp_) / math.sqrt(var)
    check("closure: within residents of the 0.2 run, later trip starts in the closure months (conditional binomial)",
          abs(z) <= 4 and obs > 500, f"{obs:.0f}, expected {exp_:.1f} for factor 0.2 (z = {z:+.2f})")

    def frequent_entries(P, M):
        fr = np.nonzero(P["type"] == "frequent")[0]
        sel = np.isin(M["pid"], fr) & ~M["out"] & (M["day"] >= CLO) & (M["day"] < CHI)
        per = np.bincount(M["pid"][sel])
        return float(per.sum()), float(np.sum(per.astype(float) ** 2))  # count, compound-Poisson variance
    (f1, v1), (f2, v2) = frequent_entries(P1, M1), frequent_entries(P2, M2)
    ratio("closure: frequent travellers' entries Apr-Dec 2020 (exempt)", f1, f2, 1.0, var1=v1, var2=v2)
    e1 = int(np.sum(M1["out"] & (M1["day"] >= CLO) & (M1["day"] < CHI)))
    e2 = int(np.sum(M2["out"] & (M2["day"] >= CLO) & (M2["day"] < CHI)))
    print(f"info closure: all exits Apr-Dec 2020, 0.2 vs 1.0: {e1} / {e2} = {e1 / e2:.3f} (return legs are never "
          f"blocked and frequent travellers are exempt, so above 0.2)")


def check_faults(P, M, T):
    inp = (M["day"] >= PLO) & (M["day"] < PHI)
    f = M["faults"]
    bit = {k: ((f >> j) & 1) == 1 for j, k in enumerate(FAULTS)}
    for j, k in enumerate(FAULTS):
        check(f"faults: /truth/faults {k} = flags of the movements", T[k] == int(np.sum(bit[k] & inp)),
              f"{T[k]} vs {int(np.sum(bit[k] & inp))}")
    r = RATES
    for kind, out, rate in (("missed_exit", True, r["miss_exit"]), ("missed_entry", False, r["miss_entry"])):
        for land, mult in ((False, 1.0), (True, r["land"])):
            opp = inp & (M["out"] == out) & (M["land"] == land)
            binom(f"faults: {kind} at {'land' if land else 'air/sea'} points", int(np.sum(bit[kind] & opp)),
                  int(np.sum(opp)), rate * mult)
    missed = bit["missed_exit"] | bit["missed_entry"]
    kept = inp & ~missed
    late = bit["late_reordered"] | bit["late_missing"]
    binom("faults: late (reordered + missing) among recorded movements", T["late_reordered"] + T["late_missing"],
          int(np.sum(kept)), r["late"])
    # a late record is missing when its delay 1 + geometric(mean 20) reaches the period end
    q = 1 / r["late_days"]
    p_miss = (1 - q) ** (PHI - M["day"][kept & late] - 1).astype(float)
    p_miss = np.minimum(p_miss, 1.0)
    mu, sd = p_miss.sum(), math.sqrt(np.sum(p_miss * (1 - p_miss)))
    check("faults: late_missing among late records (delay reaches the period end)",
          abs(T["late_missing"] - mu) <= 4 * sd + 0.5, f"{T['late_missing']}, expected {mu:.1f} +- {sd:.1f}")
    rec = kept & ~bit["late_missing"]
    n = int(np.sum(rec))
    binom("faults: duplicate", T["duplicate"], n, r["dup"])
    binom("faults: date_off_by_one", T["date_off_by_one"], n, r["date"] * (1 - r["swap"]))
    d = M["day"].astype("datetime64[D]")
    dom = (d - d.astype("datetime64[M]")).astype(np.int64) + 1
    mon = d.astype("datetime64[M]").astype(np.int64) % 12 + 1
    swappable = rec & (dom <= 12) & (dom != mon)
    binom("faults: date_day_month_swap (day <= 12, day != month)", T["date_day_month_swap"], int(np.sum(swappable)),
          r["date"] * r["swap"])
    check("faults: no swap where day and month cannot be swapped", int(np.sum(bit["date_day_month_swap"] & ~swappable)) == 0,
          f"{int(np.sum(bit['date_day_month_swap'] & ~swappable))}")
    dual = P["dual"][M["pid"]]
    binom("faults: second_document among dual citizens' records", T["second_document"], int(np.sum(rec & dual)),
          r["doc2"])
    m_air = np.sum(bit["missed_exit"] & inp & M["out"] & ~M["land"]) / np.sum(inp & M["out"] & ~M["land"])
    m_land = np.sum(bit["missed_exit"] & inp & M["out"] & M["land"]) / np.sum(inp & M["out"] & M["land"])
    print(f"info faults: missed exits land / air = {m_land / m_air:.2f} (miss-land-factor {r['land']})")


def check_declarations(P, M):
    dep = M["cls"] == 1
    pid = M["pid"][dep]
    year = M["day"][dep].astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970
    age = year - P["by"][pid]
    grp = np.where(age < 15, 0, np.where(age >= 65, 6, 1 + (age - 15) // 10))
    female = P["female"][pid]
    cit = P["cit"][pid]
    foreign = ~np.isin(P["type"][pid], list(CITIZEN_TYPES))
    citf = np.array([CIT_F.get(c, 1.0) for c in cit])
    p = COVERAGE * np.array(AGE_F)[grp] * np.where(female, FEMALE, 1.0) * np.where(foreign, FOREIGN, 1.0) * citf
    p = np.minimum(p, 1.0)
    decl = M["declared"][dep]
    check("declarations: only migrant departures are declared", int(np.sum(M["declared"] & ~dep)) == 0,
          f"{int(np.sum(M['declared'] & ~dep))} declared movements that are not departures")
    groups = [("men", ~female), ("women", female), ("citizens", ~foreign), ("foreigners", foreign)]
    groups += [(f"age group {g}", grp == g) for g in range(7)]
    groups += [(f"citizenship {c}", cit == c) for c in CIT_F]
    groups += [("other foreign citizenships", foreign & ~np.isin(cit, list(CIT_F)))]
    groups += [("foreign women", foreign & female), ("citizen women 55+", ~foreign & female & (grp >= 5))]
    for name, sel in groups:
        poisson_binom(f"declarations: {name}", int(np.sum(decl[sel])), p[sel])
    # what ignoring each factor would predict, for the record (the size of the effect being tested)
    for name, sel, f in (("women", female, FEMALE), ("foreigners", foreign, FOREIGN),
                         ("citizenship RUS", cit == "RUS", CIT_F["RUS"]), ("citizens (AZE)", cit == "AZE", CIT_F["AZE"])):
        print(f"info declarations: {name}: observed {np.mean(decl[sel]):.4f}, expected {np.mean(p[sel]):.4f}, "
              f"without the factor {np.mean(np.minimum(p[sel] / f, 1)):.4f}")


def check_citizenship(P, M):
    shares = None
    with open(ini) as f:
        for line in f:
            if line.strip().startswith("foreign-citizenships"):
                shares = {k: float(v) for k, v in (it.split(":") for it in line.split("=", 1)[1].strip().split(","))}
    check("citizenship: shares read from the profile", shares is not None and abs(sum(shares.values()) - 1) < 1e-9,
          f"{shares}")
    foreign = ~np.isin(P["type"], list(CITIZEN_TYPES))
    fid = np.nonzero(foreign)[0]
    cit = P["cit"][fid]
    sel = foreign[M["pid"]] & (M["day"] >= PLO) & (M["day"] < PHI)
    per = np.bincount(M["pid"][sel], minlength=len(P["type"]))[fid].astype(float)  # crossings per foreign person
    tot = per.sum()
    chi2 = 0.0
    for code, s in shares.items():
        k = int(np.sum(cit == code))
        chi2 += (k - len(fid) * s) ** 2 / (len(fid) * s)
        binom(f"citizenship: foreign persons {code}", k, len(fid), s)
        x = (cit == code).astype(float)
        sh = float(np.sum(per * x) / tot)
        se = math.sqrt(np.sum((per * (x - s)) ** 2)) / tot
        z = (sh - s) / se
        check(f"citizenship: foreign persons' crossings {code}", abs(z) <= 4,
              f"{sh:.4f} of {tot:.0f}, expected {s:.4f} (cluster-robust se {se:.4f}, z = {z:+.2f})")
    check("citizenship: no other foreign citizenship", set(cit.tolist()) <= set(shares), f"{sorted(set(cit.tolist()))}")
    print(f"info citizenship: persons chi-square {chi2:.1f} on {len(shares) - 1} df")


P1, M1, T1 = run("closure02", 0.2)
P2, M2, T2 = run("closure10", 1.0)
print(f"info runs: {len(P1['type'])} and {len(P2['type'])} persons, {len(M1['day'])} and {len(M2['day'])} movements")
check_emigrants(P2, M2)
check_circular(P2, M2)
check_seasonality(P2, M2)
check_closure(P1, M1, P2, M2)
check_faults(P1, M1, T1)
check_declarations(P1, M1)
check_citizenship(P2, M2)
print(f"{len(failures)} failure(s)" + (": " + ", ".join(failures) if failures else ""))
sys.exit(1 if failures else 0)
