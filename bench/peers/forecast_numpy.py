#!/usr/bin/python3
"""forecast_numpy.py: the simulation of `emflow forecast` (baseline scenario), vectorised in numpy.

    /usr/bin/python3 bench/peers/forecast_numpy.py --posterior EST.h5 --horizon 8 --trajectories N
        [--seed S] [--chunk 10000] [--reps 1] [--out SUMMARY.npz]

The same model as kernels/emi_fcast.c and engine/emi_cmd_forecast.c, from the same posterior file:
trajectory k takes posterior draw j = k mod (chains x draws) (chain-major, /posterior/draws,
/posterior/flows/corridor_effect u, /posterior/flows/ar_last e); the forecast covariates are the last
fitted period's /estimate/x, with the `trend` column continued linearly; per series and period
    e_h = rho e_{h-1} + sigma_e eps,   count ~ Poisson(exp(x_h' beta + u + e_h)),
and, when the fit has a declaration coverage lambda[declared] = pi (border model with declarations),
declared ~ Binomial(count, pi), undeclared = count - declared.  Series: the groups and _TOTAL.
Summaries: the mean and np.quantile (type 7, numpy's default "linear") at 2.5 ... 97.5% of every
series x period, for flows and undeclared: the same stat layout as /forecast/baseline/flows.
The random numbers are numpy's PCG64 (not emflow's Philox streams): results agree with emflow's
within Monte Carlo error, not bit for bit.

Timed: simulation + summaries (the posterior is read before the clock starts; emflow's
"trajectories in X s" log line times the same work).  Trajectories are simulated in chunks of
--chunk (memory: the counts are kept as int32, N x (K + 1) x H per part, for np.quantile).
Prints one JSON line (bench "forecast", impl "numpy") on stdout; --out saves the summaries and the
per-cell standard deviations (for the validation in bench/bench_forecast.py).
"""
import argparse
import json
import platform
import resource
import sys
import time

import h5py
import numpy as np

QLEV = [0.025, 0.05, 0.10, 0.25, 0.50, 0.75, 0.90, 0.95, 0.975]


def text(x):
    return x.decode() if isinstance(x, bytes) else str(x)


def load(path):
    with h5py.File(path, "r") as f:
        model = text(f["/estimate"].attrs["model"])
        if model != "border":
            sys.exit(f"forecast_numpy: {path}: model {model}: this peer implements the border model only")
        x = f["/estimate/x"][()]                                   # K x T x P
        draws = f["/posterior/draws"][()]                          # chains x draws x params
        u = f["/posterior/flows/corridor_effect"][()]              # chains x draws x K
        el = f["/posterior/flows/ar_last"][()]
        par = [text(s) for s in f["/estimate/parameter"][()]]
        cov = [text(s) for s in f["/estimate/covariate"][()]]
        groups = [text(s) for s in f["/estimate/group"][()]]
    nd = draws.shape[0] * draws.shape[1]
    ib = next(i for i, p in enumerate(par) if p.startswith("beta["))
    P = x.shape[2]
    post = {"x": x, "beta": draws.reshape(nd, -1)[:, ib:ib + P], "rho": draws.reshape(nd, -1)[:, par.index("rho")],
            "sig": draws.reshape(nd, -1)[:, par.index("sigma_e")], "u": u.reshape(nd, -1), "el": el.reshape(nd, -1),
            "pi": draws.reshape(nd, -1)[:, par.index("lambda[declared]")] if "lambda[declared]" in par else None,
            "trend": cov.index("trend") if "trend" in cov else -1, "groups": groups, "nd": nd}
    return post


def forecast_x(post, H):
    x = post["x"]
    K, T, P = x.shape
    xf = np.repeat(x[:, T - 1:T, :], H, axis=1).copy()             # K x H x P
    c = post["trend"]
    if c >= 0 and T > 1:
        xf[:, :, c] = x[:, T - 1, c][:, None] + np.arange(1, H + 1)[None, :] * (x[:, T - 1, c] - x[:, T - 2, c])[:, None]
    return xf


def simulate(post, H, N, seed, chunk):
    """Counts (int32) N x (K + 1) x H of flows and, with declarations, of undeclared emigration."""
    rng = np.random.default_rng(seed)
    xf = forecast_x(post, H)
    K = xf.shape[0]
    undecl = post["pi"] is not None
    flows = np.empty((N, K + 1, H), dtype=np.int32)
    und = np.empty((N, K + 1, H), dtype=np.int32) if undecl else None
    for k0 in range(0, N, chunk):
        k1 = min(N, k0 + chunk)
        j = np.arange(k0, k1) % post["nd"]
        xb = np.einsum("khp,cp->ckh", xf, post["beta"][j]) + post["u"][j][:, :, None]   # C x K x H
        e = post["el"][j].copy()
        rho, sig = post["rho"][j][:, None], post["sig"][j][:, None]
        for h in range(H):
            e = rho * e + sig * rng.standard_normal(e.shape)
            n = rng.poisson(np.exp(xb[:, :, h] + e))
            flows[k0:k1, :K, h] = n
            if undecl:
                und[k0:k1, :K, h] = n - rng.binomial(n, post["pi"][j][:, None])
        flows[k0:k1, K, :] = flows[k0:k1, :K, :].sum(axis=1, dtype=np.int64)
        if undecl:
            und[k0:k1, K, :] = und[k0:k1, :K, :].sum(axis=1, dtype=np.int64)
    return flows, und


def summarise(a):
    """series x period x (mean, 9 quantiles), and the per-cell sd."""
    mean = a.mean(axis=0, dtype=np.float64)
    q = np.quantile(a, QLEV, axis=0)                               # 9 x series x period
    return np.concatenate([mean[:, :, None], np.moveaxis(q, 0, -1)], axis=2)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--posterior", required=True)
    ap.add_argument("--horizon", type=int, default=8)
    ap.add_argument("--trajectories", type=int, required=True)
    ap.add_argument("--seed", type=int, default=12345)
    ap.add_argument("--chunk", type=int, default=10000)
    ap.add_argument("--reps", type=int, default=1)
    ap.add_argument("--out")
    a = ap.parse_args()
    post = load(a.posterior)
    times = []
    for rep in range(a.reps):
        t0 = time.perf_counter()
        flows, und = simulate(post, a.horizon, a.trajectories, a.seed + rep, a.chunk)
        sf = summarise(flows)
        su = summarise(und) if und is not None else None
        times.append(time.perf_counter() - t0)
        if rep == 0 and a.out:
            sd_f = flows.std(axis=0, dtype=np.float64)
            sd_u = und.std(axis=0, dtype=np.float64) if und is not None else None
            np.savez(a.out, flows=sf, undeclared=su if su is not None else np.zeros(0), sd_flows=sd_f,
                     sd_undeclared=sd_u if sd_u is not None else np.zeros(0), flows_traj=flows,
                     undeclared_traj=und if und is not None else np.zeros(0, dtype=np.int32))
        del flows, und
    med = float(np.median(times))
    print(json.dumps({"bench": "forecast", "impl": "numpy", "trajectories": a.trajectories, "horizon": a.horizon,
                      "series": len(post["groups"]) + 1, "undeclared": post["pi"] is not None, "reps": a.reps,
                      "time_s_all": times, "time_s_median": med, "trajectories_per_s": a.trajectories / med,
                      "numpy": np.__version__, "python": platform.python_version(),
                      "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))


if __name__ == "__main__":
    main()
