#!/usr/bin/env bash
# h5_disk_full.sh EMFLOW PYTHON WORKDIR: a disk that fills up while an HDF5 output is written must give
# exit 5 and leave no file, at 3 ranks (where MPI-IO loses the write error and only the verification
# of the closed file catches it).  Needs root to mount a small tmpfs; skipped (77) otherwise.
set -u
E=$1 PY=$2 W=$3
mkdir -p "$W/small" && cd "$W" || exit 1
mountpoint -q small || mount -t tmpfs -o size=40k tmpfs small 2>/dev/null || { echo "cannot mount a tmpfs: skipped"; exit 77; }
trap 'umount "$W/small" 2>/dev/null' EXIT
rm -f small/*
"$PY" - <<'PY'
import itertools, random
random.seed(2)
with open("seed.csv", "w") as f:
    f.write("d0,d1,d2,d3,value\n")
    for t in itertools.product(["c%d" % k for k in range(10)], repeat=4):
        f.write(",".join(t) + ",%r\n" % random.random())
for i in range(4):
    open("m%d.csv" % i, "w").write("d%d,value\n" % i + "".join("c%d,10\n" % k for k in range(10)))
PY
out=$(timeout 120 mpiexec -n 3 --oversubscribe "$E" ipf --seed seed.csv --margin m0.csv --margin m1.csv \
  --margin m2.csv --margin m3.csv -o small/fit.h5 2>&1); rc=$?
left=$(ls small)
if [ $rc = 5 ] && [ -z "$left" ] && grep -q "the file is incomplete after closing" <<<"$out"; then
  echo "disk full: exit 5, nothing left behind"; exit 0
fi
echo "FAIL: rc=$rc, left: '$left'"; echo "$out" | grep -v pwritev | tail -5
exit 1
