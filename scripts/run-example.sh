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

# 3. Azerbaijan: a synthetic crossing population calibrated to the real 2020-2022 border figures
#    (inputs/azerbaijan_sim.ini, 1% of the population), linked and classified by the 12/16 rule.
( cd "$out" && "${mpi[@]}" "$emflow" simulate --config "$root/inputs/azerbaijan_sim.ini" --scale 0.01 \
    --start 2020-01 --months 48 -o az_sim.h5 --crossings-h5 az_crossings.h5 --no-crossings-csv \
    --link-table-out az_links.csv --log-level warn )
"${mpi[@]}" "$emflow" classify "$out/az_crossings.h5" --declarations "$out/az_sim_declarations.csv" \
  --link-table "$out/az_links.csv" \
  --period-start 2020-01 --period-end 2023-12 -o "$out/az_classify.h5" --log-level warn

# 4. Stats NZ (real PLT departures 1979-2016): Bayesian estimate (border-based model, inputs/nz.ini),
#    then scenario forecasts for 2017-2026 from its posterior.
"${mpi[@]}" "$emflow" estimate --config inputs/nz.ini -o "$out/nz_estimate.h5" --log-level warn
"${mpi[@]}" "$emflow" forecast --posterior "$out/nz_estimate.h5" -o "$out/nz_forecast.h5" --horizon 10 \
  --trajectories 4000 --scenarios baseline --scenarios mobility-shock --shock-from 2020 --shock-to 2021 --log-level warn
"$emflow" report "$out/nz_estimate.h5" "$out/nz_forecast.h5" -o "$out/nz_report" --log-level warn

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
echo "Azerbaijan (synthetic, 1% scale, calibrated to the real 2020-2022 border figures), months whose 16-month"
echo "windows are closed: emflow classify (with recording faults) against the simulation's ground truth:"
/usr/bin/python3 - "$out/az_classify.h5" "$out/az_sim.h5" <<'PY'
import sys, h5py
c, t = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
months = [m.decode() for m in c["/linkage/month"][()]]
final = [i for i, p in enumerate(c["/linkage/provisional"][()]) if p == 0]
tmonths = [m.decode() for m in t["/truth/month"][()]]
idx = [tmonths.index(months[i]) for i in final]
def total(ds, rows):
    return int(sum(ds[i].sum() for i in rows))
for name, cpath, tpath in (("migrant departures", "/linkage/migrant_departures", "/truth/migrant_departures"),
                           ("undeclared departures", "/undeclared/departures", "/truth/undeclared_departures")):
    est, tru = total(c[cpath], final), total(t[tpath], idx)
    print(f"  {name:22s} {months[final[0]]}..{months[final[-1]]}: estimated {est}, true {tru} ({100*(est-tru)/tru:+.1f}%)")
print(f"  records in {c['/linkage'].attrs['records_in']}, accepted {c['/linkage'].attrs['records_accepted']}, "
      f"rejected {c['/linkage'].attrs['records_rejected']}")
PY
echo "Stats NZ PLT departures (real), Bayesian estimate 1979-2016 and forecast (posterior median, 90% interval):"
/usr/bin/python3 - "$out/nz_estimate.h5" "$out/nz_forecast.h5" <<'PY'
import sys, h5py
e, f = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
grp = [g.decode() for g in e["/estimate/group"][()]]
st = [s.decode() for s in e["/estimate/stat"][()]]
fl, rep = e["/posterior/flows/summary"][()], e["/estimate/border_reported"][()]
print("  diagnostics: %s (max R-hat %.3f, min bulk ESS %.0f)" % (e["/posterior"].attrs["status"],
      e["/posterior"].attrs["max_rhat"], e["/posterior"].attrs["min_ess_bulk"]))
for i, g in enumerate(grp):
    print("  %-22s 2016: reported %6d, estimated %6.0f [%6.0f, %6.0f]" % (g, rep[i, -1], fl[i, -1, st.index("q50")],
          fl[i, -1, st.index("q05")], fl[i, -1, st.index("q95")]))
fs = [s.decode() for s in f["/forecast/stat"][()]]
per = [p.decode() for p in f["/forecast/period"][()]]
for sc in ("baseline", "mobility-shock"):
    x = f["/forecast/%s/flows" % sc][()]
    j = per.index("2020")
    print("  %-14s all departures 2020: %6.0f [%6.0f, %6.0f]" % (sc, x[-1, j, fs.index("q50")], x[-1, j, fs.index("q05")],
          x[-1, j, fs.index("q95")]))
PY
echo "Report (fan charts, estimates against the reported counts, diagnostics, provenance): $out/nz_report/index.html"
