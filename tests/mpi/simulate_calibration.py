#!/usr/bin/python3
"""Calibration test (issue 3): the default Azerbaijan profile of `emflow simulate` reproduces the
foreigners' yearly entries and exits (crossings, and documents = distinct travellers) of
inputs/azerbaijan_border_2020_2022.csv within 2% for 2020, 2021 and January-August 2022.

    simulate_calibration.py EMFLOW REAL.csv WORKDIR

The simulation runs at scale 0.1 (1 person in 10) at three seeds (the profile's default and two
others: the 2020 figures vary by ~1% between seeds, so one seed proves little); at each seed, counts
are scaled by 1 / 0.1 and every figure must be within 2% of the published one.  Counting (scripts/sim_border_counts.py):
records of the crossings CSV whose citizenship is not AZE, by recorded date, distinct person_id for
documents: what the border service counts, recording faults included.
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
import sim_border_counts as sbc  # noqa: E402

SCALE = 0.1
emflow, real_csv, work = sys.argv[1:4]
os.makedirs(work, exist_ok=True)
SEEDS = (20240601, 1, 2)
real = sbc.real_counts(real_csv)
worst = 0.0
for seed in SEEDS:
    out = os.path.join(work, "calib.h5")
    subprocess.run([emflow, "simulate", "-o", out, "--scale", str(SCALE), "--seed", str(seed), "--log-level", "warn"],
                   check=True)
    sim = sbc.foreign_counts(os.path.join(work, "calib_crossings.csv"))
    for (ind, per), v in sorted(real.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        s = sim.get((ind, per), 0) / SCALE
        e = s / v - 1
        worst = max(worst, abs(e))
        print(f"seed {seed:9d} {ind:18s} {per:15s} real {v:10.0f} simulated {s:10.0f} error {e:+.4f} "
              f"{'ok' if abs(e) <= 0.02 else 'FAIL'}")
    for f in ("calib.h5", "calib_crossings.csv", "calib_declarations.csv"):
        os.remove(os.path.join(work, f))
print(f"largest relative error over {len(SEEDS)} seeds {worst:.4f} (tolerance 0.02)")
sys.exit(0 if worst <= 0.02 and len(real) == 12 else 1)
