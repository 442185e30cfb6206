#!/usr/bin/python3
"""classify_link_table.py: `emflow classify --link-table` (issue 4: two person keys known to be one person).

usage: classify_link_table.py EMFLOW MPIEXEC SIMDIR WORKDIR

SIMDIR holds a simulation whose only recording fault is the second document (every other fault rate 0):
crossings.h5, sim_declarations.csv, links.csv (simulate --link-table-out), sim.h5 (truth), persons.csv
and movements.csv (the dumps), and link.h5 / nolink.h5 (classify at 2 ranks with and without the table).

1. The counts of the run, against the dumps: link_pairs = the dual citizens (lines of the table);
   link_records_relinked = the movements of the period recorded on the second document;
   link_keys_merged = the dual citizens with such a movement; link_keys_unknown = the table's keys with
   no movement recorded under them in the period.  records_in = the movements of the period.
2. Without the table the second documents must make the departures differ from the truth (otherwise this
   test proves nothing); the error of the final months' totals is printed before and after (the exact
   comparison after is the test classify_link_exact, classify_check.py).
3. HMAC: with a --key-file the tables and counts equal those of the unkeyed run.
4. A table of keys that match no record: exit 0, every key counted unknown, the tables equal the run
   without a table.
5. Malformed tables: exit status 4, one message naming FILE:LINE and what was expected, no key text:
   a line with 3 fields (line 4), the same key twice (line 3), a key b linked to two keys a (lines 2, 5),
   a cycle, a missing header column (line 1).
6. Long chains of links resolve to the key at their end (the same tables), a long cycle is one error.
"""
import csv
import datetime
import os
import subprocess
import sys

import h5py
import numpy as np

TABLES = ("/linkage/migrant_departures", "/linkage/migrant_arrivals", "/linkage/pending_departures",
          "/linkage/pending_arrivals", "/undeclared/departures")


def run(cmd, cwd):
    p = subprocess.run(cmd, cwd=cwd, capture_output=True)
    return p.returncode, (p.stdout + p.stderr).decode(errors="replace")


def final_total(h5, truth, path, tpath):
    prov = h5["/linkage/provisional"][()]
    if path.startswith("/undeclared"):
        prov = np.maximum(prov, h5["/undeclared/provisional"][()])
    months = [m.decode() for m in h5["/linkage/month"][()]]
    tm = [m.decode() for m in truth["/truth/month"][()]]
    a = sum(int(h5[path][i].sum()) for i, m in enumerate(months) if not prov[i])
    b = sum(int(truth[tpath][tm.index(m)].sum()) for i, m in enumerate(months) if not prov[i])
    return a, b


def main():
    emflow, mpiexec, sim, work = sys.argv[1:5]
    os.makedirs(work, exist_ok=True)
    fails = []
    links = os.path.join(sim, "links.csv")
    common = [emflow, "classify", os.path.join(sim, "crossings.h5"), "--declarations",
              os.path.join(sim, "sim_declarations.csv"), "--period-start", "2020-01", "--period-end", "2023-12"]

    # 1. counts against the dumps
    ep = datetime.date(1970, 1, 1)
    lo, hi = (datetime.date(2020, 1, 1) - ep).days, (datetime.date(2024, 1, 1) - ep).days
    pers = {r["index"]: r for r in csv.DictReader(open(os.path.join(sim, "persons.csv")))}
    used = set()  # (index, doc) with a record in the period
    nrec = relinked = 0
    for r in csv.DictReader(open(os.path.join(sim, "movements.csv"))):
        if lo <= int(r["rec_day"]) < hi and lo <= int(r["day"]) < hi:
            nrec += 1
            used.add((r["index"], int(r["doc"])))
            relinked += r["doc"] == "1"
    duals = [i for i, p in pers.items() if p["person_id2"]]
    expect = {"link_pairs": len(duals), "link_records_relinked": relinked,
              "link_keys_merged": sum((i, 1) in used for i in duals),
              "link_keys_unknown": sum((i, 0) not in used for i in duals) + sum((i, 1) not in used for i in duals),
              "records_in": nrec}
    with h5py.File(os.path.join(sim, "link.h5"), "r") as f:
        got = {k: int(f["/linkage"].attrs[k]) for k in expect}
    print("counts: classify", got, "\n        dumps   ", expect)
    if got != expect:
        fails.append(f"link counts {got} != {expect}")

    # 2. before / after
    truth = h5py.File(os.path.join(sim, "sim.h5"), "r")
    before, after = h5py.File(os.path.join(sim, "nolink.h5"), "r"), h5py.File(os.path.join(sim, "link.h5"), "r")
    for path, tpath in (("/linkage/migrant_departures", "/truth/migrant_departures"),
                        ("/linkage/migrant_arrivals", "/truth/migrant_arrivals"),
                        ("/undeclared/departures", "/truth/undeclared_departures")):
        (a0, t), (a1, _) = final_total(before, truth, path, tpath), final_total(after, truth, path, tpath)
        print(f"{path}: final months, truth {t}: without the link table {a0} ({(a0 - t) / t:+.2%}), "
              f"with it {a1} ({(a1 - t) / t:+.2%})")
        if path.endswith("migrant_departures") and a0 == t:
            fails.append("the second documents did not change the departures: the test shows nothing")

    # 3. HMAC
    key = os.path.join(work, "key.bin")
    with open(key, "wb") as f:
        f.write(bytes(range(3, 35)))
    rc, log = run([mpiexec, "-n", "2", "--oversubscribe"] + common + ["--link-table", links, "--key-file", key,
                                                                     "-o", "keyed.h5"], work)
    if rc != 0:
        fails.append(f"keyed run: exit {rc}: {log}")
    else:
        with h5py.File(os.path.join(work, "keyed.h5"), "r") as k:
            for ds in TABLES:
                if not np.array_equal(k[ds][()], after[ds][()]):
                    fails.append(f"{ds}: the keyed run with the link table differs from the unkeyed one")
            kc = {x: int(k["/linkage"].attrs[x]) for x in expect}
            if kc != got:
                fails.append(f"keyed counts {kc} != unkeyed {got}")
        print("HMAC keyed run: same tables and counts" if not fails else "HMAC keyed run: differs")

    # 4. unknown keys only
    unk = os.path.join(work, "unknown.csv")
    with open(unk, "w") as f:
        f.write("person_id_b,person_id_a\r\nnobody-1,nobody-2\r\n\"nobody-3\",nobody-4\r\n")
    rc, log = run([emflow] + common[1:] + ["--link-table", unk, "-o", "unknown.h5"], work)
    if rc != 0:
        fails.append(f"unknown keys: exit {rc}: {log}")
    else:
        with h5py.File(os.path.join(work, "unknown.h5"), "r") as u:
            at = {x: int(u["/linkage"].attrs[x]) for x in ("link_pairs", "link_keys_merged", "link_keys_unknown",
                                                            "link_records_relinked")}
            print("unknown keys:", at)
            if at != {"link_pairs": 2, "link_keys_merged": 0, "link_keys_unknown": 4, "link_records_relinked": 0}:
                fails.append(f"unknown keys: counts {at}")
            for ds in TABLES:
                if not np.array_equal(u[ds][()], before[ds][()]):
                    fails.append(f"{ds}: a table of unknown keys changed the result")

    # 5. malformed tables
    rows = list(csv.reader(open(links)))[1:4]
    secret = [k for r in rows for k in r]
    cases = {
        "fields.csv": (f"person_id_a,person_id_b\n{rows[0][0]},{rows[0][1]}\n{rows[1][0]},{rows[1][1]}\n"
                       f"{rows[2][0]},{rows[2][1]},extra\n", ":4: 3 fields: expected 2"),
        "same.csv": (f"person_id_a,person_id_b\n{rows[0][0]},{rows[0][1]}\n{rows[1][0]},{rows[1][0]}\n",
                     ":3: person_id_a and person_id_b are the same key"),
        "twice.csv": (f"person_id_a,person_id_b\n{rows[0][0]},{rows[0][1]}\n{rows[1][0]},{rows[1][1]}\n"
                      f"{rows[2][0]},{rows[2][1]}\n{rows[2][0]},{rows[0][1]}\n",
                      ":5: field person_id_b is linked to a different person_id_a on line 2"),
        "cycle.csv": (f"person_id_a,person_id_b\n{rows[0][0]},{rows[0][1]}\n{rows[0][1]},{rows[0][0]}\n",
                      "cycle of links"),
        "header.csv": (f"person_id_a,person\n{rows[0][0]},{rows[0][1]}\n", ":1: header field 2 is 'person'"),
        "empty.csv": (f"person_id_a,person_id_b\n{rows[0][0]},\n", ":2: field person_id_b is empty"),
    }
    for name, (text, want) in cases.items():
        path = os.path.join(work, name)
        with open(path, "w") as f:
            f.write(text)
        rc, msg = run([mpiexec, "-n", "2", "--oversubscribe"] + common + ["--link-table", path, "-o", "bad.h5"], work)
        line = [x for x in msg.splitlines() if "error" in x]
        print(f"{name}: exit {rc}: {line[0] if line else msg.strip()}")
        if name == "header.csv":
            want = want.replace(":1:", ": line 1:")
        if rc != 4 or name not in msg or want not in msg or any(k in msg for k in secret):
            fails.append(f"{name}: exit {rc} (expected 4), message {msg!r} (expected '{want}', no key)")
        if os.path.exists(os.path.join(work, "bad.h5")):
            fails.append(f"{name}: an output was written")
    # 6. long chains (from a breaker: resolving a chain of 20 000 pairs took 16-23 s, a cycle of 300 000 pairs
    #    ran for hours before its error).  Every pair (a, b) of the table becomes the chain b -> z1 -> ... -> a
    #    through new keys z, 40 000 of them on the first pair: the records of b still end on a, so the tables
    #    equal the run with the plain table, with 40 000 more pairs and unknown keys.  A cycle of 40 000
    #    new keys: exit 4, "cycle of links".
    pairs = list(csv.reader(open(links)))[1:]
    chain = os.path.join(work, "chain.csv")
    nz = 40000
    with open(chain, "w") as f:
        f.write("person_id_a,person_id_b\n")
        for k, (a, b) in enumerate(pairs):
            zs = [f"z{k}-{i}" for i in range(nz if k == 0 else 1)]
            hops = [b] + zs + [a]  # b is linked to z_1, ..., the last z to a
            for x, y in zip(hops[:-1], hops[1:]):
                f.write(f"{y},{x}\n")
    rc, log = run(common + ["--link-table", chain, "-o", "chain.h5"], work)
    if rc != 0:
        fails.append(f"long chain: exit {rc}: {log[-600:]}")
    else:
        with h5py.File(os.path.join(work, "chain.h5"), "r") as c:
            for ds in TABLES:
                if not np.array_equal(c[ds][()], after[ds][()]):
                    fails.append(f"{ds}: the table of long chains differs from the plain table's")
            cc = {x: int(c["/linkage"].attrs[x]) for x in ("link_pairs", "link_keys_merged", "link_records_relinked")}
            want = {"link_pairs": got["link_pairs"] + nz + len(pairs) - 1, "link_keys_merged": got["link_keys_merged"],
                    "link_records_relinked": got["link_records_relinked"]}
            print("long chains:", cc)
            if cc != want:
                fails.append(f"long chains: counts {cc}, expected {want}")
    cyc = os.path.join(work, "long_cycle.csv")
    with open(cyc, "w") as f:
        f.write("person_id_a,person_id_b\n" + "".join(f"c{i},c{(i + 1) % nz}\n" for i in range(nz)))
    rc, msg = run(common + ["--link-table", cyc, "-o", "cycle.h5"], work)
    print("long cycle: exit", rc, [x for x in msg.splitlines() if "error" in x][:1])
    if rc != 4 or "cycle of links" not in msg or os.path.exists(os.path.join(work, "cycle.h5")):
        fails.append(f"long cycle: exit {rc} (expected 4), message {msg[-400:]!r}")
    # 7. blank lines (an editor's trailing empty lines, CRLF) link nothing and are no error (from a breaker:
    #    they were "0 fields: expected 2"): the same tables and counts as the plain table
    blank = os.path.join(work, "blank.csv")
    with open(links) as f, open(blank, "w") as g:
        lines = f.read().splitlines()
        g.write(lines[0] + "\r\n\r\n" + "\n".join(lines[1:]) + "\n\n \t\n")
    rc, log = run(common + ["--link-table", blank, "-o", "blank.h5"], work)
    if rc != 0:
        fails.append(f"blank lines: exit {rc}: {log[-400:]}")
    else:
        with h5py.File(os.path.join(work, "blank.h5"), "r") as b:
            for ds in TABLES:
                if not np.array_equal(b[ds][()], after[ds][()]):
                    fails.append(f"{ds}: a table with blank lines differs from the plain table's")
            bc = {x: int(b["/linkage"].attrs[x]) for x in expect if x.startswith("link_")}
            if bc != {x: got[x] for x in bc}:
                fails.append(f"blank lines: counts {bc}, expected {got}")
        print("blank lines: skipped, same tables and counts")
    for f in fails:
        print("FAIL:", f)
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
