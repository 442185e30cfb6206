#!/usr/bin/env bash
# Bad input to `emflow estimate --model border`: each case gives one clear error (the exit code of
# the README's list, a message naming the file/line/option and what was expected), no output file and
# no .part left behind, never a crash.
#   estimate_border_bad.sh EMFLOW WORKDIR
set -uo pipefail
E=$1
W=$2
rm -rf "$W" && mkdir -p "$W" && cd "$W" || exit 1
fails=0
printf 'citizen,TIME_PERIOD,OBS_VALUE\nAZE,2020,50\nAZE,2021,40\nRUS,2020,30\nRUS,2021,35\n' >border.csv
printf 'citizen,TIME_PERIOD,OBS_VALUE\nAZE,2020,10\nAZE,2021,12\n' >declared.csv
# case NAME EXPECTED_RC 'PATTERN' ARGS...
case_() {
  local name=$1 rc_want=$2 pat=$3
  shift 3
  local out rc
  out=$("$E" estimate --model "${MODEL:-border}" -o out.h5 --warmup 20 --draws 20 --checkpoint-every "${CKE:-0}" "$@" 2>&1)
  rc=$?
  if [ "$rc" != "$rc_want" ] || ! grep -qF -- "$pat" <<<"$out"; then
    echo "FAIL $name: exit $rc (expected $rc_want), output:"; echo "$out" | sed 's/^/    /'
    echo "    expected to contain: $pat"
    fails=$((fails + 1))
  else
    echo "ok   $name: $(grep 'error' <<<"$out" | head -1)"
  fi
  if [ "$rc" -ge 128 ]; then echo "FAIL $name: crashed (exit $rc)"; fails=$((fails + 1)); fi
  if [ "$rc" != 0 ] && { [ -e out.h5 ] || [ -f out.h5.part ]; }; then
    echo "FAIL $name: an output was left behind"; fails=$((fails + 1))
  fi
  rm -f out.h5
  if [ -f out.h5.part ]; then rm -f out.h5.part; fi
}
case_ no-border 2 "model = border needs --border FILE" --declared declared.csv
case_ input-given 2 "--input is the double-entry flows file" --border border.csv --input border.csv
case_ missing-file 5 "nope.csv: cannot open" --border nope.csv
printf 'citizen,TIME_PERIOD,OBS_VALUE\nAZE,2020,5\nAZE,2021-Q1,3\n' >mixed.csv
case_ mixed-periods 4 "period 2021-Q1 is 3 month(s) long, but mixed.csv has 12-month periods" --border mixed.csv
printf 'citizen,TIME_PERIOD,OBS_VALUE\nAZE,2020,5\nAZE,2021,-3\n' >neg.csv
case_ negative-count 4 "neg.csv:3: column 'OBS_VALUE': found '-3', expected a value >= 0" --border neg.csv
printf 'citizen,TIME_PERIOD,OBS_VALUE\nAZE,2020,5\nAZE,2021,3.5\n' >frac.csv
case_ fractional-count 4 "frac.csv:3: OBS_VALUE = 3.5 is not a whole number of persons" --border frac.csv
printf 'citizen,TIME_PERIOD,OBS_VALUE\nAZE,2020,5\nAZE,2021,3\nRUS,2020,NA\n' >allmiss.csv
case_ group-all-missing 4 "every report is missing for group RUS" --border allmiss.csv
printf 'citizen,TIME_PERIOD,OBS_VALUE\nAZE,2020,5\nAZE,2020,3\n' >dup.csv
case_ duplicate 4 "dup.csv" --border dup.csv
printf 'citizen,TIME_PERIOD,OBS_VALUE\nAZE,2020-W03,5\n' >week.csv
case_ bad-period 4 "week.csv:2" --border week.csv
case_ bad-prior 3 "prior-declared = '0,1': expected two positive numbers 'a,b'" --border border.csv --declared declared.csv --prior-declared 0,1
case_ bad-border-prior 3 "prior-border = 'sure': expected two positive numbers" --border border.csv --prior-border sure
case_ bad-duration 3 "the duration must be 0, 3, 6, 12 or permanent (found '9')" --border border.csv --mirror declared.csv --mirror-duration 9
case_ unknown-group 3 "groups: 'XXX' is not a code of column citizen in border.csv" --border border.csv --groups AZE --groups XXX
case_ no-period-column 4 "the time column 'Year' is not in the header" --border border.csv --period-col Year
printf 'citizen,TIME_PERIOD,OBS_VALUE\nGEO,2020,5\n' >other.csv
case_ declared-no-match 4 "no declared count for the fitted groups and periods" --border border.csv --declared other.csv --groups AZE --groups RUS
case_ years-out-of-range 3 "no period of border.csv falls in first-year .. last-year" --border border.csv --first-year 2030
case_ bad-filter 3 "border-filter = 'citizen': expected COLUMN=VALUE" --border border.csv --border-filter citizen
case_ filter-drops-all 4 "no observations after the filters" --border border.csv --border-filter citizen=XYZ
MODEL=double-entry case_ border-option-in-double-entry 2 "--border belongs to model = border" --input border.csv --border border.csv
case_ double-entry-option 2 "--covariates (config [estimate] covariates) belongs to model = double-entry" --border border.csv --covariates contig
case_ prior-out-of-range 3 "each Beta parameter must lie in [1e-4, 1e6]" --border border.csv --prior-border 1e-10,1
printf 'citizen,TIME_PERIOD,OBS_VALUE\nAZE,2020,1e16\n' >huge.csv
case_ count-too-large 4 "huge.csv:2: OBS_VALUE = 1e+16 is too large (at most 9e15 persons)" --border huge.csv
mkdir -p ck && printf 'not hdf5' >ck/chain0.h5
CKE=10 case_ corrupt-checkpoint 4 "ck/chain0.h5: not a readable HDF5 checkpoint (truncated or corrupt?)" --border border.csv --resume --checkpoint-dir ck
CKE=10 case_ output-in-checkpoint-dir 3 "is inside the checkpoint directory" --border border.csv --checkpoint-dir .
mkdir -p out.h5.part
case_ part-is-directory 5 "its temporary out.h5.part exists and is not a regular file (a directory)" --border border.csv
rmdir out.h5.part
echo "estimate_border_bad: $fails failure(s)"
[ "$fails" = 0 ]
