#!/bin/sh
# bench_simulate.sh: time `emflow simulate` (issue 3).  A benchmark, never a test.
#
#   bench/bench_simulate.sh EMFLOW [RECORDS] [RANKS]     RECORDS: 1e7 (default, quick mode) or 1e8 (full mode)
#
# Validates first (a small run at 1 and 2 ranks must give identical crossings: cmp of the CSV, h5diff
# of /crossings/records), then runs the default Azerbaijan profile at the scale that gives about
# RECORDS recorded crossings (records per unit scale measured by a calibration run at scale 0.02),
# 3 times, writing the crossings CSV and the HDF5 compound form (--crossings-h5).  Prints one JSON
# line: median, min and max wall time, records/s, bytes per record of the CSV and of the HDF5 file,
# and the environment (host, cores, ranks, OMP_NUM_THREADS, version, compiler via --version).
set -eu
EMFLOW=${1:?usage: bench_simulate.sh EMFLOW [RECORDS] [RANKS]}
RECORDS=${2:-1e7}
RANKS=${3:-1}
W=${BENCH_DIR:-$(mktemp -d /tmp/emi_bench_sim.XXXXXX)}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
MPI="mpiexec --oversubscribe -n"
cd "$W"
# 1. validate
$MPI 1 "$EMFLOW" simulate -o v1.h5 --scale 0.001 --crossings-h5 v1c.h5 --log-level warn
$MPI 2 "$EMFLOW" simulate -o v2.h5 --scale 0.001 --crossings-h5 v2c.h5 --log-level warn
cmp v1_crossings.csv v2_crossings.csv
h5diff v1c.h5 v2c.h5 /crossings/records /crossings/records
# 2. records per unit scale
$MPI "$RANKS" "$EMFLOW" simulate -o cal.h5 --scale 0.02 --log-level warn
per_scale=$(( ($(wc -l < cal_crossings.csv) - 1) * 50 ))
scale=$(/usr/bin/python3 -c "print(f'{float($RECORDS) / $per_scale:.6g}')")
# 3. time 3 runs
times=""
for k in 1 2 3; do
  t0=$(date +%s.%N)
  $MPI "$RANKS" "$EMFLOW" simulate -o run.h5 --scale "$scale" --crossings-h5 runc.h5 --log-level warn
  t1=$(date +%s.%N)
  times="$times $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')"
done
n=$(( $(wc -l < run_crossings.csv) - 1 ))
csv_bytes=$(stat -c %s run_crossings.csv)
h5_bytes=$(stat -c %s runc.h5)
/usr/bin/python3 - "$n" "$csv_bytes" "$h5_bytes" "$scale" "$RANKS" "$EMFLOW" $times <<'PY'
import json, os, platform, statistics, subprocess, sys
n, csvb, h5b = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
scale, ranks, exe = float(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
t = sorted(float(x) for x in sys.argv[7:])
med = statistics.median(t)
ver = subprocess.run([exe, "--version"], capture_output=True, text=True).stdout.strip()
print(json.dumps({"bench": "simulate", "records": n, "scale": scale, "runs": len(t),
                  "seconds_median": round(med, 3), "seconds_min": round(t[0], 3), "seconds_max": round(t[-1], 3),
                  "records_per_s": round(n / med), "csv_bytes_per_record": round(csvb / n, 2),
                  "h5_bytes_per_record": round(h5b / n, 2), "output": "crossings CSV + HDF5 compound form + truth",
                  "env": {"host": platform.node(), "cores": os.cpu_count(), "ranks": ranks,
                          "omp_num_threads": os.environ.get("OMP_NUM_THREADS", "default"),
                          "version": ver, "machine": platform.machine()}}))
PY
[ -n "${BENCH_DIR:-}" ] || rm -rf "$W"
