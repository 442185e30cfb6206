#!/usr/bin/env python3
"""Bad-input catalogue of `emflow convert` (issue 3).

usage: convert_catalogue.py EMFLOW MPIEXEC WORKDIR

Every reject reason of engine/emi_crossings.h is produced by a hand-written record whose expected
reason is stated next to it; the test checks /crossings/rejects count by count (each reason exactly
as many times as written), records_in = accepted + rejected, the first-line table, and that the
accepted records are exactly the good lines.  Then: the stop threshold (exit 12, one message naming
the file, the first bad line, its field, what was found and what was expected, no output file), an
empty file and a wrong header (exit 4, line 1), a header-only file (0 records, written at 2 ranks:
empty selections), a CRLF + BOM file and columns in another order.
"""
import os
import subprocess
import sys

import h5py
import numpy as np

emflow, mpiexec, work = sys.argv[1], sys.argv[2], sys.argv[3]
os.makedirs(work, exist_ok=True)
os.chdir(work)
failures = []


def check(cond, msg):
    if not cond:
        failures.append(msg)
        print("FAIL:", msg, file=sys.stderr)


def run(np_, *args):
    cmd = [mpiexec, "-n", str(np_), "--oversubscribe", emflow, "convert", *args]
    p = subprocess.run(cmd, capture_output=True, text=True)
    return p.returncode, p.stderr


HEADER = "person_id,crossed_at,direction,citizenship,border_point,document,sex,birth_year"
GOOD = [
    "k1,2021-03-04T10:20:30,OUT,AZE,GYD,PASSPORT,M,1980",
    "k1,2021-03-20,IN,AZE,GYD,PASSPORT,M,1980",                      # date only -> second -1
    "k2,2021-03-04T23:30:00-01:00,IN,RUS,SAMUR,ID,F,1990",            # UTC: next day 00:30
    '"k3,quoted",2021-03-04T10:20Z,OUT,GEO,"RED-BRIDGE",PASSPORT,X,2021',
]
# (line, expected reason); line numbers follow from the order below (header = line 1)
BAD = [
    ("", "empty_record"),
    ("k9,2021-03-04,OUT,AZE,GYD,PASSPORT,M", "field_count"),
    ("k9,2021-03-04,OUT,AZE,GYD,PASSPORT,M,1980,extra", "field_count"),
    ("k9," + "x" * 5000, "line_too_long"),
    (",2021-03-04,OUT,AZE,GYD,PASSPORT,M,1980", "missing_key"),
    ("k" * 65 + ",2021-03-04,OUT,AZE,GYD,PASSPORT,M,1980", "bad_key"),
    ("k9,2021-02-29,OUT,AZE,GYD,PASSPORT,M,1980", "bad_date"),          # 2021 is not a leap year
    ("k9,04/03/2021,OUT,AZE,GYD,PASSPORT,M,1980", "bad_date"),
    ("k9,2021-03-04T25:00,OUT,AZE,GYD,PASSPORT,M,1980", "bad_date"),
    ("k9,2021-03-04,EXIT,AZE,GYD,PASSPORT,M,1980", "unknown_direction"),
    ("k9,2021-03-04,OUT,aze,GYD,PASSPORT,M,1980", "invalid_country"),
    ("k9,2021-03-04,OUT,AZ,GYD,PASSPORT,M,1980", "invalid_country"),
    ("k9,2021-03-04,OUT,XYZ,GYD,PASSPORT,M,1980", "unknown_country"),   # not in ISO 3166-1
    ("k9,2021-03-04,OUT,AZE,,PASSPORT,M,1980", "bad_border_point"),
    ("k9,2021-03-04,OUT,AZE,GYD,PASSPORT-OF-A-VERY-LONG-KIND,M,1980", "bad_document"),
    ("k9,2021-03-04,OUT,AZE,GYD,PASSPORT,male,1980", "unknown_sex"),
    ("k9,2021-03-04,OUT,AZE,GYD,PASSPORT,M,19x0", "bad_birth_year"),
    ("k9,2021-03-04,OUT,AZE,GYD,PASSPORT,M,1850", "bad_birth_year"),    # 171 years old
    ("k9,2021-03-04,OUT,AZE,GYD,PASSPORT,M,2022", "birth_after_crossing"),
]
REASONS = ["empty_record", "field_count", "line_too_long", "missing_key", "bad_key", "bad_date",
           "unknown_direction", "invalid_country", "unknown_country", "bad_border_point", "bad_document",
           "unknown_sex", "bad_birth_year", "birth_after_crossing"]

lines = [HEADER] + GOOD + [b for b, _ in BAD] + GOOD
with open("catalogue.csv", "w") as f:
    f.write("\n".join(lines) + "\n")
first_line = {}
for k, (_, r) in enumerate(BAD):
    first_line.setdefault(r, 2 + len(GOOD) + k)

for np_ in (1, 2, 3):
    out = f"catalogue_np{np_}.h5"
    rc, err = run(np_, "catalogue.csv", "-o", out, "--max-reject-share", "1")
    check(rc == 0, f"np{np_}: convert with --max-reject-share 1 exited {rc}: {err}")
    if rc:
        continue
    with h5py.File(out, "r") as h:
        g = h["crossings"]
        names = [x.decode() for x in g["reject_reason"][()]]
        check(names == REASONS, f"reason names {names}")
        rej = dict(zip(names, g["rejects"][()].tolist()))
        fl = dict(zip(names, g["rejects_first_line"][()].tolist()))
        for r in REASONS:
            want = sum(1 for _, x in BAD if x == r)
            check(rej[r] == want, f"np{np_}: {r}: {rej[r]} rejects, expected {want}")
            check(fl[r] == first_line.get(r, 0), f"np{np_}: {r}: first line {fl[r]}, expected {first_line.get(r, 0)}")
        n_in, n_acc, n_rej = (int(g.attrs[a]) for a in ("records_in", "records_accepted", "records_rejected"))
        check(n_in == len(lines) - 1, f"records_in {n_in}, expected {len(lines) - 1}")
        check(n_acc == 2 * len(GOOD) and n_rej == len(BAD), f"accepted {n_acc} rejected {n_rej}")
        check(n_in == n_acc + n_rej, "records_in != accepted + rejected")
        rec = g["records"][()]
        check(len(rec) == 2 * len(GOOD), f"{len(rec)} records")
        # hand-computed values: 2021-03-04 is day 18690 since 1970-01-01 (51 years incl. 13 leap days:
        # 51*365+13 = 18628, + Jan 31 + Feb 28 + 3 = 18690)
        check(rec["person_id"][0] == b"k1" and rec["day"][0] == 18690 and rec["second"][0] == 37230,
              f"record 0 {rec[0]}")
        check(rec["second"][1] == -1 and rec["day"][1] == 18706, f"record 1 {rec[1]}")
        check(rec["day"][2] == 18691 and rec["second"][2] == 1800, f"record 2 (offset -01:00) {rec[2]}")
        check(rec["person_id"][3] == b"k3,quoted" and rec["sex"][3] == 3 and rec["birth_year"][3] == 2021,
              f"record 3 {rec[3]}")
        check(list(rec["direction"][:4]) == [2, 1, 1, 2], f"directions {rec['direction'][:4]}")
        check(np.array_equal(rec[:4], rec[4:]), "the two copies of the good records differ")

# the stop threshold: 19 of 27 rejected > 1 %: exit 12, one message, no output
for np_ in (1, 3):
    rc, err = run(np_, "catalogue.csv", "-o", "stopped.h5")
    check(rc == 12, f"np{np_}: threshold: exit {rc}, expected 12: {err}")
    first_bad = 2 + len(GOOD)
    msg = [l for l in err.splitlines() if "error" in l]
    check(len(msg) == 1, f"np{np_}: expected one error line, got {msg}")
    check(f"catalogue.csv: line {first_bad}" in err and "empty_record" in err and "19 of 27" in err,
          f"np{np_}: threshold message: {err}")
    check(not os.path.exists("stopped.h5") and not os.path.exists("stopped.h5.part"), "output written despite stop")
# the first bad line with a field
with open("one_bad.csv", "w") as f:
    f.write("\n".join([HEADER] + GOOD * 30 + ["k9,2021-02-29,OUT,AZE,GYD,PASSPORT,M,1980"]) + "\n")
rc, err = run(2, "one_bad.csv", "-o", "one_bad.h5")  # 1 of 121 = 0.83 % <= 1 %: accepted run
check(rc == 0, f"one bad of 121 under the default 1 %: exit {rc}: {err}")
rc, err = run(2, "one_bad.csv", "-o", "one_bad2.h5", "--max-reject-share", "0.005")
check(rc == 12 and "one_bad.csv: line 122, field crossed_at: found '2021-02-29': expected an ISO 8601 date" in err
      and "(reason bad_date)" in err, f"field message: {err}")

# empty file, wrong header, header only, CRLF + BOM, columns in another order
open("empty.csv", "w").close()
rc, err = run(2, "empty.csv", "-o", "empty.h5")
check(rc == 4 and "empty.csv: line 1: the file is empty: expected the header person_id,crossed_at" in err,
      f"empty file: {rc} {err}")
with open("header.csv", "w") as f:
    f.write("person_id,date,direction,citizenship,border_point,document,sex,birth_year\n" + GOOD[0] + "\n")
rc, err = run(2, "header.csv", "-o", "header.h5")
check(rc == 4 and "header.csv: line 1: header field 2 is 'date': expected the header" in err, f"header: {rc} {err}")
with open("header_only.csv", "w") as f:
    f.write(HEADER + "\n")
rc, err = run(2, "header_only.csv", "-o", "header_only.h5")
check(rc == 0, f"header only: {rc} {err}")
if rc == 0:
    with h5py.File("header_only.h5", "r") as h:
        check(h["crossings/records"].shape == (0,) and int(h["crossings"].attrs["records_in"]) == 0, "header only")
cols = HEADER.split(",")
perm = [7, 6, 5, 4, 3, 2, 1, 0]
with open("crlf.csv", "wb") as f:
    f.write(b"\xef\xbb\xbf" + ",".join(cols[i] for i in perm).encode() + b"\r\n")
    for g_ in GOOD:
        v = [x for x in __import__("csv").reader([g_])][0]
        f.write((",".join('"%s"' % v[i] if "," in v[i] else v[i] for i in perm) + "\r\n").encode())
rc, err = run(3, "crlf.csv", "-o", "crlf.h5")
check(rc == 0, f"crlf: {rc} {err}")
if rc == 0:
    with h5py.File("crlf.h5", "r") as a, h5py.File("catalogue_np1.h5", "r") as b:
        check(np.array_equal(a["crossings/records"][()], b["crossings/records"][:4]), "CRLF/BOM/reordered records differ")

# lines that end in CR alone run together into the header: one error naming the CR, and nothing of the
# record after it (a person key) in the message (before: "header field 8 is 'birth_year\x0d<key>,...'")
with open("cr_only.csv", "wb") as f:
    f.write((HEADER + "\r" + "\r".join(GOOD) + "\r").encode())
rc, err = run(2, "cr_only.csv", "-o", "cr_only.h5")
key0 = GOOD[0].split(",")[0]
check(rc == 4 and "cr_only.csv: line 1: the header has a carriage return (CR) at byte %d" % (len(HEADER) + 1) in err
      and "end in CR alone" in err and key0 not in err and not os.path.exists("cr_only.h5"), f"CR-only: {rc} {err!r}")
r = subprocess.run([emflow, "classify", "cr_only.csv", "-o", "cr_only_cls.h5"], capture_output=True, text=True)
check(r.returncode == 4 and "end in CR alone" in r.stderr and key0 not in r.stderr, f"CR-only classify: {r.returncode} {r.stderr!r}")

# an HDF5 file given as CSV: the header is echoed with its bytes escaped, no control byte reaches the terminal
rc, err = run(1, "crlf.h5", "-o", "binary.h5")
check(rc == 4 and "header field 1 is '\\x89HDF" in err and "\x1a" not in err and "\x89" not in err,
      f"HDF5 file as CSV: {rc} {err!r}")

# classify's HDF5 input (from a breaker): a dataset that is not the compound form is named as such, and
# damaged data (a corrupted chunk of a valid file) as damaged, not as "not the compound form"
def classify(path):
    p = subprocess.run([emflow, "classify", path, "-o", "cls.h5"], capture_output=True, text=True)
    return p.returncode, p.stderr
with h5py.File("plain.h5", "w") as h:
    h.create_dataset("crossings/records", data=np.arange(10))
rc, err = classify("plain.h5")
check(rc == 4 and "/crossings/records is not a compound dataset" in err, f"plain dataset: {rc} {err}")
with h5py.File("partial.h5", "w") as h:
    h.create_dataset("crossings/records", data=np.zeros(3, dtype=[("person_id", "S8"), ("day", "i4")]))
rc, err = classify("partial.h5")
check(rc == 4 and "/crossings/records has no member 'second'" in err, f"compound without members: {rc} {err}")
big = [f"p{i % 997},2021-03-{1 + i % 28:02d},{'IN' if i % 2 else 'OUT'},AZE,GYD,PASSPORT,F,1980" for i in range(60000)]
with open("big.csv", "w") as f:
    f.write(HEADER + "\n" + "\n".join(big) + "\n")
rc, err = run(1, "big.csv", "-o", "big.h5")
check(rc == 0, f"big.csv: {rc} {err}")
if rc == 0:
    with h5py.File("big.h5", "r") as h:
        off = h["crossings/records"].id.get_chunk_info(1).byte_offset  # the second chunk's deflated bytes
    data = bytearray(open("big.h5", "rb").read())
    data[off + 16:off + 48] = b"\0" * 32
    open("corrupt.h5", "wb").write(bytes(data))
    rc, err = classify("corrupt.h5")
    check(rc == 4 and "their data are corrupt or truncated" in err and "not the compound" not in err,
          f"corrupt chunk: {rc} {err}")

if failures:
    print(f"convert_catalogue: {len(failures)} failure(s)", file=sys.stderr)
    sys.exit(1)
print("convert_catalogue: all checks passed")
