#!/usr/bin/python3
"""Independent recount of `emflow simulate`'s ground truth (issue 3, tests (a) and (e)).

    simulate_check.py DIR START_YYYY-MM MONTHS

DIR holds truth.h5, truth_crossings.csv, truth_declarations.csv, persons.csv, movements.csv.

(a) The 12/16 rule, re-implemented here independently of kernels/emi_rule1216.c: per person, a
    day-by-day location array (the direction of the last crossing on or before each day) and its
    prefix sums give the days abroad in each window [t, t+486]; statuses follow in time order.
    Every movement's class must equal the simulator's, and the tables month x citizenship x sex x
    age group of departures, arrivals, declared and undeclared departures must equal /truth exactly.
(e) Faults: the per-kind counts of the movements' fault flags (true day in the period) equal
    /truth/faults; each flag means what it says (off-by-one dates differ by one day, swapped dates
    have day and month exchanged, duplicates 1-15 minutes later); and the crossings CSV is exactly
    the records the flags imply (missed and late-missing records absent, late ones after the
    person's others, duplicates after their original, second-document records under the second key
    and citizenship), so records = true crossings - missed - late missing + duplicates.
    The declarations CSV is exactly the declared departures dated within the period.
"""
import csv
import datetime as dt
import sys

import h5py
import numpy as np

W, THR = 487, 365
FAULTS = ["missed_exit", "missed_entry", "duplicate", "date_off_by_one", "date_day_month_swap",
          "second_document", "late_reordered", "late_missing"]
EPOCH = dt.date(1970, 1, 1)
failures = []


def check(cond, msg):
    if not cond:
        failures.append(msg)
        if len(failures) < 20:
            print("FAIL:", msg, file=sys.stderr)


def day_date(d):
    return EPOCH + dt.timedelta(days=int(d))


def age_group(age):
    return 0 if age < 15 else 6 if age >= 65 else 1 + (age - 15) // 10


def classify(days, dirs):
    """Independent 12/16: location per day, prefix sums."""
    lo, hi = days[0], days[-1] + W + 1
    n = hi - lo
    idx = np.searchsorted(np.array(days), np.arange(lo, hi), side="right") - 1
    abroad = (np.array(dirs)[idx] == 1).astype(np.int64)
    cs = np.concatenate([[0], np.cumsum(abroad)])
    resident = dirs[0] == 1
    out = []
    for t, d in zip(days, dirs):
        a = cs[t - lo + W] - cs[t - lo] if t - lo + W <= n else None
        c = 0
        if resident and d == 1 and a >= THR:
            c, resident = 1, False
        elif not resident and d == 0 and W - a >= THR:
            c, resident = 2, True
        out.append(c)
    return out


def main():
    d, start, months = sys.argv[1], sys.argv[2], int(sys.argv[3])
    y0, m0 = int(start[:4]), int(start[5:7])
    plo = (dt.date(y0, m0, 1) - EPOCH).days
    ye, me = y0 + (m0 - 1 + months) // 12, (m0 - 1 + months) % 12 + 1
    phi = (dt.date(ye, me, 1) - EPOCH).days
    f = h5py.File(f"{d}/truth.h5", "r")
    cits = [c.decode() for c in f["/truth/citizenship"][()]]
    mlabels = [c.decode() for c in f["/truth/month"][()]]
    check(len(mlabels) == months and mlabels[0] == start, f"month scale {mlabels[:2]}")
    shape = (months, len(cits), 2, 7)
    tab = {k: np.zeros(shape, np.int64) for k in ["dep", "arr", "decl", "undecl"]}
    faults = np.zeros(len(FAULTS), np.int64)

    persons = {}
    with open(f"{d}/persons.csv", newline="") as fp:
        for r in csv.DictReader(fp):
            persons[int(r["index"])] = r
    moves = {}
    with open(f"{d}/movements.csv", newline="") as fp:
        for r in csv.DictReader(fp):
            moves.setdefault(int(r["index"]), []).append(r)

    expected_records = []
    expected_decl = []
    ntrue = 0
    for i in sorted(persons):
        p = persons[i]
        mv = moves.get(i, [])
        if not mv:
            continue
        days = [int(m["day"]) for m in mv]
        dirs = [1 if m["direction"] == "OUT" else 0 for m in mv]
        check(all(days[k] < days[k + 1] for k in range(len(days) - 1)), f"person {i}: days not increasing")
        check(all(dirs[k] != dirs[k + 1] for k in range(len(dirs) - 1)), f"person {i}: directions do not alternate")
        cls = classify(days, dirs)
        by = int(p["birth_year"])
        sex = 0 if p["sex"] == "M" else 1
        ci = cits.index(p["citizenship"])
        late = []
        for m, c in zip(mv, cls):
            check(int(m["class"]) == c, f"person {i} day {m['day']}: class {m['class']}, recount {c}")
            day, fl = int(m["day"]), int(m["faults"])
            if m["declared"] == "1":
                check(c == 1, f"person {i}: declared movement is not a departure")
                dd = int(m["decl_day"])
                check(-90 <= dd - day <= 365, f"person {i}: declaration {dd - day} days from the departure")
                if plo <= dd < phi:
                    dest = p["destination"] if p["type"] in ("resident", "emigrant", "returner", "circular") \
                        else p["citizenship"]
                    expected_decl.append((p["person_id"], day_date(dd).isoformat(), dest))
            if not (plo <= day < phi):
                check(fl == 0, f"person {i}: fault flags outside the period")
                continue
            ntrue += 1
            for k in range(len(FAULTS)):
                faults[k] += (fl >> k) & 1
            dd = day_date(day)
            month = (dd.year - y0) * 12 + dd.month - m0
            cell = (month, ci, sex, age_group(dd.year - by))
            if c == 1:
                tab["dep"][cell] += 1
                tab["decl" if m["declared"] == "1" else "undecl"][cell] += 1
            elif c == 2:
                tab["arr"][cell] += 1
            # the records this movement implies
            rd = day_date(int(m["rec_day"]))
            if fl & (1 << 3):
                check(abs(int(m["rec_day"]) - day) == 1, f"person {i}: off-by-one date is {rd} for {dd}")
            elif fl & (1 << 4):
                check((rd.year, rd.month, rd.day) == (dd.year, dd.day, dd.month), f"person {i}: swap {rd} for {dd}")
            else:
                check(rd == dd, f"person {i}: recorded {rd} for {dd} without a date fault")
            if fl & 3 or fl & (1 << 7):
                continue
            doc = int(m["doc"])
            check(doc == ((fl >> 5) & 1), f"person {i}: document flag")
            key = p["person_id2"] if doc else p["person_id"]
            cit = p["citizenship2"] if doc else p["citizenship"]
            recs = []
            for extra in ([0, int(m["dup_sec"])] if fl & (1 << 2) else [0]):
                if fl & (1 << 2) and extra:
                    check(60 <= extra <= 900, f"person {i}: duplicate {extra} s after")
                s = int(m["sec"]) + extra
                t = dt.datetime.combine(rd, dt.time()) + dt.timedelta(seconds=s)
                recs.append([key, t.strftime("%Y-%m-%dT%H:%M:%S"), m["direction"], cit, m["border_point"],
                             "PASSPORT", p["sex"], p["birth_year"]])
            (late if fl & (1 << 6) else expected_records).extend(recs)
        expected_records.extend(late)

    for k, name in [("dep", "migrant_departures"), ("arr", "migrant_arrivals"), ("decl", "declared_departures"),
                    ("undecl", "undeclared_departures")]:
        got = f[f"/truth/{name}"][()]
        check(got.shape == shape, f"{name} shape {got.shape}")
        check(np.array_equal(got, tab[k]), f"{name}: {int(np.abs(got - tab[k]).sum())} off (total {tab[k].sum()})")
    got = f["/truth/faults"][()]
    check(np.array_equal(got, faults), f"faults {got} recount {faults}")
    summ = dict(zip([x.decode() for x in f["/truth/item"][()]], f["/truth/summary"][()]))
    check(summ["true_crossings_in_period"] == ntrue, f"true crossings {summ['true_crossings_in_period']} vs {ntrue}")
    with open(f"{d}/truth_crossings.csv", newline="") as fp:
        rows = list(csv.reader(fp))
    check(rows[0] == ["person_id", "crossed_at", "direction", "citizenship", "border_point", "document", "sex",
                      "birth_year"], "crossings header")
    rows = rows[1:]
    check(len(rows) == ntrue - faults[0] - faults[1] - faults[7] + faults[2],
          f"records {len(rows)} != true {ntrue} - missed {faults[0] + faults[1]} - late missing {faults[7]} "
          f"+ duplicates {faults[2]}")
    check(summ["records_written"] == len(rows), "records_written")
    bad = sum(1 for a, b in zip(rows, expected_records) if a != b)
    check(len(rows) == len(expected_records) and bad == 0,
          f"crossings CSV differs from the records implied by the movements ({bad} rows, "
          f"{len(rows)} vs {len(expected_records)})")
    with open(f"{d}/truth_declarations.csv", newline="") as fp:
        drows = [tuple(r) for r in list(csv.reader(fp))[1:]]
    check(drows == expected_decl, f"declarations CSV: {len(drows)} rows, expected {len(expected_decl)}")
    print(f"checked {len(persons)} persons, {ntrue} true crossings in the period, {len(rows)} records, "
          f"{tab['dep'].sum()} departures ({tab['decl'].sum()} declared), {tab['arr'].sum()} arrivals, "
          f"faults {dict(zip(FAULTS, faults.tolist()))}")
    if failures:
        print(f"{len(failures)} check(s) failed", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
