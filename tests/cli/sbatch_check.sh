#!/usr/bin/env bash
# sbatch_check.sh syntax SRCDIR          bash -n and shellcheck (when installed) on the batch scripts
# sbatch_check.sh fake SRCDIR TMPDIR     run the batch scripts under a fake Slurm: a fake srun that
#                                        records its arguments and runs the command, a fake
#                                        scontrol, and a stub emflow that records argv and
#                                        OMP_NUM_THREADS.  Needs no emflow build.
# Each failed check prints what was expected and what was found; the script exits 1 on a failure.
set -u
mode=${1:?usage: sbatch_check.sh syntax|fake SRCDIR [TMPDIR]}
src=$(cd "${2:?missing SRCDIR}" && pwd)
scripts=("$src/scripts/emflow.sbatch" "$src/scripts/emflow-sweep.sbatch")
fail=0
n=0

bad() { echo "FAIL: $*"; fail=$((fail + 1)); }
check_eq() { # check_eq WHAT EXPECTED FOUND
  n=$((n + 1))
  [ "$2" = "$3" ] || bad "$1: expected '$2', found '$3'"
}
check_has() { # check_has WHAT FILE STRING: FILE contains STRING
  n=$((n + 1))
  grep -qF -- "$3" "$2" 2>/dev/null || bad "$1: expected '$3' in $2, found: $(cat "$2" 2>/dev/null || echo '<no file>')"
}
check_lacks() { # check_lacks WHAT FILE STRING
  n=$((n + 1))
  if [ ! -f "$2" ]; then bad "$1: $2 was not written"; return; fi
  ! grep -qF -- "$3" "$2" || bad "$1: expected no '$3' in $2, found: $(cat "$2")"
}
finish() {
  if [ "$fail" -gt 0 ]; then echo "$fail of $n checks failed"; exit 1; fi
  echo "all $n checks passed"; exit 0
}

if [ "$mode" = syntax ]; then
  for s in "${scripts[@]}"; do
    n=$((n + 1))
    [ -f "$s" ] || { bad "$s: expected the file, found none"; continue; }
    out=$(bash -n "$s" 2>&1) || bad "bash -n $s: expected no errors, found: $out"
  done
  if command -v shellcheck >/dev/null 2>&1; then
    for s in "${scripts[@]}" "$0"; do
      n=$((n + 1))
      out=$(shellcheck -s bash "$s" 2>&1) || bad "shellcheck $s: expected no warnings, found:
$out"
    done
  else
    echo "shellcheck not installed: skipping the shellcheck part (apt-get install shellcheck)"
  fi
  finish
fi

[ "$mode" = fake ] || { echo "sbatch_check.sh: unknown mode '$mode'" >&2; exit 2; }
tmp=${3:?missing TMPDIR}/sbatch_fake
rm -rf "$tmp"
mkdir -p "$tmp/bin" "$tmp/submit/inputs" "$tmp/submit/build/engine" "$tmp/log"
tmp=$(cd "$tmp" && pwd)
log=$tmp/log
sub=$tmp/submit

# fake srun: record the arguments, skip srun's own options, run the command
cat >"$tmp/bin/srun" <<'EOF'
#!/usr/bin/env bash
printf '%s\n' "$*" >>"$FAKE_LOG/srun.log"
while [ $# -gt 0 ] && [ "${1#-}" != "$1" ]; do shift; done
exec "$@"
EOF
# fake scontrol: record the arguments
cat >"$tmp/bin/scontrol" <<'EOF'
#!/usr/bin/env bash
printf '%s\n' "$*" >>"$FAKE_LOG/scontrol.log"
EOF
# stub emflow: argv one per line, the OpenMP environment; with FAKE_EMFLOW_BLOCK it waits (up to
# 20 s) for that file to appear; exits with $FAKE_EMFLOW_RC
cat >"$sub/build/engine/emflow" <<'EOF'
#!/usr/bin/env bash
printf '%s\n' "$@" >"$FAKE_LOG/emflow.argv"
{ echo "OMP_NUM_THREADS=${OMP_NUM_THREADS-<unset>}"; echo "OMP_PLACES=${OMP_PLACES-<unset>}"
  echo "OMP_PROC_BIND=${OMP_PROC_BIND-<unset>}"; echo "SRUN_CPUS_PER_TASK=${SRUN_CPUS_PER_TASK-<unset>}"
  echo "PWD=$PWD"; } >"$FAKE_LOG/emflow.env"
if [ -n "${FAKE_EMFLOW_BLOCK:-}" ]; then
  touch "$FAKE_LOG/emflow.started"
  for _ in $(seq 200); do [ -e "$FAKE_EMFLOW_BLOCK" ] && break; sleep 0.1; done
fi
exit "${FAKE_EMFLOW_RC:-0}"
EOF
chmod +x "$tmp/bin/srun" "$tmp/bin/scontrol" "$sub/build/engine/emflow"
cp "$src/inputs/eu27.ini" "$src/inputs/nz.ini" "$sub/inputs/"
fake_emflow=$sub/build/engine/emflow

# a clean fake Slurm environment: no SLURM_* or OMP_* from the caller
for v in $(compgen -e); do
  case $v in SLURM_* | SRUN_* | OMP_* | EMFLOW* | CONFIG | OUT | WORK | POSTERIOR | SWEEP | SWEEP_DIR) unset "$v" ;; esac
done
export PATH="$tmp/bin:$PATH" FAKE_LOG=$log
export SLURM_JOB_ID=4242 SLURM_CPUS_PER_TASK=2 SLURM_NTASKS=2 SLURM_SUBMIT_DIR=$sub

reset_logs() { rm -f "$log"/*; }
run_job() { # run_job SCRIPT: run it from another directory (the script must cd to SLURM_SUBMIT_DIR)
  (cd "$tmp/log" && bash "$1") >"$tmp/job.out" 2>&1
}

job=$src/scripts/emflow.sbatch
sweep=$src/scripts/emflow-sweep.sbatch

# --- 1. first attempt, no work dir: defaults, no --resume
reset_logs
SLURM_RESTART_COUNT=0 run_job "$job"; rc=$?
check_eq "run, restart 0: exit status" 0 "$rc"
check_has "run, restart 0: srun line" "$log/srun.log" "--cpu-bind=cores $fake_emflow run inputs/eu27.ini -o results/eu27.h5"
check_has "run, restart 0: work dir" "$log/srun.log" "--work-dir results/eu27.h5.work"
check_lacks "run, restart 0, no work dir: resume" "$log/srun.log" "--resume"
check_has "run: OMP_NUM_THREADS exported to the command" "$log/emflow.env" "OMP_NUM_THREADS=2"
check_has "run: SRUN_CPUS_PER_TASK exported" "$log/emflow.env" "SRUN_CPUS_PER_TASK=2"
check_has "run: OMP_PLACES default" "$log/emflow.env" "OMP_PLACES=cores"
check_has "run: OMP_PROC_BIND default" "$log/emflow.env" "OMP_PROC_BIND=close"
check_has "run: runs in SLURM_SUBMIT_DIR" "$log/emflow.env" "PWD=$sub"
check_eq "run: emflow argv" "run inputs/eu27.ini -o results/eu27.h5 --work-dir results/eu27.h5.work" \
  "$(tr '\n' ' ' <"$log/emflow.argv" | sed 's/ $//')"
check_eq "run: output directory created" yes "$([ -d "$sub/results" ] && echo yes || echo no)"
check_eq "run: srun called once" 1 "$(wc -l <"$log/srun.log" | tr -d ' ')"

# --- 2. requeued attempt whose predecessor left its work directory (RUN fingerprint): --resume
reset_logs
mkdir -p "$sub/results/eu27.h5.work" && echo fingerprint >"$sub/results/eu27.h5.work/RUN"
SLURM_RESTART_COUNT=1 run_job "$job"; rc=$?
check_eq "run, restart 1: exit status" 0 "$rc"
check_has "run, restart 1: resume" "$log/srun.log" "run inputs/eu27.ini -o results/eu27.h5 --work-dir results/eu27.h5.work --resume"

# --- 3. first attempt but the work dir of a killed run exists (resubmission): --resume
reset_logs
SLURM_RESTART_COUNT=0 run_job "$job"; rc=$?
check_eq "run, restart 0, work dir exists: exit status" 0 "$rc"
check_has "run, restart 0, work dir exists: resume" "$log/srun.log" "--resume"
rm -r "$sub/results/eu27.h5.work"

# --- 3b. requeued before emflow started (no work dir) or a foreign directory: a fresh start
reset_logs
SLURM_RESTART_COUNT=1 run_job "$job"; rc=$?
check_eq "run, restart 1, no work dir: exit status" 0 "$rc"
check_lacks "run, restart 1, no work dir: resume" "$log/srun.log" "--resume"
reset_logs
mkdir -p "$sub/results/eu27.h5.work"
SLURM_RESTART_COUNT=1 run_job "$job"; rc=$?
check_lacks "run, restart 1, work dir without RUN: resume" "$log/srun.log" "--resume"
rmdir "$sub/results/eu27.h5.work"

# --- 4. overrides from the environment; emflow's exit status is the job's
reset_logs
CONFIG=inputs/nz.ini OUT=$tmp/out/nz.h5 SLURM_CPUS_PER_TASK=3 OMP_PROC_BIND=spread FAKE_EMFLOW_RC=3 \
  SLURM_RESTART_COUNT=0 run_job "$job"; rc=$?
check_eq "run, FAKE_EMFLOW_RC=3: exit status" 3 "$rc"
check_has "run, overrides: srun line" "$log/srun.log" "run inputs/nz.ini -o $tmp/out/nz.h5 --work-dir $tmp/out/nz.h5.work"
check_lacks "run, overrides: resume" "$log/srun.log" "--resume"
check_has "run, overrides: OMP_NUM_THREADS" "$log/emflow.env" "OMP_NUM_THREADS=3"
check_has "run, overrides: OMP_PROC_BIND kept" "$log/emflow.env" "OMP_PROC_BIND=spread"
reset_logs
EMFLOW=$tmp/nonexistent SLURM_RESTART_COUNT=0 run_job "$job"; rc=$?
check_eq "run, EMFLOW missing: exit status" 2 "$rc"
check_eq "run, EMFLOW missing: srun not called" no "$([ -e "$log/srun.log" ] && echo yes || echo no)"

# --- 5. SIGUSR1 near the time limit: scontrol requeue the job, then keep waiting for srun
reset_logs
(cd "$tmp/log" && FAKE_EMFLOW_BLOCK=$log/release SLURM_RESTART_COUNT=0 exec bash "$job") >"$tmp/job.out" 2>&1 &
jpid=$!
for _ in $(seq 100); do [ -e "$log/emflow.started" ] && break; sleep 0.1; done
check_eq "run, USR1: emflow started" yes "$([ -e "$log/emflow.started" ] && echo yes || echo no)"
kill -USR1 "$jpid"
for _ in $(seq 100); do [ -s "$log/scontrol.log" ] && break; sleep 0.1; done
check_eq "run, USR1: scontrol call" "requeue 4242" "$(cat "$log/scontrol.log" 2>/dev/null)"
check_eq "run, USR1: job still running after the trap" yes "$(kill -0 "$jpid" 2>/dev/null && echo yes || echo no)"
touch "$log/release"
wait "$jpid"; rc=$?
check_eq "run, USR1: exit status once emflow ends" 0 "$rc"

# --- 6. sweep: array task 2 runs option line 2 (1-based, comments and blank lines not counted)
cat >"$sub/sweep.txt" <<'EOF'
# scenario sweep: one forecast per line

--scenarios baseline
  # an indented comment
--scenarios mobility-shock --shock-factor 0.5
--scenarios mobility-shock --shock-factor 0.8 --horizon 20
EOF
touch "$sub/post.h5"
export POSTERIOR=post.h5 SWEEP=sweep.txt
reset_logs
SLURM_ARRAY_TASK_ID=2 run_job "$sweep"; rc=$?
check_eq "sweep, task 2: exit status" 0 "$rc"
check_eq "sweep, task 2: emflow argv (option line 2)" \
  "forecast --posterior post.h5 -o results/sweep/sweep_2.h5 --scenarios mobility-shock --shock-factor 0.5" \
  "$(tr '\n' ' ' <"$log/emflow.argv" 2>/dev/null | sed 's/ $//')"
check_eq "sweep, task 2: argument count" 9 "$(wc -l <"$log/emflow.argv" | tr -d ' ')"
check_has "sweep, task 2: srun line" "$log/srun.log" "--cpu-bind=cores $fake_emflow forecast --posterior post.h5 -o results/sweep/sweep_2.h5 --scenarios mobility-shock --shock-factor 0.5"
check_has "sweep: OMP_NUM_THREADS exported to the command" "$log/emflow.env" "OMP_NUM_THREADS=2"
check_eq "sweep, task 2: options recorded" "--scenarios mobility-shock --shock-factor 0.5" \
  "$(cat "$sub/results/sweep/sweep_2.opts" 2>/dev/null)"
reset_logs
SLURM_ARRAY_TASK_ID=1 run_job "$sweep"; rc=$?
check_eq "sweep, task 1: emflow argv (option line 1)" \
  "forecast --posterior post.h5 -o results/sweep/sweep_1.h5 --scenarios baseline" \
  "$(tr '\n' ' ' <"$log/emflow.argv" 2>/dev/null | sed 's/ $//')"
for t in 0 4 x; do
  reset_logs
  SLURM_ARRAY_TASK_ID=$t run_job "$sweep"; rc=$?
  check_eq "sweep, task $t (no such line): exit status" 2 "$rc"
  check_eq "sweep, task $t: srun not called" no "$([ -e "$log/srun.log" ] && echo yes || echo no)"
done
reset_logs
(unset POSTERIOR; SLURM_ARRAY_TASK_ID=1 run_job "$sweep"); rc=$?
check_eq "sweep, POSTERIOR unset: fails" 1 "$([ "$rc" -ne 0 ] && echo 1 || echo 0)"
check_eq "sweep, POSTERIOR unset: srun not called" no "$([ -e "$log/srun.log" ] && echo yes || echo no)"

[ "$fail" -gt 0 ] && { echo "last job output:"; sed 's/^/    /' "$tmp/job.out"; }
finish
