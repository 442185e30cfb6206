#!/usr/bin/env bash
# estimate_prior_conflict.sh EMFLOW CONFIG DIR: the prior-data conflict warning of emflow estimate.
# On the real EU-27 file, Slovakia's emigration reports (classes high and medium) and its immigration
# reports (medium) put the coverage near 0.1-0.4, far below the elicited priors (means 0.455, 0.582,
# 0.779; 4 prior sd is 0.24, 0.24, 0.20): a warning must name each of the three; FIN, ITA, POL, SWE
# (the Stan benchmark's countries, whose coverages lie within 2.3 prior sd) must give none.
set -uo pipefail
E=$1 CFG=$2 W=$3
mkdir -p "$W" && cd "$W" || exit 1
fails=0
args=(--warmup 500 --draws 500 --thin 1 --checkpoint-every 0 --accept-failed-diagnostics --log-level warn)
out=$("$E" estimate --config "$CFG" --countries SVK --countries SWE --countries AUT --countries ITA --countries FIN \
      -o svk.h5 "${args[@]}" 2>&1) || { echo "FAIL: the SVK run failed: $out"; exit 1; }
for c in emigration:SVK:high emigration:SVK:medium immigration:SVK:medium; do
  if grep -q "prior-data conflict: lambda\[$c\]" <<<"$out"; then echo "ok   conflict named: $c"
  else echo "FAIL no prior-data conflict warning for lambda[$c]"; fails=$((fails + 1)); fi
done
n=$(grep -c "prior-data conflict" <<<"$out")
[ "$n" = 3 ] && echo "ok   exactly 3 conflicts" || { echo "FAIL $n conflicts, expected 3:"; grep "conflict" <<<"$out"; fails=$((fails + 1)); }
out=$("$E" estimate --config "$CFG" --countries FIN --countries ITA --countries POL --countries SWE -o bench.h5 \
      "${args[@]}" 2>&1) || { echo "FAIL: the FIN/ITA/POL/SWE run failed: $out"; exit 1; }
if grep -q "prior-data conflict" <<<"$out"; then echo "FAIL a conflict where none is expected:"; grep conflict <<<"$out"; fails=$((fails + 1))
else echo "ok   FIN, ITA, POL, SWE: no conflict"; fi
exit $((fails > 0))
