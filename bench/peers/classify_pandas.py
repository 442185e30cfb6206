#!/usr/bin/python3
"""bench/peers/classify_pandas.py: the 12/16 rule of `emflow classify` in pandas (Debian python3-pandas),
the pandas peer of bench/bench_classify.py (issue 4, Performance).

    /usr/bin/python3 bench/peers/classify_pandas.py --csv CROSSINGS.csv --out TABLES.csv
        [--window-days 487] [--threshold-days 365] [--warmup-days -1]

The rule is the one of bench/peers/classify_duckdb.mjs (see its header: fault-free records, no repairs;
emflow's reject rules that fault-free data can trigger; (day, second, direction) order; location = the
direction of the last crossing on or before a day; window t .. t + W - 1 censored at the data end E;
initial status from the first crossing; migrant departures / arrivals change the status, pending
crossings do not; month x citizenship x sex x age group after one window of warm-up), with the same
non-recursive form of the status recursion: the migrant crossings are the qualifying crossings (count
>= threshold) whose direction differs from the previous qualifying crossing's, or, for a person's
first qualifying crossing, equals the direction of the person's first crossing.

pandas reads and parses the CSV (read_csv, C engine, the low-cardinality columns as categoricals whose
distinct values are validated once; to_datetime with the ISO format; person keys factorised to integer
codes), and tabulates (groupby); the per-person passes in between are
vectorised numpy over the sorted arrays (np.lexsort by person, day, second, direction; running sums;
np.searchsorted for the window's last day), which is how pandas code is made fast: a groupby-apply of a
Python function per person would be 100x slower and would not be a fair peer.  Single-threaded.

Output: TABLES.csv, kind,month,citizenship,sex,age_group,value (non-zero cells), and one JSON line on
stdout: timings (time.perf_counter, monotonic: read + parse + validate, sort, rule, tabulate, total from
before the CSV read to the tables in memory), counts, months, versions.
"""
import argparse
import json
import sys
import time

import numpy as np
import pandas as pd

AGE_LABELS = np.array(["Y_LT15", "Y15-24", "Y25-34", "Y35-44", "Y45-54", "Y55-64", "Y_GE65"])
KINDS = np.array(["migrant_departures", "migrant_arrivals", "pending_departures", "pending_arrivals"])


def month_of_day(day):
    d = np.datetime64(int(day), "D")
    y = d.astype("datetime64[Y]").astype(int) + 1970
    m = (d.astype("datetime64[M]").astype(int)) % 12
    return int(y * 12 + m)


def month_first_day(m):
    return int(np.datetime64(f"{m // 12:04d}-{m % 12 + 1:02d}-01", "D").astype(int))


def last_before(flag, first_idx):
    """For every row i: index of the last row j < i of the same person with flag[j], or -1."""
    n = flag.size
    idx = np.where(flag, np.arange(n), -1)
    np.maximum.accumulate(idx, out=idx)
    ex = np.empty(n, dtype=np.int64)
    ex[0] = -1
    ex[1:] = idx[:-1]
    ex[ex < first_idx] = -1  # a row of an earlier person
    return ex


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--csv", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--window-days", type=int, default=487)
    ap.add_argument("--threshold-days", type=int, default=365)
    ap.add_argument("--warmup-days", type=int, default=-1)
    a = ap.parse_args()
    W, THR = a.window_days, a.threshold_days
    if W < 1 or THR < 1 or THR > W:
        sys.exit("classify_pandas: need 1 <= threshold <= window")
    warmup = W if a.warmup_days < 0 else a.warmup_days

    t0 = time.perf_counter()
    # ---- 1. read, parse, validate
    cat = "category"  # low-cardinality text: parsed once per distinct value
    df = pd.read_csv(a.csv, usecols=["person_id", "crossed_at", "direction", "citizenship", "sex", "birth_year"],
                     dtype={"person_id": str, "crossed_at": str, "direction": cat, "citizenship": cat, "sex": cat,
                            "birth_year": cat}, keep_default_na=False, engine="c")
    ca = df["crossed_at"]
    ts = pd.to_datetime(ca, format="%Y-%m-%dT%H:%M:%S", errors="coerce")
    dateonly = ts.isna() & (ca.str.len() == 10)
    if dateonly.any():
        ts[dateonly] = pd.to_datetime(ca[dateonly], format="%Y-%m-%d", errors="coerce")

    def per_value(col, f, fill):
        """f over the distinct values of a categorical column, mapped back to its rows (code -1: fill)."""
        cats = col.cat.categories
        return np.append(np.asarray(f(pd.Series(cats, dtype=object))), fill)[col.cat.codes.to_numpy()]

    pcode, puniq = pd.factorize(df["person_id"], sort=False)
    plen = np.asarray(puniq.str.len())
    ok_pid = ((plen >= 1) & (plen <= 64))[pcode]
    ok_cit = per_value(df["citizenship"], lambda c: c.str.fullmatch("[A-Z]{3}").fillna(False).astype(bool), False)
    ccode = df["citizenship"].cat.codes.to_numpy()
    cit_labels = np.asarray(df["citizenship"].cat.categories, dtype=object)
    by = per_value(df["birth_year"], lambda c: pd.to_numeric(c, errors="coerce").astype(float), np.nan)
    outv = per_value(df["direction"], lambda c: (c == "OUT").astype(np.int8) - (~c.isin(["IN", "OUT"])).astype(np.int8), -1)
    scode = per_value(df["sex"], lambda c: c.map({"M": 0, "F": 1, "X": 2}).fillna(-1).astype(np.int8), -1)
    yr = ts.dt.year.to_numpy()
    ok = (ts.notna().to_numpy() & (yr >= 1900) & (yr <= 2199) & (outv >= 0) & (scode >= 0) & ok_cit & ok_pid
          & ~np.isnan(by) & (by <= yr) & (yr - by <= 120))
    tsv = ts.to_numpy()[ok]
    day = tsv.astype("datetime64[D]").astype(np.int64)
    sec = ((tsv - tsv.astype("datetime64[D]")) // np.timedelta64(1, "s")).astype(np.int64)
    sec[dateonly.to_numpy()[ok]] = -1
    out = outv[ok].astype(np.int8)
    pcode, ccode, scode = pcode[ok], ccode[ok], scode[ok].astype(np.int8)
    age = (yr[ok] - by[ok]).astype(np.int64)
    mon = ((yr[ok] * 12) + ts.dt.month.to_numpy()[ok] - 1).astype(np.int64)
    del df, ca, ts, by, yr, tsv, puniq, outv
    n = day.size
    if n == 0:
        sys.exit("classify_pandas: no accepted record")
    data_start, E = int(day.min()), int(day.max())
    t_read = time.perf_counter()

    # ---- 2. sort by person, day, second, direction (entries first on ties)
    order = np.lexsort((out, sec, day, pcode))
    pcode, day, out = pcode[order], day[order], out[order]
    ccode, scode, age, mon = ccode[order], scode[order], age[order], mon[order]
    del sec, order
    newp = np.empty(n, dtype=bool)
    newp[0] = True
    newp[1:] = pcode[1:] != pcode[:-1]
    first_idx = np.where(newp, np.arange(n), 0)
    np.maximum.accumulate(first_idx, out=first_idx)
    t_sort = time.perf_counter()

    # ---- 3. the rule
    lastp = np.empty(n, dtype=bool)  # last row of its person
    lastp[:-1] = newp[1:]
    lastp[-1] = True
    seg = np.zeros(n, dtype=np.int64)  # days abroad from this crossing to the person's next one
    nxt = np.nonzero(~lastp & (out == 1))[0]
    seg[nxt] = day[nxt + 1] - day[nxt]
    gex = np.cumsum(seg) - seg  # exclusive running sum over all rows
    cum = gex - gex[first_idx]  # days abroad before this crossing's day, within the person
    # days with a crossing: the last crossing of each (person, day)
    lastd = lastp.copy()
    lastd[:-1] |= day[1:] != day[:-1]
    span = np.int64(E - data_start + 1)
    dd_key = pcode[lastd].astype(np.int64) * span + (day[lastd] - data_start)
    dd_day, dd_out, dd_cum = day[lastd], out[lastd], cum[lastd]
    last = np.minimum(day + (W - 1), E)
    j = np.searchsorted(dd_key, pcode.astype(np.int64) * span + (last - data_start), side="right") - 1
    abroad = dd_cum[j] + np.where(dd_out[j] == 1, last - dd_day[j] + 1, 0) - cum
    cnt = np.where(out == 1, abroad, last - day + 1 - abroad)
    yes = cnt >= THR
    no = cnt + (day + (W - 1) - last) < THR
    out0 = out[first_idx]
    pq = last_before(yes, first_idx)
    mig = yes & np.where(pq < 0, out == out0, out != out[np.maximum(pq, 0)])
    lm = last_before(mig, first_idx)
    want = np.where(lm < 0, out0, 1 - out[np.maximum(lm, 0)])
    pend = ~yes & ~no & (out == want)
    kind = np.full(n, -1, dtype=np.int8)
    kind[mig & (out == 1)] = 0
    kind[mig & (out == 0)] = 1
    kind[pend & (out == 1)] = 2
    kind[pend & (out == 0)] = 3
    t_rule = time.perf_counter()

    # ---- 4. tabulate
    month0 = month_of_day(data_start + warmup)
    if month_first_day(month0) < data_start + warmup:
        month0 += 1
    nmonths = month_of_day(E) - month0 + 1
    if nmonths <= 0:
        sys.exit("classify_pandas: the data are shorter than the warm-up plus one month")
    sel = (kind >= 0) & (mon >= month0) & (mon < month0 + nmonths)
    ag = np.where(age < 15, 0, np.where(age >= 65, 6, 1 + (age - 15) // 10))
    t = pd.DataFrame({"kind": kind[sel], "mon": mon[sel], "cit": ccode[sel], "sex": scode[sel], "ag": ag[sel]})
    tab = t.groupby(["kind", "mon", "cit", "sex", "ag"], sort=True).size().reset_index(name="value")
    t_end = time.perf_counter()

    sexes = np.array(["M", "F", "X"])
    m = tab["mon"].to_numpy()
    res = pd.DataFrame({"kind": KINDS[tab["kind"].to_numpy()],
                        "month": [f"{x // 12:04d}-{x % 12 + 1:02d}" for x in m],
                        "citizenship": cit_labels[tab["cit"].to_numpy()],
                        "sex": sexes[tab["sex"].to_numpy()], "age_group": AGE_LABELS[tab["ag"].to_numpy()],
                        "value": tab["value"].to_numpy()})
    res.to_csv(a.out, index=False)
    totals = {KINDS[k]: int(v) for k, v in tab.groupby("kind")["value"].sum().items()}
    r = lambda x: round(x, 3)
    print(json.dumps({"impl": "pandas", "pandas": pd.__version__, "numpy": np.__version__, "python": sys.version.split()[0],
                      "threads": 1, "records_accepted": int(n), "data_start_day": data_start, "data_end_day": E,
                      "month0": month0, "nmonths": nmonths, "cells": int(len(res)), "totals": totals,
                      "seconds": {"read_parse_validate": r(t_read - t0), "sort": r(t_sort - t_read),
                                  "rule": r(t_rule - t_sort), "tabulate": r(t_end - t_rule), "total": r(t_end - t0)}}))


if __name__ == "__main__":
    main()
