#!/usr/bin/python3
"""xarray_groups.py FILE.h5 [FILE2.h5 ...]: every group of an emflow output opens in xarray, labelled.

What a researcher does with our files: xarray.open_dataset(FILE, group=G, engine="h5netcdf") for a
group G, with no reader options (no phony_dims).  xarray's HDF5 backend follows the netCDF-4 data model:
a variable's dimensions must all be dimension scales, found in its own group or an ancestor.  For every
group that holds datasets this test opens it and checks, against h5py reading the same file:
  - every dataset of the group that is not a scale is a data variable of the xarray Dataset;
  - its dimensions are the names of the scales h5py finds attached (DIMENSION_LIST), in order;
  - its values are the file's values (exact: the same bytes decoded by two readers);
  - each coordinate holds the values of the scale attached in the file (not a same-named one elsewhere).
Exit 1 listing every failure; 77 (skipped) without xarray or h5netcdf.
"""
import sys
import warnings

import h5py
import numpy as np

try:
    import xarray as xr
    import h5netcdf  # noqa: F401  (the engine xarray uses)
except ImportError as e:
    print(f"skipped: {e} (install python3-xarray python3-h5netcdf)")
    sys.exit(77)

failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL:", msg)


def as_text(a):
    """Strings as str whichever reader decoded them (fixed-length HDF5 strings: bytes in h5py)."""
    if a.dtype.kind in "SO":
        return np.array([v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in a.ravel()]).reshape(a.shape)
    return a


def same(a, b):
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return False
    if a.dtype.kind in "SOU" or b.dtype.kind in "SOU":
        return a.dtype.kind in "SOU" and b.dtype.kind in "SOU" and np.array_equal(as_text(a), as_text(b))
    if a.dtype.kind == "f" and b.dtype.kind == "f":
        return np.array_equal(a, b, equal_nan=True)
    return np.array_equal(a, b)


def check_file(path):
    groups = {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                g = "/" + name.rsplit("/", 1)[0] if "/" in name else "/"
                groups.setdefault(g, []).append("/" + name)
        f.visititems(visit)
        nvars = 0
        for g, members in sorted(groups.items()):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # h5netcdf's notes on non-netCDF attributes
                    ds = xr.open_dataset(path, group=None if g == "/" else g, engine="h5netcdf")
                    ds.load()
            except Exception as e:  # noqa: BLE001 (any failure to open is the finding)
                fail(f"{path}: xarray.open_dataset(group={g!r}) raised {type(e).__name__}: {e}")
                continue
            with ds:
                for p in members:
                    d = f[p]
                    if h5py.h5ds.is_scale(d.id):
                        continue
                    name = p.rsplit("/", 1)[-1]
                    if name not in ds.data_vars:
                        fail(f"{path}: {p} is not a data variable of group {g} (has {list(ds.data_vars)})")
                        continue
                    v = ds[name]
                    nvars += 1
                    scales = []
                    for k in range(d.ndim):
                        att = list(d.dims[k].values())
                        if len(att) != 1:
                            fail(f"{path}: {p} axis {k} has {len(att)} scales attached, expected 1")
                            scales.append(None)
                            continue
                        scales.append(att[0])
                    want = tuple(s.name.rsplit("/", 1)[-1] if s is not None else None for s in scales)
                    if v.dims != want:
                        fail(f"{path}: {p}: xarray dims {v.dims}, the file's scales {want}")
                        continue
                    if not same(v.values, d[()]):
                        fail(f"{path}: {p}: xarray's values differ from h5py's")
                    for k, s in enumerate(scales):
                        if s is not None and not same(v[want[k]].values, s[()]):
                            fail(f"{path}: {p} axis {k}: coordinate {want[k]} holds other values than {s.name}")
    print(f"{path}: {len(groups)} groups, {nvars} labelled variables checked")


if len(sys.argv) < 2:
    sys.exit(__doc__.strip())
for p in sys.argv[1:]:
    check_file(p)
print("xarray_groups:", "ok" if not failures else f"{len(failures)} failures")
sys.exit(1 if failures else 0)
