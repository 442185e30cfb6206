#!/usr/bin/env bash
# bench/run.sh: rebuild emflow in Release, run every benchmark (each validates, then times), and write
# bench/results/<date>-<host>.json (all results + the environment) and bench/results/<date>-<host>.md.
#
#   bench/run.sh [--quick | --full] [--threads "1 2"] [--ranks "1 2"] [--native] [--build-dir DIR] [--out-dir DIR]
#                [--only LIST]
#
#   --quick    sizes that finish in a few minutes on a 2-core machine (the README's table)
#   --full     (default) adds larger problems and more repetitions, for a real node
#   --threads  OpenMP thread counts to run every benchmark at (default "1 2")
#   --ranks    MPI rank counts of the scaling benchmarks (classify, estimate chains), combined with every
#              --threads count (default "1 2": 1 x 1, 1 x 2, 2 x 1, 2 x 2; a cluster: e.g. "1 2 4 8 16")
#   --native   build with -DEMI_NATIVE=ON (-march=native); by default the portable x86-64 build
#              (-DEMI_NATIVE=OFF, as shipped), set explicitly so that no cached option leaks in
#   --build-dir  build directory (default build-bench at the top of the tree), configured Release
#   --out-dir  where the results go (default bench/results)
#   --only     run only these benchmarks, a comma list of: stream, ipf, gls, estimate, jags, forecast,
#              classify, scaling, simulate (ipf and gls bring stream along: their % of the triad needs it);
#              e.g. --only ipf,gls reproduces issue 5's rows in about 2 minutes; the results go to
#              <date>-<host>-only-<parts>.json/.md (e.g. 2026-12-04-vm-only-gls-ipf-stream), never over a
#              whole run's
#
# The version measured is the built emflow's (scripts/cmake/EmiVersion.cmake): git describe in a checkout;
# in a tree without .git, EMFLOW_VERSION from the environment (passed to CMake as -DEMI_VERSION), else the
# VERSION file that `git archive` fills in (.gitattributes export-subst).  The results record it ("git")
# and where it came from ("version_source").
#
# OpenMP settings come from the environment and are recorded with the results (and in the command
# line shown in the table).  On a shared, oversubscribed machine set OMP_WAIT_POLICY=passive: with
# libgomp's default spinning, a 2-thread parallel region waits for a descheduled partner and short
# passes take a scheduler time slice each (seen here: IPF on 100 x 100 x 50 at 2 threads, 31 ms per
# sweep by default, 2 ms with passive waiting).  On a dedicated node leave it unset.
#
# Benchmarks:
#   STREAM triad   bench_stream: the memory-bandwidth yardstick
#   IPF 3-D        bench_ipf, 2-D and 1-D margins, tables up to 200 x 200 x 50 (plus 400 x 400 x 50,
#                  beyond the last-level cache), against numpy (bench/peers/ipf_numpy.py)
#   GLS            bench_gls, flow balancing (diagonal V) and balance constraints with dense V, hundreds
#                  to thousands of constraints, against numpy (bench/peers/gls_numpy.py)
#   estimate       bench_estimate.py: `emflow estimate` on the real EU-27 data (FIN, ITA, POL, SWE: 12
#                  corridors x 10 years) against the same model in Stan (bench/peers/imem.stan, rstan),
#                  4 chains each; posterior quantiles must agree within Monte Carlo error, then bulk
#                  ESS per second (quick: 500 warm-up + 500 draws per chain, emflow timed 3 times and
#                  Stan once; full: 1000 + 1000, 5 and 3 times).
#                  emflow runs as 1 rank x 2 threads (2 chains at a time), rstan 2 chains at a time
#                  (one core each); --threads does not apply.  Skipped with a note without rstan, h5py or scipy.
#   estimate vs JAGS  bench_estimate_jags.py: the same fit against the same model in JAGS (bench/peers/imem.bug,
#                  rjags), 4 chains each, the same validation rule (quantiles within Monte Carlo error), then bulk
#                  ESS per second of both sides by the same estimator (quick: 500 warm-up + 500 draws per chain,
#                  emflow timed 3 times and JAGS once, about 1 minute; full: 1000 + 1000, 5 and 3 times).  JAGS runs
#                  2 chains at a time (one process and core each).  Skipped with a note without rjags, h5py or scipy.
#   forecast       bench_forecast.py: `emflow forecast` (baseline, border-model posterior of the synthetic data of
#                  tests/mpi/estimate_border.py: 60 groups with declarations, 8 periods) at 1 and 2 MPI ranks x 1
#                  thread against the same simulation in numpy (bench/peers/forecast_numpy.py); means and quantiles
#                  must agree within Monte Carlo error first; trajectories/s, parallel efficiency 1 -> 2 ranks,
#                  numpy/emflow (quick: 20000 trajectories, 3 repetitions; full: 100000, 5).  --threads does not
#                  apply.  Skipped with a note without h5py.
#   classify       bench_classify.py: `emflow classify` (ingest, linkage, the 12/16 rule, tables) on the crossings
#                  CSV of `emflow simulate --no-faults`, at every --ranks x --threads layout, against the same rule in
#                  DuckDB SQL (@duckdb/node-api, bench/peers/classify_duckdb.mjs, 2 threads) and pandas
#                  (bench/peers/classify_pandas.py); the tables must be identical cell by cell first (edge cases,
#                  then the benchmark file); whole-process times, stages, records/s, peak memory and bytes per
#                  record, peer/emflow (quick: 10^6 crossings, 3 runs each; full: 10^7 and 10^8, emflow 5
#                  runs, peers 3; pandas is skipped with a note where it would not fit in memory).  Skipped with a
#                  note without h5py; each peer skipped with a note when it is not installed.
#   simulate       bench_simulate.sh: `emflow simulate` (the Azerbaijan profile) at about 10^6 records in --quick,
#                  10^7 and 10^8 in --full; 1 and 2 ranks must give the same bytes first; records/s and bytes per
#                  record of the CSV and HDF5 outputs (issue 3).
#   estimate scaling  bench_estimate_scaling.sh: `emflow estimate` chains on the full EU-27 fit at every --ranks x
#                  --threads layout, after checking that every layout writes the same bytes (quick: 300 + 300
#                  iterations per chain, full: 1000 + 1000).
# Every program exits non-zero when its validation fails; this script then stops with
# "bench/run.sh: FAILED" and writes no results.  Peers that are unavailable (bench/install-peers.sh)
# are skipped, and the results say so.
set -euo pipefail

MODE=full
ONLY=""
NATIVE=OFF
THREADS="1 2"
RANKS="1 2"
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$ROOT/build-bench
OUT=$ROOT/bench/results
ARGS=("$@")
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) MODE=quick ;;
    --full) MODE=full ;;
    --native) NATIVE=ON ;;
    --threads) THREADS=${2:?--threads needs a list, e.g. \"1 2\"}; shift ;;
    --ranks) RANKS=${2:?--ranks needs a list, e.g. \"1 2\"}; shift ;;
    --build-dir) BUILD=${2:?--build-dir needs a directory}; shift ;;
    --out-dir) OUT=${2:?--out-dir needs a directory}; shift ;;
    --only) ONLY=${2:?--only needs a list, e.g. ipf,gls}; shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "bench/run.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
for t in $THREADS; do
  [[ $t =~ ^[1-9][0-9]*$ ]] || { echo "bench/run.sh: --threads: '$t' is not a thread count" >&2; exit 2; }
done
for b in ${ONLY//,/ }; do
  case "$b" in
    stream|ipf|gls|estimate|jags|forecast|classify|scaling|simulate) ;;
    *) echo "bench/run.sh: --only: unknown benchmark '$b' (expected stream, ipf, gls, estimate, jags, forecast, classify, scaling, simulate)" >&2; exit 2 ;;
  esac
done
# want NAME: is benchmark NAME part of this run (every one without --only)
want() { [ -z "$ONLY" ] || [[ ",$ONLY," == *",$1,"* ]]; }
if want ipf || want gls; then want stream || ONLY="$ONLY,stream"; fi
LAYOUTS=""
for r in $RANKS; do
  [[ $r =~ ^[1-9][0-9]*$ ]] || { echo "bench/run.sh: --ranks: '$r' is not a rank count" >&2; exit 2; }
  for t in $THREADS; do LAYOUTS="${LAYOUTS:+$LAYOUTS }${r}x$t"; done
done

PY=/usr/bin/python3 # Debian's interpreter (python3-numpy); a python3 earlier on PATH may lack numpy
[ -x "$PY" ] || { echo "bench/run.sh: $PY is required (the report is written with it)" >&2; exit 1; }

if [ "$MODE" = quick ]; then
  STREAM_ARGS=(--mib 128 --reps 10)
  IPF_SIZES=("50 50 20" "100 100 50" "200 200 50" "400 400 50")
  IPF_REPS=9
  GLS_CASES=("flow --N 100" "flow --N 200" "dense --n 2000 --m 1000")
  GLS_REPS=7
  EST_ARGS=(--warmup 500 --draws 500 --emflow-reps 3 --stan-reps 1)
  JAGS_ARGS=(--warmup 500 --draws 500 --emflow-reps 3 --jags-reps 1)
  FC_ARGS=(--trajectories 20000 --validate-trajectories 20000 --reps 3)
  CL_SIZES="1e6"
  CL_ARGS=(--reps 3 --peer-reps 3)
  SIM_SIZES="1e6"
  SCALING_ITERS="300 300"
else
  STREAM_ARGS=(--mib 512 --reps 20)
  IPF_SIZES=("50 50 20" "100 100 50" "200 200 50" "400 400 50" "400 400 100")
  IPF_REPS=11
  GLS_CASES=("flow --N 100" "flow --N 200" "flow --N 300" "flow --N 500" "dense --n 2000 --m 1000"
             "dense --n 4000 --m 2000")
  GLS_REPS=7
  EST_ARGS=(--warmup 1000 --draws 1000 --emflow-reps 5 --stan-reps 3)
  JAGS_ARGS=(--warmup 1000 --draws 1000 --emflow-reps 5 --jags-reps 3)
  FC_ARGS=(--trajectories 100000 --validate-trajectories 40000 --reps 5)
  CL_SIZES="1e7 1e8"
  CL_ARGS=(--reps 5 --peer-reps 3)
  SIM_SIZES="1e7 1e8"
  SCALING_ITERS="1000 1000"
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/emflow-bench.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
RAW=$TMP/raw.jsonl
: >"$RAW"
note() { "$PY" -c 'import json,sys; print(json.dumps({"bench":"note","text":sys.argv[1]}))' "$1" >>"$RAW"; echo "bench/run.sh: note: $1"; }

# run NAME THREADS CMD...: run one benchmark program at THREADS OpenMP (and OpenBLAS) threads, append its
# JSON line to the raw results; on failure show its stderr and stop.
run() {
  local name=$1 threads=$2
  shift 2
  echo "bench/run.sh: $name (threads $threads)"
  local rc=0
  OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads "$@" >"$TMP/out" 2>"$TMP/err" || rc=$?
  if [ $rc -ne 0 ]; then
    cat "$TMP/err" >&2
    echo "bench/run.sh: FAILED: $name (threads $threads) exited with status $rc; no results written" >&2
    exit 1
  fi
  if [ -s "$TMP/err" ]; then sed 's/^/  | /' "$TMP/err"; fi
  if [ "$(wc -l <"$TMP/out")" -ne 1 ]; then
    echo "bench/run.sh: FAILED: $name printed $(wc -l <"$TMP/out") lines, expected one JSON line" >&2
    exit 1
  fi
  cat "$TMP/out" >>"$RAW"
}

# ---- build (Release, own build directory)
echo "bench/run.sh: building emflow (Release, EMI_NATIVE=$NATIVE) in $BUILD"
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DEMI_NATIVE=$NATIVE -DEMI_SANITIZE=OFF \
  -DEMI_VERSION="${EMFLOW_VERSION:-}" >"$TMP/cmake.log" 2>&1 || { cat "$TMP/cmake.log" >&2; echo "bench/run.sh: FAILED: cmake configure" >&2; exit 1; }
cmake --build "$BUILD" -j"$(nproc)" --target bench_env bench_stream bench_ipf bench_gls emflow >"$TMP/build.log" 2>&1 || { tail -40 "$TMP/build.log" >&2; echo "bench/run.sh: FAILED: build" >&2; exit 1; }
grep -q '^CMAKE_BUILD_TYPE:STRING=Release$' "$BUILD/CMakeCache.txt" || { echo "bench/run.sh: FAILED: $BUILD is not a Release build" >&2; exit 1; }
B=$BUILD/bench

# ---- peers
NUMPY=""
if "$PY" -c 'import numpy' 2>/dev/null; then
  NUMPY=$("$PY" -c 'import numpy; print(numpy.__version__)')
else
  note "numpy is unavailable to $PY (bench/install-peers.sh installs python3-numpy): the numpy peers were skipped"
fi

DATE=$(date +%Y-%m-%d)
HOST=$(hostname -s 2>/dev/null || hostname)
# the version the build stamped into emflow (git describe, EMFLOW_VERSION or the git-archive VERSION file)
VERSION_H=$BUILD/generated/emi_version.h
GIT=$(sed -n 's/^#define EMI_VERSION_STRING "\(.*\)"$/\1/p' "$VERSION_H")
VERSION_SOURCE=$(sed -n 's/^#define EMI_VERSION_SOURCE "\(.*\)"$/\1/p' "$VERSION_H")
[ -n "$GIT" ] || { echo "bench/run.sh: FAILED: no EMI_VERSION_STRING in $VERSION_H" >&2; exit 1; }
case $GIT in *-unknown) note "emflow's version is unknown ($GIT: no .git, EMFLOW_VERSION or git-archive VERSION file): the results do not say which commit was measured" ;; esac
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
START=$(date -Iseconds)

MAXT=$(printf '%s\n' $THREADS | sort -n | tail -1)
run env "$MAXT" "$B/bench_env" # reports the BLAS/OpenMP thread counts at the largest count tested

# ---- STREAM triad
if want stream; then
  for t in $THREADS; do run stream_triad "$t" "$B/bench_stream" "${STREAM_ARGS[@]}"; done
fi

# ---- IPF vs numpy: emflow at every thread count (the first one exports the data and its fitted tables),
# then the peer (single-threaded: numpy's reductions and ufuncs do not use threads).
want ipf || IPF_SIZES=()
for size in "${IPF_SIZES[@]}"; do
  first=1
  for t in $THREADS; do
    if [ $first = 1 ] && [ -n "$NUMPY" ]; then
      run "ipf $size" "$t" "$B/bench_ipf" $size "$IPF_REPS" --sweeps auto --export "$TMP/ipf"
    else
      run "ipf $size" "$t" "$B/bench_ipf" $size "$IPF_REPS" --sweeps auto
    fi
    first=0
  done
  if [ -n "$NUMPY" ]; then
    run "ipf $size numpy" 1 "$PY" "$ROOT/bench/peers/ipf_numpy.py" --data "$TMP/ipf.json" --reps "$IPF_REPS"
    rm -f "$TMP/ipf.json" "$TMP/ipf.bin"
  fi
done

# ---- GLS vs numpy: emflow's xhat does not depend on the thread count (the kernel's contract), the export
# of the first run serves every peer run.
want gls || GLS_CASES=()
for c in "${GLS_CASES[@]}"; do
  first=1
  for t in $THREADS; do
    if [ $first = 1 ] && [ -n "$NUMPY" ]; then
      run "gls $c" "$t" "$B/bench_gls" --case $c --reps "$GLS_REPS" --export "$TMP/gls"
    else
      run "gls $c" "$t" "$B/bench_gls" --case $c --reps "$GLS_REPS"
    fi
    first=0
    if [ -n "$NUMPY" ]; then
      run "gls $c numpy" "$t" "$PY" "$ROOT/bench/peers/gls_numpy.py" --data "$TMP/gls.json" --reps "$GLS_REPS"
    fi
  done
  rm -f "$TMP/gls.json" "$TMP/gls.bin"
done

# ---- estimate vs Stan (rstan): emflow's MCMC against NUTS on the same model and data
if ! want estimate; then
  :
elif ! "$PY" -c 'import h5py, scipy.stats' 2>/dev/null; then
  note "h5py or scipy is unavailable to $PY (bench/install-peers.sh installs python3-h5py, python3-scipy): the estimate benchmark (emflow vs Stan) was skipped"
elif ! command -v Rscript >/dev/null 2>&1 || ! Rscript -e 'suppressMessages(library(rstan))' >/dev/null 2>&1; then
  note "rstan is unavailable (bench/install-peers.sh installs r-cran-rstan): the estimate benchmark (emflow vs Stan) was skipped"
else
  run "estimate vs stan" 1 "$PY" "$ROOT/bench/bench_estimate.py" --emflow "$BUILD/engine/emflow" "${EST_ARGS[@]}"
fi

# ---- estimate vs JAGS (rjags): the same fit against JAGS's Gibbs samplers on the same model and data
if ! want jags; then
  :
elif ! "$PY" -c 'import h5py, scipy.stats' 2>/dev/null; then
  note "h5py or scipy is unavailable to $PY (bench/install-peers.sh installs python3-h5py, python3-scipy): the estimate benchmark (emflow vs JAGS) was skipped"
elif ! command -v Rscript >/dev/null 2>&1 || ! Rscript -e 'suppressMessages(library(rjags))' >/dev/null 2>&1; then
  note "JAGS (rjags) is unavailable (bench/install-peers.sh installs jags and r-cran-rjags): the estimate benchmark (emflow vs JAGS) was skipped"
else
  run "estimate vs jags" 1 "$PY" "$ROOT/bench/bench_estimate_jags.py" --emflow "$BUILD/engine/emflow" "${JAGS_ARGS[@]}"
fi

# ---- forecast vs numpy: trajectories/s at 1 and 2 MPI ranks, parallel efficiency, numpy/emflow
if ! want forecast; then
  :
elif [ -z "$NUMPY" ] || ! "$PY" -c 'import h5py' 2>/dev/null; then
  note "numpy or h5py is unavailable to $PY (bench/install-peers.sh): the forecast benchmark (emflow vs numpy) was skipped"
else
  run "forecast vs numpy" 1 "$PY" "$ROOT/bench/bench_forecast.py" --emflow "$BUILD/engine/emflow" "${FC_ARGS[@]}"
fi

# ---- classify vs DuckDB and pandas: the 12/16 rule at every layout, one JSON line per size
if ! want classify; then
  :
elif ! "$PY" -c 'import numpy, h5py' 2>/dev/null; then
  note "numpy or h5py is unavailable to $PY (bench/install-peers.sh): the classify benchmark (emflow vs DuckDB, pandas) was skipped"
else
  for size in $CL_SIZES; do
    run "classify $size vs duckdb, pandas" 1 "$PY" "$ROOT/bench/bench_classify.py" --emflow "$BUILD/engine/emflow" \
      --records "$size" --layouts "$LAYOUTS" "${CL_ARGS[@]}"
  done
fi

# ---- estimate: scaling of the chains across ranks and threads (EU-27 fit); its rows go in as JSON lines
if want scaling; then
  echo "bench/run.sh: estimate scaling ($LAYOUTS)"
  # shellcheck disable=SC2086 # SCALING_ITERS is two words on purpose
  if ! "$ROOT/bench/bench_estimate_scaling.sh" "$BUILD/engine/emflow" "$LAYOUTS" $SCALING_ITERS "$TMP/scaling" \
      >"$TMP/scaling.log" 2>&1; then
    cat "$TMP/scaling.log" >&2
    echo "bench/run.sh: FAILED: estimate scaling; no results written" >&2
    exit 1
  fi
  sed 's/^/  | /' "$TMP/scaling.log"
  "$PY" -c 'import json, sys
for row in json.load(open(sys.argv[1])): print(json.dumps(row))' "$TMP/scaling.json" >>"$RAW"
fi

# ---- simulate (issue 3): records/s and bytes per record of the synthetic crossings, 1 rank x the largest
# thread count (it validates 1 vs 2 ranks first)
want simulate || SIM_SIZES=""
for size in $SIM_SIZES; do
  run "simulate $size" "$MAXT" "$ROOT/bench/bench_simulate.sh" "$BUILD/engine/emflow" "$size" 1
done

LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
CMDLINE="bench/run.sh${ARGS[*]:+ ${ARGS[*]}}"
for v in OMP_WAIT_POLICY OMP_PROC_BIND OMP_PLACES GOMP_SPINCOUNT; do
  if [ -n "${!v:-}" ]; then CMDLINE="$v=${!v} $CMDLINE"; fi
done
"$PY" - "$MODE" "$CMDLINE" "$THREADS" "$START" "$GIT" "$LOAD_START" "$LOAD_END" "$NUMPY" "$NATIVE" "$RANKS" \
  "$VERSION_SOURCE" >>"$RAW" <<'EOF'
import json, os, platform, sys
mode, cmd, threads, start, git, l0, l1, numpy, native, ranks, vsource = sys.argv[1:]
omp_env = {k: v for k, v in os.environ.items() if k.startswith(("OMP_", "GOMP_", "OPENBLAS_"))}
print(json.dumps({"bench": "run", "mode": mode, "command": cmd, "threads": [int(t) for t in threads.split()],
                  "ranks": [int(r) for r in ranks.split()],
                  "date": start, "git": git, "version_source": vsource, "load_start": l0, "load_end": l1, "omp_env": omp_env,
                  "build": "Release, EMI_NATIVE=" + native,
                  "python": platform.python_version(), "numpy": numpy or None}))
EOF

mkdir -p "$OUT"
# a partial run (--only) gets a name of its own: it never replaces the whole run's results of the day
NAME=$DATE-$HOST
[ -n "$ONLY" ] && NAME=$NAME-only-$(tr ',' '\n' <<<"$ONLY" | sort -u | paste -sd- -)
"$PY" "$ROOT/bench/report.py" --raw "$RAW" --out "$OUT/$NAME"
echo "bench/run.sh: done"
