#!/usr/bin/python3
"""classify_nowcast_bad.py EMFLOW CROSSINGS.h5 WORKDIR: the nowcast options of classify, bad and off.

Each bad value must stop classify with a non-zero status, one clear message naming the option and what was
expected, and no output file; --no-nowcast must write no nowcast group and no RNG provenance; the default run
must write the nowcast with its RNG and seed in the root attributes, finite values only, month intervals that
hold their means (up to 1 person), and the final months' estimates equal to the tables."""
import os
import subprocess
import sys

import h5py
import numpy as np

EMFLOW, CROSS, WORK = sys.argv[1:4]
os.makedirs(WORK, exist_ok=True)
BASE = [EMFLOW, "classify", CROSS, "--period-start", "2023-01", "--period-end", "2027-12", "--log-level", "warn"]
failures = []

BAD = [
    (["--nowcast-level", "1.5"], "--nowcast-level"),
    (["--nowcast-level", "0.2"], "--nowcast-level"),
    (["--nowcast-draws", "5"], "--nowcast-draws"),
    (["--nowcast-draws", "many"], "--nowcast-draws"),
    (["--nowcast-prior-strength", "0"], "--nowcast-prior-strength"),
    (["--nowcast-count-bin-days", "0"], "--nowcast-count-bin-days"),
    (["--nowcast-count-bin-days", "400"], "--threshold-days"),
    (["--nowcast-training-days", "-1"], "--nowcast-training-days"),
    (["--seed", "-3"], "--seed"),
]
for extra, word in BAD:
    out = os.path.join(WORK, "bad.h5")
    r = subprocess.run(BASE + ["-o", out] + extra, capture_output=True, text=True)
    errs = [l for l in r.stderr.splitlines() if "error" in l]
    if r.returncode == 0 or len(errs) != 1 or word not in errs[0] or "expected" not in errs[0]:
        failures.append(f"{' '.join(extra)}: status {r.returncode}, stderr {r.stderr.strip()!r}")
    elif os.path.exists(out):
        failures.append(f"{' '.join(extra)}: an output file was left")
    else:
        print(f"ok: {' '.join(extra)}: {errs[0]}")

off = os.path.join(WORK, "off.h5")
on = os.path.join(WORK, "on.h5")
subprocess.run(BASE + ["-o", off, "--no-nowcast"], check=True)
subprocess.run(BASE + ["-o", on, "--nowcast-draws", "200", "--seed", "77"], check=True)
with h5py.File(off, "r") as f:
    if "/linkage/nowcast" in f or "rng_name" in f.attrs:
        failures.append("--no-nowcast: a nowcast group or RNG provenance was written")
with h5py.File(on, "r") as f:
    if f.attrs.get("rng_seed") != 77 or "philox" not in str(f.attrs.get("rng_name", "")).lower():
        failures.append(f"nowcast: root rng_name/rng_seed are {f.attrs.get('rng_name')!r}/{f.attrs.get('rng_seed')!r}")
    g = f["/linkage/nowcast"]
    prov = f["/linkage/provisional"][()]
    for kind, table in (("departures", "migrant_departures"), ("arrivals", "migrant_arrivals")):
        m, lo, hi = (g[f"{kind}_{s}"][()] for s in ("mean", "lower", "upper"))
        for name in ("mean", "lower", "upper", "interval_probability", "total_mean", "total_lower", "total_upper",
                     "total_interval_probability"):
            v = g[f"{kind}_{name}"][()]
            if not np.all(np.isfinite(v)):
                failures.append(f"{kind}_{name}: not finite")
            for a in ("units", "long_name"):
                if a not in g[f"{kind}_{name}"].attrs:
                    failures.append(f"{kind}_{name}: no {a}")
        if not np.all(lo <= hi):
            failures.append(f"{kind}: a lower bound above its upper bound")
        # a cell's mean may lie outside its central interval (1 crossing of probability 0.03: [0, 0]); a month
        # total's, a sum of many crossings, lies inside up to the crossings of tiny probability (< 1 person)
        tm, tl, th = (g[f"{kind}_total_{s}"][()] for s in ("mean", "lower", "upper"))
        if not np.all((tl - 1 < tm) & (tm < th + 1)):
            failures.append(f"{kind}: a month total's mean more than 1 outside its interval")
        final = f[f"/linkage/{table}"][()].sum(axis=(2, 3))
        if not np.array_equal(m[prov == 0], final[prov == 0]) or not np.array_equal(lo[prov == 0], final[prov == 0]):
            failures.append(f"{kind}: final months' nowcast differs from /linkage/{table}")
        if not np.any(hi[prov == 1] > lo[prov == 1]):
            failures.append(f"{kind}: no provisional month has an interval")
    print(f"ok: --no-nowcast and the default outputs checked ({int(prov.sum())} provisional months)")
for f_ in failures:
    print("classify_nowcast_bad: FAIL:", f_)
sys.exit(1 if failures else 0)
