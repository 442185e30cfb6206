#!/usr/bin/python3
"""classify_loss_hand.py: the loss correction of `emflow classify` (*_adjusted, /linkage/loss_*) end to end
on a hand-made history file whose numbers are worked out below from the definitions (README, emflow
classify: lost records; kernels/emi_loss.c).

usage: classify_loss_hand.py EMFLOW MPIEXEC WORKDIR

Data 2020-01-01 .. 2023-12-31 (--period-start 2020-01 --period-end 2023-12), warm-up one window (487
days), so the tabulated months start 2021-06 and are final up to 2022-08; --land-border-points SAMUR.

F  (AZE, GYD: class other) crosses every second day, OUT on 2020-01-01, IN on 2020-01-03, ... OUT on
   2023-12-31: 731 passages (366 exits, 365 entries), about half the days abroad: never a migrant, with or
   without its first or last passage.  Interior passages (all but the first and last; neighbours 4 days
   apart >= --loss-min-span-days 3): 364 exits, 365 entries, none imputed.
G  (RUS, SAMUR: land), in 2020 only: IN 03-01, OUT 03-11, IN 04-01, IN 05-01, OUT 05-11, OUT 06-20,
   IN 06-30.  The repair imputes an exit on 04-16 (midpoint of 04-01 and 05-01; class of the entry that
   ends its trip, 05-01: land) and an entry on 05-31 (midpoint of 05-11 and 06-20; class of the exit that
   began its trip, 05-11: land).  Interior: exits 03-11, 05-11, 06-20 recorded, 04-16 imputed; entries
   04-01, 05-01 recorded, 05-31 imputed.  Its classes, with or without its first or last passage, are all
   in 2020 (warm-up): no effect on the tables.
   So loss_imputed = [[0, 1], [0, 1]], loss_observed = [[364, 3], [365, 2]] (exit, entry) x (other, land),
   loss_rate = [[0, 1/4], [0, 1/3]]: odds p/(1-p) 1/3 for land exits, 1/2 for land entries.
V  (TUR, SAMUR) IN 2021-07-01, OUT 2021-07-15: a short visit, nothing in the raw tables.  Without its last
   passage (a land exit) it stays: +1 migrant arrival in 2021-07; without its first (a land entry) its
   first record is an exit: a resident leaving for good, +1 migrant departure in 2021-07, undeclared.
W  (AZE, SAMUR) OUT 2021-08-10 only: a migrant departure in 2021-08, undeclared; without it (its one
   passage, a land exit) the person is not seen: -1 departure, -1 undeclared.
W2 (AZE, SAMUR) OUT 2021-09-05 only, declared on 2021-09-01: a declared departure in 2021-09; without it
   -1 departure.
Adjusted = raw - sum odds x change:
   departures  2021-07: 0 - 1/2 x 1 = -1/2;  2021-08: 1 - 1/3 x (-1) = 4/3;  2021-09: 1 + 1/3 = 4/3
   arrivals    2021-07: 0 - 1/3 x 1 = -1/3
   undeclared  2021-07: -1/2;  2021-08: 4/3;  2021-09: 0
   (every other month 0), the same at 1 and 3 ranks.
"""
import datetime
import os
import subprocess
import sys

import h5py
import numpy as np

D0 = datetime.date(2020, 1, 1)


def day(s):
    return datetime.date.fromisoformat(s)


def write_inputs(work):
    rows = []
    for k in range(731):
        d = D0 + datetime.timedelta(days=2 * k)
        rows.append(("filler00000000000000000f", d, "OUT" if k % 2 == 0 else "IN", "AZE", "GYD", "M", 1980))
    g = [("2020-03-01", "IN"), ("2020-03-11", "OUT"), ("2020-04-01", "IN"), ("2020-05-01", "IN"),
         ("2020-05-11", "OUT"), ("2020-06-20", "OUT"), ("2020-06-30", "IN")]
    rows += [("gggggggggggggggggggggggg", day(d), r, "RUS", "SAMUR", "F", 1975) for d, r in g]
    rows += [("vvvvvvvvvvvvvvvvvvvvvvvv", day("2021-07-01"), "IN", "TUR", "SAMUR", "M", 1990),
             ("vvvvvvvvvvvvvvvvvvvvvvvv", day("2021-07-15"), "OUT", "TUR", "SAMUR", "M", 1990),
             ("wwwwwwwwwwwwwwwwwwwwwwww", day("2021-08-10"), "OUT", "AZE", "SAMUR", "F", 1995),
             ("w2w2w2w2w2w2w2w2w2w2w2w2", day("2021-09-05"), "OUT", "AZE", "SAMUR", "M", 1985)]
    with open(os.path.join(work, "hand.csv"), "w") as f:
        f.write("person_id,crossed_at,direction,citizenship,border_point,document,sex,birth_year\n")
        for i, (p, d, r, c, b, s, y) in enumerate(rows):
            f.write(f"{p},{d.isoformat()}T{10 + i % 10:02d}:00:00,{r},{c},{b},PASSPORT,{s},{y}\n")
    with open(os.path.join(work, "hand_decl.csv"), "w") as f:
        f.write("person_id,declared_on,destination\nw2w2w2w2w2w2w2w2w2w2w2w2,2021-09-01,RUS\n")


def month_totals(f, path):
    months = [m.decode() for m in f[path.rsplit("/", 1)[0] + "/month"][()]]
    x = f[path][()]
    return {m: float(x[i].sum()) for i, m in enumerate(months)}


def main():
    if len(sys.argv) != 4:
        print(__doc__)
        return 2
    emflow, mpiexec, work = sys.argv[1:4]
    os.makedirs(work, exist_ok=True)
    write_inputs(work)
    fails = 0
    want = {"/linkage/migrant_departures_adjusted": {"2021-07": -0.5, "2021-08": 4 / 3, "2021-09": 4 / 3},
            "/linkage/migrant_arrivals_adjusted": {"2021-07": -1 / 3},
            "/undeclared/departures_adjusted": {"2021-07": -0.5, "2021-08": 4 / 3}}
    for np_ in (1, 3):
        out = os.path.join(work, f"hand_np{np_}.h5")
        cmd = [mpiexec, "-n", str(np_), "--oversubscribe", emflow, "classify", os.path.join(work, "hand.csv"), "-o", out,
               "--declarations", os.path.join(work, "hand_decl.csv"), "--period-start", "2020-01", "--period-end",
               "2023-12", "--no-nowcast", "--land-border-points", "SAMUR"]
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode != 0:
            print(f"FAIL: {' '.join(cmd)}: exit {p.returncode}\n{p.stderr}")
            return 1
        f = h5py.File(out, "r")
        imp, obs, rate = (f[f"/linkage/loss_{k}"][()] for k in ("imputed", "observed", "rate"))
        print(f"{np_} ranks: loss_imputed {imp.tolist()}, loss_observed {obs.tolist()}, loss_rate {rate.tolist()}")
        if imp.tolist() != [[0, 1], [0, 1]] or obs.tolist() != [[364, 3], [365, 2]]:
            print("FAIL: expected loss_imputed [[0, 1], [0, 1]], loss_observed [[364, 3], [365, 2]]")
            fails += 1
        if not np.allclose(rate, [[0, 0.25], [0, 1 / 3]], rtol=0, atol=1e-15):
            print("FAIL: expected loss_rate [[0, 0.25], [0, 1/3]]")
            fails += 1
        raw = {"/linkage/migrant_departures": {"2021-08": 1, "2021-09": 1}, "/linkage/migrant_arrivals": {},
               "/undeclared/departures": {"2021-08": 1}}
        for path, w in raw.items():
            got = {m: v for m, v in month_totals(f, path).items() if v}
            if got != {m: float(v) for m, v in w.items()}:
                print(f"FAIL: {path}: months {got}, expected {w}")
                fails += 1
        for path, w in want.items():
            got = month_totals(f, path)
            bad = {m: v for m, v in got.items() if abs(v - w.get(m, 0.0)) > 1e-12}
            print(f"{path}: {', '.join(f'{m} {v:+.6f}' for m, v in got.items() if v)}")
            if bad:
                print(f"FAIL: {path}: months {bad}, expected {w} (other months 0)")
                fails += 1
    # a misspelt --land-border-points list (lower case, an unknown code) empties the class 'land': every
    # passage counts as 'other', and the log says so once (from a breaker)
    out = os.path.join(work, "hand_misspelt.h5")
    cmd = [emflow, "classify", os.path.join(work, "hand.csv"), "-o", out, "--period-start", "2020-01",
           "--period-end", "2023-12", "--no-nowcast", "--land-border-points", "samur,NOPE"]
    p = subprocess.run(cmd, capture_output=True, text=True)
    warn = [l for l in p.stderr.splitlines() if "--land-border-points" in l and "warn" in l]
    if p.returncode != 0 or len(warn) != 1 or "the class 'land' is empty" not in warn[0]:
        print(f"FAIL: misspelt land points: exit {p.returncode}, warnings {warn}")
        fails += 1
    else:
        with h5py.File(out, "r") as f:
            land = f["/linkage/loss_imputed"][()][:, 1].sum() + f["/linkage/loss_observed"][()][:, 1].sum()
            print(f"misspelt land points: {warn[0].split('warn', 1)[1].strip()[:90]}...; land passages {land}")
            if land != 0:
                print("FAIL: misspelt land points: the class 'land' is not empty")
                fails += 1
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
