#!/usr/bin/env bash
# Bad input to `emflow report`: one clear error each (exit code of the README's list, one message naming
# the file or option and what was expected), no index.html left behind, never a crash.
#   report_bad_input.sh EMFLOW MPIEXEC GOOD.h5 EXAMPLES_DIR WORKDIR
set -uo pipefail
E=$1
MPIEXEC=$2
GOOD=$3
EX=$4
W=$5
rm -rf "$W" && mkdir -p "$W" && cd "$W" || exit 1
fails=0
case_() { # name rc pattern [env VAR=VALUE ...] -- args
  local name=$1 rc_want=$2 pat=$3
  shift 3
  local envs=()
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do envs+=("$1"); shift; done
  shift
  local out rc nerr
  out=$(env "${envs[@]}" "$E" report "$@" 2>&1)
  rc=$?
  nerr=$(grep -c '^emflow: error:' <<<"$out")
  if [ "$rc" != "$rc_want" ] || ! grep -qF -- "$pat" <<<"$out" || [ "$nerr" != 1 ]; then
    echo "FAIL $name: exit $rc (expected $rc_want), $nerr error line(s), output:"; echo "$out" | sed 's/^/    /'
    echo "    expected to contain: $pat"
    fails=$((fails + 1))
  else
    echo "ok   $name: $(grep '^emflow: error' <<<"$out")"
  fi
  if [ "$rc" -ge 128 ]; then echo "FAIL $name: crashed (exit $rc)"; fails=$((fails + 1)); fi
  if [ -e out/index.html ]; then echo "FAIL $name: out/index.html written"; fails=$((fails + 1)); fi
  rm -rf out
}

printf 'not hdf5\n' >junk.h5
/usr/bin/python3 -c "import h5py; h5py.File('other.h5', 'w').create_dataset('x', data=[1, 2])"
"$E" ipf --seed "$EX/willekens_seed.csv" --margin "$EX/willekens_rows.csv" --margin "$EX/willekens_cols.csv" -o ipf.h5 \
  >/dev/null 2>&1 || { echo "FAIL: emflow ipf did not make ipf.h5"; exit 1; }
touch plain.txt
printf 'raise ZeroDivisionError("a bug in the plotting script")\n' >crash.py

case_ missing-file 5 "report: nope.h5: cannot open: No such file or directory" -- nope.h5 -o out
case_ missing-second 5 "report: nope.h5: cannot open" -- "$GOOD" nope.h5 -o out
case_ not-hdf5 4 "report: junk.h5: not an HDF5 file: expected an emflow output (.h5)" -- junk.h5 -o out
case_ directory 4 "report: $W: not a regular file (a directory)" -- "$W" -o out
case_ not-emflow 4 "report: other.h5: not an emflow output: expected the root attribute software = \"emflow\", found none" -- other.h5 -o out
case_ nothing-to-report 4 "report: ipf.h5: nothing to report: it holds none of /forecast, /estimate, /posterior, /undeclared, /linkage (the outputs of emflow forecast, estimate, classify); found /config, /ipf" -- ipf.h5 -o out
EST="$(dirname "$GOOD")/../../estimate_border_out/np1/out.h5"
case_ no-forecast 4 "report: no /forecast in $EST: the report's fan charts need the output of emflow forecast" -- "$EST" -o out
case_ out-is-file 5 "report: -o plain.txt: it exists and is not a directory (a regular file)" -- "$GOOD" -o plain.txt
case_ out-parent-is-file 5 "report: -o plain.txt/sub: plain.txt exists and is not a directory" -- "$GOOD" -o plain.txt/sub
case_ no-output 2 "report: -o DIR is required" -- "$GOOD"
case_ no-file 2 "report: expected 1 to 8 arguments" -- -o out
case_ no-script 5 "report: cannot read the report script /nonexistent/report.py" EMFLOW_REPORT_SCRIPT=/nonexistent/report.py -- "$GOOD" -o out
case_ script-crash 70 "ZeroDivisionError: a bug in the plotting script" EMFLOW_REPORT_SCRIPT="$W/crash.py" -- "$GOOD" -o out
if ! "$E" help export | grep -q -- '--publish'; then
  # disclosure control is not in this build's export: a published report must refuse, not fall back
  case_ publish-unavailable 3 "report: --publish: this emflow's export has no --publish option" -- "$GOOD" -o out --publish
  [ -e out/tables ] && { echo "FAIL publish-unavailable: tables written"; fails=$((fails + 1)); }
fi
# under mpiexec: the error once, from rank 0
out=$(OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 "$MPIEXEC" -n 2 --oversubscribe "$E" report junk.h5 -o out 2>&1)
rc=$?
n=$(grep -c '^emflow: error:' <<<"$out")
if [ "$rc" = 0 ] || [ "$n" != 1 ]; then echo "FAIL mpiexec-2: exit $rc, $n error lines:"; echo "$out"; fails=$((fails + 1)); else echo "ok   mpiexec-2: one message"; fi
echo "report_bad_input: $fails failure(s)"
[ "$fails" = 0 ]
