#!/usr/bin/python3
"""export_check.py: `emflow export FILE DATASET [-o OUT.csv]` against h5py.

usage: export_check.py EMFLOW MPIEXEC WORKDIR FILE:DATASET [FILE:DATASET ...]

For each FILE:DATASET: export to a CSV (-o) and to stdout (the same bytes); read the CSV with the csv
module and compare with h5py: the header is the dimension scales' names then `value`; the rows are the
cartesian product of the scales' labels in C order; every value equals the array's (integers exactly,
floats exactly: %.17g reads back to the same double; NaN where NaN).  One of them also under
mpiexec -n 1.  Then, on a file made here with h5py: a 2-D dataset without scales (columns dim_0, dim_1
with indices, a warning), a 1-D dataset labelled by a numeric scale, two dimensions with the same
scale (citizen, citizen_2), a label with a comma (quoted), a scalar, variable-length UTF-8 strings
(h5py's default string type: 'ü' comes out as its UTF-8 bytes); a path without the leading '/' (relative
to the root: the same bytes, also published); under mpiexec -n 2 the CSV once (the
same bytes as a serial run, on stdout and with -o: only rank 0 reads and writes); and errors: a missing file (exit
5), a missing dataset (exit 4, naming the file, the dataset and listing the file's datasets), a
group, a compound dataset (exit 4), a file that is not HDF5 (exit 4); no output file left behind.
"""
import csv
import io
import itertools
import math
import os
import subprocess
import sys

import h5py
import numpy as np


def run(cmd, cwd):
    p = subprocess.run(cmd, cwd=cwd, capture_output=True)
    return p.returncode, p.stdout, p.stderr.decode(errors="replace")


def text(x):
    return x.decode() if isinstance(x, bytes) else str(x)


def expected(path, name):
    with h5py.File(path, "r") as f:
        ds = f[name]
        a = ds[()]
        cols, labs = [], []
        for k in range(ds.ndim):
            if len(ds.dims[k]):
                sc = ds.dims[k][0]
                nm = ds.dims[k].label or sc.attrs.get("NAME", sc.name.split("/")[-1])
                cols.append(text(nm).rstrip("\x00"))
                labs.append([text(v) for v in sc[()]])
            else:
                cols.append(f"dim_{k}")
                labs.append([str(i) for i in range(ds.shape[k])])
        seen = {}
        for k, c in enumerate(cols):
            if c in seen or c == "value":
                cols[k] = f"{c}_{k + 1}"
            seen[cols[k]] = 1
        return cols + ["value"], labs, np.asarray(a)


def same_value(s, v):
    if isinstance(v, (bytes, str)):
        return s == text(v)
    if np.issubdtype(type(v), np.integer):
        return int(s) == int(v)
    x = float(s)
    return (math.isnan(x) and math.isnan(v)) or x == float(v)


def check(emflow, mpiexec, work, path, name, fails, mpi=False):
    out = os.path.join(work, name.strip("/").replace("/", "_") + ".csv")
    cmd = ([mpiexec, "-n", "1"] if mpi else []) + [emflow, "export", path, name, "-o", out]
    rc, _, err = run(cmd, work)
    if rc != 0:
        fails.append(f"{path} {name}: exit {rc}: {err}")
        return
    rc2, stdout, _ = run([emflow, "export", path, name], work)
    data = open(out, "rb").read()
    if rc2 != 0 or stdout != data:
        fails.append(f"{name}: stdout differs from -o")
    rows = list(csv.reader(io.StringIO(data.decode())))
    header, labs, a = expected(path, name)
    if rows[0] != header:
        fails.append(f"{name}: header {rows[0]} != {header}")
        return
    body = rows[1:]
    if len(body) != a.size:
        fails.append(f"{name}: {len(body)} rows, expected {a.size}")
        return
    bad = 0
    for r, (idx, lab) in enumerate(zip(itertools.product(*[range(len(l)) for l in labs]),
                                       itertools.product(*labs))):
        if body[r][:-1] != list(lab) or not same_value(body[r][-1], a[idx] if a.ndim else a[()]):
            bad += 1
    print(f"{os.path.basename(path)} {name}: {len(body)} rows, columns {header}: {bad} differ"
          f"{' (under mpiexec -n 1)' if mpi else ''}")
    if bad:
        fails.append(f"{name}: {bad} rows differ from h5py")


def main():
    emflow, mpiexec, work = sys.argv[1:4]
    os.makedirs(work, exist_ok=True)
    fails = []
    for i, item in enumerate(sys.argv[4:]):
        path, name = item.rsplit(":", 1)
        check(emflow, mpiexec, work, path, name, fails, mpi=(i == 0))

    t = os.path.join(work, "made.h5")
    with h5py.File(t, "w") as f:
        f["plain"] = np.arange(6, dtype=np.float64).reshape(2, 3) / 3
        f["plain"][0, 1] = np.nan
        f["year"] = np.array([2020, 2021, 2022], dtype=np.int32)
        f["year"].make_scale("year")
        f["by_year"] = np.array([1.5, -2.25, 1e-300])
        f["by_year"].dims[0].attach_scale(f["year"])
        f["citizen"] = np.array([b"AZE", b"X,Y"], dtype="S3")
        f["citizen"].make_scale("citizen")
        f["square"] = np.array([[1, 2], [3, 4]], dtype=np.uint64)
        f["square"].dims[0].attach_scale(f["citizen"])
        f["square"].dims[1].attach_scale(f["citizen"])
        f["scalar"] = np.int16(-7)
        f["vs"] = np.array(["ü", 'a,"b', ""], dtype=h5py.string_dtype())
        f["vs_labelled"] = np.array([1, 2], dtype=np.int32)
        f["city"] = np.array(["Bakı", "Gəncə"], dtype=h5py.string_dtype())
        f["city"].make_scale("city")
        f["vs_labelled"].dims[0].attach_scale(f["city"])
        f["records"] = np.zeros(2, dtype=[("a", "i4"), ("b", "f8")])
        f.create_group("grp")
        f["grp2/sub/x"] = np.arange(3)
        f["grp2/y"] = np.arange(2)
        for k in range(60):  # more than a one-line message holds: listed one per line first
            f[f"zbig/dataset_number_{k:02d}"] = np.arange(2)
    for name in ("/plain", "/by_year", "/square", "/scalar", "/vs", "/vs_labelled"):
        check(emflow, mpiexec, work, t, name, fails)
    # under mpiexec -n 2: rank 0 alone works (the CSV once, -o written once)
    rc0, serial, _ = run([emflow, "export", t, "/square"], work)
    mp = [mpiexec, "--oversubscribe", "-n", "2", emflow, "export", t, "/square"]
    rc, par, err = run(mp, work)
    print(f"mpiexec -n 2 export /square: exit {rc}, {len(par.splitlines())} lines (serial {len(serial.splitlines())})")
    if rc0 != 0 or rc != 0 or par != serial:
        fails.append(f"mpiexec -n 2 export /square: exit {rc}, stdout {par!r} != serial {serial!r}: {err}")
    out2 = os.path.join(work, "np2.csv")
    rc, par, err = run(mp + ["-o", out2, "--publish", "--suppress-below", "0"], work)
    if rc != 0 or par or not os.path.exists(out2 + ".disclosure.json") or err.count("export: published") != 1:
        fails.append(f"mpiexec -n 2 export --publish -o: exit {rc}, stdout {par!r}, stderr {err!r} (expected one "
                     "statement of the protection and the label)")
    # a path without the leading '/' is relative to the root: the same bytes as with it (a dataset in a
    # group too, and with --publish, whose derived seed and label name the path), a group lists its
    # datasets under its absolute name, a missing one is named with the '/'
    for rel in ("plain", "grp2/y", "square"):
        rc_a, abs_out, _ = run([emflow, "export", t, "/" + rel], work)
        rc_r, rel_out, err = run([emflow, "export", t, rel], work)
        print(f"export {rel} (no leading /): exit {rc_r}, {len(rel_out.splitlines())} lines, same as /{rel}: "
              f"{rel_out == abs_out}")
        if rc_a != 0 or rc_r != 0 or rel_out != abs_out or not rel_out:
            fails.append(f"export {rel}: exit {rc_r}, output differs from /{rel} ({rel_out!r} vs {abs_out!r}): {err}")
    pub_out = {}
    for name in ("/square", "square"):
        o = os.path.join(work, "pub_rel.csv" if name[0] != "/" else "pub_abs.csv")
        rc, _, err = run([emflow, "export", t, name, "--publish", "--suppress-below", "0", "-o", o], work)
        label = open(o + ".disclosure.json").read().replace("pub_rel.csv", "pub_abs.csv") if rc == 0 else ""
        pub_out[name] = (rc, open(o, "rb").read() if rc == 0 else b"", label)
    if pub_out["square"] != pub_out["/square"] or pub_out["square"][0] != 0:
        fails.append(f"export square --publish differs from /square: {pub_out}")
    rc, _, err = run([emflow, "export", t, "grp2"], work)
    if rc != 4 or "'/grp2' is a group" not in err or "/grp2/sub/x, /grp2/y" not in err:
        fails.append(f"export grp2 (no leading /): exit {rc}: {err!r}")
    rc, _, err = run([emflow, "export", t, "nope/deeper"], work)
    if rc != 4 or "no dataset '/nope/deeper'" not in err:
        fails.append(f"export nope/deeper (no leading /): exit {rc}: {err!r}")
    rc, _, err = run([emflow, "export", t, "/plain"], work)
    if "without a dimension scale" not in err:
        fails.append(f"/plain: no warning about the missing scales: {err!r}")
    with open(os.path.join(work, "not.h5"), "w") as f:
        f.write("a,b\n")
    errors = [
        ([os.path.join(work, "missing.h5"), "/x"], 5, ["missing.h5", "cannot open"]),
        ([t, "/nope/deeper"], 4, ["made.h5", "no dataset '/nope/deeper'", "/by_year", "/square"]),
        ([t, "/grp"], 4, ["'/grp' is a group, not a dataset", "its 0 dataset(s): (none)"]),
        ([t, "/grp2"], 4, ["'/grp2' is a group", "its 2 dataset(s): /grp2/sub/x, /grp2/y"]),
        ([t, "/zbig"], 4, ["the 60 dataset(s) of /zbig:", "its 60 dataset(s), listed above"]
         + [f"\n  /zbig/dataset_number_{k:02d}\n" for k in range(60)]),
        ([t, "/records"], 4, ["/records", "compound"]),
        ([os.path.join(work, "not.h5"), "/x"], 4, ["not.h5", "not an HDF5 file"]),
    ]
    for args, want_rc, words in errors:
        out = os.path.join(work, "err.csv")
        rc, _, err = run([emflow, "export"] + args + ["-o", out], work)
        print(f"export {' '.join(os.path.basename(a) for a in args)}: exit {rc}: {err.strip()}")
        if rc != want_rc or any(w not in err for w in words):
            fails.append(f"{args}: exit {rc} (expected {want_rc}), message {err!r} (expected {words})")
        if os.path.exists(out) or os.path.exists(out + ".part"):
            fails.append(f"{args}: an output file was left behind")
    for f in fails:
        print("FAIL:", f)
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
