#!/usr/bin/env bash
# estimate_resume.sh EMFLOW MPIEXEC H5DIFF INI PYTHON WORKDIR PLAIN.h5: `emflow estimate` killed with
# SIGKILL and continued with --resume gives the output of an uninterrupted run, bit for bit (h5diff,
# root provenance attributes excluded; every run has the same command line, so /config is the same).
# PLAIN.h5 is the output of the same job without checkpoints and without --resume (estimate_np2):
# equal but for /config.
#
# One job (2 ranks, chains 0 and 2 on rank 0, 1 and 3 on rank 1; INI's 150 warm-up + 150 draws per
# chain, a checkpoint every 50 iterations) is killed four times, each time with SIGKILL to mpiexec and both
# ranks at once (a node lost), and resumed after each kill:
#   A  as soon as chains 0 and 1 (both ranks) have a checkpoint (warm-up, iteration 50 or so)
#   B  once chain 0's checkpoint holds draws (> 200 kB)       (past warm-up, resumed from A)
#   C  while a checkpoint is being written (a chain*.h5.part newer than the job's start exists)
#   D  while the output is being written (OUT.part exists)
# A and B leave a second or more of work after the point, so a loaded machine moves the kill a little but never
# misses it; C and D are windows of milliseconds: when the job gets past one before the kill lands,
# this is reported and is not a failure; a kill D that lands after the rename (in MPI_Finalize) must
# find est.h5 equal to the uninterrupted run's.  The last resume runs on 3 ranks: a chain's checkpoint does
# not depend on the rank that wrote it.  After every kill: no file under the final name, or the complete one.
# With the checkpoints of kill A, --resume with another seed, other draws, other warm-up or another
# prior: exit 3 naming the checkpoint, no output, the checkpoints untouched -- also when the ranks
# but one have no checkpoint yet (they must not start their chains with the other settings); a
# truncated checkpoint: exit 4 naming the file.
# The kill is keyed to files appearing (polled every 10 ms), not to a time.
set -u
E=$1 MPIEXEC=$2 H5DIFF=$3 INI=$4 PY=$5 W=$6/resume PLAIN=$7
fail=0
die() { echo "FAIL: $*"; fail=$((fail + 1)); }
rm -rf "$W" && mkdir -p "$W"/ref "$W"/run "$W"/bad || exit 1
ARGS=(estimate --config "$INI" -o est.h5 --checkpoint-every 50 --resume --accept-failed-diagnostics)
run() { # run NP DIR [extra args]: the job in the foreground; stderr to DIR/err.txt
  local np=$1 dir=$2; shift 2
  (cd "$dir" && timeout 300 "$MPIEXEC" -n "$np" --oversubscribe "$E" "${ARGS[@]}" "$@" 2> err.txt)
}
same() { # same DIR: DIR/est.h5 is the reference output
  local out
  out=$("$H5DIFF" -r --exclude-attribute / "$W/ref/est.h5" "$1/est.h5" 2>&1) || {
    die "$1/est.h5 differs from the uninterrupted run:"; grep -v "^0 differences\|^attribute\|^dataset" <<<"$out" | head -20; }
}
state() { # the checkpoints' counters, for the log
  "$PY" - "$1" <<'PY'
import glob, sys
import h5py
out = []
for p in sorted(glob.glob(sys.argv[1] + "/est.h5.ckpt/chain*.h5")):
    with h5py.File(p, "r") as f:
        out.append("%s iter %d draws %d" % (p.rsplit("/", 1)[1][:-3], f["/state"].attrs["iter"], f["/state"].attrs["ndone"]))
print("; ".join(out) or "no checkpoint")
PY
}
size() { stat -c %s "$1" 2>/dev/null || echo 0; }
JOB=
# the job runs in a session of its own: if this script is stopped (ctest's timeout), take it along
reap() { [ -n "$JOB" ] && kill -9 $(ps -o pid= -s "$JOB" 2>/dev/null) 2>/dev/null; JOB=; }
trap 'reap' EXIT
trap 'reap; exit 1' TERM INT
# kill_when NAME CONDITION: start the job in run/, wait until CONDITION (a shell test) holds, then
# SIGKILL every process of the job's session (mpiexec and its ranks, by their ids)
kill_when() {
  local name=$1 cond=$2 pid pids t0=$SECONDS
  touch "$W/run/start.mark"
  (cd "$W/run" && exec setsid "$MPIEXEC" -n 2 --oversubscribe "$E" "${ARGS[@]}" 2> "err_$name.txt") &
  pid=$!
  JOB=$pid
  while ! (cd "$W/run" && eval "$cond"); do
    if ! kill -0 "$pid" 2>/dev/null; then break; fi
    if [ $((SECONDS - t0)) -gt 240 ]; then break; fi
    sleep 0.01
  done
  pids=$(ps -o pid= -s "$pid" 2>/dev/null)
  if [ -n "$pids" ]; then kill -9 $pids 2>/dev/null; fi
  wait "$pid" 2>/dev/null
  local rc=$?
  JOB=
  if [ "$rc" = 0 ]; then
    echo "kill $name: the job ended before the kill (exit 0)"
    return 1
  fi
  echo "kill $name after $((SECONDS - t0)) s (exit $rc): $(state "$W/run")"
  if [ -e "$W/run/est.h5" ]; then
    # the rename is the last step: a kill that lands after it (in MPI_Finalize) leaves the complete
    # output, which must then be the uninterrupted run's; anything else is a half-written final file
    if "$H5DIFF" -r --exclude-attribute / "$W/ref/est.h5" "$W/run/est.h5" > /dev/null 2>&1; then
      echo "kill $name landed after the output's rename: est.h5 is complete and equals the uninterrupted run"
    else
      die "kill $name: est.h5 exists after the kill and differs from the uninterrupted run (a half-written output under the final name)"
    fi
  fi
  return 0
}

t0=$SECONDS
run 2 "$W/ref" || { die "uninterrupted run: exit $?"; cat "$W/ref/err.txt"; }
echo "uninterrupted run: $((SECONDS - t0)) s"
# without --resume and without checkpoints the same numbers: everything but /config equal
out=$("$H5DIFF" -r --exclude-attribute / --exclude-path /config "$W/ref/est.h5" "$PLAIN" 2>&1) ||
  { die "--resume without checkpoints differs from a plain run ($PLAIN)"; echo "$out" | grep -v "^0 diff" | head; }
[ -e "$PLAIN.ckpt" ] && die "checkpoint-every 0 created a checkpoint directory"

kill_when A '[ -e est.h5.ckpt/chain0.h5 ] && [ -e est.h5.ckpt/chain1.h5 ]' || die "kill A did not land"

# --resume with checkpoints of other settings: one clear error before any chain runs, no output, the
# checkpoints untouched (also when a rank's chains have no checkpoint yet: they must not start)
cp -r "$W/run/est.h5.ckpt" "$W/bad/full"
cp -r "$W/bad/full" "$W/bad/partial" && rm -f "$W/bad/partial/chain1.h5" "$W/bad/partial/chain3.h5"
cp -r "$W/bad/full" "$W/bad/trunc" && head -c 3000 "$W/bad/full/chain1.h5" > "$W/bad/trunc/chain1.h5"
bad() { # bad NP DIR STATUS PATTERN ARGS...: resume from the checkpoints in bad/DIR with ARGS added
  local np=$1 dir=$W/bad/$2 status=$3 pat=$4 rc n; shift 4
  local -a launch=(timeout 120 "$MPIEXEC" -n "$np" --oversubscribe)
  [ "$np" = 1 ] && launch=(timeout 120) # a failing mpiexec job takes 2.5 s to end: 1 rank runs as a singleton
  cp -r "$dir" "$dir.orig"
  (cd "$W/run" && "${launch[@]}" "$E" "${ARGS[@]}" --checkpoint-dir "$dir" "$@" > "$W/bad/out.txt" 2> "$W/bad/err.txt")
  rc=$?
  n=$(grep -c "error" "$W/bad/err.txt")
  if [ "$rc" != "$status" ] || [ "$n" != 1 ] || ! grep -qF -- "$pat" "$W/bad/err.txt"; then
    die "resume from $dir $*: exit $rc (expected $status), $n error line(s), expected one with '$pat':"; cat "$W/bad/err.txt"
  fi
  if [ -e "$W/run/est.h5" ] || [ -e "$W/run/est.h5.part" ]; then die "resume from $dir $*: an output was written"; fi
  diff -r "$dir.orig" "$dir" > /dev/null || die "resume from $dir $*: the checkpoints were changed: $(ls "$dir")"
  rm -rf "$dir.orig"
}
msg="this checkpoint was made for other data or sampler settings"
bad 1 full 3 "full/chain0.h5: $msg" --seed 1
bad 1 full 3 "$msg" --draws 100
bad 1 full 3 "$msg" --warmup 100
bad 1 full 3 "$msg" --prior-emigration-low 40,20
bad 2 partial 3 "partial/chain0.h5: $msg" --seed 1
bad 2 trunc 4 "trunc/chain1.h5: not a readable HDF5 checkpoint"

kill_when B '[ "$(size est.h5.ckpt/chain0.h5)" -gt 200000 ]' || die "kill B did not land"
kill_when C '[ -n "$(find est.h5.ckpt -name "*.part" -newer start.mark 2>/dev/null)" ]' || echo "kill C missed the checkpoint writes (the job finished first): not a failure"
kill_when D '[ -e est.h5.part ]' || echo "kill D missed the output write (the job finished first): not a failure"
t1=$SECONDS
run 3 "$W/run" || { die "final resume: exit $?"; cat "$W/run/err.txt"; }
echo "final resume (3 ranks): $((SECONDS - t1)) s"
same "$W/run"
[ -e "$W/run/est.h5.part" ] && die "est.h5.part left behind after the final resume"
ls "$W"/run/est.h5.ckpt/*.part > /dev/null 2>&1 && echo "note: a checkpoint's .part from a killed write remains: $(ls "$W"/run/est.h5.ckpt/*.part)"
echo "estimate_resume: $fail failure(s), $((SECONDS - t0)) s"
[ $fail = 0 ]
