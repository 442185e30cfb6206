#!/usr/bin/python3
"""disclose_check.py: `emflow export FILE DATASET --publish` (issue 7, disclosure control) against h5py.

usage: disclose_check.py EMFLOW WORKDIR FILE DATASET [DATASET ...]

Right values come from the definition (kernels/emi_disclose.h; Stats NZ RR3) and the unrounded table
read with h5py.  For each integer count DATASET of FILE (a classify output), at the default threshold
(6) and at --suppress-below 0:
  - the published CSV has the same header and label columns as the unpublished export;
  - every cell whose true count is below the threshold is the marker S, and no other cell is;
  - every other cell is a multiple of 3, >= 0, with |published - true| < 3, and equal to the true
    count when that is a multiple of 3;
  - unbiasedness on the real table: sum(published - true) over the rounded cells is within 5 sd of 0
    (Var = 2 for a cell that is not a multiple of 3, 0 otherwise);
  - the label OUT.csv.disclosure.json: partner_safe, method, base 3, the threshold, marker S, cells and
    cells_suppressed (= the number of true counts below the threshold), source dataset, source SHA-256
    and csv SHA-256 (= hashlib of the files), and no seed: with --round-seed 123456789123 those digits
    appear nowhere in the label;
  - a rerun gives the same CSV and label bytes; --round-seed 1 and 2 give different CSVs (and each is
    stable); standard output (no -o) gives the same bytes as -o and states the protection on stderr;
  - --round-base 5: multiples of 5, |change| < 5.
Then: the unpublished export writes no label, and removes a stale label left next to its output by an
earlier --publish; errors (exit status, message, and no CSV or label left behind): a float dataset
(even with whole values) and a string dataset are refused as not counts; a negative count is refused
naming the cell by its labels; --round-base / --round-seed / --suppress-below without --publish and
--round-base 1 are usage errors.
"""
import csv
import hashlib
import io
import json
import math
import os
import subprocess
import sys

import h5py
import numpy as np

T_DEFAULT = 6


def run(cmd):
    p = subprocess.run(cmd, capture_output=True)
    return p.returncode, p.stdout, p.stderr.decode(errors="replace")


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def rows(data):
    return list(csv.reader(io.StringIO(data.decode())))


class Check:
    def __init__(self):
        self.fails = []

    def __call__(self, cond, msg):
        if not cond:
            self.fails.append(msg)
        return cond


def publish(emflow, path, name, out, extra=()):
    for f in (out, out + ".disclosure.json"):
        if os.path.exists(f):
            os.remove(f)
    rc, _, err = run([emflow, "export", path, name, "--publish", "-o", out, *extra])
    return rc, err


def check_table(emflow, work, path, name, ck):
    true = np.asarray(h5py.File(path, "r")[name][()]).ravel()
    base = os.path.join(work, name.strip("/").replace("/", "_"))
    plain = base + ".plain.csv"
    rc, _, err = run([emflow, "export", path, name, "-o", plain])
    ck(rc == 0, f"{name}: unpublished export failed: {err}")
    ck(not os.path.exists(plain + ".disclosure.json"), f"{name}: the unpublished export wrote a label")
    prow = rows(open(plain, "rb").read())
    for thr in (T_DEFAULT, 0):
        out = f"{base}.pub{thr}.csv"
        extra = [] if thr == T_DEFAULT else ["--suppress-below", str(thr)]
        rc, err = publish(emflow, path, name, out, extra)
        if not ck(rc == 0, f"{name} T={thr}: exit {rc}: {err}"):
            continue
        data = open(out, "rb").read()
        r = rows(data)
        ck(r[0] == prow[0], f"{name}: header {r[0]} != {prow[0]}")
        ck(len(r) == len(prow) and all(a[:-1] == b[:-1] for a, b in zip(r[1:], prow[1:])),
           f"{name}: label columns differ from the unpublished export")
        vals = [x[-1] for x in r[1:]]
        ck(len(vals) == true.size, f"{name}: {len(vals)} rows for {true.size} cells")
        bad_sup = bad_round = 0
        drift, var, rounded, moved = 0, 0, 0, 0
        for v, t in zip(vals, true):
            t = int(t)
            if t < thr:
                bad_sup += v != "S"
                continue
            if v == "S" or not v.lstrip("-").isdigit():
                bad_sup += 1
                continue
            p = int(v)
            bad_round += p % 3 != 0 or p < 0 or abs(p - t) >= 3 or (t % 3 == 0 and p != t)
            if t % 3:
                drift += p - t
                var += 2
                rounded += 1
                moved += p != t
        nsup = int((true < thr).sum())
        print(f"{name} T={thr}: {true.size} cells, {nsup} suppressed, {true.size - nsup} published, {rounded} not "
              f"multiples of 3 (all moved: {moved == rounded}), sum(published - true) = {drift} (sd {math.sqrt(var):.1f})")
        ck(bad_sup == 0, f"{name} T={thr}: {bad_sup} cells wrongly suppressed or not suppressed")
        ck(bad_round == 0, f"{name} T={thr}: {bad_round} published cells break the rounding rule")
        ck(moved == rounded, f"{name} T={thr}: a non-multiple of 3 was published unrounded")
        ck(abs(drift) <= 5 * math.sqrt(var) + 1e-9, f"{name} T={thr}: drift {drift} beyond 5 sd ({math.sqrt(var):.1f})")
        ck(thr != T_DEFAULT or nsup > 0, f"{name}: nothing below the default threshold: the test checks nothing")
        lab = json.load(open(out + ".disclosure.json"))
        want = {"partner_safe": True, "round_base": 3, "suppress_below": thr, "suppressed_marker": "S",
                "cells": int(true.size), "cells_suppressed": nsup, "source_dataset": name,
                "source_sha256": sha(path), "csv_sha256": sha(out), "csv_file": os.path.basename(out),
                "seed_origin": "derived from the source file's contents and the dataset"}
        for k, v in want.items():
            ck(lab.get(k) == v, f"{name} T={thr}: label {k} = {lab.get(k)!r}, expected {v!r}")
        ck("RR3" in lab.get("method", ""), f"{name}: label method {lab.get('method')!r}")
        # rerun: identical bytes
        label = open(out + ".disclosure.json", "rb").read()
        rc, err = publish(emflow, path, name, out, extra)
        ck(rc == 0 and open(out, "rb").read() == data and open(out + ".disclosure.json", "rb").read() == label,
           f"{name} T={thr}: a rerun differs")
        # standard output: the same bytes, protection stated on stderr
        rc, so, err = run([emflow, "export", path, name, "--publish", *extra])
        ck(rc == 0 and so == data, f"{name} T={thr}: standard output differs from -o")
        ck("random rounding to base 3" in err and "no label" in err, f"{name}: stderr does not state the protection: {err!r}")
    # seeds: 1 and 2 differ, each is stable; the seed itself is not in the label
    out = base + ".seed.csv"
    got = {}
    for s in ("1", "2", "1"):
        rc, err = publish(emflow, path, name, out, ["--round-seed", s, "--suppress-below", "0"])
        ck(rc == 0, f"{name} seed {s}: {err}")
        d = open(out, "rb").read()
        ck(got.setdefault(s, d) == d, f"{name}: seed {s} is not stable")
    ck(got["1"] != got["2"], f"{name}: --round-seed 1 and 2 give the same table")
    rc, err = publish(emflow, path, name, out, ["--round-seed", "123456789123"])
    text = open(out + ".disclosure.json").read()
    ck(rc == 0 and "123456789123" not in text and '"seed_origin": "round-seed"' in text,
       f"{name}: the label gives the seed away or lacks its origin: {text}")
    ck("123456789123" not in err, f"{name}: stderr gives the seed away")
    # another base
    rc, err = publish(emflow, path, name, out, ["--round-base", "5", "--suppress-below", "0"])
    r = rows(open(out, "rb").read())[1:]
    bad = sum(int(x[-1]) % 5 != 0 or abs(int(x[-1]) - int(t)) >= 5 for x, t in zip(r, true))
    ck(rc == 0 and bad == 0 and json.load(open(out + ".disclosure.json"))["round_base"] == 5,
       f"{name}: base 5: {bad} bad cells ({err})")


def main():
    emflow, work, path = sys.argv[1:4]
    names = sys.argv[4:]
    os.makedirs(work, exist_ok=True)
    ck = Check()
    for name in names:
        check_table(emflow, work, path, name, ck)

    # a stale label next to an unprotected export is removed
    out = os.path.join(work, "stale.csv")
    rc, err = publish(emflow, path, names[0], out)
    ck(rc == 0 and os.path.exists(out + ".disclosure.json"), f"stale: the publish failed: {err}")
    rc, _, err = run([emflow, "export", path, names[0], "-o", out])
    ck(rc == 0 and not os.path.exists(out + ".disclosure.json"),
       "an unpublished export left a partner-safe label next to its unprotected table")

    # errors
    made = os.path.join(work, "made.h5")
    with h5py.File(made, "w") as f:
        f["reg"] = np.array([b"AKL", b"WLG"], dtype="S3")
        f["reg"].make_scale("region")
        f["real"] = np.array([1.5, 2.0])
        f["whole_real"] = np.array([3.0, 4.0])
        f["neg"] = np.array([4, -1], dtype=np.int64)
        f["neg"].dims[0].attach_scale(f["reg"])
        f["text"] = np.array([b"a", b"b"])
    errors = [
        ([made, "/real", "--publish"], 4, ["/real", "floating point", "counts"]),
        ([made, "/whole_real", "--publish"], 4, ["/whole_real", "floating point"]),
        ([made, "/text", "--publish"], 4, ["/text", "strings"]),
        ([made, "/neg", "--publish"], 4, ["/neg", "cell 1", "region=WLG", "-1"]),
        ([path, names[0], "--round-base", "5"], 2, ["--round-base", "--publish"]),
        ([path, names[0], "--round-seed", "5"], 2, ["--round-seed", "--publish"]),
        ([path, names[0], "--suppress-below", "5"], 2, ["--suppress-below", "--publish"]),
        ([path, names[0], "--publish", "--round-base", "1"], 2, ["round-base"]),
    ]
    for args, want_rc, words in errors:
        out = os.path.join(work, "err.csv")
        rc, _, err = run([emflow, "export", *args, "-o", out])
        print(f"export {' '.join(os.path.basename(a) for a in args)}: exit {rc}: {err.strip()[:300]}")
        ck(rc == want_rc and all(w in err for w in words),
           f"{args}: exit {rc} (expected {want_rc}), message {err!r} (expected {words})")
        left = [f for f in (out, out + ".part", out + ".disclosure.json", out + ".disclosure.json.part")
                if os.path.exists(f)]
        ck(not left, f"{args}: left behind {left}")
    for f in ck.fails:
        print("FAIL:", f)
    print(f"disclose_check: {len(ck.fails)} failure(s)")
    return 1 if ck.fails else 0


if __name__ == "__main__":
    sys.exit(main())
