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
case_ missing-file 5 "nope.h5: cannot open: No such file or directory" --posterior nope.h5
case_ unchosen-scenario-option 2 "--shock-factor belongs to the scenario mobility-shock" --posterior "$POST" --shock-factor 0.5
# altered posteriors (h5py): no draws, integer draws, no periods, rho = 1, sigma_e < 0, a NaN effect, a bad period label
/usr/bin/python3 - "$POST" <<'PY'
import shutil, sys
import h5py, numpy as np
src = sys.argv[1]
def alter(name, fn):
    shutil.copy(src, name)
    with h5py.File(name, "r+") as f:
        fn(f)
def replace(f, path, data):
    attrs = dict(f[path].attrs)
    del f[path]
    f[path] = data
def nodraws(f):
    for p in ("/posterior/draws", "/posterior/flows/ar_last", "/posterior/flows/corridor_effect"):
        a = f[p][()]
        del f[p]
        f[p] = a[:, :0, :]
def intdraws(f):
    a = f["/posterior/draws"][()]
    del f["/posterior/draws"]
    f["/posterior/draws"] = a.astype(np.int64)
def noperiods(f):
    a = f["/estimate/x"][()]
    del f["/estimate/x"]
    f["/estimate/x"] = a[:, :0, :]
def par(f, name, value, ch=0, dw=3):
    names = [s.decode() for s in f["/estimate/parameter"][()]]
    d = f["/posterior/draws"]
    a = d[()]
    a[ch, dw, names.index(name)] = value
    d[...] = a
def naneffect(f):
    d = f["/posterior/flows/corridor_effect"]
    a = d[()]
    a[1, 2, 0] = np.nan
    d[...] = a
alter("nodraws.h5", nodraws)
alter("intdraws.h5", intdraws)
alter("noperiods.h5", noperiods)
alter("rho1.h5", lambda f: par(f, "rho", 1.0))
alter("senegative.h5", lambda f: par(f, "sigma_e", -0.1))
alter("naneffect.h5", naneffect)
# chain 1 draw 0: continued by trajectory 1 (chain k mod 4, the first trajectory of each chain draw 0)
alter("explosive.h5", lambda f: par(f, "beta[intercept]", 40.0, 1, 0))
PY
case_ no-draws 4 "nodraws.h5: /posterior/draws has shape" --posterior nodraws.h5
case_ integer-draws 4 "intdraws.h5: /posterior/draws holds integers: expected floating-point values" --posterior intdraws.h5
case_ no-periods 4 "noperiods.h5: /estimate/x has shape" --posterior noperiods.h5
case_ rho-one 4 "rho1.h5: /posterior/draws chain 0 draw 3: rho = 1, expected a value in (-1, 1)" --posterior rho1.h5
case_ sigma-negative 4 "senegative.h5: /posterior/draws chain 0 draw 3: sigma_e = -0.1" --posterior senegative.h5
case_ nan-effect 4 "naneffect.h5: /posterior/flows/corridor_effect chain 1 draw 2" --posterior naneffect.h5
case_ explosive-draw 4 "forecast: scenario baseline: trajectory 1: expected count" --posterior explosive.h5
# scenarios as config sections
printf '[scenario.x]\ntype = war\n' >s1.ini
case_ section-bad-type 3 "s1.ini: [scenario.x] type = 'war': expected baseline, mobility-shock" --config s1.ini --posterior "$POST"
printf '[scenario.x]\ntype = mobility-shock\nstrength = 2\n' >s2.ini
case_ section-unknown-key 3 "[scenario.x] unknown key 'strength' = '2'" --config s2.ini --posterior "$POST"
printf '[scenario.x]\ntype = mobility-shock\nfrom = 2016-Q3\nto = 2016-Q1\n' >s3.ini
case_ section-inverted 3 "from 2016-Q3 is after to 2016-Q1: the range is inverted" --config s3.ini --posterior "$POST"
printf '[scenario.x]\nfactor = 2\n' >s4.ini
case_ section-no-type 3 "[scenario.x]: no type" --config s4.ini --posterior "$POST"
printf '[scenario.a b]\ntype = baseline\n' >s5.ini
case_ section-bad-name 3 "a scenario name is 1-63 letters, digits" --config s5.ini --posterior "$POST"
printf '[scenario.x]\ntype = baseline\nfactor = 2\n' >s6.ini
case_ section-unused-key 3 "key 'factor' is not used by type baseline" --config s6.ini --posterior "$POST"
printf '[scenario.x]\ntype = mobility-shock\n' >s7.ini
case_ section-and-option 2 "--shock-factor: the scenarios come from the [scenario.NAME] sections of s7.ini: set 'factor' in the sections of type mobility-shock" --config s7.ini --posterior "$POST" --shock-factor 0.5
case_ section-not-defined 3 "scenarios: 'y' is not a [scenario.y] section" --config s7.ini --posterior "$POST" --scenarios y
echo "forecast_bad_input: $fails failure(s)"
[ "$fails" = 0 ]
