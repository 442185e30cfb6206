#!/usr/bin/env bash
# Bad input to `emflow forecast`: one clear error each (exit code of the README's list, a message
# naming the option and what was expected), no output left behind, never a crash.
#   forecast_bad_input.sh EMFLOW POSTERIOR.h5 WORKDIR
set -uo pipefail
E=$1
POST=$2
W=$3
rm -rf "$W" && mkdir -p "$W" && cd "$W" || exit 1
fails=0
case_() {
  local name=$1 rc_want=$2 pat=$3
  shift 3
  local out rc
  out=$("$E" forecast -o out.h5 --trajectories 50 --horizon 4 "$@" 2>&1)
  rc=$?
  if [ "$rc" != "$rc_want" ] || ! grep -qF -- "$pat" <<<"$out"; then
    echo "FAIL $name: exit $rc (expected $rc_want), output:"; echo "$out" | sed 's/^/    /'
    echo "    expected to contain: $pat"
    fails=$((fails + 1))
  else
    echo "ok   $name: $(grep 'error' <<<"$out" | head -1)"
  fi
  if [ "$rc" -ge 128 ]; then echo "FAIL $name: crashed (exit $rc)"; fails=$((fails + 1)); fi
  if [ "$rc" != 0 ] && { [ -e out.h5 ] || [ -e out.h5.part ]; }; then echo "FAIL $name: output left behind"; fails=$((fails + 1)); fi
  rm -f out.h5 out.h5.part
}
case_ no-posterior 2 "give --posterior EST.h5" --scenarios baseline
case_ unknown-scenario 3 "scenarios: 'war': expected baseline, mobility-shock, destination-shock or coverage-change" --posterior "$POST" --scenarios war
case_ unknown-destination 3 "destination = 'XXX' is not a group of" --posterior "$POST" --scenarios destination-shock --destination XXX
case_ no-destination 3 "destination-shock needs destination = CODE" --posterior "$POST" --scenarios destination-shock
case_ inverted-range 3 "shock-from 2016-Q3 is after shock-to 2016-Q1: the range is inverted" --posterior "$POST" --scenarios mobility-shock --shock-from 2016-Q3 --shock-to 2016-Q1
case_ period-outside 3 "shock-from = '2030-Q1' is not a forecast period: the forecast covers 2016-Q1 .. 2016-Q4" --posterior "$POST" --scenarios mobility-shock --shock-from 2030-Q1
case_ horizon-zero 2 "horizon" --posterior "$POST" --horizon 0
case_ scenario-twice 3 "'baseline' is listed twice" --posterior "$POST" --scenarios baseline --scenarios baseline
case_ bad-threshold 3 "thresholds: 'many': expected a number of persons >= 0" --posterior "$POST" --thresholds many
printf 'not hdf5' >junk.h5
case_ not-hdf5 4 "junk.h5: not a readable HDF5 file: expected the output of emflow estimate" --posterior junk.h5
case_ missing-file 4 "nope.h5: not a readable HDF5 file" --posterior nope.h5
echo "forecast_bad_input: $fails failure(s)"
[ "$fails" = 0 ]
