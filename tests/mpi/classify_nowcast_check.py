#!/usr/bin/python3
"""classify_nowcast_check.py CUT.h5 FULL.h5 [--sd K] [--min-cells N] [--max-bias B] [--max-bias-new B2]
[--new-days N]: back-dating validation.

CUT.h5 is `emflow classify` of the records cut at an earlier --data-end (and the declarations cut at the same
day), FULL.h5 the same records classified to the end.  The months evaluated are EVERY month provisional in CUT
(/linkage/provisional = 1: some window open at its data end); each must be final in FULL (provisional = 0:
every window of the month closed), so FULL must reach at least the cut's last month + window (487 days: 17
months), else the test fails (a check that skips the newest months never sees the smallest observed lengths,
where the nowcast knows least).  The months are split into the NEWEST ones, whose last day is less than
N = 120 days before the data end (observed lengths d < 120: every exit looks alike, the estimate rests on the
training share of migrants), and the older ones; coverage and bias are printed for both, and the point
estimates of the newest months summed per kind must be within B2 (default 10%) of the final counts.  For each kind (migrant departures, migrant arrivals,
undeclared departures) and each evaluated month x citizenship cell with unresolved crossings in CUT, the
provisional interval [*_lower, *_upper] of CUT should cover the final count of FULL (the table summed over sex
and age group).

The band.  A cell's interval holds a share m_i of the Monte Carlo draws (*_interval_probability): the level
(0.90) for large counts, more for small ones, whose laws are discrete (2 unresolved crossings of probability
0.1: [0, 1] holds 99%).  If the nowcast is calibrated, the number of cells covered is a sum of independent
Bernoulli(m_i) (Poisson-binomial): mean sum m_i, sd sqrt(sum m_i (1 - m_i)), i.e. the binomial sd of the
number of cells evaluated (sqrt(0.9 * 0.1 / n) = 0.03 of the share at n = 100).  The test asserts the coverage
within K = 4 of those sd of its expectation: cells are not independent (the cells of one state share its
probability in every month, and a month's cells its draws of the upper levels), which about doubles the
variance of the count covered, so 4 independent sd are about 3 of the real ones.  Also at least N cells, and
the point estimates of each kind summed over the months within B (default 5%) of the final counts.  Printed per kind: cells,
coverage, expected coverage, the coverage of the cells whose interval holds <= 95% of the draws (where the
discreteness is small), the error of the point estimates and the month totals.
"""
import datetime as dt
import sys

import h5py
import numpy as np


def labels(ds):
    return [v.decode() if isinstance(v, bytes) else str(v) for v in ds[()]]


def month_last(m):
    """Last day of month "YYYY-MM"."""
    y, mo = int(m[:4]), int(m[5:7])
    return dt.date(y + mo // 12, mo % 12 + 1, 1) - dt.timedelta(days=1)


def main(argv):
    args = argv[1:]
    ksd, min_cells, max_bias, max_bias_new, new_days = 4.0, 60, 0.05, 0.10, 120
    for opt in ("--sd", "--min-cells", "--max-bias", "--max-bias-new", "--new-days"):
        if opt in args:
            i = args.index(opt)
            v = args[i + 1]
            del args[i:i + 2]
            if opt == "--sd":
                ksd = float(v)
            elif opt == "--min-cells":
                min_cells = int(v)
            elif opt == "--max-bias-new":
                max_bias_new = float(v)
            elif opt == "--new-days":
                new_days = int(v)
            else:
                max_bias = float(v)
    if len(args) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    cut, full = h5py.File(args[0], "r"), h5py.File(args[1], "r")
    cm, fm = labels(cut["/linkage/month"]), labels(full["/linkage/month"])
    cc, fc = labels(cut["/linkage/citizenship"]), labels(full["/linkage/citizenship"])
    kinds = [("departures", "/linkage/nowcast/departures", "/linkage/migrant_departures", "/linkage/provisional"),
             ("arrivals", "/linkage/nowcast/arrivals", "/linkage/migrant_arrivals", "/linkage/provisional")]
    if "/undeclared/nowcast" in cut:
        kinds.append(("undeclared", "/undeclared/nowcast/departures", "/undeclared/departures",
                      "/undeclared/provisional"))
    level = float(cut["/linkage/nowcast"].attrs["level"])
    failures = []
    all_cov, all_mass, tot_cov, tot_n = [], [], 0, 0
    for name, nc, table, provp in kinds:
        pc, pf = cut[provp][()], full[provp][()]
        months = [m for i, m in enumerate(cm) if pc[i]]
        notfinal = [m for m in months if m not in fm or pf[fm.index(m)] != 0]
        if notfinal:
            failures.append(f"{name}: the months {', '.join(notfinal)} provisional in {args[0]} are not final in "
                            f"{args[1]}: expected the full data to reach the cut's last month + the window")
            months = [m for m in months if m not in notfinal]
        if not months:
            failures.append(f"{name}: no month provisional in {args[0]} and final in {args[1]}")
            continue
        end = dt.date.fromisoformat(str(cut["/linkage"].attrs["data_end"].decode()
                                        if isinstance(cut["/linkage"].attrs["data_end"], bytes)
                                        else cut["/linkage"].attrs["data_end"]))
        new = {m: (end - month_last(m)).days + 1 < new_days for m in months}
        final = full[table][()].sum(axis=(2, 3))  # month x citizenship
        mean, lo, hi, mass = (cut[f"{nc}_{s}"][()] for s in ("mean", "lower", "upper", "interval_probability"))
        unres = cut[f"{nc}_unresolved"][()]
        tmean, tlo, thi = (cut[f"{nc}_total_{s}"][()] for s in ("mean", "lower", "upper"))
        cov, ms, isnew = [], [], []
        err_sum = fin_sum = 0.0
        err_new = fin_new = 0.0
        tcov = tcov_new = 0
        rows = []
        for m in months:
            i, j = cm.index(m), fm.index(m)
            for k, c in enumerate(cc):
                if unres[i, k] == 0:
                    continue
                y = final[j, fc.index(c)] if c in fc else 0
                cov.append(bool(lo[i, k] <= y <= hi[i, k]))
                ms.append(float(mass[i, k]))
                isnew.append(new[m])
            err_sum += tmean[i] - final[j].sum()
            fin_sum += final[j].sum()
            yt = final[j].sum()
            tcov += tlo[i] <= yt <= thi[i]
            if new[m]:
                err_new += tmean[i] - yt
                fin_new += yt
                tcov_new += tlo[i] <= yt <= thi[i]
            rows.append(f"    {m}{' (d < %d)' % new_days if new[m] else ''}: final {yt:5d}  provisional "
                        f"{tmean[i]:7.1f} [{tlo[i]:6.1f}, {thi[i]:6.1f}]  {100 * (tmean[i] - yt) / max(yt, 1):+.1f}%"
                        f"{'' if tlo[i] <= yt <= thi[i] else '  (not covered)'}")
        cov, ms, isnew = np.array(cov), np.array(ms), np.array(isnew, dtype=bool)
        nnew = sum(new.values())
        wide = ms <= 0.95
        bias = err_sum / max(fin_sum, 1)
        print(f"{name}: {len(months)} months ({months[0]} .. {months[-1]}), {len(cov)} month x citizenship cells "
              f"with unresolved crossings: {cov.sum()} covered by the {100 * level:.0f}% intervals "
              f"({100 * cov.mean():.1f}%; expected {100 * ms.mean():.1f}%); the {wide.sum()} cells whose interval "
              f"holds <= 95%: {100 * cov[wide].mean() if wide.any() else float('nan'):.1f}% (expected "
              f"{100 * ms[wide].mean() if wide.any() else float('nan'):.1f}%); point estimates {100 * bias:+.1f}% of "
              f"the final counts; month totals covered {tcov} of {len(months)}")
        for lab, sel, nm, tc in (("newest", isnew, nnew, tcov_new), ("older", ~isnew, len(months) - nnew,
                                                                     tcov - tcov_new)):
            if nm:
                eb = err_new if lab == "newest" else err_sum - err_new
                fb = fin_new if lab == "newest" else fin_sum - fin_new
                print(f"  {lab} {nm} months (d {'<' if lab == 'newest' else '>='} {new_days}): cells "
                      f"{cov[sel].sum()} of {sel.sum()} covered ({100 * cov[sel].mean() if sel.any() else float('nan'):.1f}%; "
                      f"expected {100 * ms[sel].mean() if sel.any() else float('nan'):.1f}%), month totals {tc} of {nm}, "
                      f"point estimates {100 * eb / max(fb, 1):+.1f}%")
        print("\n".join(rows))
        if nnew == 0:
            failures.append(f"{name}: no provisional month within {new_days} days of the data end evaluated")
        elif abs(err_new / max(fin_new, 1)) > max_bias_new:
            failures.append(f"{name}: the point estimates of the {nnew} newest months are "
                            f"{100 * err_new / max(fin_new, 1):+.1f}% off the final counts (more than "
                            f"{100 * max_bias_new:.0f}%)")
        if abs(bias) > max_bias:
            failures.append(f"{name}: the point estimates are {100 * bias:+.1f}% off the final counts (more than "
                            f"{100 * max_bias:.0f}%)")
        all_cov.append(cov)
        all_mass.append(ms)
        tot_cov += tcov
        tot_n += len(months)
    cov, ms = np.concatenate(all_cov), np.concatenate(all_mass)
    n = len(cov)
    if n < min_cells:
        failures.append(f"only {n} cells evaluated: expected at least {min_cells} (a longer cut?)")
    share, expect = cov.mean(), ms.mean()
    sd = float(np.sqrt(np.sum(ms * (1 - ms)))) / n
    lo_b, hi_b = expect - ksd * sd, expect + ksd * sd
    print(f"all kinds: {cov.sum()} of {n} cells covered: coverage {share:.3f} (nominal {level:.2f}; expected "
          f"{expect:.3f} from the intervals' probability content, sd {sd:.3f}: band [{lo_b:.3f}, {hi_b:.3f}]); "
          f"month totals {tot_cov} of {tot_n} ({tot_cov / max(tot_n, 1):.3f})")
    if not lo_b <= share <= hi_b:
        failures.append(f"coverage {share:.3f} outside [{lo_b:.3f}, {hi_b:.3f}]")
    for f in failures:
        print("classify_nowcast_check: FAIL:", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
