"""Read the data files the C benchmarks export (format described in bench/bench_util.h).

PREFIX.json:  {"format": "emflow-bench-f64le-1", "bin": "NAME.bin", "meta": {...},
               "arrays": {"name": {"offset": BYTES, "shape": [...]}, ...}}
PREFIX.bin:   the arrays, raw float64 little-endian, C order, at the given byte offsets.
"""
import json
import os
import resource
import sys

import numpy as np

FORMAT = "emflow-bench-f64le-1"


def load(json_path):
    """Return (meta, arrays): the header's meta dict and {name: numpy array (a fresh copy)}."""
    with open(json_path, encoding="utf-8") as f:
        head = json.load(f)
    if head.get("format") != FORMAT:
        sys.exit(f"{json_path}: format {head.get('format')!r}, expected {FORMAT!r}")
    bin_path = os.path.join(os.path.dirname(os.path.abspath(json_path)), head["bin"])
    arrays = {}
    for name, a in head["arrays"].items():
        shape = tuple(int(s) for s in a["shape"])
        count = int(np.prod(shape)) if shape else 1
        arrays[name] = np.fromfile(bin_path, dtype="<f8", count=count, offset=int(a["offset"])).reshape(shape)
        if arrays[name].size != count:
            sys.exit(f"{bin_path}: array {name} is truncated")
    return head["meta"], arrays


def maxrss_kb():
    """Peak resident set size of this process so far, KiB (Linux ru_maxrss unit)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def summary(samples):
    """median, min, max of a list of floats."""
    s = sorted(samples)
    n = len(s)
    med = s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2])
    return med, s[0], s[-1]


def blas_info():
    """Which BLAS numpy calls (the shared object behind libblas.so.3), best effort."""
    try:
        with open("/proc/self/maps", encoding="utf-8") as f:
            libs = sorted({line.split()[-1] for line in f if "blas" in line or "lapack" in line})
        return [os.path.realpath(p) for p in libs if p.startswith("/")]
    except OSError:
        return []
