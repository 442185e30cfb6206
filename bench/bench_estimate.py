#!/usr/bin/python3
"""bench_estimate.py: `emflow estimate` against the same model in Stan (rstan), on the real EU-27 data.

    /usr/bin/python3 bench/bench_estimate.py --emflow build/engine/emflow [--chains 4 --warmup 1000
        --draws 1000] [--ranks 1 --threads 2] [--stan-cores 2] [--emflow-reps 3 --stan-reps 1]
        [--out bench/results/DATE-HOST-estimate] [--workdir DIR]

A benchmark (issue 6), never a test.  Steps, in this order:

 1. emflow: `emflow estimate --config inputs/eu27.ini --countries FIN ... SWE` (12 corridors x 10
    years), timed with a monotonic clock around the whole process (start-up, CSV parse, sampling,
    diagnostics and HDF5 output); the sampling time alone is read from its log.
 2. Export: the data Stan needs come from emflow's output file (/estimate/x, the reported counts, the
    class labels in /estimate/parameter, the resolved options in /config/options).  The per-report
    coverage and accuracy classes are not in the output, so they are rebuilt from the CSV the way
    load_data (engine/emi_cmd_estimate.c) builds them, and checked against the output: every reported
    count, the standardised covariates, the coverage labels and their order.  The fixed hyper-priors
    (beta_sd, sigma_u^2 and sigma_e^2 inverse-gamma parameters) are read from load_data's source, so
    that a change there cannot silently make the two models differ.
 3. Stan: bench/peers/imem.stan by rstan (bench/peers/imem_rstan.R): same chains, warm-up and draws;
    compile time is measured and reported but not counted; sampling() is timed (monotonic clock).
 4. Validation (before any number is reported): for every flow of the 12 corridors x 10 years and every
    model parameter, the 5%, 50% and 95% posterior quantiles of the two fits must agree within Monte
    Carlo error: |q_emflow - q_stan| < TOL * sqrt(mcse_emflow^2 + mcse_stan^2), TOL = 4, where mcse is
    the quantile's Monte Carlo standard error from its ESS (posterior::mcse_quantile).  For
    multiplicity, at most floor(1%) of the flow comparisons and floor(1%) of all comparisons may exceed
    TOL, and none may exceed 6.  Any failure exits with status 1 after printing the worst comparisons
    (all of them go to bench_estimate_failed.json).  The flows alone are insensitive to some model
    errors (the data dominate them): a Stan program without the Jacobians of sigma_e and tau passes
    the flow comparisons but fails on the tau of the accuracy classes no report uses (z = 13).
 5. Efficiency: bulk ESS (rank-normalised split chains, Vehtari et al. 2021; the same estimator as
    emflow's emi_diag and posterior/rstan, re-implemented here and cross-checked against both) of
    every flow and parameter, per second of each side's work, min and median, and the ratio
    emflow / Stan, on three time bases: wall clock (emflow's whole process, start-up and I/O included,
    against the rstan sampling() call; compilation excluded), CPU seconds of the same (robust to the
    load of a shared machine), and CPU seconds against NUTS alone (Stan's own per-chain warm-up and
    sampling times, without rstan's worker start-up), the strictest for emflow.  emflow is timed
    --emflow-reps times (half before Stan, half after; every run must give the same draws), Stan
    --stan-reps times after one compilation; medians are reported.

Prints one JSON line ({"bench": "estimate", ...}, for bench/run.sh and bench/report.py) on stdout;
with --out PREFIX also writes PREFIX.json (with the environment) and PREFIX.md (a Markdown table).
Progress goes to stderr.  Needs numpy, scipy and h5py (Debian python3-*) and Rscript with rstan.
"""
import argparse
import csv
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
from scipy import stats

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC_NAMES = ("emigration", "immigration")
UCLASS = ("low", "medium", "high")
ACLASS = ("high", "medium", "low", "na")
DURATION = {"0": 0.53, "3": 0.63, "6": 0.73, "12": 1.0, "permanent": 2.26}  # load_data's duration_factor


def log(msg):
    print(f"bench_estimate: {msg}", file=sys.stderr, flush=True)


def fail(msg):
    print(f"bench_estimate: FAILED: {msg}", file=sys.stderr, flush=True)
    sys.exit(1)


# ----------------------------------------------------------------------------- diagnostics
# The estimators of Vehtari et al. (2021) as in the R package posterior and kernels/emi_diag.h.

def split_chains(x):
    """x: [chains, draws, ...] -> [2 chains, N, ...]; an odd chain loses its middle draw."""
    n = x.shape[1]
    h = n // 2
    return np.concatenate([x[:, :h], x[:, n - h:]], axis=0)


def z_scale(x):
    """Rank-normalise x [M, N] over all its values (average ranks, Blom offset 3/8)."""
    r = stats.rankdata(x, method="average").reshape(x.shape)
    return stats.norm.ppf((r - 0.375) / (x.size + 0.25))


def ess_of(y):
    """ESS of y [M, N] (split chains): Geyer's initial monotone sequence, posterior's .ess()."""
    M, N = y.shape
    S = M * N
    if np.all(y == y.flat[0]):
        return float(S)
    yc = y - y.mean(axis=1, keepdims=True)
    nfft = 1 << int(math.ceil(math.log2(2 * N)))
    f = np.fft.rfft(yc, n=nfft, axis=1)
    acov = np.fft.irfft(f * np.conj(f), n=nfft, axis=1)[:, :N] / N
    mean_acov = acov.mean(axis=0)
    W = mean_acov[0] * N / (N - 1)
    var_plus = W * (N - 1) / N + (y.mean(axis=1).var(ddof=1) if M > 1 else 0.0)
    rho = np.zeros(N + 2)
    rho[0] = 1.0
    rho_even = 1.0
    rho_odd = 1.0 - (W - mean_acov[1]) / var_plus
    rho[1] = rho_odd
    t = 0
    while t < N - 5 and not math.isnan(rho_even + rho_odd) and rho_even + rho_odd > 0:
        t += 2
        rho_even = 1.0 - (W - mean_acov[t]) / var_plus
        rho_odd = 1.0 - (W - mean_acov[t + 1]) / var_plus
        if rho_even + rho_odd >= 0:
            rho[t], rho[t + 1] = rho_even, rho_odd
    max_t = t
    if rho_even > 0:
        rho[max_t] = rho_even
    t = 0
    while t <= max_t - 4:
        t += 2
        if rho[t] + rho[t + 1] > rho[t - 2] + rho[t - 1]:
            rho[t] = rho[t + 1] = (rho[t - 2] + rho[t - 1]) / 2
    tau = 2.0 if max_t == 0 else -1.0 + 2.0 * rho[:max_t].sum() + rho[max_t]
    tau = max(tau, 1.0 / math.log10(S))
    return S / tau


def q7(x, p):
    """R's quantile type 7 (numpy's default 'linear')."""
    return float(np.quantile(x, p))


def mcse_quantile(x, p):
    """posterior::mcse_quantile: x [chains, draws] -> (quantile, mcse, ess of the indicator)."""
    flat = x.reshape(-1)
    q = q7(flat, p)
    e = ess_of(split_chains((x <= q).astype(float)))
    a = stats.beta.ppf([0.1586553, 0.8413447], e * p + 1, e * (1 - p) + 1)
    s = np.sort(flat)
    S = s.size
    th1 = s[max(int(math.floor(a[0] * S)), 1) - 1]
    th2 = s[min(int(math.ceil(a[1] * S)), S) - 1]
    return q, (th2 - th1) / 2, e


def diag(x):
    """x [chains, draws] -> dict of summaries (quantiles with their MCSE, bulk and tail ESS)."""
    out = {"mean": float(x.mean()), "sd": float(x.std(ddof=1))}
    for p, key in ((0.05, "q05"), (0.5, "q50"), (0.95, "q95")):
        q, m, _ = mcse_quantile(x, p)
        out[key], out["mcse_" + key] = q, float(m)
    xs = split_chains(x)
    out["ess_bulk"] = ess_of(z_scale(xs))
    q05, q95 = out["q05"], out["q95"]
    out["ess_tail"] = min(ess_of((xs <= q05).astype(float)), ess_of((xs <= q95).astype(float)))
    return out


# ----------------------------------------------------------------------------- the data

def read_options(f):
    opts = {}
    for rec in f["config/options"][...]:
        opts[rec["name"].decode()] = (rec["value"].decode(), rec["source"].decode())
    return opts


def hyperpriors_from_source():
    """The fixed priors load_data passes to the sampler (engine/emi_cmd_estimate.c)."""
    path = os.path.join(ROOT, "engine", "emi_cmd_estimate.c")
    with open(path, encoding="utf-8") as fh:
        src = fh.read()
    body = re.search(r"\nstatic emi_err_t load_data\(.*?\n}\n", src, re.S)
    if not body:
        fail(f"{path}: cannot find the function load_data (the double-entry model's data)")
    out = {}
    for key in ("beta_sd", "su_shape", "su_scale", "se_shape", "se_scale"):
        m = re.findall(r"\." + key + r"\s*=\s*([0-9.eE+-]+)", body.group(0))
        if len(m) != 1:
            fail(f"{path}: cannot find the one '.{key} = VALUE' of load_data (found {len(m)}): the hyper-priors "
                 "of the Stan model cannot be matched to emflow's")
        out[key] = float(m[0])
    return out


def sha256(path):
    import hashlib
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def rebuild_data(h5path, config_path):
    """Everything the Stan model needs, from emflow's output and the CSV it read (see the module doc)."""
    with h5py.File(h5path, "r") as f:
        opts = read_options(f)
        est = f["estimate"]
        countries = [s.decode() for s in est["country"][...]]
        years = [int(s) for s in est["year"][...]]
        corridors = [s.decode() for s in est["corridor"][...]]
        covnames = [s.decode() for s in est["covariate"][...]]
        pnames = [s.decode() for s in est["parameter"][...]]
        x = est["x"][...]
        rep_out = {0: est["emigration_reported"][...], 1: est["immigration_reported"][...]}
        benchmark = est.attrs["benchmark"]
        benchmark = benchmark.decode() if isinstance(benchmark, bytes) else str(benchmark)
        in_sha = [s.decode() if isinstance(s, bytes) else str(s) for s in f.attrs["input_sha256"]]
    val = lambda k: opts[k][0]
    inp = val("input")
    if not os.path.isabs(inp) and opts["input"][1] not in ("command line", "default"):
        inp = os.path.join(os.path.dirname(os.path.abspath(config_path)), inp)
    if sha256(inp) != in_sha[0]:
        fail(f"{inp}: its SHA-256 differs from the input_sha256 emflow recorded: not the file emflow read")
    C, T, K = len(countries), len(years), len(corridors)
    if K != C * (C - 1):
        fail(f"{h5path}: {K} corridors for {C} countries")
    cidx = {c: i for i, c in enumerate(countries)}
    kof = lambda i, j: i * (C - 1) + (j if j < i else j - 1)
    for i in range(C):
        for j in range(C):
            if i != j and corridors[kof(i, j)] != f"{countries[i]}->{countries[j]}":
                fail(f"corridor order: expected {countries[i]}->{countries[j]} at {kof(i, j)}, found {corridors[kof(i, j)]}")
    fcol, fval = (val("filter").split("=", 1) + [""])[:2] if val("filter") else (None, None)
    tcol, frcol, tocol = val("time-col"), val("from-col"), val("to-col")
    vcol = (val("emigration-col"), val("immigration-col"))
    ucol = (val("emigration-undercount-col"), val("immigration-undercount-col"))
    acol = (val("emigration-accuracy-col"), val("immigration-accuracy-col"))
    bsrc, bcode = benchmark.split(":", 1)
    prior = {}
    for s in range(2):
        for q in UCLASS:
            v = val(f"prior-{SRC_NAMES[s]}-{q}")
            if v:
                a, b = (float(t) for t in v.split(","))
                prior[(s, q)] = (a, b)
    shape = float(val("accuracy-prior-shape"))
    tau0 = [float(val(f"accuracy-tau-{a}")) for a in ACLASS]
    durations = [d for d in val("duration").split(",") if d]
    hyp = hyperpriors_from_source()

    # the reports (load_data: every non-missing count of a fitted corridor and year)
    rows = []
    with open(inp, newline="", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            if fcol and r.get(fcol) != fval:
                continue
            rows.append(r)
    missing = lambda v: v.strip() in ("", "NA")
    rep = []  # (k, t, n, coverage label or None, accuracy index, log kappa)
    counts = {0: -np.ones((K, T)), 1: -np.ones((K, T))}
    for r in rows:
        i, j = cidx.get(r[frcol]), cidx.get(r[tocol])
        y = int(r[tcol])
        if i is None or j is None or y not in years:
            continue
        k, t = kof(i, j), years.index(y)
        for s in range(2):
            v = r[vcol[s]]
            if missing(v):
                continue
            n = float(v)
            if n != math.floor(n) or n < 0:
                fail(f"{inp}: {vcol[s]} = {v}: not a count")
            if counts[s][k, t] >= 0:
                fail(f"{inp}: a second {SRC_NAMES[s]} report for {corridors[k]} {y}")
            counts[s][k, t] = n
            reporter = countries[i] if s == 0 else countries[j]
            u, a = r[ucol[s]].strip().lower(), r[acol[s]].strip().lower()
            if u not in UCLASS or a not in ACLASS:
                fail(f"{inp}: {corridors[k]} {y}: class '{u}' / '{a}' is not one load_data knows")
            label = None if (SRC_NAMES[s] == bsrc and reporter == bcode) else f"{SRC_NAMES[s]}:{reporter}:{u}"
            lk = 0.0
            for d in durations:
                want = f"{SRC_NAMES[s]}:{reporter}="
                if d.startswith(want):
                    lk = -math.log(DURATION[d[len(want):]])
            rep.append((k, t, int(n), label, ACLASS.index(a), lk, s))
    # validate against emflow's output
    for s in range(2):
        if not np.array_equal(counts[s], rep_out[s]):
            bad = np.argwhere(counts[s] != rep_out[s])[0]
            fail(f"rebuilt {SRC_NAMES[s]} counts differ from /estimate/{SRC_NAMES[s]}_reported at "
                 f"{corridors[bad[0]]} {years[bad[1]]}: {counts[s][tuple(bad)]} vs {rep_out[s][tuple(bad)]}")
    cov_labels = [p[len("lambda["):-1] for p in pnames if p.startswith("lambda[")]
    rebuilt_labels = []
    for rr in rep:
        if rr[3] is not None and rr[3] not in rebuilt_labels:
            rebuilt_labels.append(rr[3])
    if sorted(rebuilt_labels) != sorted(cov_labels):
        fail(f"coverage classes: rebuilt {sorted(rebuilt_labels)}, emflow has {sorted(cov_labels)}")
    expect_p = [f"beta[{c}]" for c in covnames] + [f"lambda[{c}]" for c in cov_labels] + \
        ["sigma_u", "sigma_e", "rho"] + [f"tau[{a}]" for a in ACLASS]
    if pnames != expect_p:
        fail(f"parameter names {pnames} are not the expected {expect_p}")
    # the covariates, standardised over the fitted corridor-years (population sd)
    xr = np.ones((K, T, len(covnames)))
    for v, spec in enumerate(covnames[1:], start=1):
        col = spec[4:] if spec.startswith("log:") else spec
        raw = np.full((K, T), np.nan)
        for r in rows:
            i, j = cidx.get(r[frcol]), cidx.get(r[tocol])
            y = int(r[tcol])
            if i is None or j is None or y not in years:
                continue
            raw[kof(i, j), years.index(y)] = math.log(float(r[col])) if spec.startswith("log:") else float(r[col])
        xr[:, :, v] = (raw - raw.mean()) / raw.std()
    xerr = float(np.max(np.abs(xr - x)))
    if not xerr < 1e-9:
        fail(f"rebuilt standardised covariates differ from /estimate/x by {xerr:g}")
    ci = {c: n for n, c in enumerate(cov_labels)}
    stan = {
        "K": K, "T": T, "P": len(covnames), "x": x.reshape(K * T, len(covnames)),
        "R": len(rep),
        "rep_k": [rr[0] + 1 for rr in rep], "rep_t": [rr[1] + 1 for rr in rep], "rep_n": [rr[2] for rr in rep],
        "ncov": len(cov_labels), "rep_cov": [0 if rr[3] is None else ci[rr[3]] + 1 for rr in rep],
        "rep_logkappa": [rr[5] for rr in rep],
        "nacc": len(ACLASS), "rep_acc": [rr[4] + 1 for rr in rep],
        "cov_alpha": [prior[(SRC_NAMES.index(l.split(":")[0]), l.split(":")[2])][0] for l in cov_labels],
        "cov_beta": [prior[(SRC_NAMES.index(l.split(":")[0]), l.split(":")[2])][1] for l in cov_labels],
        "acc_shape": [shape] * len(ACLASS), "acc_scale": [(shape - 1.0) * t0 * t0 for t0 in tau0],
        **hyp,
    }
    info = {"countries": countries, "years": [years[0], years[-1]], "corridors": K, "periods": T,
            "reports": {"emigration": sum(1 for rr in rep if rr[6] == 0),
                        "immigration": sum(1 for rr in rep if rr[6] == 1),
                        "benchmark": sum(1 for rr in rep if rr[3] is None)},
            "coverage_classes": cov_labels,
            "accuracy_classes_used": sorted({ACLASS[rr[4]] for rr in rep}),
            "covariates": covnames, "x_max_abs_diff_rebuilt": xerr, "hyperpriors": hyp,
            "checks": "rebuilt counts == /estimate/*_reported exactly; rebuilt x == /estimate/x to "
                      f"{xerr:.1e}; coverage labels and parameter names == /estimate/parameter; "
                      "input SHA-256 == input_sha256"}
    return stan, info, pnames, corridors, years


def write_rdump(path, d):
    def num(v):
        return repr(float(v)) if not float(v).is_integer() or abs(v) > 2 ** 31 else str(int(v))

    with open(path, "w", encoding="utf-8") as fh:
        for k, v in d.items():
            if isinstance(v, np.ndarray) and v.ndim == 2:
                flat = v.reshape(-1, order="F")
                fh.write(f"{k} <- structure(c({', '.join(repr(float(t)) for t in flat)}), "
                         f".Dim = c({v.shape[0]}L, {v.shape[1]}L))\n")
            elif isinstance(v, (list, tuple, np.ndarray)):
                fh.write(f"{k} <- structure(c({', '.join(num(t) for t in v)}), .Dim = c({len(v)}L))\n")
            else:
                fh.write(f"{k} <- {num(v)}\n")


# ----------------------------------------------------------------------------- runs

def run_emflow(a, h5path, rep=0):
    cmd = []
    if a.ranks > 1:
        cmd += ["mpiexec", "--oversubscribe", "-n", str(a.ranks)]
    cmd += [a.emflow, "estimate", "--config", a.config]
    for c in a.countries.split(","):  # on the command line a list option takes one item per flag
        cmd += ["--countries", c]     # (`--countries FIN,ITA` is one item, 'FIN,ITA')
    cmd += ["-o", h5path, "--chains", str(a.chains), "--warmup", str(a.warmup), "--draws", str(a.draws),
            "--thin", "1", "--seed", str(a.seed), "--checkpoint-every", "0", "--accept-failed-diagnostics", "--log-level", "info"]
    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads), OPENBLAS_NUM_THREADS="1",
               OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    if rep == 0:
        log("emflow: " + " ".join(cmd) + f" (OMP_NUM_THREADS={a.threads})")
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.monotonic() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)  # the process and its descendants
    if p.returncode != 0:
        sys.stderr.write(p.stderr)
        fail(f"emflow estimate exited with status {p.returncode}")
    lines = p.stderr.splitlines()
    stamp = lambda l: float(re.match(r"\[\s*([0-9.]+) s\]", l).group(1))
    chain_s = [float(m.group(1)) for m in (re.search(r"chain \d+: \d+ iterations in ([0-9.]+) s", l) for l in lines) if m]
    t_load = next(stamp(l) for l in lines if "estimate: " in l and " countries," in l)
    t_diag = next(stamp(l) for l in lines if "diagnostics: parameters" in l)
    diag_lines = [l.split("info  ", 1)[-1] for l in lines if "diagnostics:" in l]
    # "sampling: N iterations of C chain(s) in X s on rank 0 (...)": rank 0's sampling time; older
    # builds log per-chain times only, then the span from the data summary to the diagnostics counts
    # (printed to 0.1 s; the span between the time stamps of the data summary and of that line, to 1 ms, is
    # used: it adds only the chains' initialisation)
    sl = next((l for l in lines if re.search(r"sampling: .* in ([0-9.]+) s on rank 0", l)), None)
    m = re.search(r"sampling: .* in ([0-9.]+) s on rank 0", sl) if sl else None
    sampling = stamp(sl) - t_load if m else t_diag - t_load
    stamps = [stamp(l) for l in lines if re.match(r"\[\s*[0-9.]+ s\]", l)]
    # the log's clock starts at its first line: what the process spent before it (MPI_Init, option
    # parsing) and after its last line (HDF5 close, MPI_Finalize)
    outside = wall - stamps[-1]
    return {"command": " ".join(cmd), "omp_num_threads": a.threads, "ranks": a.ranks, "wall_s": wall, "cpu_s": cpu,
            "sampling_s": sampling, "sampling_s_source": "log stamps: data summary -> sampling line" if m else "log stamps: data -> diagnostics",
            "sampling_s_printed": float(m.group(1)) if m else None,
            "chain_s_logged": chain_s, "log_diagnostics": diag_lines, "outside_log_s": outside,
            "data_load_s": t_load, "diagnostics_and_output_s": stamps[-1] - t_load - sampling,
            "log_sampling": [l.split("info  ", 1)[-1] for l in lines if "sampling: " in l]}


def run_stan(a, data_path, workdir):
    outdir = os.path.join(workdir, "stan")
    os.makedirs(outdir, exist_ok=True)
    model = os.path.join(workdir, "imem.stan")
    shutil.copyfile(a.stan_model, model)
    cmd = ["Rscript", os.path.join(ROOT, "bench", "peers", "imem_rstan.R"), model, data_path, outdir,
           str(a.chains), str(a.warmup), str(a.draws), str(a.seed % 2147483647), str(a.stan_cores),
           str(a.stan_reps)]
    log("stan: " + " ".join(cmd))
    t0 = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
    wall = time.monotonic() - t0
    if p.returncode != 0:
        sys.stderr.write(p.stdout[-5000:] + p.stderr[-5000:])
        fail(f"rstan exited with status {p.returncode}")
    res = {}
    with open(os.path.join(outdir, "result.txt"), encoding="utf-8") as fh:
        for l in fh:
            k, _, v = l.rstrip("\n").partition(" ")
            res[k] = v
    with open(os.path.join(outdir, "names.txt"), encoding="utf-8") as fh:
        names = [l.strip() for l in fh]
    raw = np.fromfile(os.path.join(outdir, "draws.bin"), dtype="<f8")
    if raw.size != len(names) * a.chains * a.draws:
        fail(f"rstan draws: {raw.size} values, expected {len(names)} x {a.chains} x {a.draws}")
    draws = raw.reshape(len(names), a.chains, a.draws).transpose(1, 2, 0)  # R order [draw, chain, q]
    floats = lambda k: [float(t) for t in res[k].split(",")]
    info = {"command": " ".join(cmd), "process_wall_s": wall, "compile_s": float(res["compile_s"]),
            "sampling_s": float(np.median(floats("sample_s"))), "sampling_s_all": floats("sample_s"),
            "sampling_cpu_s": float(np.median(floats("sample_cpu_s"))), "sampling_cpu_s_all": floats("sample_cpu_s"),
            "reps": len(floats("sample_s")), "stan_warmup_s": floats("stan_warmup_s"),
            "stan_sample_s": floats("stan_sample_s"), "divergent": int(res["divergent"]),
            "treedepth_hits": int(res["treedepth_hits"]), "max_treedepth": int(res["max_treedepth"]),
            "leapfrog_sampling": [int(t) for t in res["leapfrog_sampling"].split(",")],
            "leapfrog_total": [int(t) for t in res["leapfrog_total"].split(",")],
            "stepsize": floats("stepsize"), "rstan": res["rstan_version"], "stan": res["stan_version"],
            "R": res["r_version"], "cxx": res.get("cxx", ""), "cores": int(res["cores"])}
    return draws, names, info, floats("rstan_ess_bulk")


def r_cxxflags():
    try:
        return subprocess.run(["R", "CMD", "config", "CXX14FLAGS"], capture_output=True, text=True,
                              timeout=60).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


# ----------------------------------------------------------------------------- comparison

def compare(names, ed, sd, tol, hard, frac):
    """ed, sd: [chains, draws, Q] of emflow and Stan in the same order.  Returns per-item rows and checks."""
    rows = []
    for q, name in enumerate(names):
        de, ds = diag(ed[:, :, q]), diag(sd[:, :, q])
        r = {"name": name, "emflow": de, "stan": ds}
        for key in ("q05", "q50", "q95"):
            m = math.hypot(de["mcse_" + key], ds["mcse_" + key])
            d = de[key] - ds[key]
            r["z_" + key] = d / m if m > 0 else (0.0 if d == 0 else math.inf)
        rows.append(r)
    zs = np.array([[r["z_q05"], r["z_q50"], r["z_q95"]] for r in rows])
    n = zs.size
    allowed = int(math.floor(frac * n))
    n_over = int(np.sum(np.abs(zs) > tol))
    n_hard = int(np.sum(np.abs(zs) > hard))
    ok = n_over <= allowed and n_hard == 0
    summ = {"comparisons": n, "tolerance_sigma": tol, "allowed_exceedances": allowed,
            "exceedances": n_over, "hard_limit_sigma": hard, "over_hard_limit": n_hard,
            "max_abs_z": float(np.max(np.abs(zs))), "rms_z": float(np.sqrt(np.mean(zs ** 2))),
            "mean_z": float(np.mean(zs)), "frac_abs_z_over_2": float(np.mean(np.abs(zs) > 2)),
            "max_rel_diff_q50": float(max(abs(r["emflow"]["q50"] - r["stan"]["q50"]) / abs(r["stan"]["q50"])
                                          for r in rows if r["stan"]["q50"] != 0)),
            "pass": ok}
    return rows, summ


def worst(rows, n=8):
    items = []
    for r in rows:
        for key in ("q05", "q50", "q95"):
            items.append((abs(r["z_" + key]), r["name"], key, r["emflow"][key], r["stan"][key],
                          r["emflow"]["mcse_" + key], r["stan"]["mcse_" + key]))
    items.sort(reverse=True)
    return [{"item": i[1], "stat": i[2], "z": round(i[0], 2), "emflow": i[3], "stan": i[4],
             "mcse_emflow": i[5], "mcse_stan": i[6]} for i in items[:n]]


def ess_stats(rows, side, seconds):
    b = np.array([r[side]["ess_bulk"] for r in rows])
    i = int(np.argmin(b))
    return {"ess_bulk_min": float(b.min()), "ess_bulk_min_item": rows[i]["name"], "ess_bulk_median": float(np.median(b)),
            "ess_bulk_min_per_s": float(b.min() / seconds), "ess_bulk_median_per_s": float(np.median(b) / seconds)}


# ----------------------------------------------------------------------------- main

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
    ap.add_argument("--threads", type=int, default=2,
                    help="OpenMP threads per emflow rank (a rank runs that many chains at a time)")
    ap.add_argument("--stan-cores", type=int, default=2, help="chains rstan runs at a time (one core each)")
    ap.add_argument("--emflow-reps", type=int, default=3,
                    help="emflow runs timed (median reported; every run must give the same draws)")
    ap.add_argument("--stan-reps", type=int, default=1,
                    help="rstan sampling() calls timed after one compilation (median reported; draws of the first)")
    ap.add_argument("--tol", type=float, default=4.0, help="agreement tolerance in combined MCSEs")
    ap.add_argument("--hard", type=float, default=6.0, help="no comparison may exceed this many MCSEs")
    ap.add_argument("--max-exceed-frac", type=float, default=0.01,
                    help="share of comparisons allowed beyond --tol (multiplicity)")
    ap.add_argument("--stan-model", default=os.path.join(ROOT, "bench", "peers", "imem.stan"),
                    help="the Stan program (another one only to test that the validation catches a wrong model)")
    ap.add_argument("--out", help="write OUT.json and OUT.md")
    ap.add_argument("--workdir", help="keep the intermediate files here (default: a temporary directory)")
    a = ap.parse_args()
    a.emflow = os.path.abspath(a.emflow)
    a.config = os.path.abspath(a.config)
    for tool in ("Rscript",):
        if not shutil.which(tool):
            fail(f"{tool} not found (bench/install-peers.sh installs r-cran-rstan)")
    work = a.workdir or tempfile.mkdtemp(prefix="emflow-bench-estimate.")
    os.makedirs(work, exist_ok=True)
    start = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    load0 = open("/proc/loadavg").read().split()[:3]

    # 1. emflow
    h5path = os.path.join(work, "emflow.h5")
    runs = []

    def emflow_runs(n):  # n more timed runs; the first one's output is the one validated
        for _ in range(n):
            rep = len(runs)
            path = h5path if rep == 0 else os.path.join(work, f"emflow_rep{rep}.h5")
            runs.append(run_emflow(a, path, rep))
            if rep > 0:  # the draws depend only on (seed, chain, iteration): every repetition is the same run
                with h5py.File(h5path, "r") as f0, h5py.File(path, "r") as f1:
                    for ds in ("posterior/draws", "posterior/flows/draws"):
                        if not np.array_equal(f0[ds][...], f1[ds][...]):
                            fail(f"emflow repetition {rep} gave other {ds} than the first run (same seed)")
                os.remove(path)

    # half of the timed runs before Stan, half after: the machine's load may drift meanwhile
    emflow_runs((a.emflow_reps + 1) // 2)
    # 2. export
    stan_data, data_info, pnames, corridors, years = rebuild_data(h5path, a.config)
    log(f"data: {data_info['reports']} reports, {len(data_info['coverage_classes'])} coverage classes; "
        + data_info["checks"])
    data_path = os.path.join(work, "imem_data.R")
    write_rdump(data_path, stan_data)
    with h5py.File(h5path, "r") as f:
        e_par = f["posterior/draws"][...].astype(float)                     # [chains, draws, np]
        e_flow = f["posterior/flows/draws"][...].astype(float)              # [chains, draws, K, T]
        e_sum_flow = f["posterior/flows/summary"][...]
        e_sum_par = f["posterior/summary"][...]
        stat_names = [s.decode() for s in f["estimate/stat"][...]]
        version = f.attrs["version"]
        e_env = {k: (v.decode() if isinstance(v, bytes) else (v.item() if hasattr(v, "item") else v))
                 for k, v in f.attrs.items() if k in ("version", "compiler", "blas", "lapack", "mpi_library", "hdf5",
                                                    "omp_threads", "mpi_ranks")}
    K, T = len(corridors), len(years)
    flow_names = [f"flow[{corridors[k]},{years[t]}]" for k in range(K) for t in range(T)]
    names = pnames + flow_names
    ed = np.concatenate([e_par, e_flow.reshape(a.chains, a.draws, K * T)], axis=2)
    # 3. Stan
    sd, snames, st, rstan_ess = run_stan(a, data_path, work)
    log(f"stan: compile {st['compile_s']:.1f} s, sampling {st['sampling_s']:.1f} s (median of {st['reps']}: "
        f"{', '.join(f'{t:.1f}' for t in st['sampling_s_all'])}), {st['divergent']} divergent, "
        f"{st['treedepth_hits']} at max tree depth")
    n_par = len(pnames)
    exp_snames = [f"beta[{p + 1}]" for p in range(stan_data["P"])] + \
        [f"lambda[{c + 1}]" for c in range(stan_data["ncov"])] + ["sigma_u", "sigma_e", "rho"] + \
        [f"tau[{i + 1}]" for i in range(stan_data["nacc"])] + [f"flow[{i + 1}]" for i in range(K * T)]
    if snames != exp_snames:
        fail(f"rstan quantities {snames[:30]}... are not the expected {exp_snames[:30]}...")

    emflow_runs(a.emflow_reps // 2)
    em = dict(runs[0])
    walls, samps, cpus = ([r[k] for r in runs] for k in ("wall_s", "sampling_s", "cpu_s"))
    for key in ("outside_log_s", "data_load_s", "diagnostics_and_output_s"):
        em[key] = float(np.median([r[key] for r in runs]))
    em.update({"reps": len(runs), "wall_s": float(np.median(walls)), "wall_s_all": walls,
               "sampling_s": float(np.median(samps)), "sampling_s_all": samps,
               "cpu_s": float(np.median(cpus)), "cpu_s_all": cpus, "reps_identical_draws": len(runs) > 1})
    log(f"emflow: {em['wall_s']:.2f} s wall [{min(walls):.2f} - {max(walls):.2f}], {em['cpu_s']:.2f} s CPU, "
        f"{em['sampling_s']:.2f} s sampling (log); medians of {len(runs)} runs, every one with the same draws")

    # 4. validate
    rows, summ = compare(names, ed, sd, a.tol, a.hard, a.max_exceed_frac)
    frows, prows = rows[n_par:], rows[:n_par]
    def subsum(rs):
        zs = np.array([[r["z_q05"], r["z_q50"], r["z_q95"]] for r in rs])
        allowed = int(math.floor(a.max_exceed_frac * zs.size))
        over, hard = int(np.sum(np.abs(zs) > a.tol)), int(np.sum(np.abs(zs) > a.hard))
        return {"comparisons": int(zs.size), "exceedances": over, "allowed_exceedances": allowed,
                "over_hard_limit": hard, "max_abs_z": float(np.max(np.abs(zs))),
                "rms_z": float(np.sqrt(np.mean(zs ** 2))), "mean_z": float(np.mean(zs)),
                "frac_abs_z_over_2": float(np.mean(np.abs(zs) > 2)), "pass": over <= allowed and hard == 0}
    val = {"rule": f"|q_emflow - q_stan| < {a.tol:g} sqrt(mcse_emflow^2 + mcse_stan^2) for q05, q50, q95 of every "
                   f"flow and parameter; at most floor({a.max_exceed_frac:g} n) exceedances among the n flow "
                   f"comparisons and among all n comparisons, none beyond {a.hard:g}; "
                   "mcse = posterior::mcse_quantile",
           "flows": subsum(frows), "parameters": subsum(prows), "all": summ, "worst": worst(rows)}
    # cross-checks of the estimators: this script's summaries of emflow's draws against emflow's own
    iq = {s: stat_names.index(s) for s in ("q05", "q50", "q95", "ess_bulk")}
    e_own = np.concatenate([e_sum_par, e_sum_flow.reshape(K * T, -1)], axis=0)
    d_q = max(abs(rows[i]["emflow"][s] - e_own[i, iq[s]]) / max(abs(e_own[i, iq[s]]), 1e-300)
              for i in range(len(rows)) for s in ("q05", "q50", "q95"))
    d_ess = max(abs(rows[i]["emflow"]["ess_bulk"] - e_own[i, iq["ess_bulk"]]) / e_own[i, iq["ess_bulk"]]
                for i in range(len(rows)))
    d_ress = max(abs(rows[i]["stan"]["ess_bulk"] - rstan_ess[i]) / rstan_ess[i] for i in range(len(rows)))
    val["estimator_checks"] = {"emflow_quantiles_max_rel_diff_vs_emi_diag": d_q,
                               "emflow_ess_bulk_max_rel_diff_vs_emi_diag": d_ess,
                               "stan_ess_bulk_max_rel_diff_vs_rstan_ess_bulk": d_ress}
    if d_q > 1e-9 or d_ess > 1e-6:
        fail(f"this script's quantiles / bulk ESS of emflow's draws differ from emflow's own (emi_diag) by "
             f"{d_q:.2g} / {d_ess:.2g} relative: the estimators disagree")
    # rstan's ess_bulk (rstan 2.21, posterior's predecessor) differs only in its FFT/cut-off details
    if d_ress > 0.05:
        log(f"note: bulk ESS of the Stan draws differs from rstan::ess_bulk by up to {d_ress:.1%}")
    # pass: the flows on their own and all comparisons together (flows and parameters: the allowance
    # for multiplicity is taken over all of them)
    ok = val["flows"]["pass"] and summ["pass"]
    for g in ("flows", "parameters", "all"):
        v = val[g]
        log(f"validate {g}: {v['comparisons']} comparisons, {v['exceedances']} beyond {a.tol:g} MCSE (allowed "
            f"{v['allowed_exceedances']}), {v['over_hard_limit']} beyond {a.hard:g}; max |z| {v['max_abs_z']:.2f}, "
            f"rms z {v['rms_z']:.2f}, mean z {v['mean_z']:+.2f}, |z| > 2: {v['frac_abs_z_over_2']:.1%}"
            + (" (not a criterion on its own: counted in all)" if g == "parameters" else ""))

    # 5. efficiency, on two time bases:
    #   user-visible: emflow's whole process against the rstan sampling() call (which also starts R
    #     worker processes, ships the model and data to them and assembles the stanfit object);
    #   sampler alone: emflow's sampling time (its log, wall clock) against Stan's own per-chain warm-up
    #     + sampling times (Stan 2.21 measures them with clock(), CPU time of the chain's process) packed
    #     min(cores, chains) at a time: sum / min(cores, chains).
    st["sampler_cpu_s"] = sum(st["stan_warmup_s"]) + sum(st["stan_sample_s"])
    bases = {"wall": (em["wall_s"], st["sampling_s"]), "cpu": (em["cpu_s"], st["sampling_cpu_s"]),
             "sampler_cpu": (em["cpu_s"], st["sampler_cpu_s"])}
    eff = {"time_bases": {
        "wall": "wall clock: emflow whole process (median of runs, monotonic) vs the rstan sampling() call (median)",
        "cpu": "CPU seconds: emflow whole process (getrusage of the child) vs the sampling() call with its worker "
               "processes (proc.time)",
        "sampler_cpu": "CPU seconds: emflow whole process vs Stan's own per-chain warm-up + sampling times "
                       "(clock() in Stan 2.21), summed over chains: NUTS alone, without rstan's overheads"}}
    for g, rs in (("flows", frows), ("parameters", prows), ("all", rows)):
        eff[g] = {}
        for b, (te, ts) in bases.items():
            e, s2 = ess_stats(rs, "emflow", te), ess_stats(rs, "stan", ts)
            eff[g][b] = {"emflow": e, "stan": s2, "emflow_s": te, "stan_s": ts,
                         "ratio_min_per_s": e["ess_bulk_min_per_s"] / s2["ess_bulk_min_per_s"],
                         "ratio_median_per_s": e["ess_bulk_median_per_s"] / s2["ess_bulk_median_per_s"]}
    goal = 10.0
    for g in ("flows", "all"):
        for b in bases:
            x = eff[g][b]
            log(f"ESS/s {g} ({b}: emflow {x['emflow_s']:.2f} s, stan {x['stan_s']:.2f} s): emflow min "
                f"{x['emflow']['ess_bulk_min_per_s']:.1f} ({x['emflow']['ess_bulk_min_item']}), median "
                f"{x['emflow']['ess_bulk_median_per_s']:.1f}; stan min {x['stan']['ess_bulk_min_per_s']:.2f} "
                f"({x['stan']['ess_bulk_min_item']}), median {x['stan']['ess_bulk_median_per_s']:.2f}; ratio min "
                f"{x['ratio_min_per_s']:.1f}x, median {x['ratio_median_per_s']:.1f}x")

    result = {
        "bench": "estimate", "schema": "emflow-bench-estimate-1", "date": start,
        "workload": f"emflow estimate --config inputs/{os.path.basename(a.config)} --countries {a.countries}: "
                    f"{K} corridors x {T} years, double-entry model, real Eurostat data",
        "chains": a.chains, "warmup": a.warmup, "draws": a.draws, "seed": a.seed,
        "data": data_info, "emflow": {**em, "version": e_env.get("version"), "env": e_env},
        "stan": {**st, "cxxflags": r_cxxflags(), "model": os.path.relpath(os.path.abspath(a.stan_model), ROOT)},
        "validation": val, "validated": ok, "efficiency": eff, "goal_ratio": goal,
        "goal_met": {f"{g}_{b}_{m}": eff[g][b][f"ratio_{m}_per_s"] >= goal for g in ("flows", "all")
                     for b in bases for m in ("min", "median")},
        "timing": "emflow: monotonic clock around the whole process (start-up, CSV, sampling, diagnostics, HDF5 "
                  "output; checkpoints off), sampling alone from its log, medians over --emflow-reps runs; Stan: "
                  "/proc/uptime around rstan sampling() (all chains, warm-up included; compilation and R start-up "
                  "excluded), median over --stan-reps calls, and Stan's own per-chain times (first call)",
        "environment": {"host": socket.gethostname(), "logical_cpus": os.cpu_count(), "kernel": platform.release(),
                        "python": platform.python_version(), "numpy": np.__version__,
                        "scipy": __import__("scipy").__version__, "h5py": h5py.__version__,
                        "load_average_start": " ".join(load0),
                        "load_average_end": " ".join(open("/proc/loadavg").read().split()[:3]),
                        "omp_env": {k: v for k, v in os.environ.items() if k.startswith(("OMP_", "GOMP_", "OPENBLAS_"))}},
        "items": [{"name": r["name"], **{f"{s}_{k}": r[s][k] for s in ("emflow", "stan")
                                         for k in ("q05", "q50", "q95", "mcse_q05", "mcse_q50", "mcse_q95", "ess_bulk",
                                                   "ess_tail")},
                   "z_q05": r["z_q05"], "z_q50": r["z_q50"], "z_q95": r["z_q95"]} for r in rows],
    }
    line = {k: v for k, v in result.items() if k != "items"}
    if not ok:
        keep = os.path.join(a.workdir or os.path.dirname(work), "bench_estimate_failed.json")
        with open(keep, "w", encoding="utf-8") as fh:
            json.dump(result, fh, indent=1)
        for w in val["worst"]:
            log(f"  {w['item']} {w['stat']}: emflow {w['emflow']:.6g} (mcse {w['mcse_emflow']:.3g}), stan "
                f"{w['stan']:.6g} (mcse {w['mcse_stan']:.3g}): {w['z']} MCSE")
        if not a.workdir:
            shutil.rmtree(work, ignore_errors=True)
        fail(f"emflow and Stan posteriors disagree beyond Monte Carlo error (worst comparisons above, all of them "
             f"in {keep}): either bench/peers/imem.stan differs from emflow's model or emflow's sampler is wrong")
    if a.out:
        os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
        with open(a.out + ".json", "w", encoding="utf-8") as fh:
            json.dump(result, fh, indent=1)
            fh.write("\n")
        with open(a.out + ".md", "w", encoding="utf-8") as fh:
            fh.write("\n".join(markdown(result)) + "\n")
        log(f"wrote {a.out}.json and {a.out}.md")
    if not a.workdir:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(line))


def markdown(r):
    """The Markdown table (bench/report.py's, which bench/run.sh uses too)."""
    sys.path.insert(0, os.path.join(ROOT, "bench"))
    import report
    return report.estimate_markdown(r)


if __name__ == "__main__":
    main()
