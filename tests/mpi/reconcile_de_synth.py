#!/usr/bin/env python3
"""reconcile_de_synth.py OUT.csv [COUNTRIES [YEARS]]: a synthetic double-entry flows file in the Eurostat
layout for `emflow reconcile --model double-entry` (tests/mpi/reconcile.cmake).

Why synthetic: the real EU-27 file has 702 corridors, so its [year x corridor] arrays fit in one HDF5
chunk and every year lands on rank 0.  With 183 countries (33,306 corridors, 266 KB a row of doubles,
more than the 256 KiB chunk target) each year is a chunk of its own, so 2 and 3 ranks really split the
years, and a year's ~12,000 paired corridors take several GLS blocks.  The file also has what the real
one lacks: accuracy class NA on reported counts, zero counts, and emigration of undercount class high.
Seeded: the same bytes on every run.
"""
import sys

import numpy as np

out = sys.argv[1]
C = int(sys.argv[2]) if len(sys.argv) > 2 else 183
T = int(sys.argv[3]) if len(sys.argv) > 3 else 5
rng = np.random.default_rng(20261204)
codes = ["C%03d" % i for i in range(C)]
ucl = np.array(["low", "medium", "high"])
acl = np.array(["High", "Medium", "Low", "NA"])
# per reporting country and source: its classes (as in the real data, fixed per country)
ue, ae = rng.integers(0, 3, C), rng.integers(0, 4, C)
ui, ai = rng.integers(0, 3, C), rng.integers(0, 4, C)
rep_e, rep_i = rng.random(C) < 0.7, rng.random(C) < 0.75  # countries that report at all
lines = ["SEX,Year,Sending_iso3,Receiving_iso3,Emig,Immi,UE,UI,AE,AI"]
ii, jj = np.meshgrid(np.arange(C), np.arange(C), indexing="ij")
off = ii != jj
ii, jj = ii[off], jj[off]
for t in range(T):
    true = np.floor(rng.lognormal(5.0, 1.8, ii.size))
    e = np.where(rep_e[ii] & (rng.random(ii.size) < 0.8), np.floor(true * rng.uniform(0.3, 1.1, ii.size)), -1)
    m = np.where(rep_i[jj] & (rng.random(ii.size) < 0.8), np.floor(true * rng.uniform(0.5, 1.2, ii.size)), -1)
    for k in range(ii.size):
        i, j = ii[k], jj[k]
        lines.append("Total,%d,%s,%s,%s,%s,%s,%s,%s,%s" % (
            2001 + t, codes[i], codes[j], "NA" if e[k] < 0 else "%d" % e[k], "NA" if m[k] < 0 else "%d" % m[k],
            ucl[ue[i]], ucl[ui[j]], acl[ae[i]], acl[ai[j]]))
# a few other-sex rows the filter must drop
lines.append("Male,2001,C000,C001,5,5,low,low,High,High")
with open(out, "w") as fh:
    fh.write("\n".join(lines) + "\n")
