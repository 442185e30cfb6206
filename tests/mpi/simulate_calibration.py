#!/usr/bin/python3
"""Calibration test (issue 3): the default Azerbaijan profile of `emflow simulate` reproduces the
foreigners' yearly entries and exits (crossings, and documents = distinct travellers) of
inputs/azerbaijan_border_2020_2022.csv within 2% for 2020, 2021 and January-August 2022.

    simulate_calibration.py EMFLOW REAL.csv WORKDIR

The simulation runs at scale 0.1 (1 person in 10, with the profile's default seed); counts are scaled
by 1 / 0.1 and compared with the published figures.  Counting (scripts/sim_border_counts.py):
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
out = os.path.join(work, "calib.h5")
subprocess.run([emflow, "simulate", "-o", out, "--scale", str(SCALE)], check=True)
sim = sbc.foreign_counts(os.path.join(work, "calib_crossings.csv"))
real = sbc.real_counts(real_csv)
worst = 0.0
for (ind, per), v in sorted(real.items(), key=lambda kv: (kv[0][1], kv[0][0])):
    s = sim.get((ind, per), 0) / SCALE
    e = s / v - 1
    worst = max(worst, abs(e))
    print(f"{ind:18s} {per:15s} real {v:10.0f} simulated {s:10.0f} error {e:+.4f} {'ok' if abs(e) <= 0.02 else 'FAIL'}")
print(f"largest relative error {worst:.4f} (tolerance 0.02)")
for f in ("calib.h5", "calib_crossings.csv", "calib_declarations.csv"):
    os.remove(os.path.join(work, f))
sys.exit(0 if worst <= 0.02 and len(real) == 12 else 1)
