#!/usr/bin/python3
"""h5_read_h5py.py FILE: a user with h5py reads emflow's labelled arrays without a manual.

Checks, on the file written by h5_collective: dimension scales come back through dset.dims with
their names and values, units/long_name are plain str attributes, the options table is a structured
array with named columns, and provenance attributes are readable.  Exit 77 (skipped) without h5py.
"""
import sys

try:
    import h5py
    import numpy as np
except ImportError as e:  # the pyenv python3 has no h5py: tell ctest to skip, not fail
    print(f"skipped: {e}")
    sys.exit(77)

failures = 0


def check(cond, what):
    global failures
    if not cond:
        failures += 1
        print(f"FAIL: {what}")


with h5py.File(sys.argv[1], "r") as f:
    counts = f["/data/counts"]
    check(counts.shape == (7, 5) and counts.dtype == np.int64, f"counts shape/dtype {counts.shape} {counts.dtype}")
    check(counts[3, 2] == 4002, f"counts[3,2] = {counts[3, 2]}, expected 1000*(3+1)+2")
    check(counts.attrs["units"] == "persons", f"units = {counts.attrs['units']!r} (expected str 'persons')")
    check(counts.attrs["long_name"] == "migrant departures", "long_name")

    month = counts.dims[0][0]
    check(month.name == "/data/month", f"dims[0] scale is {month.name}")
    check(list(month[:]) == list(range(202101, 202108)), f"month values {month[:]}")
    check(counts.dims[0].keys() == ["month"], f"dims[0] scale names {counts.dims[0].keys()}")
    group = counts.dims[1][0]
    check(group.name == "/data/group", f"dims[1] scale is {group.name}")
    names = [s.decode("utf-8") for s in group[:]]
    check(names == ["AUT", "BEL", "C\u00f4te d'Ivoire", "DEU", "unknown"], f"group values {names}")
    check(group.attrs["long_name"] == "citizenship group", "scale long_name")

    field = f["/data/field"]
    check(field.compression == "gzip" and field.shuffle, f"field filters {field.compression} shuffle={field.shuffle}")
    check(all(len(field.dims[k]) == 0 for k in range(2)), "field has no scales (an unlabelled array)")
    small = f["/data/small"]
    check(small.dims[0][0].name == "/data/sample" and small.dims[1][0].name == "/data/component", "small scales")
    i = np.arange(field.shape[0])[:, None]
    j = np.arange(3)[None, :]
    check(np.array_equal(field[()], (3 * i + j) / 8.0), "field values")

    table = f["/config/options"][()]
    check(table.dtype.names == ("name", "value", "units", "source"), f"table columns {table.dtype.names}")
    row = {n.decode(): v.decode() for n, v in zip(table["name"], table["value"])}
    check(row["window_months"] == "16" and row["seed"] == "20261203", f"table rows {row}")

    check(f.attrs["software"] == "emflow", "software attribute")
    check(int(f.attrs["mpi_ranks"]) >= 1, "mpi_ranks attribute")
    check(list(f.attrs["input_sha256"]) ==
          ["ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"], "input_sha256 attribute")

print("h5_read_h5py:", "ok" if failures == 0 else f"{failures} failures")
sys.exit(1 if failures else 0)
