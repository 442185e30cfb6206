#!/usr/bin/python3
"""h5_read_xarray.py MODE FILE: a user with xarray reads emflow's labelled arrays.

FILE is written by h5_collective (tests/mpi/h5_collective.c), whose values are closed-form:
  /data/counts [7 x 5] int64 = 1000*(i+1) + j, units "persons", long_name "migrant departures"
  /data/month  scale 202101 .. 202107 (dimension 0 of counts)
  /data/group  scale "AUT", "BEL", "Côte d'Ivoire", "DEU", "unknown" (dimension 1 of counts)
  /data/component scale "x", "y", "z" (dimension 1 of /data/small and /data/field)
xarray reads HDF5 through the h5netcdf engine, which maps HDF5 dimension scales to netCDF
dimensions: the dimension names and coordinate labels checked here can only come from the scales.

MODE variable   h5netcdf (xarray's HDF5 backend) opens /data/counts alone; an xarray.DataArray is
                built from its dimensions and the coordinate variables they name.
MODE dataset    xarray.open_dataset(FILE, group="data", engine="h5netcdf"), as a user would.
Exit 77 (skipped) without xarray or h5netcdf.
"""
import sys

try:
    import numpy as np
    import xarray as xr
    import h5netcdf
except ImportError as e:  # not installed (scripts/install-deps.sh installs both): skip, not pass
    print(f"skipped: {e} (install python3-xarray python3-h5netcdf)")
    sys.exit(77)

MONTHS = list(range(202101, 202108))
GROUPS = ["AUT", "BEL", "C\u00f4te d'Ivoire", "DEU", "unknown"]
failures = 0


def check(cond, what):
    global failures
    if not cond:
        failures += 1
        print(f"FAIL: {what}")


def labels(values):
    """Scale strings as text: fixed-length HDF5 strings come back as UTF-8 bytes."""
    return [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in values]


def check_counts(counts, where):
    """counts: an xarray.DataArray labelled by the month and group scales."""
    check(counts.dims == ("month", "group"), f"{where}: counts dims {counts.dims}, expected the scale names")
    check(counts.shape == (7, 5) and counts.dtype == np.int64, f"{where}: counts {counts.shape} {counts.dtype}")
    check(list(counts["month"].values) == MONTHS, f"{where}: month labels {counts['month'].values}")
    check(labels(counts["group"].values) == GROUPS, f"{where}: group labels {counts['group'].values}")
    check(counts.attrs.get("units") == "persons", f"{where}: units {counts.attrs.get('units')!r}")
    check(counts.attrs.get("long_name") == "migrant departures", f"{where}: long_name")
    # select by label, not position: month 202104 is i = 3, "DEU" is j = 3 -> 1000*(3+1) + 3
    deu = counts["group"].values[GROUPS.index("DEU")]
    check(int(counts.sel(month=202104, group=deu)) == 4003, f"{where}: counts[202104, DEU]")
    check(int(counts.sel(month=202107).sum()) == 5 * 7000 + (0 + 1 + 2 + 3 + 4), f"{where}: sum over month 202107")


mode, path = sys.argv[1], sys.argv[2]
if mode == "variable":
    with h5netcdf.File(path, "r") as f:
        g = f["data"]
        v = g["counts"]
        coords = {d: g[d][...] for d in v.dimensions}
        counts = xr.DataArray(v[...], dims=v.dimensions, coords=coords, attrs=dict(v.attrs))
        check_counts(counts, "h5netcdf /data/counts")
elif mode == "dataset":
    # phony_dims: /data/pair and /data/field have no scales at all, which netCDF allows as phony
    # dimensions (emflow's own outputs label everything: tests/mpi/xarray_groups.py opens them without)
    try:
        ds = xr.open_dataset(path, group="data", engine="h5netcdf", phony_dims="sort")
    except Exception as e:  # the group must open: a user cannot get at any array otherwise
        print(f"FAIL: xarray.open_dataset(group='data') raised {type(e).__name__}: {e}")
        sys.exit(1)
    with ds:
        check_counts(ds["counts"], "open_dataset /data")
        for name in ("small", "field", "pair"):
            check(name in ds, f"/data/{name} missing from the dataset")
        if "small" in ds:  # labelled on both axes
            check(ds["small"].dims == ("sample", "component"), f"small dims {ds['small'].dims}")
            check(labels(ds["small"]["component"].values) == ["x", "y", "z"], "small component labels")
            check(list(ds["small"]["sample"].values) == list(range(10)), "small sample labels")
        if "field" in ds:  # no scales at all: phony dimensions, never a borrowed label
            # (h5netcdf names a phony dimension by its size: dimension 1 of 3 may take the name of
            # /data/component, also of length 3; dimension 0 of 40000 has no namesake)
            check(ds["field"].dims[0].startswith("phony_dim"), f"field dims {ds['field'].dims}")
        if "field" in ds:
            i = np.arange(40000)[:, None]
            j = np.arange(3)[None, :]
            check(np.array_equal(ds["field"].values, (3 * i + j) / 8.0), "field values (3i + j)/8")
else:
    sys.exit(f"usage: {sys.argv[0]} variable|dataset FILE")

print(f"h5_read_xarray {mode}:", "ok" if failures == 0 else f"{failures} failures")
sys.exit(1 if failures else 0)
