#!/usr/bin/python3
"""classify_csv_layouts.py: the parallel CSV reader of `emflow classify` gives the same records,
reject counts and first-error message at every layout (issue 4, Ingest).

usage: classify_csv_layouts.py EMFLOW MPIEXEC CROSSINGS.csv WORKDIR

From the fault-free simulated crossings CSV, write a variant that holds the same records written
differently plus extra bad lines:
  - every 7th record's fields in double quotes (every 21st also with a CRLF line end), which the reader
    must accept as the same record;
  - after every 1499th line one extra bad line, cycling through faults with a known reason:
    bad_date, unknown_direction, invalid_country, unknown_country, unknown_sex, field_count,
    empty_record, birth_after_crossing, line_too_long (a 5000-byte line), bad_key (a control character).
Then classify the original at 1 rank and the variant at 1 rank x 1 thread, 1 rank x 2 threads,
2 ranks and 3 ranks, and check (the right values come from the construction of the file):
  1. the variant's tables (/linkage/migrant_departures, migrant_arrivals, pending_*) equal the
     original's: quoting and CRLF change no record, and bad lines add none;
  2. rejects by reason = the original's + the faults injected, at every layout; records_in = the
     original's + the lines added;
  3. the variant's outputs are identical at every layout (h5py, every dataset and attribute of /linkage);
  4. with --max-reject-share 0, the run stops with exit status 12 and one message naming the file, the
     line of the first bad record (computed here: the first injected line, or the first record of the
     original born after its crossing year, whichever comes first), the field, what was found and what
     was expected -- the same message at every layout; the log's 5 reject examples begin with that line.
"""
import os
import re
import subprocess
import sys

import h5py
import numpy as np

FAULTS = [  # (reason, field index, new text) -- None: a whole-line fault
    ("bad_date", 1, "2021-02-30"),
    ("unknown_direction", 2, "EXIT"),
    ("invalid_country", 3, "A1Z"),
    ("unknown_country", 3, "ZZZ"),
    ("unknown_sex", 6, "Q"),
    ("field_count", None, "drop"),
    ("empty_record", None, "blank"),
    ("birth_after_crossing", 7, "2099"),
    ("line_too_long", None, "long"),
    ("bad_key", 0, "ctl\x01key"),
]
EXPECT = {"bad_date": "crossed_at", "unknown_direction": "direction", "invalid_country": "citizenship",
          "unknown_country": "citizenship", "unknown_sex": "sex", "birth_after_crossing": "birth_year",
          "bad_key": "person_id"}
TABLES = ("migrant_departures", "migrant_arrivals", "pending_departures", "pending_arrivals")


def run(cmd, cwd, threads=1):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, env=env)
    return p.returncode, (p.stdout + p.stderr).decode(errors="replace")


def main():
    emflow, mpiexec, crossings, work = sys.argv[1:5]
    os.makedirs(work, exist_ok=True)
    variant = os.path.join(work, "variant.csv")
    injected = {r: 0 for r, _, _ in FAULTS}
    first_bad = None  # (line, reason, field name, found)
    added = 0
    with open(crossings, "rb") as f, open(variant, "wb") as g:
        header = f.readline()
        g.write(header)
        out_line = 1
        k = 0
        for i, raw in enumerate(f):
            line = raw.rstrip(b"\n")
            fields = line.split(b",")
            if i % 7 == 3:
                line = b",".join(b'"' + x + b'"' for x in fields)
            g.write(line + (b"\r\n" if i % 21 == 3 else b"\n"))
            out_line += 1
            # an original reject (fault-free data: only birth years after the crossing year)
            if first_bad is None and int(fields[7]) > int(fields[1][:4]):
                first_bad = (out_line, "birth_after_crossing", "birth_year", fields[7].decode())
            if i % 1499 == 1498:
                reason, fi, text = FAULTS[k % len(FAULTS)]
                k += 1
                bad = list(fields)
                if text == "drop":
                    bl = b",".join(bad[:-1])
                elif text == "blank":
                    bl = b""
                elif text == "long":
                    bl = bad[0] + b"," + b"x" * 5000
                else:
                    bad[fi] = text.encode()
                    bl = b",".join(bad)
                g.write(bl + b"\n")
                out_line += 1
                added += 1
                injected[reason] += 1
                if first_bad is None:
                    found = text if fi is not None and fi != 0 else None
                    first_bad = (out_line, reason, EXPECT.get(reason), found)
    print(f"variant: {added} bad lines added ({injected}); first bad record: line {first_bad[0]} ({first_bad[1]})")
    fails = []
    rc, log = run([mpiexec, "-n", "1", "--oversubscribe", emflow, "classify", crossings, "-o", "orig.h5",
                   "--no-nowcast"], work)
    if rc:
        print(log)
        return 1
    layouts = [(1, 1), (1, 2), (2, 1), (3, 1)]
    outs = {}
    for r, t in layouts:
        name = f"v_{r}x{t}.h5"
        rc, log = run([mpiexec, "-n", str(r), "--oversubscribe", "--bind-to", "none", emflow, "classify", variant,
                       "-o", name, "--no-nowcast"], work, t)
        if rc:
            print(log)
            return 1
        outs[(r, t)] = os.path.join(work, name)
    with h5py.File(os.path.join(work, "orig.h5")) as o:
        names = [x.decode() for x in o["/linkage/reject_reason"][()]]
        orig_rej = dict(zip(names, o["/linkage/rejects"][()].tolist()))
        orig_in = int(o["/linkage"].attrs["records_in"])
        orig_tabs = {t: o["/linkage/" + t][()] for t in TABLES}
    ref = None
    for lay, path in outs.items():
        with h5py.File(path) as v:
            rej = dict(zip(names, v["/linkage/rejects"][()].tolist()))
            for reason in names:
                want = orig_rej[reason] + injected.get(reason, 0)
                if rej[reason] != want:
                    fails.append(f"{lay}: {rej[reason]} rejects {reason}, expected {want}")
            if int(v["/linkage"].attrs["records_in"]) != orig_in + added:
                fails.append(f"{lay}: records_in {int(v['/linkage'].attrs['records_in'])}, expected {orig_in + added}")
            for t in TABLES:
                if not np.array_equal(v["/linkage/" + t][()], orig_tabs[t]):
                    fails.append(f"{lay}: /linkage/{t} differs from the original file's")
            data = {}
            v["/linkage"].visititems(lambda n, obj: data.__setitem__(n, obj[()]) if isinstance(obj, h5py.Dataset) else None)
            attrs = {k: v["/linkage"].attrs[k] for k in v["/linkage"].attrs}
            if ref is None:
                ref = (lay, data, attrs)
            else:
                for n in set(data) | set(ref[1]):
                    if n not in data or n not in ref[1] or not np.array_equal(data[n], ref[1][n]):
                        fails.append(f"{lay}: /linkage/{n} differs from {ref[0]}")
                for a in set(attrs) | set(ref[2]):
                    if a not in attrs or a not in ref[2] or not np.array_equal(attrs[a], ref[2][a]):
                        fails.append(f"{lay}: attribute /linkage@{a} differs from {ref[0]}")
    print(f"layouts {layouts}: rejects, records and tables checked")

    msgs = {}
    for r, t in layouts:
        rc, log = run([mpiexec, "-n", str(r), "--oversubscribe", "--bind-to", "none", emflow, "classify", variant,
                       "-o", "stop.h5", "--no-nowcast", "--max-reject-share", "0"], work, t)
        lines = [x for x in log.splitlines() if "line " in x and "expected" in x and "reject example" not in x]
        msgs[(r, t)] = lines
        if rc != 12 or len(lines) != 1:
            fails.append(f"{(r, t)}: exit {rc}, messages {lines} (expected exit 12 and one message)")
            continue
        m = lines[0]
        line, reason, field, found = first_bad
        # the log's reject examples (the first 5 in file order) begin with the record the message names
        ex = [x for x in log.splitlines() if "reject example " in x]
        if len(ex) != 5 or f"reject example 1: {variant}: line {line}" not in ex[0]:
            fails.append(f"{(r, t)}: reject examples {ex} (expected 5, the first on line {line})")
        want = [f"{variant}: line {line}", f"reason {reason}", "expected "]
        if field:
            want.append(f"field {field}")
        if found:
            want.append(f"found '{found}'")
        for w in want:
            if w not in m:
                fails.append(f"{(r, t)}: the message lacks {w!r}: {m}")
        if reason == "bad_key" and "withheld" not in m:
            fails.append(f"{(r, t)}: the message shows the person key: {m}")
    texts = {tuple(re.sub(r"^.*?classify: ", "", x) for x in v) for v in msgs.values()}
    if len(texts) != 1:
        fails.append(f"the stop message differs between layouts: {msgs}")
    print("stop message:", next(iter(msgs.values())))
    for f in fails:
        print("FAIL:", f)
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
