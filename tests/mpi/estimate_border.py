#!/usr/bin/python3
"""Border-based model of `emflow estimate` against the ground truth of a simulation.

    estimate_border.py gen DIR       write border.csv, declared.csv, mirror.csv, estimate.ini, truth.npz
    estimate_border.py check DIR OUT.h5

The data are drawn from the model of kernels/emi_imem.h in its border configuration, with numpy's
generator (independent of emflow's Philox streams): G = 60 citizenship groups x T = 16 quarters
(2012-Q1 .. 2015-Q4), true log emigration z = b0 + b1 trend + u_g + e_gt (AR(1)), and three
reports per cell, each Poisson around exp(z + log coverage + log kappa + N(0, tau^2)):
  border    coverage 0.96 (1 - missed-record rate), accuracy high (tau 0.05), 5% missing;
  declared  coverage 0.35 (a third of emigrants deregister), accuracy medium (tau 0.15), 10% missing;
  mirror    coverage 0.70, reported under a 6-month definition (kappa = 1 / 0.73), accuracy low
            (tau 0.3), 40% missing.
The priors given to emflow (estimate.ini) contain those values: border Beta(96, 4), declared
Beta(1, 1), mirror Beta(44.56, 20.89) (mean 0.68).

Right values: the truth of the simulation.  With 960 cells the share of true flows inside their
90% posterior intervals has a binomial sd of sqrt(0.9 * 0.1 / 960) = 0.97 points, so the band
87-93% asked for by issue 6 is about +-3 sd; the same for undeclared emigration (true flow minus
the declared count, in the cells with a declaration).  The posterior of the declaration coverage
must hold its true value 0.35 within 4 posterior sd.
"""
import sys

import numpy as np

G, T = 60, 16
LAM = {"border": 0.96, "declared": 0.35, "mirror": 0.70}
TAU = {"border": 0.05, "declared": 0.15, "mirror": 0.30}
MISS = {"border": 0.05, "declared": 0.10, "mirror": 0.40}
KAPPA = {"border": 1.0, "declared": 1.0, "mirror": 1.0 / 0.73}


def periods():
    return ["%d-Q%d" % (2012 + t // 4, t % 4 + 1) for t in range(T)]


def gen(d):
    rng = np.random.default_rng(20261204)
    b0, b1 = 6.0, 0.15
    su, se, rho = 0.8, 0.12, 0.7
    trend = (np.arange(T) - 0.5 * (T - 1)) / np.sqrt((T * T - 1) / 12.0)
    z = np.empty((G, T))
    for g in range(G):
        u = su * rng.standard_normal()
        e = se / np.sqrt(1 - rho * rho) * rng.standard_normal()
        for t in range(T):
            if t > 0:
                e = rho * e + se * rng.standard_normal()
            z[g, t] = b0 + b1 * trend[t] + u + e
    groups = ["G%03d" % g for g in range(G)]
    per = periods()
    rep = {}
    for s in ("border", "declared", "mirror"):
        vals = np.full((G, T), -1, dtype=np.int64)
        with open("%s/%s.csv" % (d, s), "w") as f:
            f.write("citizen,TIME_PERIOD,OBS_VALUE\n")
            for g in range(G):
                for t in range(T):
                    if rng.uniform() < MISS[s]:
                        f.write("%s,%s,NA\n" % (groups[g], per[t]))  # missing drops out
                        continue
                    eta = z[g, t] + np.log(LAM[s]) + np.log(KAPPA[s]) + TAU[s] * rng.standard_normal()
                    n = rng.poisson(np.exp(eta))
                    vals[g, t] = n
                    f.write("%s,%s,%d\n" % (groups[g], per[t], n))
        rep[s] = vals
    np.savez("%s/truth.npz" % d, z=z, declared=rep["declared"])
    with open("%s/estimate.ini" % d, "w") as f:
        f.write("""[estimate]
model = border
border = border.csv
declared = declared.csv
mirror = mirror.csv
prior-border = 96,4
prior-declared = 1,1
prior-mirror = 44.56,20.89
mirror-duration = 6
border-accuracy = high
declared-accuracy = medium
mirror-accuracy = low
accuracy-tau-high = 0.05
accuracy-tau-medium = 0.15
accuracy-tau-low = 0.3
chains = 4
warmup = 400
draws = 500
checkpoint-every = 0
""")


def check(d, out):
    import h5py
    tr = np.load("%s/truth.npz" % d)
    z, decl = tr["z"], tr["declared"]
    fails = 0
    with h5py.File(out, "r") as f:
        stat = [s.decode() for s in f["/estimate/stat"][:]]
        iq5, iq95, imean, isd = stat.index("q05"), stat.index("q95"), stat.index("mean"), stat.index("sd")
        grp = [s.decode() for s in f["/estimate/group"][:]]
        per = [s.decode() for s in f["/estimate/period"][:]]
        if grp != ["G%03d" % g for g in range(G)] or per != periods():
            print("FAIL: scales: groups %s..., periods %s..." % (grp[:3], per[:3]))
            return 1
        fl = f["/posterior/flows/summary"][:]
        y = np.exp(z)
        inside = (fl[:, :, iq5] <= y) & (y <= fl[:, :, iq95])
        share = inside.mean()
        print("true flows inside their 90%% intervals: %.1f%% of %d cells" % (100 * share, inside.size))
        if not 0.87 <= share <= 0.93:
            print("FAIL: flow coverage %.3f outside [0.87, 0.93]" % share)
            fails += 1
        und = f["/undeclared/emigration/summary"][:]
        flag = f["/undeclared/emigration/declared_reported"][:]
        if not np.array_equal(flag == 1, decl >= 0):
            print("FAIL: declared_reported does not mark the cells with a declared count")
            fails += 1
        m = decl >= 0
        tu = y - decl
        ins = (und[:, :, iq5] <= tu) & (tu <= und[:, :, iq95])
        su = ins[m].mean()
        print("true undeclared emigration inside its 90%% intervals: %.1f%% of %d cells" % (100 * su, m.sum()))
        if not 0.87 <= su <= 0.93:
            print("FAIL: undeclared coverage %.3f outside [0.87, 0.93]" % su)
            fails += 1
        if np.any(und[~m][:, [imean, iq5, iq95]] != 0):
            print("FAIL: undeclared emigration is not 0 where nothing was declared")
            fails += 1
        par = [s.decode() for s in f["/estimate/parameter"][:]]
        ps = f["/posterior/summary"][:]
        for name, key in (("lambda[declared]", "declared"), ("lambda[border]", "border"), ("lambda[mirror]", "mirror")):
            i = par.index(name)
            mu, sd = ps[i, imean], ps[i, isd]
            print("%s: true %.3f, posterior %.3f (sd %.3f)" % (name, LAM[key], mu, sd))
            if abs(mu - LAM[key]) > 4 * sd:
                print("FAIL: %s more than 4 sd from the truth" % name)
                fails += 1
        # the forecast's starting state: z of the last period = x'beta + u + e_last (flows stored as
        # float32: relative rounding 6e-8, so log flows agree to 1e-6)
        dr = f["/posterior/draws"][:]
        x = f["/estimate/x"][:]
        nb = x.shape[2]
        bet = dr[:, :, :nb]
        u = f["/posterior/flows/corridor_effect"][:]
        el = f["/posterior/flows/ar_last"][:]
        zl = np.einsum("cdp,kp->cdk", bet, x[:, -1, :]) + u + el
        lf = np.log(f["/posterior/flows/draws"][:, :, :, -1].astype(np.float64))
        dz = np.max(np.abs(zl - lf))
        print("last-period state: max |x'beta + u + e_last - log flow| = %.2g" % dz)
        if not dz < 1e-6:
            print("FAIL: /posterior/flows/ar_last and corridor_effect do not give the last period's flows")
            fails += 1
        for ds in ("/posterior/flows/summary", "/undeclared/emigration/summary", "/posterior/summary"):
            if not np.all(np.isfinite(f[ds][:])):
                print("FAIL: %s holds a non-finite value" % ds)
                fails += 1
        if f["/posterior"].attrs["status"].decode() if isinstance(f["/posterior"].attrs["status"], bytes) \
                else f["/posterior"].attrs["status"] != "ok":
            print("note: /posterior status %s" % f["/posterior"].attrs["status"])
    return 1 if fails else 0


def nz(out):
    """inputs/nz.ini on the real PLT departures: benchmark source (coverage 1), accuracy high
    (tau prior scale 0.05): the posterior medians of the true flows must follow the counts within
    15% in every year (a smoothed series cannot stray further from a source of that accuracy), the
    fit must be of 2 groups x 38 years, and the diagnostics must pass."""
    import h5py
    with h5py.File(out, "r") as f:
        st = f["/posterior"].attrs["status"]
        st = st.decode() if isinstance(st, bytes) else st
        grp = [s.decode() for s in f["/estimate/group"][:]]
        per = [s.decode() for s in f["/estimate/period"][:]]
        stat = [s.decode() for s in f["/estimate/stat"][:]]
        med = f["/posterior/flows/summary"][:, :, stat.index("q50")]
        rep = f["/estimate/border_reported"][:]
    fails = 0
    if st != "ok":
        print("FAIL: /posterior status %r" % st)
        fails += 1
    if grp != ["Australian Citizen", "New Zealand Citizen"] or per != [str(y) for y in range(1979, 2017)]:
        print("FAIL: groups %s, periods %s..%s" % (grp, per[0], per[-1]))
        return 1
    if rep[1, per.index("2016")] != 33489 or rep[0, per.index("1979")] != 4477:
        print("FAIL: the reported counts are not the PLT departures (NZ 2016 = 33489, AU 1979 = 4477)")
        fails += 1
    ratio = med / rep
    print("NZ: posterior median / reported departures in [%.3f, %.3f]" % (ratio.min(), ratio.max()))
    if not (np.all(rep > 0) and np.all(np.abs(ratio - 1) < 0.15)):
        print("FAIL: fitted flows stray more than 15% from the counts")
        fails += 1
    return 1 if fails else 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "nz":
        sys.exit(nz(sys.argv[2]))
    if len(sys.argv) == 3 and sys.argv[1] == "gen":
        gen(sys.argv[2])
        sys.exit(0)
    if len(sys.argv) == 4 and sys.argv[1] == "check":
        sys.exit(check(sys.argv[2], sys.argv[3]))
    sys.exit("usage: estimate_border.py gen DIR | check DIR OUT.h5")
