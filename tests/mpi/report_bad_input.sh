#!/usr/bin/env bash
# Bad input to `emflow report`: one clear error each (exit code of the README's list, one message naming
# the file or option and what was expected), no index.html left behind, never a crash, and nothing the
# failed run created left behind (out/ did not exist before each case: it must not exist after).
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
  if [ -e out ]; then echo "FAIL $name: out/ left behind: $(find out | tr '\n' ' ')"; fails=$((fails + 1)); fi
  rm -rf out
}

printf 'not hdf5\n' >junk.h5
/usr/bin/python3 -c "import h5py; h5py.File('other.h5', 'w').create_dataset('x', data=[1, 2])"
"$E" ipf --seed "$EX/willekens_seed.csv" --margin "$EX/willekens_rows.csv" --margin "$EX/willekens_cols.csv" -o ipf.h5 \
  >/dev/null 2>&1 || { echo "FAIL: emflow ipf did not make ipf.h5"; exit 1; }
touch plain.txt
printf 'raise ZeroDivisionError("a bug in the plotting script")\n' >crash.py
# forecast datasets that are not what emflow forecast writes (its first scenario's flows [series x period x
# stat], 10 stats: mean and nine quantiles): 3 stats, strings, a NaN, an Inf; a forecast group with no
# scenario; a truncated file; a classify-like file whose rejects hold a negative count (export --publish
# refuses it: invalid data, exit 4, and the tables/ already written must go)
SC=$(/usr/bin/python3 - "$GOOD" <<'PY'
import shutil, sys
import h5py, numpy as np
good = sys.argv[1]
with h5py.File(good, "r") as f:
    sc = sorted(k for k in f["forecast"] if isinstance(f["forecast"][k], h5py.Group))[0]
    nstat = len(f["forecast/stat"])
assert nstat == 10, nstat
def mut(dst, fn):
    shutil.copy(good, dst)
    with h5py.File(dst, "r+") as h:
        fn(h, f"/forecast/{sc}/flows")
def repl(arr):
    def fn(h, p):
        del h[p]
        h[p] = arr(h)
    return fn
def setcell(v):
    def fn(h, p):
        a = h[p][()]
        a[1, 2, 3] = v
        h[p][...] = a
    return fn
with h5py.File(good, "r") as f:
    flows = f[f"/forecast/{sc}/flows"][()]
mut("fshape.h5", repl(lambda h: flows[:, :, :3]))
mut("fstr.h5", repl(lambda h: np.full(flows.shape, b"x", dtype="S1")))
mut("fnan.h5", setcell(np.nan))
mut("finf.h5", setcell(np.inf))
with h5py.File("fempty.h5", "w") as h:
    h.attrs["software"] = "emflow"
    h.create_group("forecast")
with h5py.File("clneg.h5", "w") as h:
    h.attrs["software"] = "emflow"
    r = h.create_dataset("linkage/reject_reason", data=np.array([b"empty_record", b"bad_date"]))
    r.make_scale("reject_reason")
    d = h.create_dataset("linkage/rejects", data=np.array([-5, 7], dtype=np.int64))
    d.dims[0].attach_scale(r)
with open(good, "rb") as f, open("trunc.h5", "wb") as g:
    g.write(f.read(2 * 1024 * 1024) if __import__("os").path.getsize(good) > 4 * 1024 * 1024 else f.read()[:-4096])
print(sc)
PY
) || { echo "FAIL: cannot make the damaged forecast files"; exit 1; }
ln -sf "$GOOD" good_link.h5

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
case_ fc-shape 4 "report: fshape.h5: /forecast/$SC/flows has 3 stats, expected 10 (the stat scale of emflow forecast)" -- fshape.h5 -o out
case_ fc-strings 4 "report: fstr.h5: /forecast/$SC/flows holds strings (|S1): expected numbers" -- fstr.h5 -o out
case_ fc-nan 4 "report: fnan.h5: /forecast/$SC/flows[1,2,3] (series" -- fnan.h5 -o out
case_ fc-nan-cell 4 "is nan: expected a finite number" -- fnan.h5 -o out
case_ fc-inf 4 "is inf: expected a finite number" -- finf.h5 -o out
case_ fc-empty 4 "report: nothing to report in fempty.h5" -- fempty.h5 -o out
case_ fc-empty-nested 4 "report: nothing to report in fempty.h5" -- fempty.h5 -o out/a/b
case_ truncated 4 "report: trunc.h5: not a readable HDF5 file (truncated or corrupt?)" -- trunc.h5 -o out
case_ publish-refused 4 "refused the table 'rejects by reject reason' (exit 4)" -- clneg.h5 --without-forecast --publish -o out
case_ same-file 2 "report: arguments 1 ($GOOD) and 2 ($GOOD) are the same file" -- "$GOOD" "$GOOD" -o out
case_ same-file-link 2 "report: arguments 1 ($GOOD) and 2 (good_link.h5) are the same file" -- "$GOOD" good_link.h5 -o out
# a failed run in an existing directory keeps the directory (it did not make it) but leaves nothing of its own
mkdir -p keep && "$E" report clneg.h5 --without-forecast --publish -o keep >/dev/null 2>&1
rc=$?
if [ "$rc" != 4 ] || [ ! -d keep ] || [ -n "$(ls -A keep)" ]; then
  echo "FAIL publish-refused-existing: exit $rc, keep/ holds: $(find keep 2>&1 | tr '\n' ' ')"; fails=$((fails + 1))
else
  echo "ok   publish-refused-existing: keep/ kept, empty"
fi
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
