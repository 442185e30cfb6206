#!/usr/bin/env bash
# run_job.sh EMFLOW MPIEXEC NP THREADS CONFIG SLOT DEST [run options...]: `emflow run CONFIG -o SLOT/job.h5`
# on NP ranks x THREADS OpenMP threads, then its output, report and (with --keep-work) work directory
# moved to DEST/job.h5, DEST/job_report, DEST/job.h5.work (tests/mpi/run.cmake).
#
# The jobs that are compared byte for byte (rank counts, threads, kill and resume) all run into the same
# SLOT: the stage option tables copied to /config/STAGE hold the absolute paths of the work directory
# (-o SLOT/job.h5.work/estimate.h5, ...), so the same job written elsewhere differs there.  The tests
# sharing a SLOT hold the same RESOURCE_LOCK.
set -u
E=$1 MPIEXEC=$2 NP=$3 THREADS=$4 CFG=$5 SLOT=$6 DEST=$7
shift 7
bind=()
[ "$THREADS" -gt 1 ] && bind=(--bind-to none)
mkdir -p "$SLOT" || exit 1
rm -rf "$SLOT/job.h5" "$SLOT/job.h5.part" "$SLOT/job.h5.work" "$SLOT/job_report" "$DEST"
t0=$EPOCHREALTIME
OMP_NUM_THREADS=$THREADS "$MPIEXEC" -n "$NP" --oversubscribe "${bind[@]}" "$E" run "$CFG" -o "$SLOT/job.h5" "$@"
rc=$?
echo "run_job: $NP rank(s) x $THREADS thread(s): exit $rc, $(awk "BEGIN { printf \"%.1f\", $EPOCHREALTIME - $t0 }") s"
mkdir -p "$DEST" || exit 1
for x in job.h5 job_report job.h5.work; do
  [ -e "$SLOT/$x" ] && mv "$SLOT/$x" "$DEST/$x"
done
exit $rc
