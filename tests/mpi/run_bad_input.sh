#!/usr/bin/env bash
# run_bad_input.sh EMFLOW MPIEXEC NZ.ini NZ.csv WORKDIR [AZ.ini]: bad input to `emflow run`, each: exit status != 0 (and
# no crash, < 128), exactly one error line, naming the thing that is wrong:
#   a missing config file; an unknown stage in --stages; --resume without a previous run (a fresh start)
#   and after a finished one (refused); the output being a stage's input; an input edited before --resume;
#   --resume after
#   the config changed (fingerprint mismatch: the work directory and the earlier output stay as they
#   were); a work directory that exists and is not emflow's (a foreign file: refused, the file still
#   there; also given as --work-dir); an output not ending in .h5; a forecast stage without the estimate
#   stage; a bad value in [estimate] (the error names file:line; also on 2 ranks through mpiexec: still
#   one error line)
# and --resume of a run that completed (with --keep-work) does nothing and exits 0.  With AZ.ini (a
# simulate -> classify -> estimate config), a bad [estimate] value there too, reported before any stage
# runs (no work directory is made: every stage's section is checked first).
set -uo pipefail
E=$1 MPIEXEC=$2 NZ=$3 NZCSV=$4 W=$5 AZ=${6:-}
rm -rf "$W" && mkdir -p "$W" && cd "$W" || exit 1
fails=0
case_() { # case_ NAME PATTERNS COMMAND...: COMMAND must fail with one error line containing each of the
  #         '|'-separated PATTERNS
  local name=$1 pat=$2 out rc n p miss=0
  shift 2
  out=$("$@" 2>&1)
  rc=$?
  n=$(grep -c "error" <<<"$out")
  IFS='|' read -ra pats <<<"$pat"
  for p in "${pats[@]}"; do grep "error" <<<"$out" | grep -qF -- "$p" || miss=1; done
  if [ "$rc" = 0 ] || [ "$rc" -ge 128 ] || [ "$n" != 1 ] || [ $miss = 1 ]; then
    echo "FAIL $name: exit $rc, $n error line(s), expected one containing: $pat"
    echo "$out" | sed 's/^/    /' | tail -15
    fails=$((fails + 1))
  else
    echo "ok   $name (exit $rc): $(grep 'error' <<<"$out")"
  fi
}
check() { # check WHAT CONDITION...
  local what=$1
  shift
  if "$@"; then echo "ok   $what"; else echo "FAIL $what"; fails=$((fails + 1)); fi
}

# a small copy of inputs/nz.ini: the estimate alone, short chains (seconds)
sed -e "s|^border = .*|border = $NZCSV|" -e 's/^stages = .*/stages = estimate/' -e 's/^warmup = .*/warmup = 100/' \
    -e 's/^draws = .*/draws = 100/' -e 's/^chains = .*/chains = 2/' "$NZ" > nz.ini
sed -i 's/^seed = 20261204$/seed = 20261204\naccept-failed-diagnostics = true/' nz.ini

case_ missing-config "nope.ini: No such file or directory" "$E" run nope.ini -o out.h5
case_ unknown-stage "unknown stage 'bogus'" "$E" run nz.ini -o out.h5 --stages estimate --stages bogus
# --resume of a run killed before it made its work directory (or never started): a fresh start
out=$("$E" run nz.ini -o fresh.h5 --resume 2>&1); rc=$?
check "resume-without-run: exit 0 (a fresh start), got $rc" test "$rc" = 0
check "resume-without-run: says it starts from the beginning" grep -q "no earlier run in $W/fresh.h5.work: starting from the beginning" <<<"$out"
check "resume-without-run: the output written, the work directory removed" test -e fresh.h5 -a ! -e fresh.h5.work
# --resume after a finished run (output there, work directory removed): refused, nothing touched
before=$(stat -c %Y.%s fresh.h5)
case_ resume-after-finished "$W/fresh.h5.work|no run to resume|$W/fresh.h5 exists|had finished" "$E" run nz.ini -o fresh.h5 --resume
check "resume-after-finished: the output unchanged" test "$(stat -c %Y.%s fresh.h5)" = "$before"
# the output may not be an input of a stage (here the border CSV of [estimate])
cp "$NZCSV" same.csv && sed -e "s|^border = .*|border = $W/same.h5|" nz.ini > same.ini && cp same.csv same.h5
case_ output-is-input "$W/same.h5|the estimate stage's input" "$E" run same.ini -o same.h5
check "output-is-input: the input unchanged" cmp -s same.csv same.h5
# an input edited between a kill and --resume: the fingerprint changes, the resume is refused
cp "$NZCSV" edit.csv && sed -e "s|^border = .*|border = $W/edit.csv|" nz.ini > edit.ini
"$E" run edit.ini -o edit.h5 --keep-work --log-level warn 2>/dev/null
echo >> edit.csv
case_ resume-input-edited "$W/edit.h5.work|belongs to another run" "$E" run edit.ini -o edit.h5 --resume
case_ output-not-h5 "$W/out.hdf5|must end in .h5" "$E" run nz.ini -o out.hdf5
case_ forecast-without-estimate "forecast stage needs the estimate stage" "$E" run nz.ini -o out.h5 --stages forecast

# a work directory that is not emflow's
mkdir out.h5.work && echo "my notes" > out.h5.work/notes.txt
case_ foreign-work-dir "$W/out.h5.work|not an emflow work directory" "$E" run nz.ini -o out.h5
check "foreign-work-dir: notes.txt still there, unchanged" grep -qx "my notes" out.h5.work/notes.txt
check "foreign-work-dir: no output" test ! -e out.h5 -a ! -e out.h5.part
mkdir mine && echo "keep" > mine/data.csv
case_ foreign-work-dir-option "$W/mine|not an emflow work directory" "$E" run nz.ini -o out.h5 --work-dir mine
check "foreign-work-dir-option: mine/data.csv still there, alone" test "$(ls mine)" = data.csv
rm -rf out.h5.work mine

# a bad value in [estimate]: file:line
cp nz.ini bad.ini
line=$(grep -n '^chains = ' bad.ini | cut -d: -f1)
sed -i 's/^chains = .*/chains = many/' bad.ini
case_ estimate-bad-value "$W/bad.ini:$line: [estimate] chains = 'many'" "$E" run bad.ini -o bad.h5
check "estimate-bad-value: no output" test ! -e bad.h5 -a ! -e bad.h5.part
case_ estimate-bad-value-np2 "$W/bad.ini:$line: [estimate] chains = 'many'" \
      "$MPIEXEC" -n 2 --oversubscribe "$E" run bad.ini -o bad.h5

if [ -n "$AZ" ]; then
  sed -e 's/^chains = .*/chains = many/' -e 's/^scale = .*/scale = 0.002/' "$AZ" > badaz.ini
  line=$(grep -n '^chains = ' badaz.ini | cut -d: -f1)
  case_ estimate-bad-value-after-simulate "$W/badaz.ini:$line: [estimate] chains = 'many'" "$E" run badaz.ini -o badaz.h5
  if [ -e badaz.h5.work/simulate.done ] || [ -e badaz.h5.work/RUN ]; then
    echo "FAIL estimate-bad-value-after-simulate: the bad [estimate] value was reported only after stages had run" \
         "($(cd badaz.h5.work && ls | tr '\n' ' ')); every section must be checked before the first stage"
    fails=$((fails + 1))
  fi
fi

# --resume after the config changed
"$E" run nz.ini -o prev.h5 --keep-work --log-level warn 2> prev.err || { echo "FAIL: the small nz run: exit $?"; cat prev.err; exit 1; }
check "previous run: prev.h5 and its work directory with estimate.done" test -f prev.h5 -a -f prev.h5.work/estimate.done
sums() { sha256sum prev.h5 prev.h5.work/RUN prev.h5.work/estimate.h5 prev.h5.work/*.done; }
before=$(sums)
cp nz.ini nz.orig
sed -i 's/^seed = 20261204$/seed = 7/' nz.ini
case_ resume-config-changed "$W/prev.h5.work|belongs to another run" "$E" run nz.ini -o prev.h5 --resume
check "resume-config-changed: the work directory and prev.h5 unchanged" test "$(sums)" = "$before"
cp nz.orig nz.ini
# --resume of a complete run: nothing to do
out=$("$E" run nz.ini -o prev.h5 --resume 2>&1)
rc=$?
check "resume of a complete run: exit 0 ($rc)" test "$rc" = 0
check "resume of a complete run: every stage skipped" grep -q "estimate: done before the interruption, skipped" <<<"$out"
check "resume of a complete run: prev.h5 unchanged" test "$(sha256sum prev.h5)" = "$(grep ' prev.h5$' <<<"$before")"
check "resume of a complete run: the work directory removed (no --keep-work)" test ! -e prev.h5.work

echo "run_bad_input: $fails failure(s)"
[ $fails = 0 ]
