#!/usr/bin/python3
"""bench_forecast.py: `emflow forecast` trajectories per second at 1 and 2 MPI ranks, against numpy.

    /usr/bin/python3 bench/bench_forecast.py --emflow build/engine/emflow [--trajectories 20000]
        [--validate-trajectories 20000] [--horizon 8] [--reps 3] [--ranks "1 2"]
        [--out bench/results/DATE-HOST-forecast] [--workdir DIR]

A benchmark (issue 7), never a test.  Steps, in this order:

 1. Posterior: the border-model synthetic data of tests/mpi/estimate_border.py (60 citizenship groups x
    16 quarters, with declarations: the forecast splits every count into declared and undeclared),
    fitted by `emflow estimate` (4 chains x 500 draws; --accept-failed-diagnostics: the posterior is a
    fixed input here, its mixing does not matter to the forecast's speed).
 2. Validation (before any timing): `emflow forecast --scenarios baseline` and the numpy peer
    (bench/peers/forecast_numpy.py: the same simulation vectorised, np.quantile) with the same number
    of trajectories.  They use different random streams (Philox vs PCG64), so they are compared
    within Monte Carlo error, for flows and undeclared emigration, every series (60 groups + _TOTAL)
    x period:
      mean:      z = (m_emflow - m_numpy) / (sqrt(2) sd / sqrt(N)), sd the cell's sd over numpy's
                 trajectories (the two samples have the same distribution if both are right);
      quantile q (counts are discrete, so in probability space): with F the empirical CDF of numpy's
                 trajectories, emflow's value x must satisfy F(x-) - tol <= q <= F(x) + tol, with
                 tol = Z sqrt(2 q (1 - q) / N) (the binomial sd of the two empirical CDFs at the
                 quantile); the reported z is the distance outside [F(x-), F(x)] in units of tol / Z.
    Z = 5: with about 9000 comparisons a correct pair exceeds it with probability < 1%; a wrong model
    (a missing AR term, a wrong trend, no binomial split) gives z in the tens.  Any failure exits 1.
 3. Timing (CPU seconds of all ranks are recorded too: on a loaded machine the wall-clock efficiency
    mixes the load with the code, while CPU(1 rank) / CPU(2 ranks) shows the work added by splitting):
    emflow at each rank count (mpiexec --oversubscribe -n R, OMP_NUM_THREADS=1: ranks are the
    parallel axis), --reps times, and numpy --reps times (single-threaded), same trajectories and
    horizon, baseline only.  The same work on both sides: simulate + summarise (mean and 9 exact
    type-7 quantiles per cell); emflow's time is its own "trajectories in X s" log line (the
    posterior read and the HDF5 output excluded, as numpy's clock excludes its h5py read); emflow's
    whole-process wall time is reported too.  Parallel efficiency E(2) = T(1) / (2 T(2)).

Prints one JSON line ({"bench": "forecast", ...}) on stdout for bench/run.sh and bench/report.py;
with --out PREFIX also PREFIX.json (with the environment) and PREFIX.md (a Markdown table).
"""
import argparse
import datetime
import json
import math
import os
import platform
import re
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PEER = os.path.join(ROOT, "bench", "peers", "forecast_numpy.py")
QLEV = [0.025, 0.05, 0.10, 0.25, 0.50, 0.75, 0.90, 0.95, 0.975]
Z = 5.0
MPI_ENV = {"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1", "OMPI_MCA_rmaps_base_oversubscribe": "1",
           "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


def log(msg):
    print(f"bench_forecast: {msg}", file=sys.stderr, flush=True)


def fail(msg):
    print(f"bench_forecast: FAILED: {msg}", file=sys.stderr, flush=True)
    sys.exit(1)


def sh(cmd, cwd, env=None):
    e = dict(os.environ)
    e.update(MPI_ENV)
    e.update(env or {})
    t0 = time.perf_counter()
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    p = subprocess.run(cmd, cwd=cwd, env=e, capture_output=True, text=True)
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    sh.cpu_s = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)  # every rank (mpiexec waits for them)
    return p.returncode, p.stdout, p.stderr, time.perf_counter() - t0


def run_emflow_forecast(a, work, ranks, N, out):
    cmd = [a.mpiexec, "--oversubscribe", "-n", str(ranks), a.emflow, "forecast", "--posterior", "post.h5", "-o", out,
           "--horizon", str(a.horizon), "--trajectories", str(N), "--scenarios", "baseline"]
    if os.path.exists(os.path.join(work, out)):
        os.remove(os.path.join(work, out))
    rc, _, err, wall = sh(cmd, work)
    if rc != 0:
        fail(f"{' '.join(cmd)}: exit {rc}\n{err}")
    m = re.search(r"baseline: (\d+) trajectories in ([0-9.]+) s", err)
    if not m:
        fail(f"no timing line in emflow's log:\n{err}")
    return float(m.group(2)), wall, sh.cpu_s


def validate(emflow_h5, peer_npz, N):
    res = {}
    p = np.load(peer_npz)
    with h5py.File(emflow_h5, "r") as f:
        parts = ["flows"] + (["undeclared"] if "undeclared" in f["/forecast/baseline"] else [])
        for part in parts:
            e = f[f"/forecast/baseline/{part}"][()]              # series x period x stat
            nps = p[part]
            traj = p[f"{part}_traj" if part == "flows" else "undeclared_traj"]
            sd = p[f"sd_{part}"]
            if e.shape != nps.shape:
                fail(f"{part}: emflow shape {e.shape} != numpy {nps.shape}")
            zm = (e[:, :, 0] - nps[:, :, 0]) / np.maximum(math.sqrt(2.0) * sd / math.sqrt(N), 1e-300)
            zm[(sd == 0) & (e[:, :, 0] == nps[:, :, 0])] = 0.0
            zq = np.zeros(e.shape[:2] + (len(QLEV),))
            srt = np.sort(traj, axis=0)
            for s in range(e.shape[0]):
                for h in range(e.shape[1]):
                    col = srt[:, s, h]
                    for i, q in enumerate(QLEV):
                        x = e[s, h, 1 + i]
                        lo = np.searchsorted(col, x, side="left") / N    # F(x-)
                        hi = np.searchsorted(col, x, side="right") / N   # F(x)
                        unit = math.sqrt(2 * q * (1 - q) / N)
                        d = (lo - q) if q < lo else (q - hi) if q > hi else 0.0
                        zq[s, h, i] = d / unit
            res[part] = {"cells": int(e.shape[0] * e.shape[1]), "mean_max_abs_z": float(np.abs(zm).max()),
                         "mean_rms_z": float(np.sqrt((zm ** 2).mean())),
                         "mean_frac_abs_z_over_3": float((np.abs(zm) > 3).mean()),
                         "quantile_comparisons": int(zq.size), "quantile_max_z": float(zq.max()),
                         "quantile_frac_z_over_3": float((zq > 3).mean()),
                         "total_mean_emflow_first_period": float(e[-1, 0, 0]),
                         "total_mean_numpy_first_period": float(nps[-1, 0, 0]),
                         "exceed": int((np.abs(zm) > Z).sum() + (zq > Z).sum())}
    ok = all(r["exceed"] == 0 for r in res.values())
    return ok, res


def markdown(r):
    sys.path.insert(0, os.path.join(ROOT, "bench"))
    import report
    return report.forecast_markdown(r)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--emflow", required=True)
    ap.add_argument("--mpiexec", default=shutil.which("mpiexec") or "mpiexec")
    ap.add_argument("--trajectories", type=int, default=20000)
    ap.add_argument("--validate-trajectories", type=int, default=20000)
    ap.add_argument("--horizon", type=int, default=8)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--ranks", default="1 2")
    ap.add_argument("--out")
    ap.add_argument("--workdir")
    a = ap.parse_args()
    a.emflow = os.path.abspath(a.emflow)
    ranks = [int(x) for x in a.ranks.split()]
    work = a.workdir or tempfile.mkdtemp(prefix="emflow-bench-forecast.")
    os.makedirs(work, exist_ok=True)
    load0 = " ".join(open("/proc/loadavg").read().split()[:3])
    date = datetime.datetime.now().astimezone().isoformat(timespec="seconds")

    # 1. posterior
    log(f"posterior: tests/mpi/estimate_border.py gen + emflow estimate in {work}")
    rc, _, err, _ = sh([sys.executable, os.path.join(ROOT, "tests", "mpi", "estimate_border.py"), "gen", work], work)
    if rc != 0:
        fail(f"estimate_border.py gen: {err}")
    rc, _, err, est_wall = sh([a.mpiexec, "--oversubscribe", "-n", "1", a.emflow, "estimate", "--config",
                               os.path.join(work, "estimate.ini"), "-o", "post.h5", "--accept-failed-diagnostics"],
                              work, {"OMP_NUM_THREADS": "2"})
    if rc != 0:
        fail(f"emflow estimate: exit {rc}\n{err}")
    with h5py.File(os.path.join(work, "post.h5"), "r") as f:
        dd = f["/posterior/draws"].shape
        K = f["/estimate/x"].shape[0]
    posterior = (f"border model on tests/mpi/estimate_border.py's synthetic data, {K} groups with declarations, "
                 f"{dd[0]} chains x {dd[1]} draws")

    # 2. validation
    Nv = a.validate_trajectories
    log(f"validation: {Nv} trajectories, emflow (2 ranks) vs numpy")
    run_emflow_forecast(a, work, max(ranks), Nv, "val.h5")
    rc, out, err, _ = sh([sys.executable, PEER, "--posterior", "post.h5", "--horizon", str(a.horizon), "--trajectories",
                          str(Nv), "--out", "val_numpy.npz", "--seed", "777"], work)
    if rc != 0:
        fail(f"forecast_numpy.py: {err}")
    ok, vres = validate(os.path.join(work, "val.h5"), os.path.join(work, "val_numpy.npz"), Nv)
    for k, x in vres.items():
        log(f"validation {k}: mean max |z| {x['mean_max_abs_z']:.2f} (rms {x['mean_rms_z']:.2f}), quantile max z "
            f"{x['quantile_max_z']:.2f} over {x['quantile_comparisons']}; beyond {Z:g}: {x['exceed']}")
    if not ok:
        fail("emflow's and numpy's summaries differ beyond Monte Carlo error (see above)")
    os.remove(os.path.join(work, "val_numpy.npz"))

    # 3. timing
    N = a.trajectories
    em = []
    for R in ranks:
        ts, ws, cs = [], [], []
        for rep in range(a.reps):
            t, w, c = run_emflow_forecast(a, work, R, N, f"t{R}.h5")
            ts.append(t), ws.append(w), cs.append(c)
            log(f"emflow {R} rank(s): {N} trajectories in {t:.2f} s (process {w:.2f} s wall, {c:.2f} s CPU of all ranks)")
        em.append({"ranks": R, "threads": 1, "time_s_all": ts, "time_s_median": float(np.median(ts)),
                   "wall_s_all": ws, "wall_s_median": float(np.median(ws)),
                   "cpu_s_all": cs, "cpu_s_median": float(np.median(cs)),
                   "trajectories_per_s": N / float(np.median(ts))})
    t1 = next((e["time_s_median"] for e in em if e["ranks"] == 1), None)
    c1 = next((e["cpu_s_median"] for e in em if e["ranks"] == 1), None)
    for e in em:
        e["parallel_efficiency"] = t1 / (e["ranks"] * e["time_s_median"]) if t1 else None
        e["cpu_efficiency"] = c1 / e["cpu_s_median"] if c1 else None  # 1: no extra work from splitting
    rc, out, err, _ = sh([sys.executable, PEER, "--posterior", "post.h5", "--horizon", str(a.horizon), "--trajectories",
                          str(N), "--reps", str(a.reps)], work)
    np_cpu = sh.cpu_s
    if rc != 0:
        fail(f"forecast_numpy.py: {err}")
    npr = json.loads(out.strip().splitlines()[-1])
    log(f"numpy: {N} trajectories in {npr['time_s_median']:.2f} s")
    npr["cpu_s_process_all_reps"] = np_cpu
    for e in em:
        e["ratio_numpy_over_emflow"] = npr["time_s_median"] / e["time_s_median"]

    ver = subprocess.run([a.emflow, "--version"], capture_output=True, text=True).stdout.strip()
    r = {"bench": "forecast", "date": date, "validated": ok, "trajectories": N, "horizon": a.horizon, "series": K + 1,
         "posterior": posterior, "validation": {"trajectories": Nv, "z_limit": Z, "parts": vres},
         "emflow": em, "numpy": npr, "emflow_version": ver,
         "environment": {"host": socket.gethostname(), "logical_cpus": os.cpu_count(), "load_average_start": load0,
                         "load_average_end": " ".join(open("/proc/loadavg").read().split()[:3]),
                         "python": platform.python_version(), "numpy": np.__version__, "mpiexec": a.mpiexec,
                         "estimate_wall_s": est_wall}}
    print(json.dumps(r))
    if a.out:
        os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
        with open(a.out + ".json", "w", encoding="utf-8") as f:
            json.dump(r, f, indent=1)
            f.write("\n")
        with open(a.out + ".md", "w", encoding="utf-8") as f:
            f.write("\n".join(markdown(r)) + "\n")
        log(f"wrote {a.out}.json and {a.out}.md")
    if not a.workdir:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
