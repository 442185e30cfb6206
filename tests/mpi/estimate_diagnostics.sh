#!/usr/bin/env bash
# estimate_diagnostics.sh EMFLOW BASE.csv PYTHON H5DIFF WORKDIR: failed MCMC diagnostics are loud.
#   - a run far too short to converge (10 warm-up + 10 draws per chain) exits 11, says MCMC DIAGNOSTICS
#     FAILED in the log and names --accept-failed-diagnostics in the error, and still writes its output
#     (under the final name, no .part) with /posterior status = 'diagnostics failed';
#   - the same run with --accept-failed-diagnostics exits 0, logs the failure all the same, and writes
#     the same numbers with the same status;
#   - a long enough run on the same data with limits it meets (R-hat <= 1.05, ESS >= 200) exits 0 with
#     status 'ok' and no failure in the log; with an ESS limit no run of that length meets (1e5), it
#     exits 11: either limit alone decides.
set -u
E=$1 B=$2 PY=$3 H5DIFF=$4 W=$5/diagnostics
CHECK=$(dirname "$0")/estimate_check.py
fail=0
die() { echo "FAIL: $*"; fail=$((fail + 1)); }
rm -rf "$W" && mkdir -p "$W/short" "$W/accepted" "$W/long" "$W/strict" || exit 1
export OMPI_MCA_ess_singleton_isolated=1 OMPI_MCA_pml=ob1 OMPI_MCA_btl=self,vader OMPI_MCA_osc=^ucx OMPI_MCA_mtl=^ofi
est() { (cd "$W/$1" && shift && timeout 120 "$E" estimate --input "$B" -o out.h5 --checkpoint-every 0 "$@" 2> err.txt); }

est short --warmup 10 --draws 10; rc=$?
err=$W/short/err.txt
[ $rc = 11 ] || { die "short run: exit $rc, expected 11"; cat "$err"; }
grep -q "MCMC DIAGNOSTICS FAILED: max R-hat" "$err" || die "short run: no 'MCMC DIAGNOSTICS FAILED' in the log"
grep -q "emflow: error: estimate: MCMC diagnostics failed (max R-hat .*out.h5 was written with /posterior status 'diagnostics failed'; --accept-failed-diagnostics exits 0 instead" "$err" ||
  { die "short run: the error does not say what happened and what to do:"; cat "$err"; }
[ -e "$W/short/out.h5" ] || die "short run: no output"
[ -e "$W/short/out.h5.part" ] && die "short run: out.h5.part left behind"
"$PY" "$CHECK" "$W/short/out.h5" --status "diagnostics failed" || die "short run: output check"

est accepted --warmup 10 --draws 10 --accept-failed-diagnostics; rc=$?
[ $rc = 0 ] || { die "accepted short run: exit $rc, expected 0"; cat "$W/accepted/err.txt"; }
grep -q "MCMC DIAGNOSTICS FAILED" "$W/accepted/err.txt" || die "accepted short run: the failure is not logged"
"$PY" "$CHECK" "$W/accepted/out.h5" --status "diagnostics failed" || die "accepted short run: output check"
"$H5DIFF" -q --exclude-attribute / --exclude-path /config "$W/short/out.h5" "$W/accepted/out.h5" ||
  die "accepted short run: other numbers than the failed one"

est long --warmup 500 --draws 1000 --rhat-max 1.05 --ess-min 200; rc=$?
[ $rc = 0 ] || { die "long run: exit $rc, expected 0"; cat "$W/long/err.txt"; }
grep -q "DIAGNOSTICS FAILED" "$W/long/err.txt" && { die "long run: logs a failure"; cat "$W/long/err.txt"; }
"$PY" "$CHECK" "$W/long/out.h5" --status ok || die "long run: output check"

est strict --warmup 500 --draws 1000 --rhat-max 1.05 --ess-min 100000; rc=$?
[ $rc = 11 ] || { die "long run with ess-min 1e5: exit $rc, expected 11"; cat "$W/strict/err.txt"; }
grep -q "(limit 100000)" "$W/strict/err.txt" || { die "long run with ess-min 1e5: the limit is not named"; cat "$W/strict/err.txt"; }
"$PY" "$CHECK" "$W/strict/out.h5" --status "diagnostics failed" || die "long run with ess-min 1e5: output check"

echo "estimate_diagnostics: $fail failure(s)"
[ $fail = 0 ]
