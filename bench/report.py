#!/usr/bin/python3
"""Turn the JSON lines of one bench/run.sh run into bench/results/<date>-<host>.json and .md.

    /usr/bin/python3 bench/report.py --raw RAW.jsonl --out bench/results/DATE-HOST

RAW.jsonl holds one JSON object per line, as the programs print them: {"bench": "run", ...} (the run's
mode, command and load averages, from run.sh), {"bench": "env"} (bench_env), {"bench": "stream_triad"},
{"bench": "ipf3d", "impl": "emflow" | "numpy"}, {"bench": "gls", "impl": "emflow" | "numpy"},
{"bench": "estimate"} (bench_estimate.py: emflow estimate against Stan, already paired),
{"bench": "estimate_jags"} (bench_estimate_jags.py: the same against JAGS, already paired),
{"bench": "forecast"} (bench_forecast.py: emflow forecast at 1 and 2 ranks against numpy, paired),
{"bench": "classify"} (bench_classify.py: emflow classify at every ranks x threads layout against DuckDB
and pandas, paired, one line per size), {"bench": "estimate_scaling"} (bench_estimate_scaling.sh: one
line per layout), {"bench": "simulate"} (bench_simulate.sh: one line per size) and {"bench": "note", "text": ...}.  Everything is kept in the JSON output ("raw"), next to the paired
rows (emflow with its peer, ratio = peer time / emflow time) and the machine description.
Standard library only.
"""
import argparse
import json
import os
import platform
import re
import socket
import subprocess
import sys


def read_jsonl(path):
    out = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if line:
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError as e:
                    sys.exit(f"report: {path}:{n}: not JSON ({e}): {line[:120]}")
    return out


def cmd(*args):
    try:
        return subprocess.run(args, capture_output=True, text=True, timeout=20).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def machine():
    m = {"host": socket.gethostname(), "kernel": platform.release(), "logical_cpus": os.cpu_count()}
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            names = [l.split(":", 1)[1].strip() for l in f if l.startswith("model name")]
        m["cpu_model"] = names[0] if names else platform.processor()
    except OSError:
        m["cpu_model"] = platform.processor()
    lscpu = cmd("lscpu")
    for key, name in (("Core(s) per socket", "cores_per_socket"), ("Socket(s)", "sockets"),
                      ("Thread(s) per core", "threads_per_core"), ("L2 cache", "l2_cache"),
                      ("L3 cache", "l3_cache"), ("Hypervisor vendor", "hypervisor")):
        mm = re.search(rf"^{re.escape(key)}:\s*(.+)$", lscpu, re.M)
        if mm:
            m[name] = mm.group(1).strip()
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            mem = {l.split(":")[0]: l.split(":")[1].strip() for l in f}
        m["memory_total"] = mem.get("MemTotal")
    except OSError:
        pass
    return m


def fmt_t(s):
    if s is None:
        return "–"
    if s >= 1:
        return f"{s:.3g} s"
    if s >= 1e-3:
        return f"{s * 1e3:.3g} ms"
    return f"{s * 1e6:.3g} µs"


def fmt_range(med, lo, hi):
    return f"{fmt_t(med)} [{fmt_t(lo)} – {fmt_t(hi)}]"


def fmt_mb(kb):
    return "–" if kb is None else f"{kb / 1024:.0f} MiB"


def estimate_markdown(r, header=True):
    """Markdown of one bench_estimate.py result (also used by bench_estimate.py --out)."""
    L = []
    v, eff, em, st = r["validation"], r["efficiency"], r["emflow"], r["stan"]
    if header:
        L.append(f"`emflow estimate` against the same model in Stan (rstan {st['rstan']}, Stan {st['stan']}, "
                 f"bench/peers/imem.stan): {r['workload']}; {r['chains']} chains x ({r['warmup']} warm-up + "
                 f"{r['draws']} draws), the same on both sides; {r['date']}, emflow {em.get('version')}, load average "
                 f"{r['environment']['load_average_start']} at start, {r['environment']['load_average_end']} at end.")
        L.append("")
        f, p = v["flows"], v["parameters"]
        L.append(f"Validation {'passed' if r['validated'] else 'FAILED'}: 5%, 50% and 95% quantiles of every flow and "
                 f"parameter agree within {v['all']['tolerance_sigma']:g} combined Monte Carlo standard "
                 f"errors (posterior::mcse_quantile; at most 1% of the flow comparisons and 1% of all comparisons beyond, none beyond "
                 f"{r['validation']['all']['hard_limit_sigma']:g}). Flows: {f['exceedances']} of {f['comparisons']} "
                 f"beyond, max |z| {f['max_abs_z']:.2f}, rms z {f['rms_z']:.2f}, {100 * f['frac_abs_z_over_2']:.1f}% "
                 f"beyond 2; parameters: {p['exceedances']} of {p['comparisons']}, max |z| {p['max_abs_z']:.2f}, "
                 f"rms z {p['rms_z']:.2f}.")
        L.append("")
        L.append("| | emflow | Stan (NUTS) | emflow / Stan |")
        L.append("|---|---|---|---|")
    L.append(f"| configuration | {em['ranks']} MPI rank x {em['omp_num_threads']} OpenMP threads "
             f"({em['omp_num_threads']} chains at a time) | {st['cores']} chains at a time, 1 core each | |")
    ew, ss = em.get("wall_s_all", [em["wall_s"]]), st.get("sampling_s_all", [st["sampling_s"]])
    L.append(f"| wall time | {em['wall_s']:.2f} s [{min(ew):.2f} – {max(ew):.2f}], whole process, median of "
             f"{len(ew)} ({em['sampling_s']:.2f} s sampling) | {st['sampling_s']:.1f} s [{min(ss):.1f} – {max(ss):.1f}], "
             f"sampling() call, median of {len(ss)} (compilation {st['compile_s']:.0f} s, not counted) | "
             f"{st['sampling_s'] / em['wall_s']:.1f}x |")
    L.append(f"| CPU time | {em['cpu_s']:.2f} s, whole process | {st['sampling_cpu_s']:.1f} s, sampling() with its "
             f"workers; {st['sampler_cpu_s']:.1f} s, NUTS alone (Stan's per-chain times) | "
             f"{st['sampling_cpu_s'] / em['cpu_s']:.1f}x; {st['sampler_cpu_s'] / em['cpu_s']:.1f}x |")
    for g, label in (("flows", "flows"), ("parameters", "parameters"), ("all", "all")):
        x = eff[g]
        w, c, n = x["wall"], x["cpu"], x["sampler_cpu"]
        L.append(f"| bulk ESS, min ({label}) | {w['emflow']['ess_bulk_min']:.0f} ({w['emflow']['ess_bulk_min_item']}) | "
                 f"{w['stan']['ess_bulk_min']:.0f} ({w['stan']['ess_bulk_min_item']}) | "
                 f"{w['emflow']['ess_bulk_min'] / w['stan']['ess_bulk_min']:.2f} |")
        for m in ("min", "median"):
            L.append(f"| bulk ESS per wall s / CPU s / CPU s of NUTS alone, {m} ({label}) | "
                     f"{w['emflow'][f'ess_bulk_{m}_per_s']:.0f} / {c['emflow'][f'ess_bulk_{m}_per_s']:.0f} / "
                     f"{n['emflow'][f'ess_bulk_{m}_per_s']:.0f} | {w['stan'][f'ess_bulk_{m}_per_s']:.1f} / "
                     f"{c['stan'][f'ess_bulk_{m}_per_s']:.1f} / {n['stan'][f'ess_bulk_{m}_per_s']:.1f} | "
                     + ("**" if m == "min" else "") + f"{w[f'ratio_{m}_per_s']:.1f}x / {c[f'ratio_{m}_per_s']:.1f}x / "
                     f"{n[f'ratio_{m}_per_s']:.1f}x" + ("**" if m == "min" else "") + " |")
    L.append(f"| sampler | blocked Gibbs, {r['chains'] * (r['warmup'] + r['draws'])} sweeps | {st['divergent']} "
             f"divergent, {st['treedepth_hits']} at max tree depth, "
             f"{sum(st['leapfrog_sampling']) / (r['chains'] * r['draws']):.0f} leapfrog steps per draw | |")
    L.append("")
    L.append("emflow's times are its whole process (MPI start-up, CSV parse, sampling, diagnostics, HDF5 output). "
             "Stan's: the rstan sampling() call (R worker processes, transfers and the stanfit object included, "
             "compilation not), and NUTS alone (Stan's own per-chain warm-up + sampling CPU times, summed). "
             "CPU seconds are robust to the load of a shared machine, wall seconds are not; with both sides on 2 "
             "cores they coincide on an idle one. "
             f"Goal (issue 6): >= {r.get('goal_ratio', 10):g}x Stan's bulk ESS per second.")
    return L


def estimate_jags_markdown(r):
    """Markdown of one bench_estimate_jags.py result (also used by bench_estimate_jags.py --out)."""
    L = []
    v, eff, em, jt = r["validation"], r["efficiency"], r["emflow"], r["jags"]
    L.append(f"`emflow estimate` against the same model in JAGS (JAGS {jt['jags']}, rjags {jt['rjags']}, "
             f"{jt.get('model', 'bench/peers/imem.bug')}): {r['workload']}; {r['chains']} chains x ({r['warmup']} "
             f"warm-up + {r['draws']} draws), the same on both sides; {r['date']}, emflow {em.get('version')}, load "
             f"average {r['environment']['load_average_start']} at start, {r['environment']['load_average_end']} at end.")
    L.append("")
    f, p = v["flows"], v["parameters"]
    L.append(f"Validation {'passed' if r['validated'] else 'FAILED'} (the rule of the Stan rows): 5%, 50% and 95% "
             f"quantiles of every flow and parameter agree within {v['all']['tolerance_sigma']:g} combined Monte Carlo "
             f"standard errors (at most 1% of the flow comparisons and 1% of all beyond, none beyond "
             f"{v['all']['hard_limit_sigma']:g}). Flows: {f['exceedances']} of {f['comparisons']} beyond, max |z| "
             f"{f['max_abs_z']:.2f}, rms z {f['rms_z']:.2f}, {100 * f['frac_abs_z_over_2']:.1f}% beyond 2; parameters: "
             f"{p['exceedances']} of {p['comparisons']}, max |z| {p['max_abs_z']:.2f}, rms z {p['rms_z']:.2f}.")
    L.append("")
    L.append("| | emflow | JAGS (Gibbs) | emflow / JAGS |")
    L.append("|---|---|---|---|")
    L.append(f"| configuration | {em['ranks']} MPI rank x {em['omp_num_threads']} OpenMP threads "
             f"({em['omp_num_threads']} chains at a time) | {jt['cores']} chains at a time, one process and core each "
             f"| |")
    ew, js = em.get("wall_s_all", [em["wall_s"]]), jt.get("sampling_s_all", [jt["sampling_s"]])
    L.append(f"| wall time | {em['wall_s']:.2f} s [{min(ew):.2f} – {max(ew):.2f}], whole process, median of "
             f"{len(ew)} | {jt['sampling_s']:.1f} s [{min(js):.1f} – {max(js):.1f}], the chains' mclapply() call "
             f"(compilation {max(jt['chain_compile_cpu_s']):.2f} s CPU per chain included), median of {len(js)} | "
             f"{jt['sampling_s'] / em['wall_s']:.1f}x |")
    L.append(f"| CPU time | {em['cpu_s']:.2f} s, whole process | {jt['sampling_cpu_s']:.1f} s, the call with its chain "
             f"processes; {jt['sampler_cpu_s']:.1f} s, JAGS's warm-up + draws alone | "
             f"{jt['sampling_cpu_s'] / em['cpu_s']:.1f}x; {jt['sampler_cpu_s'] / em['cpu_s']:.1f}x |")
    for g in ("flows", "parameters", "all"):
        x = eff[g]
        w, c, n = x["wall"], x["cpu"], x["sampler_cpu"]
        L.append(f"| bulk ESS, min ({g}) | {w['emflow']['ess_bulk_min']:.0f} ({w['emflow']['ess_bulk_min_item']}) | "
                 f"{w['jags']['ess_bulk_min']:.0f} ({w['jags']['ess_bulk_min_item']}) | "
                 f"{w['emflow']['ess_bulk_min'] / w['jags']['ess_bulk_min']:.2f} |")
        for m in ("min", "median"):
            L.append(f"| bulk ESS per wall s / CPU s / CPU s of JAGS's sampling alone, {m} ({g}) | "
                     f"{w['emflow'][f'ess_bulk_{m}_per_s']:.0f} / {c['emflow'][f'ess_bulk_{m}_per_s']:.0f} / "
                     f"{n['emflow'][f'ess_bulk_{m}_per_s']:.0f} | {w['jags'][f'ess_bulk_{m}_per_s']:.2f} / "
                     f"{c['jags'][f'ess_bulk_{m}_per_s']:.2f} / {n['jags'][f'ess_bulk_{m}_per_s']:.2f} | "
                     + ("**" if m == "min" else "") + f"{w[f'ratio_{m}_per_s']:.1f}x / {c[f'ratio_{m}_per_s']:.1f}x / "
                     f"{n[f'ratio_{m}_per_s']:.1f}x" + ("**" if m == "min" else "") + " |")
    L.append(f"| sampler | blocked Gibbs, {r['chains'] * (r['warmup'] + r['draws'])} sweeps | JAGS's choice: "
             f"{jt['samplers'].replace(';', ', ')} | |")
    L.append("")
    L.append("Both sides' bulk ESS by the same estimator (bench_estimate.ess_of, rank-normalised split chains; equal "
             "to emflow's emi_diag on emflow's draws). emflow's times are its whole process; JAGS's the mclapply() "
             "call that forks one R process per chain (model compilation, warm-up, draws, results sent back; R "
             "start-up and the data export not counted), and the CPU time of JAGS's warm-up + draws inside the "
             "chain processes. JAGS runs with one BLAS thread (OpenBLAS's threads around its 10 x 10 LAPACK calls "
             "made it 30x slower).")
    return L


def forecast_markdown(r):
    """Markdown of one bench_forecast.py result (also used by bench_forecast.py --out)."""
    L = []
    v = r["validation"]
    z = v["z_limit"]
    L.append(f"`emflow forecast` (baseline, {r['series']} series x {r['horizon']} periods, flows and undeclared "
             f"emigration, mean + 9 exact quantiles per cell) against the same simulation vectorised in numpy "
             f"(bench/peers/forecast_numpy.py, np.quantile); posterior: {r['posterior']}; {r['date']}, load average "
             f"{r['environment']['load_average_start']} at start, {r['environment']['load_average_end']} at end.")
    L.append("")
    parts = "; ".join(f"{k}: mean max |z| {x['mean_max_abs_z']:.2f} (rms {x['mean_rms_z']:.2f}), quantiles max z "
                      f"{x['quantile_max_z']:.2f} over {x['quantile_comparisons']} comparisons"
                      for k, x in v["parts"].items())
    L.append(f"Validation {'passed' if r['validated'] else 'FAILED'} ({v['trajectories']} trajectories each side, "
             f"different random streams): means within {z:g} Monte Carlo sd, quantiles within {z:g} binomial sd of "
             f"the empirical CDF; {parts}.")
    L.append("")
    L.append("| implementation | ranks x threads | trajectories | time (simulate + summarise) | trajectories/s | "
             "parallel efficiency (wall) | CPU s, all ranks (CPU(1) / CPU(R)) | numpy/emflow | whole process |")
    L.append("|---|---|---|---|---|---|---|---|---|")
    npr = r["numpy"]
    for e in r["emflow"]:
        ts = e["time_s_all"]
        eff = "–" if e["ranks"] == 1 or e["parallel_efficiency"] is None else f"{100 * e['parallel_efficiency']:.0f}%"
        L.append(f"| emflow | {e['ranks']} x 1 | {r['trajectories']} | {e['time_s_median']:.2f} s [{min(ts):.2f} – "
                 f"{max(ts):.2f}] | {e['trajectories_per_s']:.0f} | {eff} | {e.get('cpu_s_median', float('nan')):.2f} s "
                 f"({100 * (e.get('cpu_efficiency') or float('nan')):.0f}%) | "
                 f"{npr['time_s_median'] / e['time_s_median']:.2f} | {e['wall_s_median']:.2f} s |")
    ts = npr["time_s_all"]
    L.append(f"| numpy {npr['numpy']} | 1 x 1 | {r['trajectories']} | {npr['time_s_median']:.2f} s [{min(ts):.2f} – "
             f"{max(ts):.2f}] | {npr['trajectories_per_s']:.0f} | – | – | 1 | – |")
    L.append("")
    L.append("Times are medians of the repetitions, [min – max]. numpy/emflow > 1 means emflow is faster. emflow's "
             "time is its own log line (simulation with pass 0 of sums, minima and maxima, then one histogram pass "
             "per level of the exact quantile selection over the counts kept in memory, or recomputed from their "
             "Philox streams beyond 1 GiB per rank); "
             "the whole process adds MPI start-up, the posterior read and the HDF5 output. numpy keeps all "
             "trajectories in memory (int32) and sorts them per cell (np.quantile), single-threaded.")
    return L


def classify_markdown(r):
    """Markdown of one bench_classify.py result (also used by bench_classify.py --out)."""
    L = []
    v, env = r["validation"], r["environment"]
    peers = {p["impl"]: p for p in r["peers"]}
    pv = env.get("peers", {})
    names = {"duckdb": f"DuckDB {pv.get('duckdb', {}).get('version', '?')} SQL (@duckdb/node-api, Node.js "
                       f"{pv.get('duckdb', {}).get('runtime', '?')}, {pv.get('duckdb', {}).get('threads', '?')} threads, "
                       "bench/peers/classify_duckdb.mjs)",
             "pandas": f"pandas {pv.get('pandas', {}).get('version', '?')} (numpy {env.get('numpy', '?')}, 1 thread, "
                       "bench/peers/classify_pandas.py)"}
    recs = r["records"]
    L.append(f"`emflow classify` on {recs:,} crossings ({r['csv_bytes'] / 2**20:.0f} MiB of CSV, "
             f"{r['csv_bytes_per_record']:.1f} B/record; `emflow simulate --no-faults`"
             + (f" --scale {r['simulate_scale']:g}" if r.get("simulate_scale") else "")
             + f"; {r['persons']:,} persons) against the same rule in "
             + (" and ".join(names[k] for k in peers) if peers else "no peer (see the notes)")
             + f"; {r['date']}, {r.get('emflow_version', '?')}, load average {env['load_average_start']} at start, "
             f"{env['load_average_end']} at end.")
    L.append("")
    L.append(f"Configuration: {r['configuration']}; emflow `{' '.join(r.get('emflow_options', ['classify']))}`.")
    L.append("")
    e = v["edge_cases"]
    rej = ", ".join(f"{n} {k}" for k, n in v["rejects"].items()) or "none"
    cells = ", ".join(f"{k} {n}" for k, n in v["cells_compared"].items())
    L.append(f"Validation {'passed' if r['validated'] else 'FAILED'} before timing: on {e['records']:,} generated "
             f"edge-case records ({e['persons']:,} persons; {e['totals']['migrant_departures']} migrant departures, "
             f"{e['totals']['migrant_arrivals']} arrivals, {e['totals']['pending_departures']} + "
             f"{e['totals']['pending_arrivals']} pending) and on the benchmark file (months {v['months'][0]} .. "
             f"{v['months'][1]}, {v['citizenships']} citizenships; {v['totals']['migrant_departures']:,} migrant "
             f"departures, {v['totals']['migrant_arrivals']:,} arrivals, {v['totals']['pending_departures']:,} + "
             f"{v['totals']['pending_arrivals']:,} pending) the four tables of every peer equal emflow's cell by cell"
             + (f" (non-zero cells compared: {cells})" if cells else "") + f"; accepted records equal "
             f"({v['records_accepted']:,} of {v['records_in']:,}; rejected: {rej}); emflow made no repair.")
    L.append("")
    L.append("| implementation | ranks x threads | wall time | CPU time | records/s | stages (median) | "
             "peak memory | B/record beyond input | speed-up vs 1 x 1 / peer ÷ emflow |")
    L.append("|---|---|---|---|---|---|---|---|---|")

    def rng(x, f="{:.2f}"):
        return (f.format(x["median"]) + " s [" + f.format(x["min"]) + " – " + f.format(x["max"]) + "]") if x else "–"

    for x in r["emflow"]:
        st = x["stages_s"]
        sts = (f"ingest {st['ingest']:.2f}, link + rule {st['link_rule_tabulate']:.2f}, write {st['write']:.2f}, "
               f"start-up {st['startup_exit']:.2f}") if st else "–"
        L.append(f"| emflow | {x['ranks']} x {x['threads']} | {rng(x['wall_s'])} | {rng(x['cpu_s'])} | "
                 f"{x['records_per_s'] / 1e6:.2f} M | {sts} | {x['peak_rss_kb_sum'] / 1024:.0f} MiB | "
                 f"{x['bytes_per_record_beyond_input']:.1f} | {x['speedup_vs_1x1']:.2f} "
                 f"({100 * x['parallel_efficiency']:.0f}%) |")
    best = r["best_emflow_layout"]
    for p in r["peers"]:
        st = ", ".join(f"{k.replace('_', ' ')} {t:.2f}" for k, t in p["internal_s"].items() if k not in ("total", "open"))
        rw, rc = p["ratio_wall_vs_emflow"], p.get("ratio_cpu_vs_emflow", {})
        L.append(f"| {p['impl']} {p['version']} | {p['threads']} thread{'s' if p['threads'] > 1 else ''} | "
                 f"{rng(p['wall_s'])} | {rng(p['cpu_s'])} | {p['records_per_s'] / 1e6:.2f} M | {st} | "
                 f"{p['peak_rss_kb_sum'] / 1024:.0f} MiB | {p['bytes_per_record_beyond_input']:.1f} | "
                 + (f"**{rw['1x1']:.2f}x** vs 1 x 1 (CPU: {rc.get('1x1', float('nan')):.2f}x) |" if best == "1x1" else
                    f"**{rw['1x1']:.2f}x** vs 1 x 1, {rw[best]:.2f}x vs {best.replace('x', ' x ')} (the fastest; CPU: "
                    f"{rc.get('1x1', float('nan')):.2f}x, {rc.get(best, float('nan')):.2f}x) |"))
    L.append("")
    L.append("Times: the whole process (read the CSV, validate every record, link, classify, tabulate, write the "
             "tables), median of the runs [min – max], page cache warm for every side; CPU = user + system of all "
             "processes and threads. emflow runs under `mpiexec --bind-to none` at every layout (1 x 1 included), "
             "so start-up covers mpiexec, MPI_Init and MPI_Finalize; its write stage includes a SHA-256 of the whole "
             "input CSV for the provenance (on rank 0). Stages of the peers are their own clocks (DuckDB: read + "
             "validate, per-person order and running sums, days table, window counts (ASOF join), status and "
             "tabulation; pandas: read + parse + validate, sort, rule, tabulate); Node.js or Python start-up is the "
             "rest. Peak memory: the sum over the processes of their VmHWM (sampled every 20 ms); beyond the input: "
             "minus the same program's peak on a 200-person file, divided by the records (the CSV is read through "
             "stdio, not mapped). Ratios > 1: emflow faster.")
    for n in r.get("notes", []):
        L.append("")
        L.append(f"Note: {n}")
    return L


def simulate_markdown(rows):
    L = []
    x0 = rows[0]
    L.append(f"`emflow simulate` (bench/bench_simulate.sh, issue 3: the Azerbaijan profile at the scale that gives the "
             f"records wanted, writing {x0['output']}; 1 and 2 ranks give the same bytes, checked first; "
             f"{x0['env']['version']}, OMP_NUM_THREADS={x0['env']['omp_num_threads']}):")
    L.append("")
    L.append("| records | ranks | time, median [min – max] | records/s | bytes/record CSV | bytes/record HDF5 |")
    L.append("|---|---|---|---|---|---|")
    for x in rows:
        L.append(f"| {x['records']:,} (scale {x['scale']:g}) | {x['env']['ranks']} | {x['seconds_median']:.1f} s "
                 f"[{x['seconds_min']:.1f} – {x['seconds_max']:.1f}] | {x['records_per_s']:,} | "
                 f"{x['csv_bytes_per_record']:.1f} | {x['h5_bytes_per_record']:.1f} |")
    return L


def estimate_scaling_markdown(rows):
    L = []
    x0 = rows[0]
    L.append(f"`emflow estimate` chains across ranks and threads (bench/bench_estimate_scaling.sh: {x0['workload']}, "
             f"{x0['chains']} chains x ({x0['warmup']} + {x0['draws']}) iterations; every layout wrote the same output "
             f"bytes, h5diff; {x0['version']}, load average {x0['load_average']} at start):")
    L.append("")
    L.append("| ranks x threads | time (mean of 2 runs) [runs] | speed-up | parallel efficiency |")
    L.append("|---|---|---|---|")
    for x in rows:
        t = x["time_s_runs"]
        L.append(f"| {x['ranks']} x {x['threads']} | {x['time_s']:.1f} s [{t[0]:.1f}, {t[1]:.1f}] | {x['speedup']:.2f} | "
                 f"{100 * x['efficiency']:.0f}% |")
    return L


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--raw", required=True)
    ap.add_argument("--out", required=True, help="output path without extension")
    a = ap.parse_args()
    raw = read_jsonl(a.raw)
    run = next((r for r in raw if r.get("bench") == "run"), {})
    env = next((r for r in raw if r.get("bench") == "env"), {})
    notes = [r["text"] for r in raw if r.get("bench") == "note"]
    stream = [r for r in raw if r.get("bench") == "stream_triad"]

    # ---- IPF: every emflow row (size, threads, case) with the numpy row of the same size and case
    ipf = []
    stream_best = {s["threads"]: s["best_gbs"] for s in stream}
    np_ipf = {tuple(r["dims"]): r for r in raw if r.get("bench") == "ipf3d" and r.get("impl") == "numpy"}
    for r in (r for r in raw if r.get("bench") == "ipf3d" and r.get("impl") == "emflow"):
        peer = np_ipf.get(tuple(r["dims"]))
        for c in r["cases"]:
            pc = next((p for p in peer["cases"] if p["margins"] == c["margins"]), None) if peer else None
            cells = r["dims"][0] * r["dims"][1] * r["dims"][2]
            row = {"workload": f"IPF 3-D, {c['margins'].replace('_', ' ')}", "dims": r["dims"],
                   "table_MB": cells * 8 / 1e6, "threads": r["threads"], "sweeps_timed": r["sweeps_timed"],
                   "reps": r["reps"],
                   "emflow_sweep_s": {"median": c["sweep_s_median"], "min": c["sweep_s_min"], "max": c["sweep_s_max"]},
                   "emflow_GBs": c["GBs"], "bytes_per_sweep": c["bytes_per_sweep"],
                   "stream_triad_GBs_same_run": r["stream_triad_GBs"],
                   "stream_triad_GBs_median_same_run": r.get("stream_triad_GBs_median"),
                   "pct_of_triad_same_process": 100 * c["GBs_vs_triad"],
                   "stream_triad_GBs_bench_stream_best": stream_best.get(r["threads"]),
                   "pct_of_triad": (100 * c["GBs"] / stream_best[r["threads"]]) if r["threads"] in stream_best
                   else 100 * c["GBs_vs_triad"],
                   "emflow_maxrss_kb": r.get("maxrss_kb"),
                   "emflow_iterations_to_converge": c["iterations_to_converge"]}
            if pc:
                row.update({"peer": f"numpy {peer.get('numpy', '')}".strip(), "peer_threads": peer["threads"],
                            "peer_sweep_s": {"median": pc["sweep_s_median"], "min": pc["sweep_s_min"],
                                             "max": pc["sweep_s_max"]},
                            "ratio_peer_over_emflow": pc["sweep_s_median"] / c["sweep_s_median"],
                            "peer_validated_max_rel_diff": pc["validated_max_rel_diff"],
                            "peer_maxrss_kb": peer.get("maxrss_kb")})
            ipf.append(row)

    # ---- GLS
    gls = []
    np_gls = {(r["case"], r["n"], r["m"], r["threads"]): r for r in raw
              if r.get("bench") == "gls" and r.get("impl") == "numpy"}
    for r in (r for r in raw if r.get("bench") == "gls" and r.get("impl") == "emflow"):
        peer = np_gls.get((r["case"], r["n"], r["m"], r["threads"]))
        name = "GLS flow balancing, diagonal V" if r["case"] == "flow" else "GLS balance constraints, dense V"
        size = (f"N={r['N']}: n={r['n']}, m={r['m']}" if r["case"] == "flow" else f"n={r['n']}, m={r['m']}")
        row = {"workload": name, "size": size, "case": r["case"], "n": r["n"], "m": r["m"], "threads": r["threads"],
               "reps": r["reps"],
               "emflow_solve_s": {"median": r["solve_s_median"], "min": r["solve_s_min"], "max": r["solve_s_max"]},
               "emflow_solve_check_v_s_median": r.get("solve_check_v_s_median"),
               "emflow_gflops": r["gflops"], "gflop_model": r["gflop_model"], "validated": r["validated"],
               "emflow_maxrss_kb": r.get("maxrss_kb"),
               # rate against the yardstick of the same process: GB/s vs the STREAM triad (flow balancing,
               # diagonal V: a memory-bound scan of A) or GFLOP/s vs a DGEMM (dense V: compute-bound)
               "metric": r.get("metric"), "bytes_model": r.get("bytes_model"), "emflow_GBs": r.get("GBs"),
               "stream_triad_GBs_same_process": r.get("stream_triad_GBs"),
               "pct_of_triad_same_process": 100 * r["GBs_vs_triad"] if r.get("GBs_vs_triad") is not None else None,
               "gflop_model_full": r.get("gflop_model_full"), "emflow_gflops_full": r.get("gflops_full"),
               "dgemm_GFLOPs_same_process": r.get("dgemm_GFLOPs"),
               "pct_of_dgemm_same_process": 100 * r["gflops_vs_dgemm"] if r.get("gflops_vs_dgemm") is not None
               else None}
        if peer:
            row.update({"peer": f"numpy {peer.get('numpy', '')}".strip(), "peer_threads": peer["threads"],
                        "peer_solve_s": {"median": peer["solve_s_median"], "min": peer["solve_s_min"],
                                         "max": peer["solve_s_max"]},
                        "ratio_peer_over_emflow": peer["solve_s_median"] / r["solve_s_median"],
                        "peer_validated": peer["validated"], "peer_maxrss_kb": peer.get("maxrss_kb")})
        gls.append(row)

    estimate = [r for r in raw if r.get("bench") == "estimate"]
    estimate_jags = [r for r in raw if r.get("bench") == "estimate_jags"]
    forecast = [r for r in raw if r.get("bench") == "forecast"]
    classify = [r for r in raw if r.get("bench") == "classify"]
    scaling = [r for r in raw if r.get("bench") == "estimate_scaling"]
    simulate = [r for r in raw if r.get("bench") == "simulate"]

    mach = machine()
    result = {"schema": "emflow-bench-results-1", "date": run.get("date"), "mode": run.get("mode"),
              "command": run.get("command"), "git": run.get("git"), "version_source": run.get("version_source"),
              "build": run.get("build"),
              "environment": {"machine": mach, "software": {k: v for k, v in env.items() if k != "bench"},
                              "omp_threads_tested": run.get("threads"), "load_average_start": run.get("load_start"),
                              "load_average_end": run.get("load_end"), "omp_env": run.get("omp_env"),
                              "python": run.get("python"),
                              "numpy": run.get("numpy")},
              "stream_triad": stream, "ipf": ipf, "gls": gls, "estimate": estimate,
              "estimate_jags": estimate_jags, "forecast": forecast,
              "classify": classify, "estimate_scaling": scaling, "simulate": simulate,
              "notes": notes,
              "raw": raw}
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out + ".json", "w", encoding="utf-8") as f:
        json.dump(result, f, indent=1)
        f.write("\n")

    # ---- Markdown
    sw = result["environment"]["software"]
    L = []
    L.append(f"Command: `{run.get('command', 'bench/run.sh')}` ({run.get('mode', '?')} mode), "
             f"{run.get('date', '?')}, emflow {run.get('git', '?')}"
             + (f" (version from {run['version_source']})" if run.get("version_source") else "") + ".")
    L.append("")
    L.append(f"Machine: {mach.get('cpu_model', '?')}, {mach.get('logical_cpus', '?')} logical CPUs "
             f"({mach.get('sockets', '?')} socket x {mach.get('cores_per_socket', '?')} cores, "
             f"{mach.get('threads_per_core', '?')} thread/core{', ' + mach['hypervisor'] + ' VM' if mach.get('hypervisor') else ''}), "
             f"L2 {mach.get('l2_cache', '?')}, L3 {mach.get('l3_cache', '?')}, memory {mach.get('memory_total', '?')}; "
             f"load average {run.get('load_start', '?')} at start, {run.get('load_end', '?')} at end "
             f"(shared machine: timings are noisy). OpenMP environment: "
             f"{', '.join(f'{k}={v}' for k, v in sorted((run.get('omp_env') or {}).items())) or 'library defaults'}"
             f" (thread counts set per row).")
    L.append(f"Software: {sw.get('compiler', '?')} ({run.get('build', 'Release')}), {sw.get('blas', '?')} ({sw.get('blas_threading', '?')}), "
             f"{sw.get('lapack', '?')}, {sw.get('mpi', '?').split(',')[0]}, {sw.get('hdf5', '?')}"
             f"{' (parallel)' if sw.get('hdf5_parallel') else ''}; peer: numpy {run.get('numpy') or 'unavailable'} "
             f"on Python {run.get('python', '?')}.")
    L.append("")
    L.append("Times are medians over repetitions, [min – max] in brackets; monotonic clocks; I/O excluded on "
             "both sides; every row was validated before it was timed (IPF: emflow fast = reference bitwise, "
             "numpy = emflow to <= 1e-12 relative after 1, 3 and 1 + S sweeps; GLS: KKT certificate, "
             "emflow = numpy to <= 1e-10). Ratio = numpy time / emflow time (> 1: emflow faster).")
    L.append("")
    L.append("| Workload | Size | Threads | emflow | numpy | numpy/emflow | emflow GB/s | % of STREAM triad | "
             "Peak RSS emflow / numpy |")
    L.append("|---|---|---|---|---|---|---|---|---|")
    for s in stream:
        L.append(f"| STREAM triad (bench_stream) | 3 x {s['mib_per_array']} MiB | {s['threads']} | "
                 f"{s['median_gbs']:.1f} GB/s [{s['worst_gbs']:.1f} – {s['best_gbs']:.1f}] | – | – | "
                 f"{s['best_gbs']:.1f} (best) | 100 | – |")
    for r in ipf:
        d = r["dims"]
        peer = (fmt_range(r["peer_sweep_s"]["median"], r["peer_sweep_s"]["min"], r["peer_sweep_s"]["max"]) +
                f" ({r['peer_threads']} thr)") if "peer_sweep_s" in r else "skipped"
        ratio = f"{r['ratio_peer_over_emflow']:.2f}" if "ratio_peer_over_emflow" in r else "–"
        e = r["emflow_sweep_s"]
        L.append(f"| {r['workload']}, per sweep | {d[0]}x{d[1]}x{d[2]} ({r['table_MB']:.3g} MB) | {r['threads']} | "
                 f"{fmt_range(e['median'], e['min'], e['max'])} | {peer} | {ratio} | {r['emflow_GBs']:.1f} | "
                 f"{r['pct_of_triad']:.0f} ({r['pct_of_triad_same_process']:.0f}) | "
                 f"{fmt_mb(r['emflow_maxrss_kb'])} / {fmt_mb(r.get('peer_maxrss_kb'))} |")
    for r in gls:
        peer = fmt_range(r["peer_solve_s"]["median"], r["peer_solve_s"]["min"], r["peer_solve_s"]["max"]) \
            if "peer_solve_s" in r else "skipped"
        ratio = f"{r['ratio_peer_over_emflow']:.2f}" if "ratio_peer_over_emflow" in r else "–"
        e = r["emflow_solve_s"]
        if r.get("metric") == "GBs" and r.get("emflow_GBs") is not None:
            rate, pct = f"{r['emflow_GBs']:.1f}", f"{r['pct_of_triad_same_process']:.0f} (same process)"
        elif r.get("emflow_gflops_full") is not None:
            rate = f"– ({r['emflow_gflops_full']:.1f} GFLOP/s)"
            pct = (f"{r['pct_of_dgemm_same_process']:.0f}% of DGEMM" if r.get("pct_of_dgemm_same_process") is not None
                   else "–")
        else:
            rate, pct = f"– ({r['emflow_gflops']:.1f} GFLOP/s)", "–"
        L.append(f"| {r['workload']}, per solve | {r['size']} | {r['threads']} | "
                 f"{fmt_range(e['median'], e['min'], e['max'])} | {peer} | {ratio} | {rate} | {pct} | "
                 f"{fmt_mb(r['emflow_maxrss_kb'])} / {fmt_mb(r.get('peer_maxrss_kb'))} |")
    L.append("")
    L.append("IPF GB/s counts the bytes an ideal implementation must move per sweep, whatever emflow's passes do "
             "(2-D margins: one read and one write of the table, 16 bytes per cell; 1-D margins: two reads and a "
             "write, 24; bench/bench_ipf.c). % of STREAM triad: against the best bench_stream triad of this run at the same "
             "thread count (DRAM-resident arrays), in parentheses against the best of the 10 triads bench_ipf "
             "runs in its own process right after timing (same threads; more exposed to the load of the moment). "
             "STREAM counts 24 bytes per triad element but the hardware also reads the written line "
             "(write-allocate, 32 bytes), while IPF's in-place passes read and write the same lines, so IPF "
             "can exceed 100% even from DRAM; tables smaller than the L3 cache run from cache. "
             "numpy's IPF is single-threaded (ufuncs and reductions), so the same numpy time is compared with "
             "both emflow thread counts. GLS with diagonal V (flow balancing, sparse A): GB/s of one read of A, x, v, "
             "b and one write of x-hat, against the triad of the same process; with dense V: GFLOP/s of the full "
             "model (2 m n^2 + m(m+1) n + m^3/3 + ...) against a 2048^3 DGEMM of the same process; "
             "GLS is timed with check_v = 0 on emflow (numpy does not check V)"
             + ("; with the default check_v = 1 the dense-V solve takes " +
                ", ".join(f"{fmt_t(r['emflow_solve_check_v_s_median'])} (n={r['n']}, {r['threads']} thr)"
                          for r in gls if r.get("emflow_solve_check_v_s_median")) if any(
                    r.get("emflow_solve_check_v_s_median") for r in gls) else "") +
             ". Peak RSS is the whole benchmark process (getrusage), validation buffers included.")
    for r in estimate:
        L.append("")
        L.extend(estimate_markdown(r))
    for r in estimate_jags:
        L.append("")
        L.extend(estimate_jags_markdown(r))
    for r in forecast:
        L.append("")
        L.extend(forecast_markdown(r))
    for r in classify:
        L.append("")
        L.extend(classify_markdown(r))
    if scaling:
        L.append("")
        L.extend(estimate_scaling_markdown(scaling))
    if simulate:
        L.append("")
        L.extend(simulate_markdown(simulate))
    for n in notes:
        L.append("")
        L.append(f"Note: {n}")
    with open(a.out + ".md", "w", encoding="utf-8") as f:
        f.write("\n".join(L) + "\n")
    print(a.out + ".json")
    print(a.out + ".md")


if __name__ == "__main__":
    main()
