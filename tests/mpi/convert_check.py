#!/usr/bin/env python3
"""Independent check of the compound form (issue 3).

usage: convert_check.py CROSSINGS.csv SIMULATED.h5 CONVERTED.h5 ISO3166.csv ISO3166.c

The CSV is parsed here with Python's csv and datetime modules (not emflow's parser) and compared
field by field with /crossings/records of the file `emflow simulate --crossings-h5` wrote and of the
file `emflow convert` wrote from the same CSV; the bookkeeping records_in = accepted + rejected is
checked; and the ISO 3166-1 list compiled into emflow (engine/emi_iso3166.c) is checked against the
bundled inputs/iso3166_alpha3.csv.
"""
import csv
import datetime as dt
import re
import sys

import h5py
import numpy as np

csv_path, sim_path, conv_path, iso_csv, iso_c = sys.argv[1:6]
bad = []
rows = list(csv.DictReader(open(csv_path, newline="")))
epoch = dt.datetime(1970, 1, 1)
for path in (sim_path, conv_path):
    with h5py.File(path, "r") as h:
        rec = h["crossings/records"][()]
        g = h["crossings"]
        if len(rec) != len(rows):
            bad.append(f"{path}: {len(rec)} records, CSV has {len(rows)}")
            continue
        if int(g.attrs["records_in"]) != int(g.attrs["records_accepted"]) + int(g.attrs["records_rejected"]):
            bad.append(f"{path}: records_in != accepted + rejected")
        if int(g.attrs["records_accepted"]) != len(rows) or int(g.attrs["records_rejected"]) != 0:
            bad.append(f"{path}: accepted/rejected {g.attrs['records_accepted']}/{g.attrs['records_rejected']}")
        t = [dt.datetime.fromisoformat(r["crossed_at"]) - epoch for r in rows]
        want = {
            "person_id": np.array([r["person_id"].encode() for r in rows]),
            "day": np.array([x.days for x in t]),
            "second": np.array([x.seconds for x in t]),
            "direction": np.array([1 if r["direction"] == "IN" else 2 for r in rows]),
            "citizenship": np.array([r["citizenship"].encode() for r in rows]),
            "border_point": np.array([r["border_point"].encode() for r in rows]),
            "document": np.array([r["document"].encode() for r in rows]),
            "sex": np.array([{"M": 1, "F": 2, "X": 3}[r["sex"]] for r in rows]),
            "birth_year": np.array([int(r["birth_year"]) for r in rows]),
        }
        for k, v in want.items():
            got = rec[k]
            if not np.array_equal(got.astype(v.dtype) if got.dtype.kind != "S" else got, v):
                i = int(np.flatnonzero(got != v)[0]) if got.shape == v.shape else 0
                bad.append(f"{path}: field {k} differs first at record {i}: {got[i]!r} vs {v[i]!r}")
codes = [l.split(",")[0] for l in open(iso_csv).read().splitlines()[1:]]
compiled = "".join(re.findall(r'^\s*"([A-Z]+)"', open(iso_c).read(), re.M))
if "".join(codes) != compiled or len(codes) != 249:
    bad.append(f"ISO list: {len(codes)} codes in the CSV, {len(compiled) // 3} compiled in, or they differ")
for b in bad:
    print("FAIL:", b, file=sys.stderr)
print(f"convert_check: {len(rows)} records compared in 2 files, {len(bad)} failure(s)")
sys.exit(1 if bad else 0)
