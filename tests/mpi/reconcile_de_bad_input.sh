#!/usr/bin/env bash
# reconcile_de_bad_input.sh EMFLOW OUTDIR: `emflow reconcile --model double-entry` on bad input and
# options: each case with the expected exit status (2 usage, 3 configuration, 4 input) and one message
# naming the file and line (or the option), and no output file left behind; plus the edge cases that
# must succeed (zero counts with var-floor 0, a country without any report).
set -u
E=$1 out=$2
fail=0
die() { echo "FAIL: $*"; fail=$((fail + 1)); }
mkdir -p "$out" && cd "$out" && rm -f ./*.h5 ./*.part ./*.csv || exit 1
H='SEX,Year,Sending_iso3,Receiving_iso3,Emig,Immi,UE,UI,AE,AI'
good() {
  echo "$H"
  echo 'Total,2015,AUT,BEL,100,120,low,low,High,Medium'
  echo 'Total,2015,BEL,AUT,NA,80,low,high,NA,Low'
  echo 'Total,2015,AUT,SWE,50,NA,low,low,High,NA'
  echo 'Total,2015,SWE,AUT,40,60,low,low,Medium,High'
  echo 'Total,2015,BEL,SWE,NA,NA,low,low,NA,NA'
  echo 'Total,2015,SWE,BEL,30,33,low,low,High,High'
}
R="$E reconcile --model double-entry"
# expect NAME RC PATTERN ARGS...: exit status RC, PATTERN in the message, no output
expect() {
  local name=$1 rc_want=$2 pat=$3
  shift 3
  local msg rc
  msg=$("$@" -o bad.h5 2>&1)
  rc=$?
  [ "$rc" = "$rc_want" ] && grep -qF -- "$pat" <<<"$msg" && [ ! -e bad.h5 ] && [ ! -e bad.h5.part ] \
    || die "$name: rc=$rc (want $rc_want), message: $msg (want: $pat)"
  [ "$(grep -c 'error' <<<"$msg")" -le 1 ] || die "$name: more than one error line: $msg"
}

good > good.csv
msg=$($R --input good.csv -o ok.h5 2>&1) || die "good file: $msg"

# a bad value names file:line and the column
good | sed '3s/,NA,80,/,8x0,80,/' > value.csv
expect "bad value" 4 "value.csv:3" $R --input value.csv
good | sed '2s/,100,120,/,-100,120,/' > neg.csv
expect "negative value" 4 "neg.csv:2" $R --input neg.csv
good | sed '2s/,100,120,/,1e13,120,/' > huge.csv
expect "implausible value" 4 "huge.csv:2: Emig = 1e+13 persons" $R --input huge.csv
# a missing column names the file, the column and the options that name columns
good | sed '1s/Immi/Immigration/' > col.csv
expect "missing column" 4 "col.csv:1: the value column 'Immi' is not in the header" $R --input col.csv
expect "missing column (option)" 4 "'Immigration' is not in the header" $R --input good.csv --immigration-col Immigration
# a duplicated corridor-year, with the same classes (agg) and with other classes (ours), names both lines
{ good; echo 'Total,2015,AUT,BEL,1,2,low,low,High,Medium'; } > dup.csv
expect "duplicate (same classes)" 4 "dup.csv" $R --input dup.csv
{ good; echo 'Total,2015,AUT,BEL,1,2,high,low,Low,Medium'; } > dup2.csv
expect "duplicate (other classes)" 4 "dup2.csv:8: a second row for corridor AUT->BEL in 2015 (the first is line 2)" \
  $R --input dup2.csv
# unknown classes
good | sed '2s/,low,low,High,Medium/,huge,low,High,Medium/' > ucl.csv
expect "unknown undercount class" 4 "ucl.csv:2: UE = 'huge': expected an undercount class low, medium or high" \
  $R --input ucl.csv
good | sed '2s/,low,low,High,Medium/,low,low,High,Mediocre/' > acl.csv
expect "unknown accuracy class" 4 "acl.csv:2: AI = 'Mediocre': expected an accuracy class High, Medium, Low or NA" \
  $R --input acl.csv
# a medium-class report needs prior-SOURCE-medium (no default)
good | sed '2s/,low,low,High,Medium/,medium,low,High,Medium/' > med.csv
expect "medium prior missing" 3 "med.csv:2: emigration reports of undercount class 'medium' have no coverage prior: set prior-emigration-medium" \
  $R --input med.csv
msg=$($R --input med.csv --prior-emigration-medium 38.545,27.74 -o med.h5 2>&1) || die "medium prior given: $msg"
expect "bad prior" 3 "prior-emigration-low = '1;2'" $R --input good.csv --prior-emigration-low '1;2'
# a flow from a country to itself
{ good; echo 'Total,2015,AUT,AUT,5,NA,low,low,High,NA'; } > self.csv
expect "self flow" 4 "self.csv:8: Emig: a flow from AUT to itself" $R --input self.csv
# not calendar years
good | sed '2s/,2015,/,2015-Q1,/' > quarter.csv
expect "quarter" 4 "quarter.csv:2: column Year: the double-entry model needs calendar years" $R --input quarter.csv
# options
expect "no input" 2 "needs --input" $R
expect "border option under double-entry" 2 "--border (config [reconcile] border) belongs to model = border" \
  $R --input good.csv --border good.csv
expect "double-entry option under border" 2 "--input (config [reconcile] input) belongs to model = double-entry" \
  "$E" reconcile --input good.csv
expect "bad duration" 3 "duration 'emigration:AUT=5'" $R --input good.csv --duration emigration:AUT=5
expect "duration of an unknown country" 3 "'XYZ' is not a country code" $R --input good.csv --duration emigration:XYZ=3
expect "duration twice" 3 "is given twice" $R --input good.csv --duration emigration:AUT=3 --duration emigration:AUT=6
expect "benchmark typo" 3 "benchmark = 'immigration:SWF': 'SWF' is not a country code" \
  $R --input good.csv --benchmark immigration:SWF
expect "unknown country" 3 "countries: 'FRA' is not a country code" $R --input good.csv --countries AUT --countries FRA
expect "years" 3 "no year of good.csv falls in first-year .. last-year" $R --input good.csv --first-year 2016
expect "filter" 3 "reconcile: --filter 'SEX': expected COLUMN=VALUE" $R --input good.csv --filter SEX
# from a config, a bad filter or list item names file:line and the key (was: no file:line)
printf '[reconcile]\nmodel = double-entry\ninput = good.csv\nfilter = SEX\n' > badfilter.ini
expect "filter (config)" 3 "badfilter.ini:4: [reconcile] filter = 'SEX': expected COLUMN=VALUE" "$E" reconcile --config badfilter.ini
printf '[reconcile]\nmodel = double-entry\ninput = good.csv\nduration = emigration:AUT=3, emigration:AUT5\n' > baddur.ini
expect "duration item (config)" 3 "baddur.ini:4: [reconcile] duration = 'emigration:AUT=3,emigration:AUT5': item 'emigration:AUT5': expected SOURCE:CODE=MONTHS" \
  "$E" reconcile --config baddur.ini
printf '[reconcile]\nmodel = double-entry\ninput = good.csv\nduration = emigration:AUT=5\n' > baddur2.ini
expect "duration value (config)" 3 "(baddur2.ini:4: [reconcile] duration = 'emigration:AUT=5': item 'emigration:AUT=5')" \
  "$E" reconcile --config baddur2.ini
printf '[reconcile]\nmodel = double-entry\ninput = good.csv\ncountries = AUT, FRA\n' > badctry.ini
expect "countries (config)" 3 "'FRA' is not a country code" "$E" reconcile --config badctry.ini
expect "countries (config) where" 3 "(badctry.ini:4: [reconcile] countries = 'AUT,FRA')" "$E" reconcile --config badctry.ini
expect "filter keeps nothing" 4 "no data rows after the filter 'SEX=Male'" $R --input good.csv --filter SEX=Male
# an empty filter keeps every row (documented "empty: all rows"), so a file without a SEX column reads:
# good.csv without its SEX column (every row was Total) gives the same reconciliation as good.csv, from
# --filter '' and from `filter =` in a config. Was: "expected a non-empty value" (exit 2 / 3).
good | cut -d, -f2- > nosex.csv
expect "no SEX column, default filter" 4 "the filter column 'SEX' is not in the header" $R --input nosex.csv
msg=$($R --input nosex.csv --filter '' -o nosex.h5 2>&1) && h5diff -q --exclude-attribute / --exclude-path /config ok.h5 nosex.h5 \
  || die "--filter '' on a file without SEX: rc=$? $msg"
printf '[reconcile]\nmodel = double-entry\ninput = nosex.csv\nfilter =\n' > nosex.ini
msg=$("$E" reconcile --config nosex.ini -o nosex_ini.h5 2>&1) \
  && h5diff -q --exclude-attribute / --exclude-path /config ok.h5 nosex_ini.h5 || die "filter = in a config: rc=$? $msg"
msg=$($R --input good.csv -o r.csv 2>&1); rc=$?
[ $rc = 2 ] && [ ! -e r.csv ] || die "non-.h5 output: rc=$rc $msg"

# edge cases that succeed: both reports 0 with var-floor 0 (zero variances: fixed, consistent);
# a country with no report at all (warned, its corridors -1)
{ echo "$H"; echo 'Total,2015,AUT,BEL,0,0,low,low,High,High'; echo 'Total,2015,BEL,AUT,0,5,low,low,High,High';
  echo 'Total,2015,AUT,FIN,NA,NA,low,low,NA,NA'; echo 'Total,2015,FIN,AUT,NA,NA,low,low,NA,NA';
  echo 'Total,2015,SWE,AUT,10,NA,low,low,High,NA'; } > zero.csv
msg=$($R --input zero.csv --var-floor 0 -o zero.h5 2>&1); rc=$?
[ $rc = 0 ] && grep -q "FIN has no report on any corridor" <<<"$msg" || die "zero counts: rc=$rc $msg"
if [ $rc = 0 ] && [ -n "${PYTHON:-}" ]; then
  "$PYTHON" - <<'EOF' || die "zero counts: values"
import h5py, numpy as np
g = h5py.File("zero.h5")["/reconciliation"]
c = [s.decode() for s in g["corridor"][()]]
F, S, src = g["flows"][0], g["flows_sd"][0], g["source"][0]
assert F[c.index("AUT->BEL")] == 0 and S[c.index("AUT->BEL")] == 0 and src[c.index("AUT->BEL")] == 3
assert F[c.index("BEL->AUT")] == 0 and S[c.index("BEL->AUT")] == 0, (F, S)   # the zero-variance report holds
assert F[c.index("AUT->FIN")] == -1 and S[c.index("AUT->FIN")] == -1 and src[c.index("AUT->FIN")] == 0
assert np.all(np.isfinite(F)) and np.all(np.isfinite(S))
EOF
fi
echo "reconcile_de_bad_input: $fail failure(s)"
[ $fail = 0 ]
