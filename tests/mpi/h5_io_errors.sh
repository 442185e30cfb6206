#!/usr/bin/env bash
# h5_io_errors.sh EMFLOW WORKDIR SRCDIR [MPIEXEC]: an input that cannot be read, or an output that
# cannot be created, gives exit 5 (EMI_ERR_IO) and exactly one error line that names the path and
# the operating system's reason (strerror), at 1 and 2 ranks.  Root ignores file permissions, so the
# cases are a missing file, a directory where a file is expected, and a path through a regular file.
set -u
E=$1 W=$2 SRC=$3 MPIEXEC=${4:-mpiexec}
mkdir -p "$W/adir" && cd "$W" || exit 1
: >plain
export OMP_NUM_THREADS=1
fails=0
# case NP PATH REASON ARGS...: emflow ARGS at NP ranks must fail with exit 5 and one error naming PATH and REASON
case_() {
  local np=$1 path=$2 reason=$3
  shift 3
  local log rc
  if [ "$np" = 1 ]; then log=$(timeout 60 "$E" "$@" 2>&1); rc=$?
  else log=$(timeout 60 "$MPIEXEC" -n "$np" --oversubscribe "$E" "$@" 2>&1); rc=$?; fi
  local lines why=""
  lines=$(grep '^emflow: error:' <<<"$log")
  [ "$rc" = 5 ] || why="$why exit $rc (expected 5);"
  [ "$(grep -c . <<<"$lines")" = 1 ] || why="$why $(grep -c . <<<"$lines") error lines (expected 1);"
  grep -qF "$path" <<<"$lines" || why="$why the error does not name $path;"
  grep -qiF "$reason" <<<"$lines" || why="$why the error does not say '$reason';"
  if [ -n "$why" ]; then
    echo "FAIL: emflow $* at $np rank(s):$why"
    echo "$log" | grep -v '^\[' | tail -4 | sed 's/^/    /'
    fails=$((fails + 1))
  else
    echo "ok ($np): $lines"
  fi
}
for np in 1 2; do
  case_ $np missing.csv "No such file or directory" classify missing.csv -o out.h5
  case_ $np adir "Is a directory" classify adir -o out.h5
  case_ $np adir "Is a directory" convert adir -o out.h5
  case_ $np missing.h5 "No such file or directory" forecast --posterior missing.h5 -o out.h5
  case_ $np plain/est.h5 "Not a directory" forecast --posterior plain/est.h5 -o out.h5
  case_ $np adir "Is a directory" estimate --config adir -o out.h5
  case_ $np nodir/t.h5 "No such file or directory" simulate --scale 0.001 -o nodir/t.h5
  case_ $np plain/r.h5 "not a directory" reconcile --config "$SRC/tests/data/reconcile/reconcile.ini" -o plain/r.h5
done
ls out.h5 out.h5.part nodir 2>/dev/null && { echo "FAIL: an output was left behind"; fails=$((fails + 1)); }
[ "$fails" = 0 ] || { echo "$fails case(s) failed"; exit 1; }
echo "every I/O error: exit 5, one error naming the path and the reason"
