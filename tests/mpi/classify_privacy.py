#!/usr/bin/python3
"""classify_privacy.py: no input identifier reaches an output or a log of `emflow classify`.

usage: classify_privacy.py EMFLOW MPIEXEC CROSSINGS.csv DECLARATIONS.csv WORKDIR

1. classify with a 32-byte --key-file at 2 ranks, --log-level debug: no person_id of the input (all of
   them, crossings and declarations) occurs in the output file's bytes or in the log; the tables equal
   those of the unkeyed run (the choice of hash does not change the linkage);
2. a key file of 5 bytes: exit status 3, one message naming the key file and the expected length;
3. a CSV (header, 5 records, then on line 7 the only bad record, a 70-byte key), with
   --max-reject-share 0: exit status 12, the
   message names the line and the field person_id, and does not contain the key;
4. person keys in other columns and terminal control bytes: classify's reject examples and convert's stop
   message show a value only when it has its field's shape, else '(withheld: N bytes, ...)'.
"""
import os
import subprocess
import sys

import h5py
import numpy as np


def run(cmd, cwd):
    p = subprocess.run(cmd, cwd=cwd, capture_output=True)
    return p.returncode, p.stdout + p.stderr


def main():
    emflow, mpiexec, crossings, decls, work = sys.argv[1:6]
    os.makedirs(work, exist_ok=True)
    mpi = [mpiexec, "-n", "2", "--oversubscribe"]
    fails = []
    key = os.path.join(work, "key.bin")
    with open(key, "wb") as f:
        f.write(bytes(range(7, 39)))  # 32 bytes: a fixed test key
    common = [emflow, "classify", crossings, "--declarations", decls, "--period-start", "2020-01",
              "--period-end", "2023-12", "--log-level", "debug", "--progress"]
    rc, log = run(mpi + common + ["-o", "keyed.h5", "--key-file", key], work)
    if rc != 0:
        print(log.decode(errors="replace"))
        return 1
    rc2, log2 = run(mpi + common + ["-o", "unkeyed.h5"], work)
    if rc2 != 0:
        print(log2.decode(errors="replace"))
        return 1
    keys = set()
    for path in (crossings, decls):
        with open(path, "rb") as f:
            next(f)
            for line in f:
                keys.add(line.split(b",", 1)[0])
    blobs = {"keyed.h5": open(os.path.join(work, "keyed.h5"), "rb").read(), "log": log,
             "unkeyed.h5": open(os.path.join(work, "unkeyed.h5"), "rb").read(), "log (unkeyed)": log2}
    for name, blob in blobs.items():
        found = [k for k in keys if k in blob]
        print(f"{name}: {len(blob)} bytes searched for {len(keys)} input keys: {len(found)} found")
        if found:
            fails.append(f"{name} contains input keys, e.g. {found[0]!r}")
    a, b = h5py.File(os.path.join(work, "keyed.h5")), h5py.File(os.path.join(work, "unkeyed.h5"))
    for ds in ("/linkage/migrant_departures", "/linkage/migrant_arrivals", "/undeclared/departures"):
        if not np.array_equal(a[ds][()], b[ds][()]):
            fails.append(f"{ds}: keyed and unkeyed runs differ")
    if "HMAC" not in a["/linkage"].attrs["person_key_hash"]:
        fails.append("person_key_hash does not say HMAC for the keyed run")

    short = os.path.join(work, "short.key")
    with open(short, "wb") as f:
        f.write(b"12345")
    rc, msg = run([emflow, "classify", crossings, "-o", "x.h5", "--key-file", short], work)
    print("short key:", rc, msg.decode(errors="replace").strip().splitlines()[-2:])
    if rc != 3 or b"short.key" not in msg or b"32 to 4096 bytes" not in msg:
        fails.append(f"short key file: exit {rc}, message {msg!r}")

    bad = os.path.join(work, "bad.csv")
    badkey = b"K" * 70
    with open(crossings, "rb") as f, open(bad, "wb") as g:
        for i, line in enumerate(f):
            if i > 5:
                break
            g.write(line)
        g.write(badkey + b",2021-03-04T10:00:00,OUT,AZE,GYD,PASSPORT,M,1980\n")
    rc, msg = run([emflow, "classify", bad, "-o", "x.h5", "--max-reject-share", "0"], work)
    print("bad key:", rc, msg.decode(errors="replace").strip().splitlines()[-2:])
    if rc != 12 or badkey[:20] in msg or b"line 7, field person_id" not in msg or b"bad_key" not in msg:
        fails.append(f"reject stop: exit {rc}, message {msg!r}")
    # 4. keys in the wrong column (a shifted or garbled line) and control bytes: the reject examples and the
    #    convert/classify stop messages show a value only when it has its field's shape (from a breaker:
    #    'found SECRETPID4' in the log).  Each line's only fault is the field named; the expected log text
    #    is what the value's shape allows: a date-shaped '2021-13-40' is shown, a key in crossed_at is not.
    shifted = os.path.join(work, "shifted.csv")
    cases = [  # (line, field, shown value or None: withheld)
        (b"2021-03-05,SECRETPID4,OUT,AZE,GYD,PASSPORT,F,1980", b"crossed_at", None),
        (b"SECRETPID5,2021-03-05,SECRETPID5,AZE,GYD,PASSPORT,F,1980", b"direction", None),
        (b"SECRETPID6,2021-03-05,OUT,SECRETPID6,GYD,PASSPORT,F,1980", b"citizenship", None),
        (b"SECRETPID7,2021-03-05,OUT,AZE,GYD,PASSPORT,SECRETPID7,1980", b"sex", None),
        (b"SECRETPID8,2021-03-05,OUT,AZE,GYD,PASSPORT,F,SECRETPID8", b"birth_year", None),
        (b"SECRETPID9,2021-03-05,OUT,AZE,\x1b[31mRED,PASSPORT,F,1980", b"border_point", None),
        (b"SECRETPIDA,2021-13-40,OUT,AZE,GYD,PASSPORT,F,1980", b"crossed_at", b"2021-13-40"),
        (b"SECRETPIDB,2021-03-05,out,AZE,GYD,PASSPORT,F,1980", b"direction", b"out"),
        (b"SECRETPIDC,2021-03-05,OUT,AZE,GYD,PASSPORT,F,19x0", b"birth_year", None),
    ]
    with open(crossings, "rb") as f, open(shifted, "wb") as g:
        for i, line in enumerate(f):
            if i > 2000:
                break
            g.write(line)
        for line, _, _ in cases:
            g.write(line + b"\n")
    rc, msg = run([emflow, "classify", shifted, "-o", "x.h5", "--max-reject-share", "1", "--period-start", "2020-01"],
                  work)
    text = msg.decode(errors="replace")
    print("shifted:", rc, len([l for l in text.splitlines() if "reject example" in l]), "reject examples")
    if b"SECRETPID" in msg or b"\x1b" in msg:
        fails.append(f"shifted fields: the log shows a key or a control byte: {text[-1500:]}")
    for k, (line, field, shown) in enumerate(cases[:5]):  # the log names 5 examples
        ex = [l for l in text.splitlines() if f"reject example {k + 1}:" in l]
        want = f"field {field.decode()}: found '{shown.decode()}'" if shown else f"field {field.decode()}: found '(withheld: "
        if not ex or want not in ex[0]:
            fails.append(f"shifted fields: example {k + 1} should say {want!r}: {ex}")
    rc, msg = run([emflow, "convert", shifted, "-o", "conv.h5", "--max-reject-share", "0"], work)
    if rc == 0 or b"SECRETPID" in msg or b"withheld" not in msg:
        fails.append(f"convert stop on a shifted line: exit {rc}, message {msg!r}")
    for i, (line, field, shown) in enumerate(cases[5:]):
        one = os.path.join(work, f"one{i}.csv")
        with open(crossings, "rb") as f, open(one, "wb") as g:
            g.write(next(f))
            g.write(line + b"\n")
        rc, msg = run([emflow, "convert", one, "-o", "one.h5", "--max-reject-share", "0"], work)
        want = (b"field " + field + b": found '" + (shown if shown else b"(withheld: "))
        if rc == 0 or b"SECRETPID" in msg or b"\x1b" in msg or want not in msg:
            fails.append(f"convert stop, {field.decode()}: exit {rc}, message {msg!r} (expected {want!r})")
    for f in fails:
        print("FAIL:", f)
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
