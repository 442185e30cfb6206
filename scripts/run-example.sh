#!/usr/bin/env bash
# The example a new user runs: install dependencies if missing, build emflow (Release), and run the
# main job on the bundled real input.  Prints where the outputs are and a few headline numbers.
#   scripts/run-example.sh [-n RANKS]     (default 2 MPI ranks)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

ranks=2
while [ $# -gt 0 ]; do
  case "$1" in
    -n) ranks=$2; shift ;;
    *) echo "usage: scripts/run-example.sh [-n RANKS]" >&2; exit 2 ;;
  esac
  shift
done

scripts/install-deps.sh
build=${BUILD_DIR:-build}
echo "== building emflow (Release) in $build/"
mkdir -p "$build"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >"$build/configure.log" 2>&1 || { cat "$build/configure.log"; exit 1; }
cmake --build "$build" --target emflow -j"$(nproc 2>/dev/null || echo 2)" 2>&1 | grep -E 'Built target|error' || true
[ -x "$build/engine/emflow" ] || { echo "build failed: see the messages above" >&2; exit 1; }
emflow="$root/$build/engine/emflow"
out="$root/example-output"
rm -rf "$out"   # the outputs of an earlier example
mkdir -p "$out"

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
mpi=(mpiexec -n "$ranks" --oversubscribe)

echo "== emflow $("$emflow" --version | cut -d' ' -f2), $ranks MPI rank(s) x $OMP_NUM_THREADS OpenMP thread(s)"

# 1. IPF on the published Willekens (1999) example, as researchers use migest's ipf2 (long CSV in and out).
ex=inputs/examples
"$emflow" ipf --seed $ex/willekens_seed.csv --margin $ex/willekens_rows.csv --margin $ex/willekens_cols.csv \
  -o "$out/willekens_fit.csv"

# 2. The 3x3 example with a structural zero, on all ranks, to a provenance-stamped HDF5 file.
"${mpi[@]}" "$emflow" ipf --seed $ex/zero_seed.csv --margin $ex/zero_rows.csv --margin $ex/zero_cols.csv \
  -o "$out/zero_fit.h5"

# 3. The main job, `emflow run`, on the bundled configs (each: one HDF5 file + a report directory).
#    EU-27 (real Eurostat double-entry flows 2010-2019): estimate, forecasts to 2030, report (~2 min here).
#    Azerbaijan (synthetic crossings calibrated to the real 2020-2022 border figures): simulate, classify,
#    estimate, forecast, report (~10 s).  Stats NZ (real PLT departures): fit 1979-2006, backtest 2007-2016.
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
for job in ${EXAMPLE_JOBS:-azerbaijan nz eu27}; do
  echo "== emflow run inputs/$job.ini"
  "${mpi[@]}" --bind-to none "$emflow" run "inputs/$job.ini" -o "$out/$job.h5" --log-level warn
done

echo
echo "== outputs in $out"
ls -l "$out"
echo
echo "== headline numbers"
echo "Willekens (1999) 2x2 fitted to rows (18, 20) and columns (16, 22); published [[13.25, 4.75], [2.75, 17.25]]:"
sed 's/^/  /' "$out/willekens_fit.csv"
echo "3x3 with a structural zero (HDF5 /ipf/fitted); published, rounded: [[72, 40, 59], [32, 88, 0], [396, 12, 1]]:"
/usr/bin/python3 - "$out/zero_fit.h5" <<'PY'
import sys, h5py
with h5py.File(sys.argv[1], "r") as f:
    x = f["/ipf/fitted"][()]
    print("  " + str([[round(v) for v in row] for row in x]))
    print("  status: %s after %d iterations; provenance: emflow %s, %s, %d rank(s)" % (
        f["/ipf"].attrs["status"], f["/ipf"].attrs["iterations"], f.attrs["version"], f.attrs["date"], f.attrs["mpi_ranks"]))
PY
for job in ${EXAMPLE_JOBS:-azerbaijan nz eu27}; do
/usr/bin/python3 - "$job" "$out/$job.h5" "$root/inputs/nz_plt_by_citizenship_1979_2016.csv" <<'PY'
import csv, sys
import h5py, numpy as np
job, path, nzcsv = sys.argv[1:4]
f = h5py.File(path, "r")
def strs(ds): return [v.decode() if isinstance(v, bytes) else str(v) for v in f[ds][()]]
def q(x): return np.percentile(x, [50, 5, 95])
post = f["/posterior"].attrs
print(f"{job}: {path} (report: {path[:-3]}_report/index.html)")
print("  diagnostics: %s (max R-hat %.3f, min bulk ESS %.0f)" % (post["status"], post["max_rhat"], post["min_ess_bulk"]))
if job == "eu27":
    cty, yrs = strs("/estimate/country"), strs("/estimate/year")
    d = f["/undeclared/emigration/draws"][()]            # chain x draw x country x year
    rep = f["/undeclared/emigration/corridors_reported"][()]
    t = yrs.index("2019")
    ok = [i for i in range(len(cty)) if rep[i, t] > 0]
    tot = d[:, :, ok, t].sum(axis=2).ravel()
    m, lo, hi = q(tot)
    print(f"  undeclared emigration 2019, the {len(ok)} countries with an emigration report for 2019: {m:,.0f} [{lo:,.0f}, {hi:,.0f}] (median, 90%)")
    s = f["/undeclared/emigration/summary"][()]
    st = strs("/estimate/stat")
    top = sorted(ok, key=lambda i: -s[i, t, st.index("q50")])[:3]
    print("  largest: " + "; ".join("%s %s [%s, %s]" % (cty[i], *("{:,.0f}".format(s[i, t, st.index(k)]) for k in ("q50", "q05", "q95"))) for i in top))
    per, fs = strs("/forecast/period"), strs("/forecast/stat")
    for sc in ("baseline", "mobility-shock", "destination-shock"):
        x = f[f"/forecast/{sc}/flows"][()]
        j = per.index("2030") if sc != "mobility-shock" else per.index("2020")
        print("  forecast %-17s all EU-27 flows %s: %s [%s, %s]" % (sc, per[j], *("{:,.0f}".format(x[-1, j, fs.index(k)]) for k in ("q50", "q05", "q95"))))
elif job == "azerbaijan":
    grp, per, st = strs("/estimate/group"), strs("/estimate/period"), strs("/estimate/stat")
    u = f["/undeclared/emigration/summary"][()]
    k = grp.index("AZE")
    print("  (a synthetic 5%% sample of the population) undeclared emigration of citizens %s (the latest quarter whose months are all final): %.0f [%.0f, %.0f] "
          "(median, 90%%); declared %d" % (per[-1], u[k, -1, st.index("q50")], u[k, -1, st.index("q05")],
          u[k, -1, st.index("q95")], f["/undeclared/emigration/declared"][k, -1]))
    months = strs("/linkage/month")
    final = [i for i, p in enumerate(f["/linkage/provisional"][()]) if p == 0]
    tm = strs("/truth/month")
    idx = [tm.index(months[i]) for i in final]
    for name, c, tr in (("migrant departures", "/linkage/migrant_departures", "/truth/migrant_departures"),
                        ("undeclared departures", "/undeclared/departures", "/truth/undeclared_departures")):
        e = int(sum(f[c][i].sum() for i in final)); g = int(sum(f[tr][i].sum() for i in idx))
        adj = ""
        if c + "_adjusted" in f:  # corrected for lost first and last crossings (classify's loss adjustment)
            ea = float(sum(f[c + "_adjusted"][i].sum() for i in final))
            adj = f"; adjusted for lost first/last crossings {ea:.0f} ({100*(ea-g)/g:+.1f}%)"
        print(f"  classify vs the simulation's truth, {name} {months[final[0]]}..{months[final[-1]]}: raw {e} vs {g} ({100*(e-g)/g:+.1f}%){adj}")
    a = f["/linkage"].attrs
    print(f"  records in {a['records_in']} = accepted {a['records_accepted']} + rejected {a['records_rejected']}")
elif job == "nz":
    grp, fs, per = strs("/forecast/series"), strs("/forecast/stat"), strs("/forecast/period")
    act = {}
    with open(nzcsv, newline="") as fh:
        for r in csv.DictReader(fh):
            if r["Measure"] == "Departures" and r["Country"] == "All countries" and r["Value"]:
                act[(r["Citizenship"], r["Year"])] = float(r["Value"])
    x = f["/forecast/baseline/flows"][()]
    inside = n = 0
    for i, g in enumerate(grp):
        for j, p in enumerate(per):
            if (g, p) in act:
                n += 1
                inside += x[i, j, fs.index("q10")] <= act[(g, p)] <= x[i, j, fs.index("q90")]
    print(f"  backtest (fit 1979-2006, forecast 2007-2016): real departures inside the 80% interval in {inside} of {n} group-years")
PY
done
echo "Reports (fan charts, estimates against the reported counts, data quality, diagnostics, provenance): $out/*_report/index.html"
