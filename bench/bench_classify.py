#!/usr/bin/python3
"""bench_classify.py: `emflow classify` (record linkage and the 12/16 rule) against the same rule in
DuckDB SQL (@duckdb/node-api) and in pandas, on the same crossings CSV (issue 4, Performance; issue 9).

    /usr/bin/python3 bench/bench_classify.py --emflow build/engine/emflow [--records 1e7] [--reps 3]
        [--peer-reps 3] [--layouts "1x1 1x2 2x1 2x2"] [--peers duckdb,pandas] [--duckdb-threads 2]
        [--edge-persons 20000] [--out bench/results/DATE-HOST-classify-1e7] [--workdir DIR]

A benchmark, never a test.

Configuration compared.  Both sides run the real rule of engine/emi_cmd_classify.c and
kernels/emi_rule.h with emflow's defaults: cumulative 12/16 rule (window 487 days, threshold 365 days),
initial status from-first (resident if the first crossing is an exit), status changes at every migrant
crossing, right censoring at the data end (a crossing whose window is open is decided early when its
outcome is certain, otherwise it is pending and changes nothing), warm-up of one window before the first
tabulated month, tables month x citizenship x sex x age group of migrant departures, migrant arrivals,
pending departures and pending arrivals.  The simplification: the records are fault-free
(`emflow simulate --no-faults`), so that the peers need not reimplement the sequence repairs
(kernels/emi_repair.h); emflow still runs its repair pass (it is part of its time), and the benchmark
fails unless emflow reports zero repairs of every kind.  No declarations, no link table, no key file
(unkeyed SHA-256 of the person keys in emflow; the DuckDB peer groups persons by DuckDB's 64-bit
hash(), the pandas peer by pd.factorize).  The rejects that fault-free simulated data still contain
(birth year after the crossing) are applied by the peers too, and their accepted counts must equal
emflow's.

Steps, in this order:
 1. Validation on edge cases: a generated CSV (--edge-persons persons with random alternating
    histories, seed fixed: same-day crossings, date-only records, stays just under and over a year,
    windows cut by the data end, shuffled lines, keys of 8..40 characters) through emflow (1 rank) and
    every available peer.
 2. Data: `emflow simulate --no-faults` at the scale that gives about --records recorded crossings
    (records per unit scale from a calibration run at scale 0.02, as bench/bench_simulate.sh).
 3. Validation on that file: emflow (1 rank x 1 thread) and each peer; the four tables must be identical
    cell by cell (emflow's HDF5 /linkage/migrant_departures, migrant_arrivals, pending_departures,
    pending_arrivals read with h5py through their dimension scales month, citizenship, sex, age_group),
    as must the accepted record counts.  A mismatch exits 1 naming the first differing cell.
 4. Timing: emflow at every layout RANKSxTHREADS (`mpiexec --oversubscribe --bind-to none -n R`,
    OMP_NUM_THREADS=T) --reps times, every run's tables checked against the validated ones; each peer
    --peer-reps times.  The same work on every side: the whole process, from start to exit, reading the
    CSV (page cache warm for all: the file was just written and read), validating every record,
    linking, classifying and tabulating, and writing the tables (emflow: its HDF5 file, whose write
    includes a SHA-256 of the input for the provenance; the peers: a small CSV).  Wall seconds
    (time.monotonic around the process), CPU seconds (user + system, all processes and threads:
    /usr/bin/time), emflow's stages from its log (ingest = read + validate + hash the keys; link +
    rule = all-to-all, radix sort, repair, rule, tabulation; write; the rest is start-up and exit: mpiexec,
    MPI_Init, MPI_Finalize), the peers' own stage clocks, peak memory (sum over the processes of their
    VmHWM, sampled from /proc every 20 ms; and the largest process's maximum RSS from /usr/bin/time)
    and bytes per record beyond the input: (peak - the same program's peak on a 200-person file) /
    records; the CSV is read through stdio, not mapped, so no RSS is the input's.
 Medians with min and max.  Ratios are peer time / emflow time (> 1: emflow faster).

Prints one JSON line ({"bench": "classify", ...}) on stdout for bench/run.sh and bench/report.py;
with --out PREFIX also PREFIX.json and PREFIX.md.  Progress goes to stderr.  Needs numpy and h5py
(Debian); the peers: node with bench/peers/node_modules/@duckdb/node-api, and python3-pandas
(bench/install-peers.sh); a peer that is unavailable is skipped with a note in the results.
"""
import argparse
import datetime
import json
import os
import platform
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import h5py
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PEERS = os.path.join(ROOT, "bench", "peers")
KINDS = ("migrant_departures", "migrant_arrivals", "pending_departures", "pending_arrivals")
AGE_LABELS = ("Y_LT15", "Y15-24", "Y25-34", "Y35-44", "Y45-54", "Y55-64", "Y_GE65")
MPI_ENV = {"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1", "OPENBLAS_NUM_THREADS": "1"}


def log(msg):
    print(f"bench_classify: {msg}", file=sys.stderr, flush=True)


def fail(msg):
    print(f"bench_classify: FAILED: {msg}", file=sys.stderr, flush=True)
    sys.exit(1)


# ------------------------------------------------------------------ measuring one process tree
def _children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def _status(pid):
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("Name", "VmHWM", "VmRSS"):
                    out[k] = v.strip()
    except OSError:
        pass
    return out


class Monitor(threading.Thread):
    """Samples the process tree under root every 20 ms: per process (of the names given) its VmHWM."""

    def __init__(self, root, names):
        super().__init__(daemon=True)
        self.root, self.names, self.stop = root, names, threading.Event()
        self.hwm = {}  # pid -> max VmHWM seen, kB

    def run(self):
        while not self.stop.is_set():
            todo, seen = [self.root], set()
            while todo:
                p = todo.pop()
                if p in seen:
                    continue
                seen.add(p)
                todo.extend(_children(p))
                st = _status(p)
                if st.get("Name") in self.names and "VmHWM" in st:
                    kb = int(st["VmHWM"].split()[0])
                    self.hwm[p] = max(self.hwm.get(p, 0), kb)
            self.stop.wait(0.02)


def run_measured(cmd, cwd, env, names):
    """Run cmd under /usr/bin/time; returns (rc, stdout, stderr, dict of measurements)."""
    tf = os.path.join(cwd, ".time.out")
    have_time = os.access("/usr/bin/time", os.X_OK)  # Debian package time (bench/install-peers.sh)
    full = (["/usr/bin/time", "-f", "%e %U %S %M", "-o", tf] if have_time else []) + cmd
    e = dict(os.environ)
    e.update(env)
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    p = subprocess.Popen(full, cwd=cwd, env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    mon = Monitor(p.pid, names)
    mon.start()
    out, err = p.communicate()
    wall = time.monotonic() - t0
    mon.stop.set()
    mon.join()
    m = {"wall_s": wall, "peak_rss_kb_sum": sum(mon.hwm.values()) or None, "processes": len(mon.hwm)}
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)  # every process of the tree has been waited for
    m.update({"cpu_s": (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime), "maxrss_kb_largest": None})
    if have_time:
        try:
            with open(tf) as f:
                last = f.read().strip().splitlines()[-1].split()
            m.update({"cpu_s": float(last[1]) + float(last[2]), "maxrss_kb_largest": int(last[3])})
        except (OSError, IndexError, ValueError):
            pass
    return p.returncode, out, err, m


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def summary(runs, key):
    xs = [r[key] for r in runs if r.get(key) is not None]
    if not xs:
        return None
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "all": xs}


# ------------------------------------------------------------------ inputs
def days_to_iso(day, sec):
    d = datetime.date(1970, 1, 1) + datetime.timedelta(days=int(day))
    if sec < 0:
        return d.isoformat()
    return f"{d.isoformat()}T{sec // 3600:02d}:{sec // 60 % 60:02d}:{sec % 60:02d}"


def write_edge_csv(path, persons, seed=20241204):
    """Random alternating histories 2020-01-01 .. 2023-12-31 that hit the rule's corners (same-day
    crossings, an entry and an exit in the same second, date-only records, stays of 355..375 days,
    windows cut by the data end); no record is rejected and none needs a repair (emflow's repairs must
    be 0 here too)."""
    rng = np.random.default_rng(seed)
    d0 = (datetime.date(2020, 1, 1) - datetime.date(1970, 1, 1)).days
    d1 = (datetime.date(2023, 12, 31) - datetime.date(1970, 1, 1)).days
    cits = ["AZE", "RUS", "GEO", "TUR", "IRN", "UKR"]
    lines = []
    gap_kinds = np.array([0, 1, 2, 3, 4, 5])
    gap_p = np.array([0.08, 0.32, 0.2, 0.15, 0.15, 0.1])
    for i in range(persons):
        klen = int(rng.integers(8, 41))
        key = "".join(rng.choice(list("0123456789abcdef"), size=klen))
        cit = cits[int(rng.integers(0, len(cits)))] if rng.random() < 0.7 else "AZE"
        sex = "MFX"[int(rng.choice(3, p=[0.49, 0.49, 0.02]))]
        by = int(rng.integers(1930, 2021))
        day = int(rng.integers(d0, d1 - 30))
        sec = int(rng.integers(0, 86400))
        out = int(rng.integers(0, 2))
        n = int(rng.integers(1, 25))
        prev_day = None
        for _ in range(n):
            if day > d1:
                break
            dateonly = prev_day != day and rng.random() < 0.1  # first of its day: sorts first anyway
            lines.append(f"{key},{days_to_iso(day, -1 if dateonly else sec)},{'OUT' if out else 'IN'},{cit},"
                         f"GYD,PASSPORT,{sex},{by}")
            prev_day = day
            g = int(rng.choice(gap_kinds, p=gap_p))
            if g == 0:  # the same day, later; an entry then an exit may share the second (entries sort first)
                if not dateonly and not out and rng.random() < 0.3:
                    pass
                elif sec >= 86399:
                    g = 1
                else:
                    sec = int(rng.integers(sec + 1, 86400))
            if g == 1:
                day += int(rng.integers(1, 30))
            elif g == 2:
                day += int(rng.integers(30, 200))
            elif g == 3:
                day += int(rng.integers(355, 376))  # about a year: 364 / 365 / 366 days
            elif g == 4:
                day += int(rng.integers(200, 500))
            elif g == 5:
                day += int(rng.integers(500, 900))
            if g != 0:
                sec = int(rng.integers(0, 86400))
            out ^= 1
    order = rng.permutation(len(lines))
    with open(path, "w") as f:
        f.write("person_id,crossed_at,direction,citizenship,border_point,document,sex,birth_year\n")
        for k in order:
            f.write(lines[k] + "\n")
    return len(lines)


def count_records(path):
    with open(path, "rb") as f:
        return sum(buf.count(b"\n") for buf in iter(lambda: f.read(1 << 24), b"")) - 1


def simulate(a, work, records):
    """The crossings CSV with about `records` records: (path, records, scale, seconds)."""
    env = {**MPI_ENV, "OMP_NUM_THREADS": str(a.sim_threads)}
    cal = os.path.join(work, "cal.h5")
    rc, _, err, _ = run_measured([a.emflow, "simulate", "-o", cal, "--scale", "0.02", "--no-faults",
                                  "--seed", str(a.seed), "--log-level", "warn"], work, env, ())
    if rc:
        fail(f"emflow simulate (calibration): exit {rc}\n{err}")
    per_scale = count_records(os.path.join(work, "cal_crossings.csv")) * 50
    for f in ("cal.h5", "cal_crossings.csv", "cal_declarations.csv"):
        os.remove(os.path.join(work, f))
    scale = float(f"{records / per_scale:.6g}")
    out = os.path.join(work, "data.h5")
    log(f"data: emflow simulate --no-faults --scale {scale:g} (about {records:.3g} records)")
    rc, _, err, m = run_measured([a.emflow, "simulate", "-o", out, "--scale", str(scale), "--no-faults",
                                  "--seed", str(a.seed), "--log-level", "warn"], work, env, ())
    if rc:
        fail(f"emflow simulate: exit {rc}\n{err}")
    os.remove(os.path.join(work, "data_declarations.csv"))
    csv = os.path.join(work, "data_crossings.csv")
    return csv, count_records(csv), scale, m["wall_s"]


# ------------------------------------------------------------------ emflow
def parse_layouts(s):
    out = []
    for l in s.split():
        mm = re.fullmatch(r"([1-9][0-9]*)x([1-9][0-9]*)", l)
        if not mm:
            fail(f"--layouts: '{l}' is not RANKSxTHREADS")
        out.append((int(mm.group(1)), int(mm.group(2))))
    return out


def run_emflow(a, work, csv, ranks, threads, out="em.h5"):
    path = os.path.join(work, out)
    if os.path.exists(path):
        os.remove(path)
    cmd = [a.mpiexec, "--oversubscribe", "--bind-to", "none", "-n", str(ranks), a.emflow, "classify", csv, "-o", out,
           "--log-level", "info"] + a.emflow_extra
    rc, _, err, m = run_measured(cmd, work, {**MPI_ENV, "OMP_NUM_THREADS": str(threads)}, ("emflow",))
    if rc:
        fail(f"{' '.join(cmd)}: exit {rc}\n{err}")
    t_in = re.search(r"records in, .* rejected \(([0-9.]+) s\)", err)
    t_cl = re.search(r"migrant departures, .* pending \(([0-9.]+) s\)", err)
    t_wr = re.search(r"classify: wrote .* \(([0-9.]+) s\)", err)
    if t_in and t_cl and t_wr:
        a_, b_, c_ = float(t_in.group(1)), float(t_cl.group(1)), float(t_wr.group(1))
        m["stages_s"] = {"ingest": a_, "link_rule_tabulate": b_ - a_, "write": c_ - b_, "startup_exit": m["wall_s"] - c_}
    else:  # the log format changed: times only
        m["stages_s"] = None
        if not run_emflow.warned:
            log("note: emflow's log lacks one of its stage lines (records in / migrant departures / wrote): no stage times")
            run_emflow.warned = True
    return path, m, err


run_emflow.warned = False


def emflow_tables(path):
    """{kind: {(month, cit, sex, age_group): count}} of the non-zero cells, plus the attributes and axes."""
    tabs = {}
    with h5py.File(path, "r") as f:
        L = f["/linkage"]
        attrs = {k: (v.decode() if isinstance(v, bytes) else v.item() if hasattr(v, "item") else v)
                 for k, v in L.attrs.items()}
        axes = None
        for kind in KINDS:
            d = L[kind]
            names = [d.dims[i][0].name.rsplit("/", 1)[-1] for i in range(4)]
            if names != ["month", "citizenship", "sex", "age_group"]:
                fail(f"{path}: /linkage/{kind} has dimension scales {names}, expected month, citizenship, sex, age_group")
            lab = [[x.decode() if isinstance(x, bytes) else str(x) for x in d.dims[i][0][()]] for i in range(4)]
            axes = axes or lab
            v = d[()]
            nz = np.nonzero(v)
            tabs[kind] = {(lab[0][i], lab[1][j], lab[2][k], lab[3][l]): int(v[i, j, k, l]) for i, j, k, l in zip(*nz)}
        repairs = dict(zip([x.decode() for x in L["repair_kind"][()]], L["repairs"][()].tolist()))
        rejects = dict(zip([x.decode() for x in L["reject_reason"][()]], L["rejects"][()].tolist()))
    return tabs, attrs, axes, repairs, rejects


def peer_tables(path):
    tabs = {k: {} for k in KINDS}
    with open(path) as f:
        head = f.readline().strip()
        if head != "kind,month,citizenship,sex,age_group,value":
            fail(f"{path}: unexpected header '{head}'")
        for line in f:
            kind, mon, cit, sex, ag, v = line.strip().split(",")
            if kind not in tabs:
                fail(f"{path}: unknown kind '{kind}'")
            if int(v):
                tabs[kind][(mon, cit, sex, ag)] = int(v)
    return tabs


def compare_tables(ref, other, name, what):
    """Exit 1 at the first cell that differs (kinds in order, cells sorted)."""
    cells = 0
    for kind in KINDS:
        a, b = ref[kind], other[kind]
        for key in sorted(set(a) | set(b)):
            if a.get(key, 0) != b.get(key, 0):
                fail(f"{what}: {name} differs from emflow: /linkage/{kind}[month={key[0]}, citizenship={key[1]}, "
                     f"sex={key[2]}, age_group={key[3]}]: emflow {a.get(key, 0)}, {name} {b.get(key, 0)} "
                     f"(emflow total {sum(a.values())}, {name} total {sum(b.values())})")
        cells += len(a)
    return cells


# ------------------------------------------------------------------ peers
def peer_available(name, a):
    if name == "duckdb":
        node = shutil.which("node")
        if not node:
            return None, "node is not installed (bench/install-peers.sh): the DuckDB peer was skipped"
        p = subprocess.run([node, "-e", "require.resolve('@duckdb/node-api')"], cwd=PEERS, capture_output=True)
        if p.returncode:
            return None, ("@duckdb/node-api is not installed in bench/peers (bench/install-peers.sh): "
                          "the DuckDB peer was skipped")
        return node, None
    p = subprocess.run([sys.executable, "-c", "import pandas"], capture_output=True)
    if p.returncode:
        return None, "pandas is unavailable to /usr/bin/python3 (bench/install-peers.sh): the pandas peer was skipped"
    return sys.executable, None


class PeerOutOfMemory(Exception):
    pass


def run_peer(name, exe, a, work, csv, out="peer.csv"):
    path = os.path.join(work, out)
    if name == "duckdb":
        cmd = [exe, os.path.join(PEERS, "classify_duckdb.mjs"), "--csv", csv, "--out", path,
               "--threads", str(a.duckdb_threads)]
        names = ("node", "MainThread")
    else:
        cmd = [exe, os.path.join(PEERS, "classify_pandas.py"), "--csv", csv, "--out", path]
        names = ("python3",)
    rc, so, err, m = run_measured(cmd, work, {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}, names)
    if rc and (rc in (-9, 137) or re.search(r"MemoryError|Out of Memory|out of memory|Cannot allocate memory", err)):
        raise PeerOutOfMemory(f"{name} ran out of memory ({m['peak_rss_kb_sum'] or 0} kB at its peak): {err.strip()[-300:]}")
    if rc:
        fail(f"{' '.join(cmd)}: exit {rc}\n{err}")
    try:
        info = json.loads(so.strip().splitlines()[-1])
    except (ValueError, IndexError):
        fail(f"{name}: no JSON line on stdout:\n{so}\n{err}")
    m["internal_s"] = info["seconds"]
    return path, m, info


# ------------------------------------------------------------------ main
def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--emflow", required=True)
    ap.add_argument("--mpiexec", default=shutil.which("mpiexec") or "mpiexec")
    ap.add_argument("--records", type=float, default=1e7, help="about this many crossings (simulate --no-faults)")
    ap.add_argument("--csv", help="use this crossings CSV (fault-free) instead of simulating one")
    ap.add_argument("--seed", type=int, default=20240601)
    ap.add_argument("--reps", type=int, default=3, help="timed runs of emflow per layout")
    ap.add_argument("--peer-reps", type=int, default=3, help="timed runs of each peer")
    ap.add_argument("--layouts", default="1x1 1x2 2x1 2x2", help="emflow layouts RANKSxTHREADS")
    ap.add_argument("--peers", default="duckdb,pandas")
    ap.add_argument("--duckdb-threads", type=int, default=2)
    ap.add_argument("--sim-threads", type=int, default=2)
    ap.add_argument("--edge-persons", type=int, default=20000)
    ap.add_argument("--pandas-bytes-per-record", type=float, default=400,
                    help="skip pandas (with a note) when records x this exceeds 90%% of MemAvailable")
    ap.add_argument("--out")
    ap.add_argument("--workdir")
    a = ap.parse_args()
    a.emflow = os.path.abspath(a.emflow)
    layouts = parse_layouts(a.layouts)
    if (1, 1) not in layouts:
        layouts.insert(0, (1, 1))  # the validation and the ratios' reference
    # a nowcast of the pending crossings (Monte Carlo), where emflow has one, is work the peers do not do
    helptext = subprocess.run([a.emflow, "help", "classify"], capture_output=True, text=True).stdout
    a.emflow_extra = ["--no-nowcast"] if re.search(r"^\s*--nowcast\b", helptext, re.M) else []
    work = a.workdir or tempfile.mkdtemp(prefix="emflow-bench-classify.")
    os.makedirs(work, exist_ok=True)
    load0 = " ".join(open("/proc/loadavg").read().split()[:3])
    date = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    notes = []

    peers = {}
    for name in [p for p in a.peers.split(",") if p]:
        if name not in ("duckdb", "pandas"):
            fail(f"--peers: unknown peer '{name}' (duckdb, pandas)")
        exe, note = peer_available(name, a)
        if exe:
            peers[name] = exe
        else:
            notes.append(note)
            log("note: " + note)

    # 1. validation on edge cases
    edge = os.path.join(work, "edge.csv")
    n_edge = write_edge_csv(edge, a.edge_persons)
    log(f"validation 1: {n_edge} generated edge-case records ({a.edge_persons} persons): emflow vs {', '.join(peers) or 'no peer'}")
    p, _, _ = run_emflow(a, work, edge, 1, 1, "edge.h5")
    e_tabs, e_attrs, _, e_rep, _ = emflow_tables(p)
    if any(e_rep.values()) or e_attrs["records_rejected"]:
        fail(f"edge-case file: emflow made repairs {e_rep} or rejected {e_attrs['records_rejected']} records; "
             "the generator must make neither")
    edge_val = {"records": n_edge, "persons": e_attrs["persons"], "cells": {}, "totals": {k: sum(v.values()) for k, v in e_tabs.items()}}
    for name, exe in peers.items():
        pp, _, info = run_peer(name, exe, a, work, edge, "edge_peer.csv")
        if info["records_accepted"] != e_attrs["records_accepted"]:
            fail(f"edge-case file: {name} accepted {info['records_accepted']} records, emflow {e_attrs['records_accepted']}")
        edge_val["cells"][name] = compare_tables(e_tabs, peer_tables(pp), name, "edge-case file")
    if peers:
        log(f"validation 1 passed: {edge_val['totals']}")

    # memory baselines: each program on a 200-person file
    tiny = os.path.join(work, "tiny.csv")
    write_edge_csv(tiny, 200, seed=7)
    base = {}
    for r, t in layouts:
        _, m, _ = run_emflow(a, work, tiny, r, t, "tiny.h5")
        base[f"{r}x{t}"] = m["peak_rss_kb_sum"]
    for name, exe in peers.items():
        _, m, _ = run_peer(name, exe, a, work, tiny, "tiny_peer.csv")
        base[name] = m["peak_rss_kb_sum"]

    # 2. data
    if a.csv:
        csv, n, scale, sim_s = os.path.abspath(a.csv), count_records(a.csv), None, None
    else:
        csv, n, scale, sim_s = simulate(a, work, int(a.records))
    csv_bytes = os.path.getsize(csv)
    log(f"data: {csv} ({n} records, {csv_bytes / n:.1f} bytes per record)")
    if "pandas" in peers:
        try:
            avail = int(next(l for l in open("/proc/meminfo") if l.startswith("MemAvailable")).split()[1]) * 1024
        except (OSError, StopIteration):
            avail = None
        if avail and n * a.pandas_bytes_per_record > 0.9 * avail:
            note = (f"pandas was skipped at {n} records: it needs about {a.pandas_bytes_per_record:g} bytes per record "
                    f"({n * a.pandas_bytes_per_record / 2**30:.1f} GiB), more than 90% of MemAvailable "
                    f"({avail / 2**30:.1f} GiB)")
            notes.append(note)
            log("note: " + note)
            del peers["pandas"]

    # 3. validation on the benchmark file
    log("validation 2: emflow 1 x 1 on the benchmark file")
    p, m_val, _ = run_emflow(a, work, csv, 1, 1, "ref.h5")
    ref, attrs, axes, rep, rejects = emflow_tables(p)
    if any(rep.values()):
        fail(f"emflow repaired the benchmark file ({rep}): the records are not fault-free, so the peers "
             "(which do not repair) would not be running the same rule; use emflow simulate --no-faults")
    totals = {k: sum(v.values()) for k, v in ref.items()}
    val = {"edge_cases": edge_val, "records_in": attrs["records_in"], "records_accepted": attrs["records_accepted"],
           "rejects": {k: v for k, v in rejects.items() if v}, "repairs": rep, "persons": attrs["persons"],
           "months": [axes[0][0], axes[0][-1], len(axes[0])], "citizenships": len(axes[1]), "totals": totals,
           "cells_compared": {}}
    peer_val = {}
    for name, exe in list(peers.items()):
        log(f"validation 2: {name}")
        try:
            pp, m, info = run_peer(name, exe, a, work, csv)
        except PeerOutOfMemory as ex:  # a peer too big for this machine is a note, not a failure
            notes.append(f"{ex}; it was skipped at {n} records")
            log("note: " + notes[-1])
            del peers[name]
            continue
        if info["records_accepted"] != attrs["records_accepted"]:
            fail(f"{name} accepted {info['records_accepted']} records, emflow {attrs['records_accepted']} "
                 f"(emflow's rejects: {val['rejects']})")
        val["cells_compared"][name] = compare_tables(ref, peer_tables(pp), name, "benchmark file")
        peer_val[name] = info
    log(f"validation 2 passed: {attrs['records_accepted']} records accepted, {attrs['persons']} persons, totals {totals}"
        + (f"; tables identical to emflow's: {', '.join(peers)}" if peers else ""))

    # 4. timing
    em_rows = []
    for r, t in layouts:
        runs = []
        for k in range(a.reps):
            p, m, _ = run_emflow(a, work, csv, r, t, "t.h5")
            tabs, _, _, _, _ = emflow_tables(p)
            if tabs != ref:
                fail(f"emflow {r} x {t}: the tables differ from the validated 1 x 1 run")
            runs.append(m)
            log(f"emflow {r} x {t}: {m['wall_s']:.2f} s wall, {m['cpu_s']:.2f} s CPU, stages "
                + ", ".join(f"{k_} {v:.2f}" for k_, v in (m["stages_s"] or {}).items())
                + f", peak {m['peak_rss_kb_sum'] / 1024:.0f} MiB")
        row = {"impl": "emflow", "layout": f"{r}x{t}", "ranks": r, "threads": t, "runs": len(runs),
               "wall_s": summary(runs, "wall_s"), "cpu_s": summary(runs, "cpu_s"),
               "stages_s": ({k_: med([x["stages_s"][k_] for x in runs]) for k_ in runs[0]["stages_s"]}
                            if all(x["stages_s"] for x in runs) else None),
               "peak_rss_kb_sum": max(x["peak_rss_kb_sum"] or 0 for x in runs),
               "maxrss_kb_largest": max(x["maxrss_kb_largest"] or 0 for x in runs),
               "baseline_rss_kb_sum": base.get(f"{r}x{t}")}
        em_rows.append(row)
    peer_rows = []
    for name, exe in peers.items():
        runs = []
        for k in range(a.peer_reps):
            _, m, info = run_peer(name, exe, a, work, csv)
            runs.append(m)
            log(f"{name}: {m['wall_s']:.2f} s wall, {m['cpu_s']:.2f} s CPU, internal "
                + ", ".join(f"{k_} {v:.2f}" for k_, v in m["internal_s"].items())
                + f", peak {m['peak_rss_kb_sum'] / 1024:.0f} MiB")
        info = peer_val[name]
        row = {"impl": name, "threads": info["threads"], "runs": len(runs),
               "version": info.get("duckdb") if name == "duckdb" else info.get("pandas"),
               "runtime": info.get("node") if name == "duckdb" else "Python " + info.get("python", "?"),
               "wall_s": summary(runs, "wall_s"), "cpu_s": summary(runs, "cpu_s"),
               "internal_s": {k_: med([x["internal_s"][k_] for x in runs]) for k_ in runs[0]["internal_s"]},
               "peak_rss_kb_sum": max(x["peak_rss_kb_sum"] or 0 for x in runs),
               "maxrss_kb_largest": max(x["maxrss_kb_largest"] or 0 for x in runs),
               "baseline_rss_kb_sum": base.get(name)}
        peer_rows.append(row)
    for row in em_rows + peer_rows:
        row["records_per_s"] = n / row["wall_s"]["median"]
        row["bytes_per_record"] = row["peak_rss_kb_sum"] * 1024 / n
        row["bytes_per_record_beyond_input"] = ((row["peak_rss_kb_sum"] - (row["baseline_rss_kb_sum"] or 0)) * 1024 / n)
    ref11 = next(x for x in em_rows if x["layout"] == "1x1")
    best = min(em_rows, key=lambda x: x["wall_s"]["median"])
    for row in peer_rows:
        row["ratio_wall_vs_emflow"] = {x["layout"]: row["wall_s"]["median"] / x["wall_s"]["median"] for x in em_rows}
        row["ratio_cpu_vs_emflow"] = {x["layout"]: row["cpu_s"]["median"] / x["cpu_s"]["median"] for x in em_rows
                                      if x["cpu_s"] and row["cpu_s"]}
    for x in em_rows:
        x["speedup_vs_1x1"] = ref11["wall_s"]["median"] / x["wall_s"]["median"]
        x["parallel_efficiency"] = x["speedup_vs_1x1"] / (x["ranks"] * x["threads"])

    ver = subprocess.run([a.emflow, "--version"], capture_output=True, text=True).stdout.strip()
    res = {"bench": "classify", "date": date, "validated": True, "records": n, "records_target": a.records,
           "csv_bytes": csv_bytes, "csv_bytes_per_record": csv_bytes / n, "simulate_scale": scale,
           "simulate_s": sim_s, "persons": attrs["persons"],
           "configuration": ("emflow classify defaults (cumulative 12/16: window 487 d, threshold 365 d; initial status "
                             "from-first; censoring at the data end; warm-up one window; month x citizenship x sex x "
                             "age group) on fault-free records (emflow simulate --no-faults): emflow makes 0 repairs "
                             "(checked), the peers none; migrant and pending departures and arrivals compared"),
           "timing": ("whole process, CSV read to tables written, page cache warm; wall = monotonic clock, CPU = user + "
                      "system of all processes and threads (/usr/bin/time); medians [min, max]"),
           "validation": val, "emflow": em_rows, "peers": peer_rows, "best_emflow_layout": best["layout"],
           "notes": notes, "emflow_version": ver, "emflow_options": ["classify", "--log-level", "info"] + a.emflow_extra,
           "environment": {"host": socket.gethostname(), "logical_cpus": os.cpu_count(), "kernel": platform.release(),
                           "load_average_start": load0,
                           "load_average_end": " ".join(open("/proc/loadavg").read().split()[:3]),
                           "python": platform.python_version(), "numpy": np.__version__, "h5py": h5py.__version__,
                           "mpiexec": a.mpiexec, "omp_env": {k: v for k, v in os.environ.items() if k.startswith(("OMP_", "GOMP_"))},
                           "peers": {k: {"version": v.get("duckdb") or v.get("pandas"), "runtime": v.get("node") or v.get("python"),
                                         "threads": v.get("threads")} for k, v in peer_val.items()}}}
    print(json.dumps(res))
    if a.out:
        sys.path.insert(0, os.path.join(ROOT, "bench"))
        import report
        os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
        with open(a.out + ".json", "w", encoding="utf-8") as f:
            json.dump(res, f, indent=1)
            f.write("\n")
        with open(a.out + ".md", "w", encoding="utf-8") as f:
            f.write("\n".join(report.classify_markdown(res)) + "\n")
        log(f"wrote {a.out}.json and {a.out}.md")
    if not a.workdir:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
