#!/usr/bin/env bash
# reconcile_edge_cases.sh EMFLOW DATA OUTDIR: edge cases found by an adversarial review, each with the
# expected exit status and message.
set -u
E=$1 D=$2 out=$3
fail=0
die() { echo "FAIL: $*"; fail=$((fail + 1)); }
mkdir -p "$out" && cd "$out" && rm -f ./*.h5 ./*.part ./*.csv || exit 1

# a period of zeros with zero variance floor: consistent, every estimate fixed -> success, all zero
printf 'citizen,TIME_PERIOD,OBS_VALUE\nAZE,2021,0\nRUS,2021,0\n' > b0.csv
printf 'partner,TIME_PERIOD,OBS_VALUE\nRUS,2021,0\nTUR,2021,0\n' > m0.csv
printf 'citizen,partner,TIME_PERIOD,OBS_VALUE\nAZE,RUS,2021,0\n' > d0.csv
msg=$("$E" reconcile --border b0.csv --mirror m0.csv --declared d0.csv --var-floor 0 -o zero.h5 2>&1); rc=$?
[ $rc = 0 ] || die "all-zero period: rc=$rc $msg"
# tiny mirror totals: undeclared is zero by destination, rounding noise must not fail the IPF
msg=$("$E" reconcile --border "$D/border.csv" --mirror "$D/mirror.csv" --declared "$D/declared.csv" \
  --mirror-duration-factor 0.1 -o small.h5 2>&1); rc=$?
[ $rc = 0 ] || die "rounding-size totals: rc=$rc $msg"
# IPF non-convergence is an error (exit 11) unless accepted
msg=$("$E" reconcile --border "$D/border.csv" --mirror "$D/mirror.csv" --declared "$D/declared.csv" \
  --seed-floor 0 --var-floor 0 --ipf-max-iter 1 -o nc.h5 2>&1); rc=$?
[ $rc = 11 ] && grep -q "IPF not converged after 1 iterations" <<<"$msg" && [ ! -e nc.h5 ] && [ ! -e nc.h5.part ] \
  || die "non-convergence: rc=$rc $msg"
msg=$("$E" reconcile --border "$D/border.csv" --mirror "$D/mirror.csv" --declared "$D/declared.csv" \
  --seed-floor 0 --var-floor 0 --ipf-max-iter 1 --accept-nonconverged -o nc.h5 2>&1); rc=$?
[ $rc = 0 ] && [ -e nc.h5 ] || die "accepted non-convergence: rc=$rc $msg"
# an implausible count names the file and line
printf 'indicator,citizen,TIME_PERIOD,OBS_VALUE\ne,AZE,2021,1e200\ne,RUS,2021,5\ne,AZE,2022,1\ne,RUS,2022,1\n' > big.csv
msg=$("$E" reconcile --border big.csv --mirror "$D/mirror.csv" --declared "$D/declared.csv" -o big.h5 2>&1); rc=$?
[ $rc = 4 ] && grep -q "big.csv:2: OBS_VALUE = 1e+200" <<<"$msg" || die "implausible count: rc=$rc $msg"
# infeasible spread (RUS has undeclared emigration in 2022 but declared nobody, seed-floor 0): one
# clear message naming the period once (the kernel's message is copied, not overwritten)
msg=$("$E" reconcile --border "$D/border.csv" --mirror "$D/mirror.csv" --declared "$D/declared.csv" \
  --seed-floor 0 -o inf.h5 2>&1); rc=$?
[ $rc = 10 ] && grep -q "need seed-floor > 0" <<<"$msg" || die "infeasible spread: rc=$rc $msg"
[ "$(grep -o 'period 20' <<<"$msg" | wc -l)" = 1 ] || die "garbled message: $msg"
# output must be HDF5
msg=$("$E" reconcile --border "$D/border.csv" --mirror "$D/mirror.csv" --declared "$D/declared.csv" -o r.csv 2>&1); rc=$?
[ $rc = 2 ] && [ ! -e r.csv ] || die "non-.h5 output: rc=$rc $msg"
# per-file value and period columns (--border-value-col, --border-time-col): the same reconciliation as
# the plain case; a value column that is not in the header names the option and the file
printf 'citizen,year,persons\nAZE,2021,100\nRUS,2021,50\nAZE,2022,80\nRUS,2022,0\n' > bcols.csv
msg=$("$E" reconcile --border bcols.csv --border-value-col persons --border-time-col year --mirror "$D/mirror.csv" \
  --declared "$D/declared.csv" --border-cv 0.1 --mirror-cv 0.1 --var-floor 0 --seed-floor 0 -o cols.h5 2>&1); rc=$?
msg2=$("$E" reconcile --config "$D/reconcile.ini" -o plain.h5 2>&1); rc2=$?
[ $rc = 0 ] && [ $rc2 = 0 ] && h5diff -q --exclude-attribute / --exclude-path /config --exclude-path /reconciliation/inputs \
  plain.h5 cols.h5 || die "per-file columns: rc=$rc/$rc2 $msg $msg2"
msg=$("$E" reconcile --border bcols.csv --border-value-col count --border-time-col year --mirror "$D/mirror.csv" \
  --declared "$D/declared.csv" -o colsbad.h5 2>&1); rc=$?
[ $rc = 4 ] && grep -q -- "--border: bcols.csv:1: the value column 'count' is not in the header" <<<"$msg" \
  || die "missing per-file value column: rc=$rc $msg"
# flag-col belongs to the border model
msg=$("$E" reconcile --model double-entry --input x.csv --flag-col F -o de.h5 2>&1); rc=$?
[ $rc = 2 ] && grep -q -- "--flag-col" <<<"$msg" || die "flag-col with double-entry: rc=$rc $msg"
echo "reconcile_edge_cases: $fail failure(s)"
[ $fail = 0 ]
