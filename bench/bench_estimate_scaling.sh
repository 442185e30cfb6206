#!/usr/bin/env bash
# bench/bench_estimate_scaling.sh: scaling of `emflow estimate` chains across MPI ranks and OpenMP
# threads on the full EU-27 double-entry fit (inputs/eu27.ini: 27 countries, 702 corridors x 10 years).
#
#   bench/bench_estimate_scaling.sh EMFLOW [LAYOUTS] [WARMUP DRAWS] [OUT_PREFIX]
#     LAYOUTS   space-separated RANKSxTHREADS (default "1x1 1x2 2x1"; a cluster: "1x1 2x1 4x1 4x2")
#     WARMUP DRAWS  iterations per chain (default 300 300: the timing, not the inference, is the point)
#
# mpiexec runs with --bind-to none: Open MPI binds each rank to one core by default, which would put
# all OpenMP threads of a rank on that core.
#
# Validates first: every layout must give the same output bytes (h5diff, root provenance attributes
# excluded), since chains are keyed by (seed, chain, iteration) whatever rank or thread runs them.
# Then times each layout (whole process, monotonic clock; one run each after the validation runs,
# which are timed too: the median of the two is reported) and prints JSON lines and a Markdown table
# with speed-up and parallel efficiency against 1x1 (efficiency = speed-up / (ranks x threads)).
set -euo pipefail
EMFLOW=${1:?usage: bench_estimate_scaling.sh EMFLOW [LAYOUTS] [WARMUP DRAWS] [OUT_PREFIX]}
LAYOUTS=${2:-"1x1 1x2 2x1"}
WARMUP=${3:-300}
DRAWS=${4:-300}
OUT=${5:-}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
TMP=$(mktemp -d "${TMPDIR:-/tmp}/emflow-scaling.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
now() { /usr/bin/python3 -c 'import time; print(time.monotonic())'; }
declare -A T1 T2
for l in $LAYOUTS; do
  r=${l%x*} t=${l#*x}
  mkdir -p "$TMP/$l"
  for rep in 1 2; do
    t0=$(now)
    (cd "$TMP/$l" && OMP_NUM_THREADS=$t mpiexec --oversubscribe --bind-to none -n "$r" "$EMFLOW" estimate --config "$ROOT/inputs/eu27.ini" \
      -o est.h5 --warmup "$WARMUP" --draws "$DRAWS" --thin 1 --checkpoint-every 0 --accept-failed-diagnostics \
      --no-store-flow-draws --log-level warn 2>"$TMP/$l/log$rep" >/dev/null) || { cat "$TMP/$l/log$rep" >&2; echo "FAILED: $l" >&2; exit 1; }
    t1=$(now)
    if [ "$rep" = 1 ]; then T1[$l]=$(/usr/bin/python3 -c "print($t1 - $t0)"); else T2[$l]=$(/usr/bin/python3 -c "print($t1 - $t0)"); fi
  done
done
first=${LAYOUTS%% *}
for l in $LAYOUTS; do
  if ! h5diff -r --exclude-attribute / "$TMP/$first/est.h5" "$TMP/$l/est.h5" >/dev/null; then
    echo "bench_estimate_scaling: FAILED: the output of $l differs from $first" >&2
    exit 1
  fi
done
echo "bench_estimate_scaling: validated: the outputs of $LAYOUTS are identical (h5diff)" >&2
/usr/bin/python3 - "$LAYOUTS" "$WARMUP" "$DRAWS" "$OUT" "$(cut -d' ' -f1-3 /proc/loadavg)" "$("$EMFLOW" --version)" \
  "$(for l in $LAYOUTS; do echo -n "$l=${T1[$l]},${T2[$l]} "; done)" <<'PY'
import json, sys
layouts, warmup, draws, out, load, version, times = sys.argv[1].split(), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6], sys.argv[7]
t = {}
for item in times.split():
    k, v = item.split("=")
    a, b = map(float, v.split(","))
    t[k] = (a, b)
base = sorted(t[layouts[0]])[0] if False else (t[layouts[0]][0] + t[layouts[0]][1]) / 2
rows, lines = [], []
for l in layouts:
    r, th = map(int, l.split("x"))
    med = (t[l][0] + t[l][1]) / 2
    sp = base / med
    rows.append({"bench": "estimate_scaling", "layout": l, "ranks": r, "threads": th, "time_s": med,
                 "time_s_runs": list(t[l]), "speedup": sp, "efficiency": sp / (r * th), "warmup": warmup,
                 "draws": draws, "chains": 4, "workload": "inputs/eu27.ini, 702 corridors x 10 years",
                 "load_average": load, "version": version, "validated": True})
lines.append("| ranks x threads | time (mean of 2) | speed-up | parallel efficiency |")
lines.append("|---|---|---|---|")
for x in rows:
    lines.append("| %s | %.1f s [%.1f, %.1f] | %.2f | %.0f%% |" % (x["layout"], x["time_s"], x["time_s_runs"][0], x["time_s_runs"][1], x["speedup"], 100 * x["efficiency"]))
for x in rows:
    print(json.dumps(x))
print("\n".join(lines))
if out:
    with open(out + ".json", "w") as f:
        json.dump(rows, f, indent=1)
    with open(out + ".md", "w") as f:
        f.write("`emflow estimate` on the EU-27 fit (4 chains x (%d + %d) iterations, the same output bytes at every layout), %s, load average %s at the start.\n\n" % (warmup, draws, version, load))
        f.write("\n".join(lines) + "\n")
PY
