#!/usr/bin/python3
"""bench_estimate_jags.py: `emflow estimate` against the same model in JAGS (rjags), on the real EU-27 data.

    /usr/bin/python3 bench/bench_estimate_jags.py --emflow build/engine/emflow [--chains 4 --warmup 1000
        --draws 1000] [--threads 2] [--jags-cores 2] [--emflow-reps 3 --jags-reps 1]
        [--out bench/results/DATE-HOST-estimate-jags] [--workdir DIR]

A benchmark (issue 9), never a test: the JAGS twin of bench/bench_estimate.py (emflow against Stan),
sharing its code for everything but the peer, so that both peers meet the same workload, the same
agreement rule and the same ESS estimator:

 1. emflow: `emflow estimate --config inputs/eu27.ini --countries FIN,ITA,POL,SWE` (the double-entry
    model, 12 corridors x 10 years, 180 reports), timed around the whole process (bench_estimate.run_emflow).
 2. Export: the data are rebuilt from emflow's output and the CSV it read and checked against the output
    (bench_estimate.rebuild_data: counts, standardised covariates, coverage classes, hyper-priors from
    load_data's source), and written as the R dump the Stan peer reads.
 3. JAGS: bench/peers/imem.bug by rjags (bench/peers/imem_rjags.R): the same chains, warm-up (JAGS's
    adaptive phase) and draws; each chain in its own forked R process, --jags-cores at a time (JAGS runs
    one chain per thread), the mclapply() call timed (monotonic clock), with its CPU time and each
    chain's own CPU time of warm-up + draws.
 4. Validation, before any number is reported: bench_estimate's rule, unchanged: for every flow and
    model parameter the 5%, 50% and 95% quantiles must agree within TOL = 4 combined Monte Carlo
    standard errors (posterior::mcse_quantile from each side's own draws), at most floor(1%) of the flow
    comparisons and of all comparisons beyond, none beyond 6.  Failure exits 1 after printing the
    worst comparisons (all of them in bench_estimate_jags_failed.json).
 5. Efficiency: bulk ESS of both sides' draws by bench_estimate.ess_of on rank-normalised split chains
    (the estimator of emflow's emi_diag and of posterior, cross-checked there against emi_diag to 1e-6
    on emflow's draws, re-checked here), min and median per second, and emflow / JAGS, on three time
    bases: wall clock (emflow's whole process vs the mclapply() call: forks, model compilation,
    warm-up, draws), CPU seconds of the same, and CPU seconds of JAGS's warm-up + draws alone, per
    chain inside its process, summed (no R start-up, no compilation).

Why the double-entry model (and not only the smaller border-based one): it fits JAGS's Gibbs samplers
without approximation once the series effect and the AR(1) term are integrated out (as emflow's step 2
and imem.stan do): each series' 10 log flows are one conjugate multivariate-normal block, beta is one
block, the accuracy precisions are conjugate, and only the 180 report log-means, the 7 coverages and
sigma_u, sigma_e, rho are slice-sampled; about 3 ms of CPU per iteration here, so 4 x 2000 iterations
take about 25 CPU seconds.  It is also the model the Stan rows use, so the three samplers meet on one posterior.

Prints one JSON line ({"bench": "estimate_jags", ...}) on stdout for bench/run.sh and bench/report.py;
with --out PREFIX also PREFIX.json and PREFIX.md.  Progress goes to stderr.  Needs numpy, scipy, h5py
(Debian python3-*) and Rscript with rjags (Debian jags, r-cran-rjags; bench/install-peers.sh).
"""
import argparse
import datetime
import json
import math
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_estimate as be  # noqa: E402  (the shared data export, diagnostics and agreement rule)
import h5py  # noqa: E402
import numpy as np  # noqa: E402

ROOT = be.ROOT
log = lambda msg: print(f"bench_estimate_jags: {msg}", file=sys.stderr, flush=True)


def fail(msg):
    print(f"bench_estimate_jags: FAILED: {msg}", file=sys.stderr, flush=True)
    sys.exit(1)


def run_jags(a, data_path, workdir):
    outdir = os.path.join(workdir, "jags")
    os.makedirs(outdir, exist_ok=True)
    cmd = ["Rscript", os.path.join(ROOT, "bench", "peers", "imem_rjags.R"), os.path.abspath(a.jags_model), data_path,
           outdir, str(a.chains), str(a.warmup), str(a.draws), str(a.seed % 1000000007), str(a.jags_cores),
           str(a.jags_reps)]
    log("jags: " + " ".join(cmd))
    t0 = time.monotonic()
    # one BLAS thread: JAGS calls LAPACK on 10 x 10 matrices (dmnorm log-determinants), and OpenBLAS's
    # OpenMP threads spinning around those calls made an iteration 30x slower (0.33 s instead of 10 ms)
    p = subprocess.run(cmd, capture_output=True, text=True,
                       env=dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1"))
    wall = time.monotonic() - t0
    if p.returncode != 0:
        sys.stderr.write(p.stdout[-5000:] + p.stderr[-5000:])
        fail(f"rjags exited with status {p.returncode}")
    res = {}
    with open(os.path.join(outdir, "result.txt"), encoding="utf-8") as fh:
        for line in fh:
            k, _, v = line.rstrip("\n").partition(" ")
            res[k] = v
    with open(os.path.join(outdir, "names.txt"), encoding="utf-8") as fh:
        names = [line.strip() for line in fh]
    raw = np.fromfile(os.path.join(outdir, "draws.bin"), dtype="<f8")
    if raw.size != len(names) * a.chains * a.draws:
        fail(f"rjags draws: {raw.size} values, expected {len(names)} x {a.chains} x {a.draws}")
    draws = raw.reshape(len(names), a.chains, a.draws).transpose(1, 2, 0)  # R order [draw, chain, q]
    if not np.all(np.isfinite(draws)):
        fail("rjags draws hold non-finite values")
    floats = lambda k: [float(t) for t in res[k].split(",")]
    adapted = res["adapted"].split(",")
    if any(x != "TRUE" for x in adapted):
        log(f"note: JAGS reports its adaptation incomplete after {a.warmup} iterations in chains "
            f"{[i + 1 for i, x in enumerate(adapted) if x != 'TRUE']} (the samplers still target the posterior)")
    info = {"command": " ".join(cmd), "process_wall_s": wall,
            "sampling_s": float(np.median(floats("run_s"))), "sampling_s_all": floats("run_s"),
            "sampling_cpu_s": float(np.median(floats("run_cpu_s"))), "sampling_cpu_s_all": floats("run_cpu_s"),
            "reps": len(floats("run_s")), "chain_compile_cpu_s": floats("chain_compile_cpu_s"),
            "jags_warmup_cpu_s": floats("chain_warmup_cpu_s"), "jags_sample_cpu_s": floats("chain_sample_cpu_s"),
            "adapted": [x == "TRUE" for x in adapted], "samplers": res["samplers"],
            "jags": res["jags_version"], "rjags": res["rjags_version"], "R": res["r_version"],
            "cores": int(res["cores"]), "model": os.path.relpath(os.path.abspath(a.jags_model), ROOT)}
    info["sampler_cpu_s"] = sum(info["jags_warmup_cpu_s"]) + sum(info["jags_sample_cpu_s"])
    return draws, names, info


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--emflow", required=True, help="the emflow executable (a Release build)")
    ap.add_argument("--config", default=os.path.join(ROOT, "inputs", "eu27.ini"))
    ap.add_argument("--countries", default="FIN,ITA,POL,SWE")
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--warmup", type=int, default=1000)
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=20261203)
    ap.add_argument("--ranks", type=int, default=1, help="MPI ranks of the emflow run (mpiexec when > 1)")
    ap.add_argument("--threads", type=int, default=2, help="OpenMP threads per emflow rank (chains at a time)")
    ap.add_argument("--jags-cores", type=int, default=2, help="JAGS chains run at a time (one process, one core each)")
    ap.add_argument("--emflow-reps", type=int, default=3,
                    help="emflow runs timed (median reported; every run must give the same draws)")
    ap.add_argument("--jags-reps", type=int, default=1, help="JAGS runs timed (median reported; draws of the first)")
    ap.add_argument("--tol", type=float, default=4.0, help="agreement tolerance in combined MCSEs")
    ap.add_argument("--hard", type=float, default=6.0, help="no comparison may exceed this many MCSEs")
    ap.add_argument("--max-exceed-frac", type=float, default=0.01,
                    help="share of comparisons allowed beyond --tol (multiplicity)")
    ap.add_argument("--jags-model", default=os.path.join(ROOT, "bench", "peers", "imem.bug"),
                    help="the BUGS program (another one only to test that the validation catches a wrong model)")
    ap.add_argument("--out", help="write OUT.json and OUT.md")
    ap.add_argument("--workdir", help="keep the intermediate files here (default: a temporary directory)")
    a = ap.parse_args()
    a.emflow = os.path.abspath(a.emflow)
    a.config = os.path.abspath(a.config)
    if not shutil.which("Rscript"):
        fail("Rscript not found (bench/install-peers.sh installs jags and r-cran-rjags)")
    work = a.workdir or tempfile.mkdtemp(prefix="emflow-bench-estimate-jags.")
    os.makedirs(work, exist_ok=True)
    start = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    load0 = open("/proc/loadavg").read().split()[:3]

    # 1. emflow, half of the timed runs before JAGS and half after (the load may drift meanwhile)
    h5path = os.path.join(work, "emflow.h5")
    runs = []

    def emflow_runs(n):
        for _ in range(n):
            rep = len(runs)
            path = h5path if rep == 0 else os.path.join(work, f"emflow_rep{rep}.h5")
            runs.append(be.run_emflow(a, path, rep))
            if rep > 0:
                with h5py.File(h5path, "r") as f0, h5py.File(path, "r") as f1:
                    for ds in ("posterior/draws", "posterior/flows/draws"):
                        if not np.array_equal(f0[ds][...], f1[ds][...]):
                            fail(f"emflow repetition {rep} gave other {ds} than the first run (same seed)")
                os.remove(path)

    emflow_runs((a.emflow_reps + 1) // 2)
    # 2. export (the Stan peer's data, rebuilt and checked)
    jd, data_info, pnames, corridors, years = be.rebuild_data(h5path, a.config)
    log(f"data: {data_info['reports']} reports, {len(data_info['coverage_classes'])} coverage classes; "
        + data_info["checks"])
    data_path = os.path.join(work, "imem_data.R")
    be.write_rdump(data_path, jd)
    with h5py.File(h5path, "r") as f:
        e_par = f["posterior/draws"][...].astype(float)
        e_flow = f["posterior/flows/draws"][...].astype(float)
        e_own = np.concatenate([f["posterior/summary"][...],
                                f["posterior/flows/summary"][...].reshape(len(corridors) * len(years), -1)], axis=0)
        stat_names = [s.decode() for s in f["estimate/stat"][...]]
        e_env = {k: (v.decode() if isinstance(v, bytes) else (v.item() if hasattr(v, "item") else v))
                 for k, v in f.attrs.items() if k in ("version", "compiler", "blas", "lapack", "mpi_library", "hdf5",
                                                    "omp_threads", "mpi_ranks")}
    K, T = len(corridors), len(years)
    names = pnames + [f"flow[{corridors[k]},{years[t]}]" for k in range(K) for t in range(T)]
    ed = np.concatenate([e_par, e_flow.reshape(a.chains, a.draws, K * T)], axis=2)
    # 3. JAGS
    jdraws, jnames, jt = run_jags(a, data_path, work)
    log(f"jags: {jt['sampling_s']:.1f} s wall (median of {jt['reps']}), {jt['sampling_cpu_s']:.1f} s CPU, "
        f"{jt['sampler_cpu_s']:.1f} s CPU in JAGS's warm-up + draws; samplers {jt['samplers']}")
    exp_names = [f"beta[{p + 1}]" for p in range(jd["P"])] + [f"lambda[{c + 1}]" for c in range(jd["ncov"])] + \
        ["sigma_u", "sigma_e", "rho"] + [f"tau[{i + 1}]" for i in range(jd["nacc"])] + \
        [f"flow[{i + 1}]" for i in range(K * T)]
    if jnames != exp_names:
        fail(f"rjags quantities {jnames[:30]}... are not the expected {exp_names[:30]}...")
    emflow_runs(a.emflow_reps // 2)
    em = dict(runs[0])
    walls, samps, cpus = ([r[k] for r in runs] for k in ("wall_s", "sampling_s", "cpu_s"))
    em.update({"reps": len(runs), "wall_s": float(np.median(walls)), "wall_s_all": walls,
               "sampling_s": float(np.median(samps)), "sampling_s_all": samps,
               "cpu_s": float(np.median(cpus)), "cpu_s_all": cpus, "reps_identical_draws": len(runs) > 1})
    log(f"emflow: {em['wall_s']:.2f} s wall [{min(walls):.2f} - {max(walls):.2f}], {em['cpu_s']:.2f} s CPU; "
        f"medians of {len(runs)} runs, every one with the same draws")

    # 4. validate (bench_estimate.compare: its rows call the peer "stan"; renamed "jags" below)
    rows, summ = be.compare(names, ed, jdraws, a.tol, a.hard, a.max_exceed_frac)
    for r in rows:
        r["jags"] = r.pop("stan")
    frows, prows = rows[len(pnames):], rows[:len(pnames)]

    def subsum(rs):
        zs = np.array([[r["z_q05"], r["z_q50"], r["z_q95"]] for r in rs])
        allowed = int(math.floor(a.max_exceed_frac * zs.size))
        over, hard = int(np.sum(np.abs(zs) > a.tol)), int(np.sum(np.abs(zs) > a.hard))
        return {"comparisons": int(zs.size), "exceedances": over, "allowed_exceedances": allowed,
                "over_hard_limit": hard, "max_abs_z": float(np.max(np.abs(zs))),
                "rms_z": float(np.sqrt(np.mean(zs ** 2))), "mean_z": float(np.mean(zs)),
                "frac_abs_z_over_2": float(np.mean(np.abs(zs) > 2)), "pass": over <= allowed and hard == 0}
    val = {"rule": f"|q_emflow - q_jags| < {a.tol:g} sqrt(mcse_emflow^2 + mcse_jags^2) for q05, q50, q95 of every "
                   f"flow and parameter; at most floor({a.max_exceed_frac:g} n) exceedances among the n flow "
                   f"comparisons and among all n comparisons, none beyond {a.hard:g}; "
                   "mcse = posterior::mcse_quantile (the rule of bench_estimate.py for Stan)",
           "flows": subsum(frows), "parameters": subsum(prows), "all": summ}
    items = sorted(((abs(r["z_" + k]), r["name"], k, r["emflow"][k], r["jags"][k], r["emflow"]["mcse_" + k],
                     r["jags"]["mcse_" + k]) for r in rows for k in ("q05", "q50", "q95")), reverse=True)[:8]
    val["worst"] = [{"item": i[1], "stat": i[2], "z": round(i[0], 2), "emflow": i[3], "jags": i[4],
                     "mcse_emflow": i[5], "mcse_jags": i[6]} for i in items]
    # the ESS estimator used for both sides, held to emflow's own emi_diag on emflow's draws
    iq = {s: stat_names.index(s) for s in ("q50", "ess_bulk")}
    d_ess = max(abs(rows[i]["emflow"]["ess_bulk"] - e_own[i, iq["ess_bulk"]]) / e_own[i, iq["ess_bulk"]]
                for i in range(len(rows)))
    d_q = max(abs(rows[i]["emflow"]["q50"] - e_own[i, iq["q50"]]) / max(abs(e_own[i, iq["q50"]]), 1e-300)
              for i in range(len(rows)))
    val["estimator_checks"] = {"emflow_ess_bulk_max_rel_diff_vs_emi_diag": d_ess,
                               "emflow_q50_max_rel_diff_vs_emi_diag": d_q}
    if d_q > 1e-9 or d_ess > 1e-6:
        fail(f"this script's medians / bulk ESS of emflow's draws differ from emflow's own (emi_diag) by "
             f"{d_q:.2g} / {d_ess:.2g} relative: the estimators disagree")
    ok = val["flows"]["pass"] and summ["pass"]
    for g in ("flows", "parameters", "all"):
        v = val[g]
        log(f"validate {g}: {v['comparisons']} comparisons, {v['exceedances']} beyond {a.tol:g} MCSE (allowed "
            f"{v['allowed_exceedances']}), {v['over_hard_limit']} beyond {a.hard:g}; max |z| {v['max_abs_z']:.2f}, "
            f"rms z {v['rms_z']:.2f}, mean z {v['mean_z']:+.2f}, |z| > 2: {v['frac_abs_z_over_2']:.1%}"
            + (" (not a criterion on its own: counted in all)" if g == "parameters" else ""))

    # 5. efficiency
    bases = {"wall": (em["wall_s"], jt["sampling_s"]), "cpu": (em["cpu_s"], jt["sampling_cpu_s"]),
             "sampler_cpu": (em["cpu_s"], jt["sampler_cpu_s"])}
    eff = {"time_bases": {
        "wall": "wall clock: emflow whole process (median of runs, monotonic) vs the mclapply() call running the "
                "JAGS chains (forks, compilation, warm-up, draws; median)",
        "cpu": "CPU seconds: emflow whole process (getrusage of the child) vs the same call with its forked chain "
               "processes (proc.time)",
        "sampler_cpu": "CPU seconds: emflow whole process vs JAGS's warm-up + draws alone (CPU time inside each "
                       "chain's process, summed over chains)"},
        "ess_estimator": "bulk ESS (rank-normalised split chains, Vehtari et al. 2021) by bench_estimate.ess_of "
                         "for both sides; = emflow's emi_diag on emflow's draws to "
                         f"{d_ess:.1e} relative"}
    for g, rs in (("flows", frows), ("parameters", prows), ("all", rows)):
        eff[g] = {}
        for b, (te, tj) in bases.items():
            e, j = be.ess_stats(rs, "emflow", te), be.ess_stats(rs, "jags", tj)
            eff[g][b] = {"emflow": e, "jags": j, "emflow_s": te, "jags_s": tj,
                         "ratio_min_per_s": e["ess_bulk_min_per_s"] / j["ess_bulk_min_per_s"],
                         "ratio_median_per_s": e["ess_bulk_median_per_s"] / j["ess_bulk_median_per_s"]}
    for g in ("flows", "all"):
        for b in bases:
            x = eff[g][b]
            log(f"ESS/s {g} ({b}: emflow {x['emflow_s']:.2f} s, jags {x['jags_s']:.2f} s): emflow min "
                f"{x['emflow']['ess_bulk_min_per_s']:.1f} ({x['emflow']['ess_bulk_min_item']}), median "
                f"{x['emflow']['ess_bulk_median_per_s']:.1f}; jags min {x['jags']['ess_bulk_min_per_s']:.2f} "
                f"({x['jags']['ess_bulk_min_item']}), median {x['jags']['ess_bulk_median_per_s']:.2f}; ratio min "
                f"{x['ratio_min_per_s']:.1f}x, median {x['ratio_median_per_s']:.1f}x")

    result = {
        "bench": "estimate_jags", "schema": "emflow-bench-estimate-jags-1", "date": start,
        "workload": f"emflow estimate --config inputs/{os.path.basename(a.config)} --countries {a.countries}: "
                    f"{K} corridors x {T} years, double-entry model, real Eurostat data",
        "chains": a.chains, "warmup": a.warmup, "draws": a.draws, "seed": a.seed,
        "data": data_info, "emflow": {**em, "version": e_env.get("version"), "env": e_env},
        "jags": jt, "validation": val, "validated": ok, "efficiency": eff,
        "timing": "emflow: monotonic clock around the whole process, medians over --emflow-reps runs; JAGS: "
                  "/proc/uptime around the mclapply() call of imem_rjags.R (R start-up and the data export "
                  "excluded), median over --jags-reps calls, and each chain's CPU time of warm-up + draws (first call)",
        "environment": {"host": socket.gethostname(), "logical_cpus": os.cpu_count(), "kernel": platform.release(),
                        "python": platform.python_version(), "numpy": np.__version__, "h5py": h5py.__version__,
                        "load_average_start": " ".join(load0),
                        "load_average_end": " ".join(open("/proc/loadavg").read().split()[:3])},
        "items": [{"name": r["name"], **{f"{s}_{k}": r[s][k] for s in ("emflow", "jags")
                                         for k in ("q05", "q50", "q95", "mcse_q05", "mcse_q50", "mcse_q95", "ess_bulk",
                                                   "ess_tail")},
                   "z_q05": r["z_q05"], "z_q50": r["z_q50"], "z_q95": r["z_q95"]} for r in rows],
    }
    line = {k: v for k, v in result.items() if k != "items"}
    if not ok:
        keep = os.path.join(a.workdir or os.path.dirname(work), "bench_estimate_jags_failed.json")
        with open(keep, "w", encoding="utf-8") as fh:
            json.dump(result, fh, indent=1)
        for w in val["worst"]:
            log(f"  {w['item']} {w['stat']}: emflow {w['emflow']:.6g} (mcse {w['mcse_emflow']:.3g}), jags "
                f"{w['jags']:.6g} (mcse {w['mcse_jags']:.3g}): {w['z']} MCSE")
        if not a.workdir:
            shutil.rmtree(work, ignore_errors=True)
        fail(f"emflow and JAGS posteriors disagree beyond Monte Carlo error (worst comparisons above, all of them "
             f"in {keep}): either bench/peers/imem.bug differs from emflow's model or emflow's sampler is wrong")
    if a.out:
        os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
        with open(a.out + ".json", "w", encoding="utf-8") as fh:
            json.dump(result, fh, indent=1)
            fh.write("\n")
        import report
        with open(a.out + ".md", "w", encoding="utf-8") as fh:
            fh.write("\n".join(report.estimate_jags_markdown(result)) + "\n")
        log(f"wrote {a.out}.json and {a.out}.md")
    if not a.workdir:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(line))


if __name__ == "__main__":
    main()
