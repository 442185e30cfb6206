#!/usr/bin/env bash
# h5_disk_full.sh EMFLOW PYTHON WORKDIR SRCDIR NP [MPIEXEC]: every command that writes an HDF5 file,
# writing it onto a full disk (a small tmpfs), at NP ranks, must end with
#   - exit status 5 (EMI_ERR_IO): not 139 (SIGSEGV at MPI_Finalize: HDF5 1.10 closing a file whose
#     H5Fclose failed, HDFFV-11052), not 124 (a hang in the abort path, checked with a timeout);
#   - exactly one emflow error line, naming the output file and "No space left on device";
#   - no output under the final name and no OUT.part left on the disk.
# NP = 1 runs emflow as a singleton (ROMIO, engine/main.c); NP = 2 through MPIEXEC with ROMIO
# (OMPI_MCA_io=romio321); NP = 3 through MPIEXEC with Open MPI's default MPI-IO (ompio, which loses
# some write errors: the check of the closed file catches those).  The tmpfs is smaller than every
# output, of a size that depends on NP, so the write fails at different places.  Inputs are made at
# 1 rank on the normal file system first.  Needs root to mount the tmpfs; skipped (77) otherwise.
set -u
E=$1 PY=$2 W=$3 SRC=$4 NP=$5 MPIEXEC=${6:-mpiexec}
W=$W/np$NP
mkdir -p "$W/small" "$W/in" && cd "$W" || exit 1
case $NP in 1) size=20k ;; 2) size=32k ;; *) size=12k ;; esac
mountpoint -q small && umount small 2>/dev/null
mount -t tmpfs -o size=$size tmpfs small 2>/dev/null || { echo "cannot mount a tmpfs: skipped"; exit 77; }
trap 'umount "$W/small" 2>/dev/null' EXIT
export OMP_NUM_THREADS=1

# inputs, on the normal file system
"$PY" - <<'PY' || exit 1
import itertools, random
random.seed(2)
with open("in/seed.csv", "w") as f:
    f.write("d0,d1,d2,d3,value\n")
    for t in itertools.product(["c%d" % k for k in range(10)], repeat=4):
        f.write(",".join(t) + ",%r\n" % random.random())
for i in range(4):
    open("in/m%d.csv" % i, "w").write("d%d,value\n" % i + "".join("c%d,10\n" % k for k in range(10)))
PY
"$E" simulate --scale 0.002 -o in/sim.h5 --log-level error || { echo "FAIL: setup simulate"; exit 1; }
"$E" estimate --config "$SRC/tests/data/estimate/eu8.ini" -o in/est.h5 --accept-failed-diagnostics \
  --log-level error || { echo "FAIL: setup estimate"; exit 1; }

launch() {
  case $NP in
  1) timeout 120 "$E" "$@" ;;
  2) OMPI_MCA_io=romio321 timeout 120 "$MPIEXEC" -n 2 --oversubscribe "$E" "$@" ;;
  *) timeout 120 "$MPIEXEC" -n "$NP" --oversubscribe "$E" "$@" ;;
  esac
}

fails=0
# check NAME OUT ARGS...: run `emflow ARGS` (which writes OUT onto the small disk) and judge it
check() {
  local name=$1 out=$2
  shift 2
  rm -rf small/* 2>/dev/null
  local log rc
  log=$(launch "$@" 2>&1)
  rc=$?
  local errs left why=""
  errs=$(grep -c '^emflow: error:' <<<"$log")
  left=$(cd small && find . -name '*.h5' -o -name '*.h5.part' | sort | tr '\n' ' ')
  [ "$rc" = 5 ] || why="$why exit $rc (expected 5);"
  [ "$errs" = 1 ] || why="$why $errs emflow error lines (expected 1);"
  grep '^emflow: error:' <<<"$log" | grep -qF "$out" || why="$why the error does not name $out;"
  grep '^emflow: error:' <<<"$log" | grep -q 'No space left on device' || why="$why the error does not say 'No space left on device';"
  grep -qiE 'segmentation fault|signal [0-9]|backtrace|core dumped' <<<"$log" && why="$why a crash;"
  [ -z "$left" ] || why="$why left on the disk: $left;"
  if [ -n "$why" ]; then
    echo "FAIL: $name at $NP rank(s):$why"
    echo "$log" | grep -v '^\[' | tail -8 | sed 's/^/    /'
    fails=$((fails + 1))
  else
    echo "ok: $name: $(grep '^emflow: error:' <<<"$log")"
  fi
}

check simulate small/truth.h5 simulate --scale 0.002 -o small/truth.h5 --crossings in/c.csv --declarations in/d.csv
check simulate-crossings-h5 small/cx.h5 simulate --scale 0.01 -o in/t.h5 --crossings in/c.csv --declarations in/d.csv \
  --crossings-h5 small/cx.h5
check convert small/conv.h5 convert in/sim_crossings.csv -o small/conv.h5
check classify small/cls.h5 classify in/sim_crossings.csv -o small/cls.h5
check reconcile small/rec.h5 reconcile --config "$SRC/tests/data/reconcile/reconcile.ini" -o small/rec.h5
check estimate small/est.h5 estimate --config "$SRC/tests/data/estimate/eu8.ini" -o small/est.h5 \
  --accept-failed-diagnostics
check forecast small/fc.h5 forecast --posterior in/est.h5 -o small/fc.h5
check ipf small/fit.h5 ipf --seed in/seed.csv --margin in/m0.csv --margin in/m1.csv --margin in/m2.csv \
  --margin in/m3.csv -o small/fit.h5
# the first stage's file (in the work directory next to OUT) fills the disk
check run small/job run "$SRC/tests/data/run/eu27_small.ini" -o small/job.h5
if [ "$fails" != 0 ]; then
  echo "$fails command(s) failed on a full disk at $NP rank(s)"
  exit 1
fi
echo "every command: exit 5, one error naming the file and the cause, nothing left behind, at $NP rank(s)"
