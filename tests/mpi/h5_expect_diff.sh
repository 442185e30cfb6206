#!/bin/sh
# h5_expect_diff.sh H5DIFF A B OBJECT POSITION
# Passes only when h5diff (root provenance attributes excluded) finds differences (exit status 1, not
# 2 = error), the dataset OBJECT differs in exactly one element, and every difference reported is at
# POSITION: this shows that the h5diff repro tests can fail, and fail for the right reason.
# (h5diff follows the object references of the dimension-scale attributes REFERENCE_LIST, so the
# same element is also reported under each scale attached to OBJECT: allowed, as long as it is
# the same element.)
h5diff=$1 a=$2 b=$3 object=$4 position=$5
out=$("$h5diff" -r --exclude-attribute / "$a" "$b" 2>&1)
rc=$?
printf '%s\n' "$out"
fail() { echo "FAIL: $*"; exit 1; }
[ "$rc" -eq 1 ] || fail "h5diff exit status $rc, expected 1 (differences found)"
# the dataset block of OBJECT reports exactly one difference
n=$(printf '%s\n' "$out" | awk -v obj="dataset: <$object>" '
  index($0, obj) == 1 { inside = 1; next }
  inside && / differences? found/ { print $1; exit }')
[ "$n" = "1" ] || fail "dataset $object: '${n:-no}' differences reported, expected 1"
# every differing element reported anywhere is the one at POSITION
rows=$(printf '%s\n' "$out" | grep '^\[' || true)
[ -n "$rows" ] || fail "no differing element reported"
other=$(printf '%s\n' "$rows" | grep -vF "$position" || true)
[ -z "$other" ] || fail "differences reported outside $position: $other"
printf '%s\n' "$out" | grep ' differences\? found' | grep -qv '^[01] differences\? found' &&
  fail "an object reports more than one difference"
echo "ok: h5diff finds the one perturbed element $object$position"
