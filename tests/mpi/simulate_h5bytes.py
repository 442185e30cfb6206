#!/usr/bin/python3
"""Byte-identical crossings HDF5 (simulate --crossings-h5) at any number of ranks (issue 3).

    simulate_h5bytes.py engine/emi_crossings.h A.h5 B.h5 [C.h5 ...]

The files come from the same command line (same relative output names, run in different
directories) with SOURCE_DATE_EPOCH pinned, so the only root provenance attributes that may differ
are the ones describing the process: mpi_ranks and omp_threads (int64, stored in place in the root
object header).  Copies of the files get those two set to 0 (same type and size: no byte moves), then
the copies must be byte-identical to the first: chunk addresses, chunk index, free space, compressed
bytes, attribute order.  This is what tests/mpi/h5.cmake's h5_bytes does for the array writer with
the provenance left out.

A group is EMI_CROSSINGS_GROUP x EMI_CROSSINGS_CHUNK records (read from the header): the files must
hold more than two groups and a partial one, so that group writes, the extents between them and the
final partial group are all exercised (with fewer records everything is written by finish).
"""
import filecmp
import os
import re
import shutil
import sys
import tempfile

import h5py
import numpy as np

with open(sys.argv[1]) as f:
    hdr = f.read()
group = int(re.search(r"#define EMI_CROSSINGS_GROUP (\d+)", hdr).group(1)) * \
    int(re.search(r"#define EMI_CROSSINGS_CHUNK (\d+)", hdr).group(1))
files = sys.argv[2:]
tmp = tempfile.mkdtemp(prefix="h5bytes_")
ok = True
copies = []
try:
    for k, path in enumerate(files):
        c = os.path.join(tmp, f"{k}.h5")
        shutil.copyfile(path, c)
        with h5py.File(c, "r+") as f:
            n = f["/crossings/records"].shape[0]
            ranks = int(f.attrs["mpi_ranks"])
            for a in ("mpi_ranks", "omp_threads"):
                f.attrs.modify(a, np.int64(0))
        print(f"{path}: {os.path.getsize(path)} bytes, {n} records, written at {ranks} rank(s)")
        if not (n > 2 * group and n % group):
            print(f"FAIL: {path}: {n} records: expected more than 2 x {group} and a partial group")
            ok = False
        copies.append(c)
    for path, c in zip(files[1:], copies[1:]):
        if filecmp.cmp(copies[0], c, shallow=False):
            print(f"ok: {path} is byte-identical to {files[0]} (mpi_ranks, omp_threads set to 0)")
        else:
            a, b = open(copies[0], "rb").read(), open(c, "rb").read()
            first = next((i for i in range(min(len(a), len(b))) if a[i] != b[i]), min(len(a), len(b)))
            print(f"FAIL: {path} differs from {files[0]}: {len(b)} vs {len(a)} bytes, first difference at byte {first}")
            ok = False
finally:
    shutil.rmtree(tmp)
sys.exit(0 if ok else 1)
