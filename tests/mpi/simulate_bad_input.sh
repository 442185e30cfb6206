#!/bin/sh
# emflow simulate: impossible parameters give one clear error naming the option and the allowed range,
# exit status 2 (bad value on the command line) or 3 (bad configuration), and no output file.
#   simulate_bad_input.sh EMFLOW WORKDIR
emflow=$1
dir=$2/bad_input
mkdir -p "$dir" && cd "$dir" || exit 1
rm -f out.h5 out_crossings.csv
fail=0
# expect STATUS PATTERN... -- ARGS...
expect() {
  status=$1; shift
  pats=""
  while [ "$1" != "--" ]; do pats="$pats
$1"; shift; done
  shift
  "$emflow" simulate -o out.h5 --scale 0.0001 "$@" > out.txt 2> err.txt
  rc=$?
  if [ "$rc" != "$status" ]; then echo "FAIL: $*: exit $rc, expected $status"; cat err.txt; fail=1; fi
  n=$(grep -c "error" err.txt)
  if [ "$n" != 1 ]; then echo "FAIL: $*: $n error lines, expected 1"; cat err.txt; fail=1; fi
  echo "$pats" | while IFS= read -r p; do
    [ -z "$p" ] && continue
    grep -qF -- "$p" err.txt || { echo "FAIL: $*: message lacks '$p'"; cat err.txt; echo x > failed.flag; }
  done
  if [ -e out.h5 ] || [ -e out_crossings.csv ]; then echo "FAIL: $*: output written"; fail=1; fi
}
rm -f failed.flag
expect 2 "--miss-exit-rate" "[0, 1]" -- --miss-exit-rate -0.1
expect 2 "--resident-trips-per-year" "[0, 365]" -- --resident-trips-per-year -2
expect 2 "--months" "[1, 1200]" -- --months 0
expect 2 "--months" "[1, 1200]" -- --months -5
expect 2 "--profile" "azerbaijan" -- --profile mars
expect 3 "--type-shares" "sum to 1" -- --type-shares resident:0.5,visitor:0.6
expect 3 "--type-shares" "resident" -- --type-shares tourist:1
expect 3 "--foreign-citizenships" "sum to 1" -- --foreign-citizenships RUS:0.5,GEO:0.4
expect 3 "--destinations" ">= 0" -- --destinations RUS:1.5,GEO:-0.5
expect 3 "--foreign-citizenships" "alpha-3" -- --foreign-citizenships XX:1
expect 3 "--closure-end" "closure-start" -- --closure-start 2021-01 --closure-end 2020-06
expect 3 "--declare-age-factors" "7" -- --declare-age-factors 1,2
expect 3 "--declare-citizenship-factors" "[0, 100]" -- --declare-citizenship-factors RUS:200
expect 3 "--declare-citizenship-factors" "home country" -- --declare-citizenship-factors DEU:2
printf '[simulate]\nmonths = 0\n' > bad.ini
expect 3 "bad.ini:2" "months" "[1, 1200]" -- --config bad.ini
printf '[simulate]\nvisitor-repeat = 1.5\n' > bad2.ini
expect 3 "bad2.ini:2" "visitor-repeat" "[0, 0.9" -- --config bad2.ini
# a run stopped by SIGTERM (a scheduler's time limit) while it writes leaves no NAME.part behind: the
# crossings CSV of --scale 0.1 (about 70 MB) takes seconds to write; the signal goes once a .part exists
# (over the files of an earlier run under the same names, which a rerun removes first: a stopped rerun
# never leaves files of two runs side by side; from a breaker)
rm -f ./*.part sig*
"$emflow" simulate -o sig.h5 --scale 0.001 > /dev/null 2>&1 || { echo "FAIL: the first run"; fail=1; }
"$emflow" simulate -o sig.h5 --scale 0.1 --seed 2 > /dev/null 2>&1 &
pid=$!
i=0
while [ $i -lt 600 ] && ! ls ./*.part > /dev/null 2>&1; do sleep 0.05; i=$((i + 1)); done
seen=$(ls ./*.part 2>/dev/null | tr '\n' ' ')
kill -TERM $pid; wait $pid; rc=$?
left=$(ls sig* ./*.part 2>/dev/null | tr '\n' ' ')
if [ -z "$seen" ] || [ $rc != 143 ] || [ -n "$left" ]; then
  echo "FAIL: SIGTERM while writing: saw '$seen', exit $rc (expected 143), left '$left'"; fail=1
fi
[ -e failed.flag ] && fail=1
[ $fail = 0 ] && echo "simulate_bad_input: all cases give one clear error"
exit $fail
