#!/usr/bin/python3
"""classify_check.py: `emflow classify` against the ground truth of `emflow simulate`.

usage: classify_check.py CLASSIFY.h5 TRUTH.h5 exact|TOL_REL [--undeclared] [--arrivals-from PERSONS.csv MOVEMENTS.csv]
                         [--doc-citizenship] [--adjusted TOL_DEP,TOL_ARR,TOL_UND | --adjusted-exact | --no-adjusted]

The truth (/truth/migrant_departures, migrant_arrivals, undeclared_departures: month x citizenship x
sex x age_group) is the 12/16 rule applied by the reference classifier to the TRUE movements of the
whole simulated history; classify sees only the recorded crossings of the period.  Compared: every
month of classify's table that is final (/linkage/provisional == 0, i.e. after the warm-up and with
every window closed), cell by cell, labels matched by name (citizenship codes absent on one side are
zero; sex X must be zero since simulate writes M/F only).

exact      every compared cell equal (fault-free simulation: the expected result, DESIGN.md).
--arrivals-from  (fault-free runs) the migrant arrivals are compared exactly with an independent
           recomputation instead: the rule applied here, in Python, to the true movements (simulate's
           --persons-dump/--movements-dump) restricted to the period, status before the first crossing
           of the period from its direction.  /truth starts from the whole simulated history, and a
           circular migrant who is abroad at the start of the period and keeps circulating near the
           threshold has a status the period's records cannot reveal (classify starts such a person as
           non-resident, the history says resident); the differences from /truth are printed.
--doc-citizenship  (second documents with classify --link-table) in the recomputation, a dual citizen
           whose movements of the period were all recorded on the second document has the second
           citizenship: classify tabulates a linked person under the citizenship of key a's records, and
           has none of them to see (/truth always uses the first citizenship).
TOL_REL    with recording faults: |sum classify - sum truth| / sum truth over the final months must be
           <= TOL_REL for each table; the error per month is printed as well.
--adjusted TOL_DEP,TOL_ARR,TOL_UND  the tables adjusted for lost first/last records (float64, *_adjusted):
           the same comparison with /truth over the same final months, bound per table (departures,
           arrivals, undeclared); every value finite; printed per month next to the raw table.
--adjusted-exact  (fault-free runs) every cell of every month of each *_adjusted table equals its int64
           table exactly, and no passage was imputed (/linkage/loss_imputed 0, /linkage/loss_rate 0): with
           no lost record the estimated rates are 0 and nothing is adjusted.
--no-adjusted  (classify --no-loss-adjustment) the *_adjusted tables and /linkage/loss_rate are absent.
"""
import sys

import h5py
import numpy as np


def labels(ds):
    return [x.decode() if isinstance(x, bytes) else str(x) for x in ds[()]]


def aligned(cls, truth, cpath, tpath, dtype=np.int64):
    c, t = cls[cpath], truth[tpath]
    cm, tm = labels(cls["/linkage/month"]), labels(truth["/truth/month"])
    cc, tc = labels(cls["/linkage/citizenship"]), labels(truth["/truth/citizenship"])
    cs, ts = labels(cls["/linkage/sex"]), labels(truth["/truth/sex"])
    prov = cls["/linkage/provisional"][()]
    if cpath.startswith("/undeclared"):
        prov = np.maximum(prov, cls["/undeclared/provisional"][()])
    months = [m for i, m in enumerate(cm) if prov[i] == 0]
    cits = sorted(set(cc) | set(tc))
    cv, tv = c[()], t[()]
    A = np.zeros((len(months), len(cits), 2, cv.shape[3]), dtype=dtype)
    B = np.zeros((len(months), len(cits), 2, cv.shape[3]), dtype=np.int64)
    for i, m in enumerate(months):
        ci, ti = cm.index(m), tm.index(m)
        for j, code in enumerate(cits):
            for k, s in enumerate(("M", "F")):
                if code in cc:
                    A[i, j, k] = cv[ci, cc.index(code), cs.index(s)]
                if code in tc:
                    B[i, j, k] = tv[ti, tc.index(code), ts.index(s)]
    x = cs.index("X")
    extra = int(round(float(cv[:, :, x, :].sum())))
    return months, A, B, extra


def recompute_arrivals(cls, persons_csv, movements_csv, doc_citizenship=False):
    """Migrant arrivals by (month label, citizenship, sex, age index) from the true movements of the period."""
    import csv
    import collections
    import datetime
    ep = datetime.date(1970, 1, 1)
    g = cls["/linkage"].attrs
    d0 = (datetime.date.fromisoformat(g["data_start"]) - ep).days
    d1 = (datetime.date.fromisoformat(g["data_end"]) - ep).days
    W, T = int(g["window_days"]), int(g["threshold_days"])
    pers = {r["index"]: r for r in csv.DictReader(open(persons_csv))}
    mv = collections.defaultdict(list)
    docs = collections.defaultdict(set)
    for r in csv.DictReader(open(movements_csv)):
        day = int(r["day"])
        if d0 <= day <= d1:
            mv[r["index"]].append((day, r["direction"] == "OUT"))
            docs[r["index"]].add(r.get("doc", "0"))

    def abroad(days, outs, k, t):
        last, n = t + W - 1, 0
        for j in range(k, len(days)):
            a = max(days[j], t)
            if a > last:
                break
            b = min(days[j + 1] - 1 if j + 1 < len(days) else last, last)
            if outs[j] and b >= a:
                n += b - a + 1
        return n

    out = collections.Counter()
    for idx, m in mv.items():
        m.sort()
        days, outs = [x[0] for x in m], [x[1] for x in m]
        res = outs[0]
        for i in range(len(days)):
            if res and outs[i] and abroad(days, outs, i, days[i]) >= T:
                res = False
            elif not res and not outs[i] and W - abroad(days, outs, i, days[i]) >= T:
                res = True
                dt = ep + datetime.timedelta(days=days[i])
                p = pers[idx]
                age = dt.year - int(p["birth_year"])
                ag = 0 if age < 15 else 6 if age >= 65 else 1 + (age - 15) // 10
                cit = p["citizenship2"] if doc_citizenship and docs[idx] == {"1"} else p["citizenship"]
                out[(f"{dt.year:04d}-{dt.month:02d}", cit, p["sex"], ag)] += 1
    return out


def main():
    if len(sys.argv) < 4:
        print(__doc__)
        return 2
    cls = h5py.File(sys.argv[1], "r")
    truth = h5py.File(sys.argv[2], "r")
    mode = sys.argv[3]
    pairs = [("/linkage/migrant_departures", "/truth/migrant_departures"),
             ("/linkage/migrant_arrivals", "/truth/migrant_arrivals")]
    if "--undeclared" in sys.argv:
        pairs.append(("/undeclared/departures", "/truth/undeclared_departures"))
    g = cls["/linkage"].attrs
    if g["records_in"] != g["records_accepted"] + g["records_rejected"]:
        print("FAIL: records_in != accepted + rejected")
        return 1
    if int(cls["/linkage/rejects"][()].sum()) != int(g["records_rejected"]):
        print("FAIL: rejects by reason do not add up to records_rejected")
        return 1
    fails = 0
    for cp, tp in pairs:
        months, A, B, extra = aligned(cls, truth, cp, tp)
        if not months:
            print(f"FAIL: {cp}: no final month to compare")
            return 1
        if extra:
            print(f"FAIL: {cp}: {extra} persons with sex X (simulate writes M/F only)")
            fails += 1
        sa, sb = int(A.sum()), int(B.sum())
        per_month = [(m, int(A[i].sum()), int(B[i].sum())) for i, m in enumerate(months)]
        worst = max(abs(a - b) / max(b, 1) for _, a, b in per_month)
        rel = abs(sa - sb) / max(sb, 1)
        cells = int((A != B).sum())
        print(f"{cp}: {len(months)} final months {months[0]}..{months[-1]}: classify {sa}, truth {sb}, "
              f"relative error of the total {rel:.4%}, worst month {worst:.2%}, cells differing {cells}")
        for m, a, b in per_month:
            print(f"   {m}: {a:6d} {b:6d}  {a - b:+d}")
        if mode == "exact" and cp.endswith("migrant_arrivals") and "--arrivals-from" in sys.argv:
            k = sys.argv.index("--arrivals-from")
            ref = recompute_arrivals(cls, sys.argv[k + 1], sys.argv[k + 2], "--doc-citizenship" in sys.argv)
            cc = labels(cls["/linkage/citizenship"])
            cv = cls[cp][()]
            cm = labels(cls["/linkage/month"])
            prov = cls["/linkage/provisional"][()]
            bad = 0
            for i, m in enumerate(cm):
                if prov[i]:
                    continue
                for j, code in enumerate(cc):
                    for si, sx in enumerate(("M", "F")):
                        for a in range(cv.shape[3]):
                            if cv[i, j, si, a] != ref.get((m, code, sx, a), 0):
                                bad += 1
            print(f"{cp}: against the recomputation from the period's true movements: {bad} cells differ "
                  f"(total {sum(v for k_, v in ref.items() if k_[0] in months)}); against /truth: {cells} cells "
                  f"differ (status at the period start not observable, see above)")
            if bad:
                print(f"FAIL: {cp}: {bad} cells differ from the recomputation")
                fails += 1
        elif mode == "exact":
            if cells:
                print(f"FAIL: {cp}: {cells} cells differ from the truth")
                fails += 1
        elif rel > float(mode):
            print(f"FAIL: {cp}: relative error {rel:.4%} > {float(mode):.2%}")
            fails += 1
    fails += check_adjusted(cls, truth, pairs)
    return 1 if fails else 0


def check_adjusted(cls, truth, pairs):
    """The *_adjusted tables (see --adjusted, --adjusted-exact, --no-adjusted)."""
    fails = 0
    adj = [(cp, cp + "_adjusted", tp) for cp, tp in pairs]
    if "--no-adjusted" in sys.argv:
        for name in [a for _, a, _ in adj] + ["/linkage/loss_rate"]:
            if name in cls:
                print(f"FAIL: {name} written with --no-loss-adjustment")
                fails += 1
        print("no adjusted tables (--no-loss-adjustment)" if not fails else "")
        return fails
    if "--adjusted-exact" not in sys.argv and "--adjusted" not in sys.argv:
        return 0
    for cp, ap, tp in adj:
        if ap not in cls:
            print(f"FAIL: {ap} missing")
            return fails + 1
        x = cls[ap][()]
        if x.dtype != np.float64 or x.shape != cls[cp].shape or not np.isfinite(x).all():
            print(f"FAIL: {ap}: dtype {x.dtype}, shape {x.shape} (int64 table {cls[cp].shape}), finite {np.isfinite(x).all()}")
            fails += 1
            continue
        for a in ("units", "long_name", "method"):
            if a not in cls[ap].attrs:
                print(f"FAIL: {ap}: no attribute {a}")
                fails += 1
    rate, imp, obs = (cls[f"/linkage/loss_{k}"][()] for k in ("rate", "imputed", "observed"))
    if not np.isfinite(rate).all() or (rate < 0).any() or (rate >= 1).any():
        print(f"FAIL: /linkage/loss_rate {rate.tolist()}: expected finite rates in [0, 1)")
        fails += 1
    print(f"loss rates (exit, entry) x (other, land): {rate.tolist()}, imputed {imp.tolist()}, observed {obs.tolist()}, "
          f"{cls['/linkage/loss_rate'].attrs['source']}")
    if "--adjusted-exact" in sys.argv:
        if imp.any() or rate.any():
            print("FAIL: passages imputed or a loss rate > 0 in a fault-free run")
            fails += 1
        for cp, ap, _ in adj:
            raw, x = cls[cp][()], cls[ap][()]
            bad = int((raw.astype(np.float64) != x).sum())
            print(f"{ap}: {bad} of {raw.size} cells differ from {cp} (expected 0: nothing lost, nothing adjusted)")
            if bad:
                print(f"FAIL: {ap} differs from {cp}")
                fails += 1
        return fails
    tols = [float(v) for v in sys.argv[sys.argv.index("--adjusted") + 1].split(",")]
    for (cp, ap, tp), tol in zip(adj, tols):
        months, A, B, _ = aligned(cls, truth, ap, tp, np.float64)
        _, R, _, _ = aligned(cls, truth, cp, tp)
        sa, sr, sb = float(A.sum()), int(R.sum()), int(B.sum())
        rel, rel_raw = (sa - sb) / max(sb, 1), (sr - sb) / max(sb, 1)
        print(f"{ap}: {len(months)} final months: adjusted {sa:.1f}, raw {sr}, truth {sb}: relative error of the total "
              f"{rel:+.4%} (raw {rel_raw:+.4%}), bound {tol:.2%}")
        print("   month      raw adjusted  truth   raw-truth adjusted-truth")
        for i, m in enumerate(months):
            a, r, b = float(A[i].sum()), int(R[i].sum()), int(B[i].sum())
            print(f"   {m}: {r:6d} {a:8.1f} {b:6d}   {r - b:+5d}   {a - b:+8.1f}")
        if abs(rel) > tol:
            print(f"FAIL: {ap}: relative error {rel:+.4%}, more than {tol:.2%}")
            fails += 1
    return fails


if __name__ == "__main__":
    sys.exit(main())
