#!/usr/bin/python3
"""classify_data_span.py: the data's days, the tabulation period and the declarations' rejects of
`emflow classify` (README, classify: "The data start and end", "Rejects").

usage: classify_data_span.py EMFLOW MPIEXEC CROSSINGS.csv DECLARATIONS.csv WORKDIR

From the fault-free simulated crossings (2020-01-01 .. 2023-12-31, ~120 records a day) and declarations:
  1. stray records: the same file plus 7 mis-dated copies of a real record under a new key -- 1 on
     2005-05-05 (before a gap), 1 on 2040-03-01 and 3 on 2099-01-01 (after a gap: gap rule), 2 on 2024-01-09
     (9 days after the end: volume rule, 2 < 0.1 x 120) -- gives every dataset of /linkage and /undeclared,
     the nowcast included, equal to the original's but /linkage/rejects, which is the original's + 1
     before_data_start + 6 after_data_end; data_start/data_end are the original's (2020-01-01, 2023-12-31:
     without the rule the end would be 2099-01-01 and every month final); records_in = original + 7,
     records_accepted = original; the same at 1 rank and at 2 ranks x 2 threads; the log names the
     records' dates and the rule.  With --data-end 2023-12-31 the same tables, data_end_rule "--data-end".
  2. --period-end 2022-12: the months 2021-06 .. 2022-12 of every month-indexed table (provisional
     flags included) equal the same months of the run without it: the records after the period (counted
     here from the CSV: the valid records dated after 2022-12-31) are accepted, counted as
     records_after_period, and still close the windows; no after_data_end reject.
  3. --data-end 2022-12-31 (a cut: the data as they were that day): the valid records dated after it are
     after_data_end rejects (their number counted here), the run does not stop for them (an explicit cut is
     not bad input) nor logs them as bad-record examples, and the tables equal those of the CSV truncated
     to the records up to 2022-12-31.
  4. declarations with 9 bad lines spread through the file (reasons bad_date x2, missing_key,
     unknown_country, invalid_country, field_count, empty_record, bad_key, line_too_long): the counts by
     reason of /undeclared/declaration_rejects are the lines injected, declarations_in = original + 9,
     declarations_accepted = original, the undeclared tables are unchanged (--max-reject-share 0.05: 9 of 444
     are 2%, more than the default 1%); the log shows the first 5 bad
     lines as examples (file:line, field, found, expected: the line numbers computed here) at 1 and 2
     ranks; no key of a bad line occurs in the log or the output; with --max-reject-share 0.01 the run stops
     (exit status 12) with one message naming the file, the first bad line, its field, what was found and
     what was expected, the same at 1 and 2 ranks (the default --max-reject-share 0.01: 2% of the
     declarations are rejected, 0.001% of the crossings).
"""
import os
import subprocess
import sys

import h5py
import numpy as np

FAILS = []


def check(cond, msg):
    if not cond:
        FAILS.append(msg)
        print("FAIL:", msg)


def run(cmd, cwd, threads=1):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, env=env)
    return p.returncode, (p.stdout + p.stderr).decode(errors="replace")


def must(cmd, cwd, threads=1):
    rc, log = run(cmd, cwd, threads)
    if rc != 0:
        print(" ".join(cmd))
        print(log)
        sys.exit(1)
    return log


def attr(g, name):
    v = g.attrs[name]
    return v.decode() if isinstance(v, bytes) else v


def datasets(path, groups=("/linkage", "/undeclared")):
    out = {}
    with h5py.File(path, "r") as f:
        for gname in groups:
            if gname not in f:
                continue

            def visit(name, obj):
                if isinstance(obj, h5py.Dataset):
                    out[gname + "/" + name] = obj[()]
            f[gname].visititems(visit)
    return out


def rejects(path):
    with h5py.File(path, "r") as f:
        names = [x.decode() for x in f["/linkage/reject_reason"][()]]
        return dict(zip(names, f["/linkage/rejects"][()].tolist()))


def valid(fields):
    """the fault-free sample's only validation faults: the birth-year rules (engine/emi_crossings.c)"""
    y, by = int(fields[1][:4]), int(fields[7])
    return by <= y and y - by <= 120


def main():
    emflow, mpiexec, crossings, decls, work = sys.argv[1:6]
    os.makedirs(work, exist_ok=True)
    mpi2 = [mpiexec, "-n", "2", "--oversubscribe", "--bind-to", "none"]
    with open(crossings) as f:
        header = f.readline()
        body = f.readlines()
    col = header.rstrip("\n").split(",")
    assert col == "person_id,crossed_at,direction,citizenship,border_point,document,sex,birth_year".split(",")
    rows = [ln.rstrip("\n").split(",") for ln in body]
    cls = [emflow, "classify", "--declarations", decls]

    # ---------------------------------------------------------------- 1. stray records
    base = must(cls + [crossings, "-o", "base.h5", "--nowcast-draws", "100"], work)
    src = next(r for r in rows if int(r[7]) >= 1985)  # young enough for a crossing in 2099 (<= 120 years)

    def stray(date):
        r = list(src)
        r[0], r[1] = "straykey", date + r[1][10:]
        return ",".join(r) + "\n"
    lines = list(body)
    lines.insert(9000, stray("2005-05-05"))
    lines.insert(5000, stray("2040-03-01"))
    lines.insert(7000, stray("2099-01-01"))
    lines.insert(100, stray("2099-01-01"))
    lines.insert(len(lines) // 2, stray("2099-01-01"))
    lines += [stray("2024-01-09"), stray("2024-01-09")]
    with open(os.path.join(work, "stray.csv"), "w") as g:
        g.write(header)
        g.writelines(lines)
    log1 = must(cls + ["stray.csv", "-o", "stray1.h5", "--nowcast-draws", "100"], work)
    must(mpi2 + cls + ["stray.csv", "-o", "stray2.h5", "--nowcast-draws", "100"], work, threads=2)
    must(cls + ["stray.csv", "-o", "stray_end.h5", "--nowcast-draws", "100", "--data-end", "2023-12-31"], work)
    b = datasets(os.path.join(work, "base.h5"))
    rb = rejects(os.path.join(work, "base.h5"))
    for out in ("stray1.h5", "stray2.h5", "stray_end.h5"):
        s = datasets(os.path.join(work, out))
        check(set(s) == set(b), f"{out}: datasets {sorted(set(s) ^ set(b))} differ from the original's")
        for k in b:
            if k != "/linkage/rejects" and k in s:
                check(np.array_equal(b[k], s[k]), f"{out}: {k} differs from the original's")
        rs = rejects(os.path.join(work, out))
        want = dict(rb)
        want["before_data_start"] += 1
        want["after_data_end"] += 6
        check(rs == want, f"{out}: rejects {rs}, expected {want}")
        with h5py.File(os.path.join(work, "base.h5")) as f0, h5py.File(os.path.join(work, out)) as f1:
            g0, g1 = f0["/linkage"], f1["/linkage"]
            check(int(g1.attrs["records_in"]) == int(g0.attrs["records_in"]) + 7, f"{out}: records_in")
            check(int(g1.attrs["records_accepted"]) == int(g0.attrs["records_accepted"]), f"{out}: records_accepted")
            check(int(g1.attrs["records_in"]) == int(g1.attrs["records_accepted"]) + int(g1.attrs["records_rejected"]),
                  f"{out}: records_in != accepted + rejected")
            check((attr(g1, "data_start"), attr(g1, "data_end")) == ("2020-01-01", "2023-12-31"),
                  f"{out}: data {attr(g1, 'data_start')} .. {attr(g1, 'data_end')}, expected 2020-01-01 .. 2023-12-31")
            er = attr(g1, "data_end_rule")
            if out == "stray_end.h5":
                check(er == "--data-end", f"{out}: data_end_rule '{er}'")
            else:
                check("more than 30 days without any" in er and "last days with fewer than 0.1" in er,
                      f"{out}: data_end_rule '{er}' does not name both rules")
                check("more than 30 days without any" in attr(g1, "data_start_rule"), f"{out}: data_start_rule")
    with h5py.File(os.path.join(work, "stray1.h5")) as f1, h5py.File(os.path.join(work, "stray2.h5")) as f2:
        for a in f1["/linkage"].attrs:
            check(np.array_equal(f1["/linkage"].attrs[a], f2["/linkage"].attrs[a]), f"stray: attribute {a}: 1 vs 2 ranks")
    check("6 records dated 2024-01-09 .. 2099-01-01, after the data end 2023-12-31" in log1,
          "stray: the log does not name the 6 records after the data end")
    check("1 records dated 2005-05-05 .. 2005-05-05, before the data start 2020-01-01" in log1,
          "stray: the log does not name the record before the data start")
    check("straykey" not in log1, "stray: the log shows a key")

    # ---------------------------------------------------------------- 2. --period-end: a tabulation period
    must(cls + [crossings, "-o", "full.h5", "--no-nowcast"], work)
    must(cls + [crossings, "-o", "period.h5", "--no-nowcast", "--period-end", "2022-12"], work)
    after = sum(1 for r in rows if r[1][:10] > "2022-12-31" and valid(r))
    before = sum(1 for r in rows if r[1][:10] < "2021-06-01" and valid(r))
    with h5py.File(os.path.join(work, "full.h5")) as ff, h5py.File(os.path.join(work, "period.h5")) as fp:
        months = [m.decode() for m in fp["/linkage/month"][()]]
        check(months[0] == "2021-06" and months[-1] == "2022-12" and len(months) == 19,
              f"period: months {months[0]} .. {months[-1]} ({len(months)}), expected 2021-06 .. 2022-12 (19)")
        n = len(months)
        for ds in ("/linkage/migrant_departures", "/linkage/migrant_arrivals", "/linkage/pending_departures",
                   "/linkage/pending_arrivals", "/linkage/provisional", "/undeclared/departures",
                   "/undeclared/declared_departures", "/undeclared/provisional"):
            check(np.array_equal(ff[ds][:n], fp[ds][()]), f"period: {ds} differs from the same months of the full run")
        g = fp["/linkage"]
        check(int(g.attrs["records_after_period"]) == after,
              f"period: records_after_period {int(g.attrs['records_after_period'])}, expected {after}")
        check(int(g.attrs["records_before_period"]) == before,
              f"period: records_before_period {int(g.attrs['records_before_period'])}, expected {before}")
        check(rejects(os.path.join(work, "period.h5")) == rb, "period: rejects differ from the original's")
        check(attr(g, "data_end") == "2023-12-31", f"period: data_end {attr(g, 'data_end')}")
        # the last month's crossings (2022-12) have windows to 2024-04: still provisional, as in the full run
        check(int(fp["/linkage/provisional"][-1]) == 1 and int(fp["/linkage/provisional"][0]) == 0,
              "period: provisional flags")

    # ---------------------------------------------------------------- 3. --data-end: a cut
    rc, logc = run(cls + [crossings, "-o", "cut.h5", "--no-nowcast", "--data-end", "2022-12-31"], work)
    check(rc == 0, f"cut: exit {rc}: {logc[-400:]}")
    check("(reason after_data_end)" not in logc, "cut: the records after --data-end are shown as bad-record examples")
    with open(os.path.join(work, "trunc.csv"), "w") as g:
        g.write(header)
        g.writelines(ln for ln, r in zip(body, rows) if r[1][:10] <= "2022-12-31")
    must(cls + ["trunc.csv", "-o", "trunc.h5", "--no-nowcast"], work)
    if rc == 0:
        rc_ = rejects(os.path.join(work, "cut.h5"))
        check(rc_["after_data_end"] == after, f"cut: after_data_end {rc_['after_data_end']}, expected {after}")
        c, t = datasets(os.path.join(work, "cut.h5")), datasets(os.path.join(work, "trunc.h5"))
        for k in t:
            if k != "/linkage/rejects":
                check(k in c and np.array_equal(c[k], t[k]), f"cut: {k} differs from the truncated file's")
        with h5py.File(os.path.join(work, "cut.h5")) as f:
            check(attr(f["/linkage"], "data_end") == "2022-12-31", "cut: data_end")
            check(attr(f["/linkage"], "data_end_rule") == "--data-end", "cut: data_end_rule")
            check(int(f["/linkage"].attrs["records_in"]) == len(body), "cut: records_in")

    # ---------------------------------------------------------------- 4. declarations
    with open(decls) as f:
        dheader = f.readline()
        dbody = f.readlines()
    dcol = dheader.rstrip("\n").split(",")
    ki, di, ci = dcol.index("person_id"), dcol.index("declared_on"), dcol.index("destination")

    def drow(key, date, dest):
        r = [""] * 3
        r[ki], r[di], r[ci] = key, date, dest
        return ",".join(r) + "\n"
    bad = [  # (line text, reason, field, found, expected)
        (drow("SECRETKEY1", "2021-02-30", "RUS"), "bad_date", "declared_on", "2021-02-30", "an ISO 8601 date"),
        (drow("", "2021-03-01", "RUS"), "missing_key", "person_id", "", "a non-empty person key"),
        (drow("SECRETKEY2", "2021-03-01", "ZZZ"), "unknown_country", "destination", "ZZZ", "a code of the ISO 3166-1"),
        (drow("SECRETKEY3", "2021-03-01", "R1S"), "invalid_country", "destination", "R1S", "an ISO 3166-1 alpha-3 code"),
        ("SECRETKEY4,2021-03-01\n", "field_count", None, "2 fields", "3 comma-separated fields"),
        ("\n", "empty_record", None, "", "a blank line"),
        (drow("SECRET\x01KEY5", "2021-03-01", "RUS"), "bad_key", "person_id", "(withheld: person key)", "a person key"),
        ("SECRETKEY6" + "x" * 5000 + ",2021-03-01,RUS\n", "line_too_long", None, "(a line longer than 4096 bytes)",
         "a line of at most 4096 bytes"),
        (drow("SECRETKEY7", "01/03/2021", "RUS"), "bad_date", "declared_on", "01/03/2021", "an ISO 8601 date"),
    ]
    out, where = [], []
    step = len(dbody) // (len(bad) + 1)
    j = 0
    for i, ln in enumerate(dbody):
        out.append(ln)
        if j < len(bad) and i == step * (j + 1):
            out.append(bad[j][0])
            where.append(len(out) + 1)  # file line: the header is line 1
            j += 1
    assert j == len(bad)
    dpath = os.path.join(work, "decl_bad.csv")
    with open(dpath, "w") as g:
        g.write(dheader)
        g.writelines(out)
    dcls = [emflow, "classify", crossings, "--no-nowcast", "--declarations", dpath]
    for np_, pre in ((1, []), (2, mpi2)):  # 9 of 444 rejected: 2%, within --max-reject-share 0.05
        log = must(pre + dcls + ["-o", f"decl{np_}.h5", "--max-reject-share", "0.05"], work)
        with h5py.File(os.path.join(work, f"decl{np_}.h5")) as f, h5py.File(os.path.join(work, "full.h5")) as ff:
            g = f["/undeclared"]
            names = [x.decode() for x in g["declaration_reject_reason"][()]]
            got = dict(zip(names, g["declaration_rejects"][()].tolist()))
            want = {n: 0 for n in names}
            for x in bad:
                want[x[1]] += 1
            check(got == want, f"decl np{np_}: rejects {got}, expected {want}")
            check(int(g.attrs["declarations_in"]) == len(dbody) + len(bad), f"decl np{np_}: declarations_in")
            check(int(g.attrs["declarations_accepted"]) == len(dbody), f"decl np{np_}: declarations_accepted")
            check(int(g.attrs["declarations_rejected"]) == len(bad), f"decl np{np_}: declarations_rejected")
            for ds in ("/undeclared/departures", "/undeclared/declared_departures"):
                check(np.array_equal(f[ds][()], ff[ds][()]), f"decl np{np_}: {ds} differs from the clean run's")
        for k in range(5):
            line, reason, field, found, expected = bad[k][0], bad[k][1], bad[k][2], bad[k][3], bad[k][4]
            text = (f"reject example {k + 1}: {dpath}: line {where[k]}" + (f", field {field}" if field else "") +
                    f": found '{found}': expected {expected}")
            check(text in log, f"decl np{np_}: the log has no '{text}'")
        blob = log.encode() + open(os.path.join(work, f"decl{np_}.h5"), "rb").read()
        check(b"SECRET" not in blob, f"decl np{np_}: a key of a bad line is in the log or the output")
    msgs = []
    for pre in ([], mpi2):
        rc, msg = run(pre + dcls + ["-o", "x.h5", "--max-reject-share", "0.01"], work)  # crossings: 2 of 178k
        check(rc == 12, f"decl stop: exit {rc}, expected 12: {msg[-300:]}")
        want = (f"{dpath}: line {where[0]}, field declared_on: found '2021-02-30': expected an ISO 8601 date "
                f"YYYY-MM-DD (or a date-time), years 1900..2199 (reason bad_date); {len(bad)} of "
                f"{len(dbody) + len(bad)} declarations rejected")
        check(want in msg, f"decl stop: no '{want}' in {msg[-400:]!r}")
        check("SECRET" not in msg, "decl stop: the message shows a key")
        msgs.append([ln for ln in msg.splitlines() if ln.startswith("emflow: error:")])
    check(msgs[0] == msgs[1], f"decl stop: messages differ at 1 and 2 ranks: {msgs}")

    print(f"classify_data_span: {len(FAILS)} failures")
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
