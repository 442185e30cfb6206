#!/usr/bin/env bash
# estimate_bad_input.sh EMFLOW BASE.csv WORKDIR: `emflow estimate` on bad data and bad options.
# Each case is an edit of BASE.csv (tests/data/estimate/base.csv: FIN, ITA, POL, SWE, 2015-2017, every
# report present, SWE's immigration the benchmark) or a bad option, and must give
#   - the documented exit status (2 usage, 3 configuration, 4 input data, 5 file or I/O),
#   - exactly one error line, containing the given phrases: what is wrong, where (file:line, column or
#     option) and how to supply it,
#   - no output file, no OUT.part and no checkpoint directory left behind,
#   - never a crash (status >= 128) or a sanitizer report.
# The valid base runs first (exit 0), so that every case fails for its own reason.
set -u
E=$1 B=$2 W=$3/bad_input
# every case is a singleton MPI run: without a daemon and with the shared-memory/self transports only, one
# starts in 0.15 s instead of 0.6 s (the runs here never talk to another rank)
export OMPI_MCA_ess_singleton_isolated=1 OMPI_MCA_pml=ob1 OMPI_MCA_btl=self,vader OMPI_MCA_osc=^ucx OMPI_MCA_mtl=^ofi
rm -rf "$W" && mkdir -p "$W" && cd "$W" || exit 1
fail=0 n=0
# [OUT=FILE] expect STATUS PHRASE... -- ARGS...  (phrases are fixed strings; -o out.h5 or -o FILE, and
# short chains are added)
expect() {
  local status=$1 pats=() rc nerr p
  shift
  while [ "$1" != "--" ]; do pats+=("$1"); shift; done
  shift
  n=$((n + 1))
  timeout 120 "$E" estimate -o "${OUT:-out.h5}" --warmup 20 --draws 20 --checkpoint-every 5 --accept-failed-diagnostics \
    --log-level warn "$@" > out.txt 2> err.txt
  rc=$?
  local what="case $n ($*)"
  if [ $rc -ge 124 ]; then echo "FAIL: $what: crashed or hung (exit $rc)"; cat err.txt; fail=$((fail + 1)); return; fi
  if grep -q "Sanitizer\|runtime error:" err.txt; then echo "FAIL: $what: sanitizer report"; cat err.txt; fail=$((fail + 1)); fi
  if [ "$rc" != "$status" ]; then echo "FAIL: $what: exit $rc, expected $status"; cat err.txt; fail=$((fail + 1)); fi
  nerr=$(grep -c "error" err.txt)
  if [ "$status" != 0 ] && [ "$nerr" != 1 ]; then
    echo "FAIL: $what: $nerr error lines, expected 1"; cat err.txt; fail=$((fail + 1))
  fi
  for p in "${pats[@]}"; do
    grep -qF -- "$p" err.txt || { echo "FAIL: $what: the message lacks '$p':"; cat err.txt; fail=$((fail + 1)); }
  done
  if [ "$status" != 0 ]; then
    for f in out.h5 out.h5.part out.h5.ckpt; do
      [ -e "$f" ] && { echo "FAIL: $what: $f left behind"; fail=$((fail + 1)); }
    done
  fi
  rm -rf out.h5 out.h5.part out.h5.ckpt
}
# edit FILE AWK-PROGRAM: BASE.csv through awk (comma-separated, header kept) into FILE
edit() { awk -F, -v OFS=, "$2" "$B" > "$1"; }

# the valid base, and the valid edits some cases build on
expect 0 -- --input "$B"

# no benchmark source
edit nobench.csv '$3 != "SWE" && $4 != "SWE"'
expect 4 "no benchmark" "immigration:SWE" "set benchmark = SOURCE:CODE" -- --input nobench.csv
edit benchna.csv 'NR > 1 && $4 == "SWE" { $6 = "NA" } 1'
expect 4 "no benchmark" "benchna.csv has no immigration:SWE report" -- --input benchna.csv
expect 4 "no benchmark" "include it in countries" -- --input "$B" --countries FIN --countries ITA --countries POL
expect 4 "no benchmark" "immigration:DNK" -- --input "$B" --benchmark immigration:DNK
expect 3 "benchmark = 'SWE'" "expected SOURCE:CODE" -- --input "$B" --benchmark SWE
expect 3 "benchmark = 'census:SWE'" "emigration or immigration" -- --input "$B" --benchmark census:SWE
# an undercount class without a prior: medium has no default
edit medium.csv 'NR == 3 { $7 = "medium" } 1'
expect 3 "medium.csv:3" "undercount class 'medium' have no coverage prior" "prior-immigration-medium = a,b" -- --input medium.csv
expect 0 -- --input medium.csv --prior-immigration-medium 51.025,14.48
# every report missing for a country
edit nopol.csv 'NR > 1 && ($3 == "POL" || $4 == "POL") { $5 = "NA"; $6 = "NA" } 1'
expect 4 "every report is missing for POL" "2015-2017" "leave it out of countries" -- --input nopol.csv
# counts
edit neg.csv 'NR == 2 { $5 = -$5 } 1'
expect 4 "neg.csv:2" "column 'Emig'" "'-5479'" ">= 0" -- --input neg.csv
edit frac.csv 'NR == 2 { $6 = $6 + 0.5 } 1'
expect 4 "frac.csv:2" "Immi = 6653.5 is not a whole number" -- --input frac.csv
edit text.csv 'NR == 2 { $5 = "many" } 1'
expect 4 "text.csv:2" "column 'Emig'" "found 'many'" "expected a number" -- --input text.csv
edit nan.csv 'NR == 2 { $5 = "nan" } 1'
expect 4 "nan.csv:2" "found 'nan'" -- --input nan.csv
# periods
edit year.csv 'NR == 2 { $2 = "20x5" } 1'
expect 4 "year.csv:2" "column 'Year'" "period '20x5'" "expected YYYY" -- --input year.csv
edit month.csv 'NR == 2 { $2 = "2015-03" } 1'
expect 4 "month.csv" "column Year" "needs calendar years" "2015-03" -- --input month.csv
# classes
edit acc.csv 'NR == 2 { $10 = "Superb" } 1'
expect 4 "acc.csv:2" "AE = 'Superb'" "High, Medium, Low or NA" -- --input acc.csv
edit ucl.csv 'NR == 2 { $9 = "tiny" } 1'
expect 4 "ucl.csv:2" "UE = 'tiny'" "low, medium or high" -- --input ucl.csv
# duplicate corridor-year: the same row twice, and a second row with another emigration class
{ cat "$B"; sed -n 2p "$B"; } > dup.csv
expect 4 "dup.csv:38" "duplicated observation" "Sending_iso3=FIN, Receiving_iso3=ITA" "Year=2015" "line 2" -- --input dup.csv
{ cat "$B"; sed -n 2p "$B" | awk -F, -v OFS=, '{ $7 = "low"; $9 = "high" }1'; } > dup2.csv
expect 4 "dup2.csv:38" "Sending_iso3=FIN, Receiving_iso3=ITA" "line 2" -- --input dup2.csv
# a flow from a country to itself
{ cat "$B"; echo "Total,2015,FIN,FIN,5,5,low,High,low,High,5500000,5500000,1.0,0,0"; } > self.csv
expect 4 "self.csv:38" "a flow from FIN to itself" -- --input self.csv
# covariates: missing value, missing row, missing column, log of zero, constant
edit misscov.csv 'NR == 2 { $13 = "NA" } 1'
expect 4 "misscov.csv:2" "covariate distw is missing for FIN->ITA in 2015" "every fitted corridor-year needs it" -- --input misscov.csv
edit missrow.csv 'NR != 2'
expect 4 "no row for corridor FIN->ITA in 2015" "covariate Pop.Sending" -- --input missrow.csv
expect 4 "the value column 'GDP' is not in the header" "'Pop.Sending'" -- --input "$B" --covariates log:GDP
edit zero.csv 'NR == 2 { $13 = 0 } 1'
expect 4 "zero.csv:2" "log:distw needs a positive value, found 0" -- --input zero.csv
edit const.csv 'NR > 1 { $14 = 0 } 1'
expect 4 "covariate contig is constant" "drop it from covariates" -- --input const.csv
# columns and filters
edit nocol.csv 'NR == 1 { $9 = "U_E" } 1'
expect 4 "nocol.csv:1" "the dimension column 'UE' is not in the header" "'U_E'" -- --input nocol.csv
expect 4 "no data rows (after the filter 'SEX=Male')" -- --input "$B" --filter SEX=Male
expect 3 "filter = 'SEX'" "expected COLUMN=VALUE" -- --input "$B" --filter SEX
head -1 "$B" > header.csv
expect 4 "header.csv: no data rows" -- --input header.csv
: > empty.csv
expect 4 "empty.csv: empty file" -- --input empty.csv
# files
expect 5 "missing.csv: cannot open: No such file or directory" -- --input "$W/missing.csv"
OUT=$W/nodir/x.h5 expect 5 "cannot create $W/nodir/x.h5" "No such file or directory" -- --input "$B"
[ -e "$W/nodir" ] && { echo "FAIL: the missing output directory was created"; fail=$((fail + 1)); }
cp "$B" in.h5
OUT=in.h5 expect 2 "the output in.h5 is the input" -- --input in.h5
cmp -s "$B" in.h5 || { echo "FAIL: the input was overwritten"; fail=$((fail + 1)); }
expect 2 "give --input" --
# --duration
expect 3 "duration 'emigration:FIN=7'" "0, 3, 6, 12 or permanent" "found '7'" -- --input "$B" --duration emigration:FIN=7
expect 3 "duration 'FIN=12'" "expected SOURCE:CODE=MONTHS" -- --input "$B" --duration FIN=12
expect 3 "duration 'census:FIN=3'" "expected SOURCE:CODE=MONTHS" -- --input "$B" --duration census:FIN=3
expect 3 "duration 'emigration:XYZ=3'" "'XYZ' is not a country code" -- --input "$B" --duration emigration:XYZ=3
expect 3 "emigration:FIN is given twice" -- --input "$B" --duration emigration:FIN=3 --duration emigration:FIN=6
expect 0 -- --input "$B" --duration emigration:FIN=permanent --duration immigration:ITA=3
# Beta prior text
for bad in "1," "abc" "-1,2" "0,1" "1,2,3" "nan,1" "inf,1" "1;2"; do
  expect 3 "prior-emigration-low = '$bad'" "expected two positive numbers 'a,b'" -- --input "$B" --prior-emigration-low "$bad"
done
# years
expect 3 "first-year 2017 is after last-year 2015" -- --input "$B" --first-year 2017 --last-year 2015
expect 3 "no year of" "falls in first-year .. last-year" -- --input "$B" --first-year 2030
expect 2 "--first-year" "[1, 9999]" -- --input "$B" --first-year 0
# countries
expect 3 "'XYZ' is not a country code of" "base.csv" -- --input "$B" --countries FIN --countries XYZ
expect 3 "'FIN,SWE' is not a country code" "one code per --countries" -- --input "$B" --countries FIN,SWE
expect 3 "'FIN' is listed twice" -- --input "$B" --countries FIN --countries FIN
expect 3 "need at least two countries (found 1)" -- --input "$B" --countries SWE
# option values
expect 2 "--chains '0'" "[1, 256]" -- --input "$B" --chains 0
expect 2 "--draws '2'" "[4, " -- --input "$B" --draws 2
expect 2 "--model 'gravity'" -- --input "$B" --model gravity
expect 5 "checkpoint directory" "is not a directory" -- --input "$B" --checkpoint-dir "$B"

echo "estimate_bad_input: $n cases, $fail failure(s)"
[ $fail = 0 ]
