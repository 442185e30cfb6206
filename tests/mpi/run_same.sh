#!/usr/bin/env bash
# run_same.sh H5DIFF A.h5 B.h5: `h5diff -r --exclude-attribute / A B` must find no difference (the outputs of
# `emflow run` do not depend on ranks, threads or an interruption apart from the root's provenance
# attributes: engine/emi_cmd_run.c).  On a difference, lists the objects that differ; when those are only
# /run/STAGE input_sha256 attributes, says so (a bug found by tests/mpi/run.cmake, since fixed: the hash of a
# stage file of the work directory, whose root holds mpi_ranks, omp_threads, date, command line).
set -u
H5DIFF=$1 A=$2 B=$3
out=$("$H5DIFF" -r --exclude-attribute / "$A" "$B" 2>&1)
rc=$?
if [ $rc = 0 ]; then
  echo "same: $A and $B (root attributes excluded)"
  exit 0
fi
diffs=$(awk '/^(attribute|dataset|group|Group|Dataset):/ { what = $0 } /^[1-9][0-9]* differences? found/ { print "    " $1 " in " what }
             /Not comparable|not comparable|Some objects are not comparable/ { print "    " $0 }
             /^(Group|Dataset|Datatype|Attribute|Link).*only in/ { print "    " $0 }' <<<"$out")
echo "FAIL: $A and $B differ (h5diff exit $rc):"
echo "${diffs:-$(head -20 <<<"$out")}"
if [ -n "$diffs" ] && ! grep -qv "input_sha256 of </run/" <<<"$diffs"; then
  echo "BUG (emflow run): only /run/STAGE input_sha256 differ: the hash of a stage file of the work directory"
  echo "  (crossings.h5 for classify, estimate.h5 for forecast), whose root provenance holds the rank and"
  echo "  thread counts, so the assembled output depends on them although everything else is equal"
fi
exit 1
