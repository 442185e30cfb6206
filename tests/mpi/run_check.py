#!/usr/bin/python3
"""Checks of `emflow run` outputs (tests/mpi/run.cmake) against values computed here from the raw inputs.

    run_check.py eu27 OUT.h5 CONFIG.ini CSV REPORT_DIR
        the reported flows of /estimate (emigration_reported, immigration_reported: corridor x year) are
        the CSV's Emig and Immi (SEX=Total) of the config's countries, NA -> -1 (not reported); the
        forecast covers 2020..2030 for every scenario the config lists; REPORT_DIR/index.html exists
    run_check.py azerbaijan OUT.h5 CONFIG.ini REAL_BORDER.csv WORK_DIR REPORT_DIR
        /linkage: records_in = records_accepted + records_rejected = /truth records_written = the
        records of WORK_DIR/crossings.h5; /estimate/border_reported and declared_reported are the sums of
        /linkage/migrant_departures and /undeclared/declared_departures over the quarters whose months are
        all final (citizens of [classify] home against every other citizenship), the periods being exactly
        those quarters; the simulated foreigners' entries and exits of 2021 (scripts/sim_border_counts.py on
        the crossings) are the real ones x [simulate] scale within 10%
    run_check.py nz OUT.h5 CONFIG.ini CSV REPORT_DIR
        /estimate/border_reported is the CSV's Departures (Country = All countries) of New Zealand and
        Australian citizens, 1979..last-year of the config

Every mode also checks the assembly: /config/STAGE and /run/STAGE for each stage of the file but report,
no process attribute (date, host, ranks, threads, command line) under /run/STAGE, its input_files outside
the work directory with their SHA-256, the root attribute stages as the config's [run] stages.
"""
import configparser
import csv
import datetime
import hashlib
import os
import sys
import tempfile

import numpy as np
import h5py

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "scripts"))

fails = 0


def fail(msg):
    global fails
    fails += 1
    print("FAIL: " + msg)


def ok(msg):
    print("ok   " + msg)


def text(a):
    return [x.decode() if isinstance(x, bytes) else str(x) for x in a]


def read_config(path):
    cp = configparser.ConfigParser(inline_comment_prefixes=None, interpolation=None)
    cp.read(path)
    return cp


def listval(cp, section, key):
    return [x.strip() for x in cp.get(section, key).split(",") if x.strip()]


def check_assembly(f, cp):
    stages = listval(cp, "run", "stages")
    got = f.attrs.get("stages")
    got = got.decode() if isinstance(got, bytes) else got
    if got != ",".join(stages):
        fail("root attribute stages = %r, expected %r" % (got, ",".join(stages)))
    for s in stages:
        if s == "report":
            continue
        if "/config/%s/options" % s not in f:
            fail("no /config/%s/options" % s)
        if "/run/%s" % s not in f:
            fail("no /run/%s" % s)
            continue
        attrs = set(f["/run/%s" % s].attrs)
        bad = attrs & {"date", "host", "mpi_ranks", "omp_threads", "command_line"}
        if bad:
            fail("/run/%s holds process attributes %s" % (s, sorted(bad)))
        for a in ("version", "software", "config_sha256"):
            if a not in attrs:
                fail("/run/%s has no attribute %s" % (s, a))
        # inputs named by a stage: files outside the work directory, with their hashes
        names = [x.decode() if isinstance(x, bytes) else x for x in f["/run/%s" % s].attrs.get("input_files", [])]
        sums = [x.decode() if isinstance(x, bytes) else x for x in f["/run/%s" % s].attrs.get("input_sha256", [])]
        if len(names) != len(sums):
            fail("/run/%s: %d input_files, %d input_sha256" % (s, len(names), len(sums)))
        for n, h in zip(names, sums):
            if ".h5.work/" in n:
                fail("/run/%s input_files names a file of the work directory: %s" % (s, n))
            elif not os.path.isfile(n) or hashlib.sha256(open(n, "rb").read()).hexdigest() != h:
                fail("/run/%s: input %s is missing or its SHA-256 is not %s" % (s, n, h))
    for a in ("date", "host", "mpi_ranks", "command_line", "version"):
        if a not in f.attrs:
            fail("the root has no provenance attribute %s" % a)
    ok("assembly: /config and /run of %s" % ", ".join(s for s in stages if s != "report"))


def check_report(report_dir):
    p = os.path.join(report_dir, "index.html")
    if not os.path.isfile(p) or os.path.getsize(p) < 1000:
        fail("%s is missing or nearly empty" % p)
    else:
        ok("%s (%d bytes)" % (p, os.path.getsize(p)))


def check_forecast(f, cp, periods):
    per = text(f["/forecast/period"][:])
    if per != periods:
        fail("/forecast/period = %s, expected %s" % (per, periods))
    scen = listval(cp, "forecast", "scenarios")
    have = sorted(k for k in f["/forecast"] if isinstance(f["/forecast"][k], h5py.Group))
    if have != sorted(scen):
        fail("/forecast scenario groups %s, expected %s" % (have, sorted(scen)))
    nser = len(f["/forecast/series"])
    for s in scen:
        if s not in f["/forecast"]:
            continue
        fl = f["/forecast/%s/flows" % s]
        if fl.shape != (nser, len(periods), 10) or not np.all(np.isfinite(fl[()])):
            fail("/forecast/%s/flows: shape %s or a non-finite value" % (s, fl.shape))
    ok("forecast: periods %s..%s, scenarios %s" % (per[0], per[-1], ", ".join(have)))


def eu27(out, cfg, csvpath, report_dir):
    cp = read_config(cfg)
    countries = listval(cp, "estimate", "countries")
    want_e, want_i, years = {}, {}, set()
    with open(csvpath, newline="") as fh:
        for row in csv.DictReader(fh):
            if row["SEX"] != "Total":
                continue
            s, r = row["Sending_iso3"], row["Receiving_iso3"]
            if s in countries and r in countries:
                key = ("%s->%s" % (s, r), row["Year"])
                want_e[key] = -1.0 if row["Emig"] == "NA" else float(row["Emig"])
                want_i[key] = -1.0 if row["Immi"] == "NA" else float(row["Immi"])
                years.add(row["Year"])
    with h5py.File(out, "r") as f:
        check_assembly(f, cp)
        cor = text(f["/estimate/corridor"][:])
        yr = text(f["/estimate/year"][:])
        if sorted(text(f["/estimate/country"][:])) != sorted(countries):
            fail("/estimate/country = %s, expected %s" % (text(f["/estimate/country"][:]), countries))
        if yr != sorted(years):
            fail("/estimate/year = %s, expected %s" % (yr, sorted(years)))
        want_cor = sorted({k[0] for k in want_e})
        if sorted(cor) != want_cor:
            fail("/estimate/corridor = %s, expected %s" % (cor, want_cor))
        for name, want in (("emigration_reported", want_e), ("immigration_reported", want_i)):
            d = f["/estimate/" + name][()]
            n = na = 0
            for i, c in enumerate(cor):
                for j, y in enumerate(yr):
                    w = want.get((c, y))
                    if w is None:
                        fail("%s %s: not in the CSV" % (c, y))
                        continue
                    if d[i, j] != w:
                        fail("/estimate/%s[%s, %s] = %g, the CSV has %g" % (name, c, y, d[i, j], w))
                    n += 1
                    na += w < 0
            ok("/estimate/%s: %d corridor-years equal the CSV's (%d NA -> -1)" % (name, n, na))
        check_forecast(f, cp, [str(y) for y in range(2020, 2031)])
    check_report(report_dir)


def quarter_sums(month, prov, table, cit, home):
    """Sums of table (month x citizenship x ...) by (home | foreign) and quarter over the quarters whose
    three months are present and final."""
    months = {}
    for t, m in enumerate(month):
        y, mm = int(m[:4]), int(m[5:7])
        months.setdefault("%04d-Q%d" % (y, (mm - 1) // 3 + 1), []).append(t)
    out = {}
    for q, ts in months.items():
        if len(ts) != 3 or any(prov[t] != 0 for t in ts):
            continue
        home_sum = sum(int(table[t, c].sum()) for t in ts for c in range(len(cit)) if cit[c] == home)
        other = sum(int(table[t, c].sum()) for t in ts for c in range(len(cit)) if cit[c] != home)
        out[q] = (home_sum, other)
    return out


def azerbaijan(out, cfg, real_csv, work, report_dir):
    import sim_border_counts as sbc
    cp = read_config(cfg)
    home = cp.get("classify", "home")
    scale = float(cp.get("simulate", "scale"))
    with h5py.File(out, "r") as f:
        check_assembly(f, cp)
        la = f["/linkage"].attrs
        rin, acc, rej = int(la["records_in"]), int(la["records_accepted"]), int(la["records_rejected"])
        if rin != acc + rej:
            fail("/linkage records_in %d != accepted %d + rejected %d" % (rin, acc, rej))
        if int(f["/linkage/rejects"][()].sum()) != rej:
            fail("/linkage/rejects sums to %d, records_rejected = %d" % (f["/linkage/rejects"][()].sum(), rej))
        items = text(f["/truth/item"][:])
        written = int(f["/truth/summary"][items.index("records_written")])
        if written != rin:
            fail("simulate wrote %d records (/truth/summary), classify read %d (/linkage records_in)" % (written, rin))
        ok("/linkage: records_in %d = accepted %d + rejected %d = the records simulate wrote" % (rin, acc, rej))

        month = text(f["/linkage/month"][:])
        prov = f["/linkage/provisional"][()]
        cit = text(f["/linkage/citizenship"][:])
        per = text(f["/estimate/period"][:])
        grp = text(f["/estimate/group"][:])
        if grp != [home, "foreign"]:
            fail("/estimate/group = %s, expected [%s, foreign]" % (grp, home))
        for est, src in (("border_reported", "/linkage/migrant_departures"),
                         ("declared_reported", "/undeclared/declared_departures")):
            want = quarter_sums(month, prov, f[src][()], cit, home)
            if per != sorted(want):
                fail("/estimate/period = %s, the complete final quarters of /linkage are %s" % (per, sorted(want)))
                continue
            got = f["/estimate/" + est][()]
            exp = np.array([[want[q][g] for q in per] for g in range(2)], dtype=float)
            if not np.array_equal(got, exp):
                fail("/estimate/%s differs from the sums of %s:\n  got %s\n  expected %s" % (est, src, got, exp))
            else:
                ok("/estimate/%s = %s by quarter, %s..%s (%d x 2 counts, total %d)" %
                   (est, src, per[0], per[-1], len(per), exp.sum()))
        # the forecast starts the quarter after the last estimated one
        y, q = int(per[-1][:4]), int(per[-1][-1])
        fper = []
        for _ in range(int(cp.get("forecast", "horizon"))):
            y, q = (y + 1, 1) if q == 4 else (y, q + 1)
            fper.append("%04d-Q%d" % (y, q))
        check_forecast(f, cp, fper)

    # the simulated crossings (WORK/crossings.h5) counted as the border service counts them
    with h5py.File(os.path.join(work, "crossings.h5"), "r") as g:
        rec = g["/crossings/records"][()]
    if len(rec) != rin:
        fail("%s/crossings.h5 holds %d records, classify read %d" % (work, len(rec), rin))
    epoch = datetime.date(1970, 1, 1)
    with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False, newline="") as tmp:
        w = csv.writer(tmp)
        w.writerow(["person_id", "crossed_at", "direction", "citizenship"])
        dates = {}
        for r in rec:
            d = int(r["day"])
            if d not in dates:
                dates[d] = (epoch + datetime.timedelta(days=d)).isoformat()
            w.writerow([r["person_id"].decode(), dates[d], "IN" if r["direction"] == 1 else "OUT",
                        r["citizenship"].decode()])
    try:
        sim = sbc.foreign_counts(tmp.name, home=home)
    finally:
        os.unlink(tmp.name)
    real = sbc.real_counts(real_csv)
    worst = 0.0
    for ind in ("entries_crossings", "entries_documents", "exits_crossings", "exits_documents"):
        s, v = sim.get((ind, "2021"), 0), real[(ind, "2021")]
        ratio = s / v
        e = ratio / scale - 1
        worst = max(worst, abs(e))
        print("     2021 %-18s simulated %7d real %7.0f ratio %.5f (scale %g, %+.1f%%)" % (ind, s, v, ratio, scale, 100 * e))
        if abs(e) > 0.10:
            fail("2021 %s: simulated / real = %.5f, not the scale %g within 10%%" % (ind, ratio, scale))
    ok("foreigners' 2021 border counts: simulated / real within %.1f%% of the scale %g" % (100 * worst, scale))
    check_report(report_dir)


def nz(out, cfg, csvpath, report_dir):
    cp = read_config(cfg)
    last = int(cp.get("estimate", "last-year"))
    want = {}
    with open(csvpath, newline="") as fh:
        for row in csv.DictReader(fh):
            if row["Measure"] == "Departures" and row["Country"] == "All countries" and \
               row["Citizenship"] in ("New Zealand Citizen", "Australian Citizen") and row["Value"]:
                want[(row["Citizenship"], row["Year"])] = float(row["Value"])
    with h5py.File(out, "r") as f:
        check_assembly(f, cp)
        grp = text(f["/estimate/group"][:])
        per = text(f["/estimate/period"][:])
        years = [str(y) for y in range(1979, last + 1)]
        if sorted(grp) != ["Australian Citizen", "New Zealand Citizen"]:
            fail("/estimate/group = %s" % grp)
        if per != years:
            fail("/estimate/period = %s..%s, expected 1979..%d" % (per[0], per[-1], last))
        got = f["/estimate/border_reported"][()]
        exp = np.array([[want[(g, y)] for y in per] for g in grp])
        if not np.array_equal(got, exp):
            fail("/estimate/border_reported differs from the CSV's Departures by up to %g" % np.abs(got - exp).max())
        else:
            ok("/estimate/border_reported = the CSV's Departures of %s, %s..%s (%d counts)" %
               (" and ".join(grp), per[0], per[-1], exp.size))
        check_forecast(f, cp, [str(y) for y in range(last + 1, last + 1 + int(cp.get("forecast", "horizon")))])
    check_report(report_dir)


if __name__ == "__main__":
    modes = {"eu27": (eu27, 4), "azerbaijan": (azerbaijan, 5), "nz": (nz, 4)}
    if len(sys.argv) < 2 or sys.argv[1] not in modes or len(sys.argv) != 2 + modes[sys.argv[1]][1]:
        sys.exit(__doc__)
    modes[sys.argv[1]][0](*sys.argv[2:])
    print("%s: %d failure(s)" % (sys.argv[1], fails))
    sys.exit(1 if fails else 0)
