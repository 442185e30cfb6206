#!/usr/bin/python3
"""classify_nowcast_bad.py EMFLOW CROSSINGS.h5 WORKDIR: the nowcast options of classify, bad and off.

Each bad value must stop classify with a non-zero status, one clear message naming the option and what was
expected, and no output file; --no-nowcast must write no nowcast group and no RNG provenance; the default run
must write the nowcast with its RNG and seed in the root attributes, finite values only, cell and month intervals
that hold their means, and the final months' estimates equal to the tables; with --nowcast-min-training above the
completed crossings the nowcast is not estimated (status, warning, bounds only)."""
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
    (["--nowcast-min-training", "0"], "--nowcast-min-training"),
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
        # the point is the mean of the interval's own draws and the interval holds it (widened to the integer
        # beyond the mean when a discrete law puts it outside the quantiles: 1 crossing of p 0.03 -> [0, 1])
        if not np.all((lo <= m) & (m <= hi)):
            failures.append(f"{kind}: {int((~((lo <= m) & (m <= hi))).sum())} cells with the mean outside [lower, upper]")
        tm, tl, th = (g[f"{kind}_total_{s}"][()] for s in ("mean", "lower", "upper"))
        if not np.all((tl <= tm) & (tm <= th)):
            failures.append(f"{kind}: a month total's mean outside its interval")
        if g.attrs.get(f"{kind}_status") not in ("estimated", b"estimated"):
            failures.append(f"{kind}_status = {g.attrs.get(kind + '_status')!r}: expected 'estimated'")
        final = f[f"/linkage/{table}"][()].sum(axis=(2, 3))
        if not np.array_equal(m[prov == 0], final[prov == 0]) or not np.array_equal(lo[prov == 0], final[prov == 0]):
            failures.append(f"{kind}: final months' nowcast differs from /linkage/{table}")
        if not np.any(hi[prov == 1] > lo[prov == 1]):
            failures.append(f"{kind}: no provisional month has an interval")
    print(f"ok: --no-nowcast and the default outputs checked ({int(prov.sum())} provisional months)")
# the rule for "not estimated": fewer completed crossings in the training period than --nowcast-min-training
# (thousands here, so 10^9 is above them): a warning per kind, the status, the bounds only, no interval
few = os.path.join(WORK, "few.h5")
r = subprocess.run(BASE + ["-o", few, "--nowcast-draws", "200", "--nowcast-min-training", "1000000000"],
                   capture_output=True, text=True)
warns = [l for l in r.stderr.splitlines() if "NOT ESTIMATED" in l and "--nowcast-min-training" in l]
if r.returncode != 0 or len(warns) != 2:
    failures.append(f"--nowcast-min-training 1e9: status {r.returncode}, {len(warns)} warnings (expected 2)")
with h5py.File(few, "r") as f:
    g = f["/linkage/nowcast"]
    for kind in ("departures", "arrivals"):
        st = g.attrs.get(f"{kind}_status")
        st = st.decode() if isinstance(st, bytes) else st
        n = int(g.attrs.get(f"{kind}_training_crossings"))
        if st != "not estimated" or n <= 0 or f"{kind}_mean" in g or f"{kind}_lower" in g or \
                f"{kind}_total_upper" in g or f"{kind}_certain" not in g:
            failures.append(f"--nowcast-min-training 1e9: {kind}: status {st!r}, {n} training crossings, datasets "
                            f"{sorted(k for k in g if k.startswith(kind))}")
    print("ok: --nowcast-min-training above the training crossings: not estimated, bounds only")
for f_ in failures:
    print("classify_nowcast_bad: FAIL:", f_)
sys.exit(1 if failures else 0)
