#!/usr/bin/env bash
# run_kill.sh EMFLOW MPIEXEC H5DIFF CONFIG SLOT REF.h5: `emflow run CONFIG -o SLOT/job.h5` killed with SIGKILL
# (mpiexec and every rank at once: a node lost) at several points and finished with --resume gives the
# output of the uninterrupted run REF.h5 (written into the same SLOT by run_job.sh, so that /config is
# the same), h5diff with the root's provenance attributes excluded.  One job, killed and resumed in turn:
#   A  as soon as the marker simulate.done appears (a fresh run)
#   B  while estimate runs, once a chain checkpoint exists in job.h5.work/estimate.ckpt/ (the resume
#      after A: simulate must be skipped)
#   D  while OUT.h5 is assembled (job.h5.part exists; a window of milliseconds: when the job gets past it
#      before the kill lands this is reported, not a failure); the resume after B, on 3 ranks: classify
#      must be skipped, the estimate must continue from the checkpoints the 2 ranks of B wrote
#      ("resumed at iteration")
#   C  during the report stage (assemble.done exists, report.done does not)
#   final  --resume at 1 rank: the report alone (the assembly is skipped)
# After each kill before the assembly, job.h5 must not exist under its final name (job.h5.part may); a
# job.h5 present after a kill must be complete (equal to REF.h5).  The kills are keyed to files appearing
# (polled every 10 ms), not to times.
set -u
E=$1 MPIEXEC=$2 H5DIFF=$3 CFG=$4 SLOT=$5 REF=$6
fail=0
die() { echo "FAIL: $*"; fail=$((fail + 1)); }
W=$SLOT/job.h5.work
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$SLOT" && cd "$SLOT" || exit 1
rm -rf job.h5 job.h5.part job.h5.work job_report err_*.txt
[ -f "$REF" ] || { echo "FAIL: no reference output $REF"; exit 1; }
JOB=
reap() { [ -n "$JOB" ] && kill -9 $(ps -o pid= -s "$JOB" 2>/dev/null) 2>/dev/null; JOB=; }
trap 'reap' EXIT
trap 'reap; exit 1' TERM INT
same() { # same WHAT: job.h5 equals REF.h5
  local out
  out=$("$HERE/run_same.sh" "$H5DIFF" "$REF" job.h5) || { die "$1: job.h5 differs from the uninterrupted run:"; echo "$out"; }
}
markers() { (cd "$W" 2>/dev/null && ls -- *.done 2>/dev/null | tr '\n' ' '); }
# kill_when NAME NP CONDITION [run options]: start the job, wait until CONDITION (a shell test run in
# SLOT) holds, SIGKILL every process of the job's session; returns 1 when the job ended first
kill_when() {
  local name=$1 np=$2 cond=$3 pid pids t0=$EPOCHREALTIME
  shift 3
  (exec setsid "$MPIEXEC" -n "$np" --oversubscribe "$E" run "$CFG" -o "$SLOT/job.h5" "$@" 2> "err_$name.txt") &
  pid=$!
  JOB=$pid
  while ! eval "$cond"; do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.01
  done
  pids=$(ps -o pid= -s "$pid" 2>/dev/null)
  [ -n "$pids" ] && kill -9 $pids 2>/dev/null
  wait "$pid" 2>/dev/null
  local rc=$?
  JOB=
  local dt
  dt=$(awk "BEGIN { printf \"%.1f\", $EPOCHREALTIME - $t0 }")
  if [ "$rc" = 0 ]; then
    echo "kill $name: the job ended (exit 0) after $dt s, before the kill"
    return 1
  fi
  local ck
  ck=$(ls "$W"/estimate.ckpt/ 2>/dev/null | tr '\n' ' ')
  echo "kill $name on $np rank(s) after $dt s (exit $rc): markers: $(markers); checkpoints: ${ck:-none}; $(ls -d job.h5 job.h5.part 2>/dev/null | tr '\n' ' ')"
  return 0
}

# A: simulate done
kill_when A 2 '[ -e "$W/simulate.done" ]' || die "kill A did not land"
[ -e job.h5 ] && die "kill A: job.h5 exists after a kill before the assembly"
[ -e "$W/classify.done" ] && echo "note: kill A landed after classify (a loaded machine)"

# B: estimate running, a checkpoint written
kill_when B 2 "[ ! -e \"\$W/estimate.done\" ] && [ -e \"\$W/estimate.ckpt/chain0.h5\" ] && [ -e \"\$W/estimate.ckpt/chain1.h5\" ]" --resume || die "kill B did not land"
[ -e job.h5 ] && die "kill B: job.h5 exists after a kill before the assembly"
grep -q "stage [0-9]/[0-9] simulate: done before the interruption, skipped" err_B.txt ||
  die "resume after A did not skip simulate: $(grep 'run: stage' err_B.txt)"
[ -e "$W/estimate.done" ] && die "kill B landed after estimate.done"
compgen -G "$W/estimate.ckpt/chain*.h5" > /dev/null || die "kill B: no checkpoint in $W/estimate.ckpt"

# D: assembly (job.h5.part), or whatever comes first after it
kill_when D 3 '[ -e job.h5.part ] || [ -e "$W/assemble.done" ]' --resume || die "kill D: the job ended first"
grep -q "resumed at iteration" err_D.txt || die "resume after B did not continue the estimate from its checkpoints"
grep "resumed at iteration" err_D.txt | sed 's/^/    /'
grep -q "classify: done before the interruption, skipped" err_D.txt || die "resume after B did not skip classify"
if [ -e "$W/assemble.done" ]; then
  echo "kill D missed the assembly (assemble.done was written first): not a failure"
elif [ -e job.h5 ]; then
  echo "kill D landed between the rename of job.h5 and assemble.done: job.h5 must be complete"
  same "kill D"
else
  echo "kill D landed during the assembly: only job.h5.part exists"
fi

# C: report stage
kill_when C 2 '[ -e "$W/assemble.done" ] && [ -e job.h5 ] && [ ! -e "$W/report.done" ]' --resume ||
  die "kill C: the job ended first"
[ -e "$W/report.done" ] && die "kill C landed after report.done"
[ -e job.h5 ] && same "after kill C (the assembled file)"

# final: the report alone
t0=$EPOCHREALTIME
"$MPIEXEC" -n 1 --oversubscribe "$E" run "$CFG" -o "$SLOT/job.h5" --resume 2> err_final.txt ||
  { die "final resume: exit $?"; tail -5 err_final.txt; }
echo "final resume (1 rank): $(awk "BEGIN { printf \"%.1f\", $EPOCHREALTIME - $t0 }") s"
grep -q "run: assembling" err_final.txt && die "the final resume assembled job.h5 again (assemble.done was there)"
grep "run: stage" err_final.txt | sed 's/^/    /'
same "final"
[ -e job.h5.part ] && die "job.h5.part left behind"
[ -e "$W" ] && die "the work directory is left after the complete run: $(ls "$W")"
[ -s job_report/index.html ] || die "no job_report/index.html"
rm -rf job.h5 job_report
echo "run_kill: $fail failure(s)"
[ $fail = 0 ]
