#!/usr/bin/env bash
# ipf_known_answers.sh EMFLOW EXAMPLES OUTDIR PYTHON: `emflow ipf` reproduces the published results in
# known_answers.md (migest ipf2 reference pages), to the printed precision, and its bad-input errors.
set -u
emflow=$1 ex=$2 out=$3 py=$4
fail=0
die() { echo "FAIL: $*"; fail=$((fail + 1)); }

# Willekens (1999) 2x2: [[13.25, 4.75], [2.75, 17.25]] (2 decimals)
"$emflow" ipf --seed "$ex/willekens_seed.csv" --margin "$ex/willekens_rows.csv" --margin "$ex/willekens_cols.csv" \
  -o "$out/w.csv" --log-level error || die "willekens run"
got=$(awk -F, 'NR>1{printf "%s%s%s=%.2f", sep, $1, $2, $3; sep=" "}' "$out/w.csv")
[ "$got" = "AA=13.25 AB=4.75 BA=2.75 BB=17.25" ] || die "willekens: $got"

# uniform seed (no --seed): [[7.58, 10.42], [8.42, 11.58]]
"$emflow" ipf --margin "$ex/willekens_rows.csv" --margin "$ex/willekens_cols.csv" -o "$out/u.csv" --log-level error || die "uniform run"
got=$(awk -F, 'NR>1{printf "%s%s%s=%.2f", sep, $1, $2, $3; sep=" "}' "$out/u.csv")
[ "$got" = "AA=7.58 AB=10.42 BA=8.42 BB=11.58" ] || die "uniform: $got"

# only row totals: [[12.857, 5.143], [2.5, 17.5]]
"$emflow" ipf --seed "$ex/willekens_seed.csv" --margin "$ex/willekens_rows.csv" -o "$out/r.csv" --log-level error || die "rows run"
got=$(awk -F, 'NR>1{printf "%s%s%s=%.3f", sep, $1, $2, $3; sep=" "}' "$out/r.csv")
[ "$got" = "AA=12.857 AB=5.143 BA=2.500 BB=17.500" ] || die "rows only: $got"

# a config file in another directory: its relative paths are relative to the file's directory, each
# margin of the list as well as the seed and the output (from a user: `margin = rows.csv, cols.csv` was
# looked for in the working directory, exit 5)
mkdir -p "$out/cfgrel/cfg"
cp "$ex/willekens_seed.csv" "$ex/willekens_rows.csv" "$ex/willekens_cols.csv" "$out/cfgrel/cfg/"
printf '[ipf]\nseed = willekens_seed.csv\nmargin = willekens_rows.csv, willekens_cols.csv\noutput = fit.csv\n' > "$out/cfgrel/cfg/job.ini"
rm -f "$out/cfgrel/cfg/fit.csv"
msg=$(cd "$out/cfgrel" && "$emflow" ipf --config cfg/job.ini --log-level error 2>&1) || die "config-relative margins: $msg"
got=$(awk -F, 'NR>1{printf "%s%s%s=%.2f", sep, $1, $2, $3; sep=" "}' "$out/cfgrel/cfg/fit.csv" 2>/dev/null)
[ "$got" = "AA=13.25 AB=4.75 BA=2.75 BB=17.25" ] || die "config-relative margins: $got"

# 3x3 with a structural zero, HDF5 output on 2 ranks: rounded [[72, 40, 59], [32, 88, 0], [396, 12, 1]]
mpiexec -n 2 --oversubscribe "$emflow" ipf --seed "$ex/zero_seed.csv" --margin "$ex/zero_rows.csv" \
  --margin "$ex/zero_cols.csv" -o "$out/z.h5" --log-level error || die "zero run"
if [ -n "$py" ]; then
  "$py" - "$out/z.h5" <<'PY' || die "zero: values"
import sys, h5py
f = h5py.File(sys.argv[1], "r")
x = f["/ipf/fitted"][()]
want = [[72, 40, 59], [32, 88, 0], [396, 12, 1]]
ok = [[round(v) for v in row] for row in x] == want and x[1][2] == 0.0
ok = ok and f["/ipf"].attrs["status"] == "converged" and f["/ipf/fitted"].dims[0][0].name == "/ipf/origin"
print("zero-cell fit", x.tolist(), "ok" if ok else "WRONG")
sys.exit(0 if ok else 1)
PY
fi

# an input that cannot be opened is named by its role: the seed, or margin k (numbered from 0 as in the
# fit's messages), with the option or config line that gave it
msg=$("$emflow" ipf --seed "$out/nope_seed.csv" --margin "$ex/willekens_rows.csv" -o "$out/x.csv" 2>&1); rc=$?
[ $rc = 5 ] && grep -qF "ipf: seed (--seed '$out/nope_seed.csv'): cannot open $out/nope_seed.csv" <<<"$msg" ||
  die "seed cannot be opened: rc=$rc $msg"
msg=$("$emflow" ipf --seed "$ex/willekens_seed.csv" --margin "$ex/willekens_rows.csv" --margin "$out/nope.csv" -o "$out/x.csv" 2>&1); rc=$?
[ $rc = 5 ] && grep -qF "ipf: margin 1 (--margin '$out/nope.csv'): cannot open $out/nope.csv" <<<"$msg" ||
  die "margin cannot be opened: rc=$rc $msg"
printf '[ipf]\nmargin = willekens_rows.csv, nope.csv\n' > "$out/cfgrel/cfg/nope.ini"
msg=$("$emflow" ipf --config "$out/cfgrel/cfg/nope.ini" -o "$out/x.csv" 2>&1); rc=$?
[ $rc = 5 ] && grep -qF "ipf: margin 1 ($out/cfgrel/cfg/nope.ini:2: [ipf] margin = " <<<"$msg" &&
  grep -qF "item '$out/cfgrel/cfg/nope.csv'): cannot open" <<<"$msg" || die "margin from a config cannot be opened: rc=$rc $msg"

# a margin column the seed lacks: the seed's columns quoted exactly; a name that matches once spaces are
# trimmed is said to (from a user: a header 'origin, destination ,value' gave only "'destination' is not
# a column of the seed"); names are not trimmed silently
printf 'origin, destination ,value\nA,A,5\nA,B,2\nB,A,1\nB,B,7\n' > "$out/sp_seed.csv"
msg=$("$emflow" ipf --seed "$out/sp_seed.csv" --margin "$ex/willekens_cols.csv" -o "$out/x.csv" 2>&1); rc=$?
[ $rc = 4 ] && grep -qF "margin column 'destination' is not a column of the seed $out/sp_seed.csv, whose dimension columns are 'origin', ' destination '; the seed has ' destination ' (with spaces)" <<<"$msg" ||
  die "column name with spaces: rc=$rc $msg"
printf 'origin,dest,value\nA,A,5\nA,B,2\nB,A,1\nB,B,7\n' > "$out/dest_seed.csv"
msg=$("$emflow" ipf --seed "$out/dest_seed.csv" --margin "$ex/willekens_cols.csv" -o "$out/x.csv" 2>&1); rc=$?
[ $rc = 4 ] && grep -qF "whose dimension columns are 'origin', 'dest'" <<<"$msg" && ! grep -q "spaces" <<<"$msg" ||
  die "unknown margin column: rc=$rc $msg"

# bad input: one clear error naming the file (exit status 4 = invalid input)
printf 'origin,value\nA,18\nB,20\nC,0\n' > "$out/bad_code.csv"
msg=$("$emflow" ipf --seed "$ex/willekens_seed.csv" --margin "$out/bad_code.csv" -o "$out/x.csv" 2>&1); rc=$?
[ $rc = 4 ] && grep -q "bad_code.csv:4: origin = 'C' is not a code" <<<"$msg" || die "unknown code: rc=$rc $msg"
# a duplicated row: the same codes (IPF files have no period, so the message must not speak of one)
printf 'origin,destination,value\nA,A,5\nA,B,2\nA,A,5\nB,A,1\nB,B,7\n' > "$out/dup_seed.csv"
msg=$("$emflow" ipf --seed "$out/dup_seed.csv" --margin "$ex/willekens_rows.csv" -o "$out/x.csv" 2>&1); rc=$?
[ $rc = 4 ] && grep -qF "dup_seed.csv:4: duplicated observation (origin=A, destination=A): the same codes as line 2" <<<"$msg" &&
  ! grep -q "period" <<<"$msg" || die "duplicated seed row: rc=$rc $msg"
printf 'origin,value\nA,18\nB,-20\n' > "$out/neg.csv"
msg=$("$emflow" ipf --seed "$ex/willekens_seed.csv" --margin "$out/neg.csv" -o "$out/x.csv" 2>&1); rc=$?
[ $rc = 4 ] && grep -q "neg.csv:3" <<<"$msg" || die "negative: rc=$rc $msg"
printf 'origin,value\nA,18\nB,21\n' > "$out/rows21.csv"
msg=$("$emflow" ipf --seed "$ex/willekens_seed.csv" --margin "$out/rows21.csv" --margin "$ex/willekens_cols.csv" -o "$out/x.csv" 2>&1); rc=$?
[ $rc = 10 ] && grep -q "rows21.csv" <<<"$msg" || die "disagreeing totals: rc=$rc $msg"
printf 'origin,destination,value\nA,A,1\nA,B,1\nB,A,1\n' > "$out/holey.csv"
msg=$("$emflow" ipf --seed "$out/holey.csv" --margin "$ex/willekens_rows.csv" -o "$out/x.csv" 2>&1); rc=$?
[ $rc = 4 ] && grep -q "no row for cell (origin=B, destination=B)" <<<"$msg" || die "missing cell: rc=$rc $msg"
msg=$("$emflow" ipf --seed "$ex/willekens_seed.csv" --margin "$ex/willekens_rows.csv" --margin "$ex/willekens_cols.csv" \
  --max-iter 2 -o "$out/nc.csv" 2>&1); rc=$?
[ $rc = 11 ] && grep -q "not converged after 2 iterations" <<<"$msg" && [ ! -e "$out/nc.csv" ] || die "non-convergence: rc=$rc $msg"
# an infeasible zero pattern the pre-checks cannot see: rows {0,1} only reach columns {0,1}, which
# need 2 in all while those rows need 3.  The fit must stop as stalled, not run to --max-iter.
printf 'r,c,value\n0,0,1\n0,1,1\n0,2,0\n1,0,1\n1,1,1\n1,2,0\n2,0,0\n2,1,0\n2,2,1\n' > "$out/st_seed.csv"
printf 'r,value\n0,2\n1,1\n2,4\n' > "$out/st_rows.csv"
printf 'c,value\n0,1\n1,1\n2,5\n' > "$out/st_cols.csv"
msg=$(timeout 60 "$emflow" ipf --seed "$out/st_seed.csv" --margin "$out/st_rows.csv" --margin "$out/st_cols.csv" \
  --max-iter 100000000 -o "$out/x.csv" 2>&1); rc=$?
[ $rc = 10 ] && grep -q "stalled" <<<"$msg" || die "stalled fit: rc=$rc $msg"
# a column named like a dataset of /ipf cannot be a scale there: one error naming it, no file
printf 'fitted,value\nA,1\nB,2\n' > "$out/fitted_seed.csv"
printf 'fitted,value\nA,3\nB,3\n' > "$out/fitted_m.csv"
msg=$("$emflow" ipf --seed "$out/fitted_seed.csv" --margin "$out/fitted_m.csv" -o "$out/fit.h5" 2>&1); rc=$?
[ $rc = 4 ] && grep -q "column 'fitted' has the name of a dataset of /ipf" <<<"$msg" && [ ! -e "$out/fit.h5" ] &&
  [ ! -e "$out/fit.h5.part" ] || die "reserved column name: rc=$rc $msg"
# ... refused from the header, before the fit (the log said 'converged' first) and before the rows are read
# (the bad row 3 is not reached); CSV output has no reserved names
! grep -q "converged" <<<"$msg" || die "reserved column name refused only after the fit: $msg"
printf 'origin,margin_0,value\nA,A,1\nA,B,x\n' > "$out/margin0_seed.csv"
msg=$("$emflow" ipf --seed "$out/margin0_seed.csv" --margin "$ex/willekens_rows.csv" -o "$out/fit.h5" 2>&1); rc=$?
[ $rc = 4 ] && grep -qF "ipf: $out/margin0_seed.csv: column 'margin_0' has the name of a dataset of /ipf" <<<"$msg" &&
  [ ! -e "$out/fit.h5" ] || die "reserved column name, before reading rows: rc=$rc $msg"
msg=$("$emflow" ipf --seed "$out/fitted_seed.csv" --margin "$out/fitted_m.csv" -o "$out/fitted_ok.csv" 2>&1); rc=$?
[ $rc = 0 ] && [ -s "$out/fitted_ok.csv" ] || die "column 'fitted' to CSV: rc=$rc $msg"
# an output directory that does not exist: plain I/O error before any work
msg=$("$emflow" ipf --seed "$ex/willekens_seed.csv" --margin "$ex/willekens_rows.csv" -o "$out/nodir/x.h5" 2>&1); rc=$?
[ $rc = 5 ] && grep -q "cannot create $out/nodir/x.h5" <<<"$msg" || die "missing output dir: rc=$rc $msg"
# hostile sizes and values (found by an adversarial review): each one clear error, no crash
for i in 0 1 2 3 4 5 6; do { echo "d$i,value"; for k in $(seq 0 255); do echo "c$k,10"; done; } > "$out/w$i.csv"; done
{ echo "d7,value"; for k in $(seq 0 31); do echo "c$k,80"; done; } > "$out/w7.csv"
msg=$("$emflow" ipf $(for i in 0 1 2 3 4 5 6 7; do echo --margin "$out/w$i.csv"; done) -o "$out/x.csv" 2>&1); rc=$?
[ $rc = 4 ] && grep -q "too large" <<<"$msg" || die "2^61-cell table: rc=$rc $msg"
printf 'origin,value\nA,1e308\nB,1e308\n' > "$out/huge.csv"
msg=$("$emflow" ipf --margin "$out/huge.csv" --margin "$ex/willekens_cols.csv" -o "$out/x.csv" 2>&1); rc=$?
[ $rc = 4 ] && grep -q "beyond the largest double" <<<"$msg" || die "overflowing total: rc=$rc $msg"
cp "$ex/willekens_seed.csv" "$out/seed_copy.csv"
msg=$("$emflow" ipf --seed "$out/seed_copy.csv" --margin "$ex/willekens_rows.csv" -o "$out/seed_copy.csv" 2>&1); rc=$?
[ $rc = 2 ] && grep -q "is the input" <<<"$msg" && cmp -s "$out/seed_copy.csv" "$ex/willekens_seed.csv" || die "output = input: rc=$rc $msg"
# a tolerance below double precision: the deviation stops decreasing at rounding level, which is
# non-convergence (exit 11, --accept-nonconverged applies), not an infeasible pattern of zeros (exit 10)
awk 'BEGIN { print "origin,destination,value"; for (i = 0; i < 7; i++) for (j = 0; j < 7; j++) printf "o%d,d%d,%.7f\n", i, j, 0.1 + ((i * 7 + j) * 37 % 97) / 10.3 }' > "$out/s7.csv"
awk 'BEGIN { print "origin,value"; for (i = 0; i < 7; i++) printf "o%d,%.9f\n", i, 10.123456789 + 3.7 * i / 3 }' > "$out/r7.csv"
awk 'BEGIN { print "destination,value"; for (j = 0; j < 7; j++) printf "d%d,%.9f\n", j, 22.987654321 - j / 7 }' > "$out/c7.csv"
msg=$("$emflow" ipf --seed "$out/s7.csv" --margin "$out/r7.csv" --margin "$out/c7.csv" --tol-rel 1e-17 --total-tol-rel 1e-18 --rescale first -o "$out/x.csv" 2>&1); rc=$?
[ $rc = 11 ] && grep -q "limit of double precision" <<<"$msg" && grep -q "in margin [01] (.*) at \(origin\|destination\)=[od][0-6] exceeds" <<<"$msg" &&
  [ ! -e "$out/x.csv" ] || die "unreachable tolerance: rc=$rc $msg"
msg=$("$emflow" ipf --seed "$out/s7.csv" --margin "$out/r7.csv" --margin "$out/c7.csv" --tol-rel 1e-17 --total-tol-rel 1e-18 --rescale first --accept-nonconverged -o "$out/x.csv" 2>&1); rc=$?
[ $rc = 0 ] && [ -s "$out/x.csv" ] || die "unreachable tolerance, --accept-nonconverged: rc=$rc $msg"
rm -f "$out/x.csv"
# output names (from a breaker): .H5 and .hdf5 are HDF5 (they got CSV text), '-' is refused; column names
# that cannot be HDF5 names or are not text are refused before the fit; a blank first line is named
msg=$("$emflow" ipf --seed "$ex/willekens_seed.csv" --margin "$ex/willekens_rows.csv" -o "$out/up.H5" 2>&1); rc=$?
[ $rc = 0 ] && h5ls "$out/up.H5/ipf/fitted" >/dev/null 2>&1 || die "-o .H5: rc=$rc $msg"
msg=$("$emflow" ipf --seed "$ex/willekens_seed.csv" --margin "$ex/willekens_rows.csv" -o "$out/up.hdf5" 2>&1); rc=$?
[ $rc = 0 ] && h5ls "$out/up.hdf5/ipf/fitted" >/dev/null 2>&1 || die "-o .hdf5: rc=$rc $msg"
msg=$("$emflow" ipf --margin "$ex/willekens_rows.csv" -o - 2>&1); rc=$?
[ $rc = 2 ] && grep -q "standard output is not supported" <<<"$msg" && [ ! -e ./- ] || die "-o -: rc=$rc $msg"
# R's write.csv writes the row names in a first column named "": the message says so; an empty name
# elsewhere has no such hint
printf '"","origin","value"\n"1","A",18\n"2","B",20\n' > "$out/rownames.csv"
msg=$("$emflow" ipf --margin "$out/rownames.csv" -o "$out/x.csv" 2>&1); rc=$?
[ $rc = 4 ] && grep -qF "rownames.csv:1: a column has an empty name (column 1 of 3)" <<<"$msg" &&
  grep -qF "R's write.csv writes its row names there, under an empty name, unless row.names = FALSE" <<<"$msg" || die "R row names: rc=$rc $msg"
printf 'origin,,value\nA,x,18\nB,x,20\n' > "$out/empty_mid.csv"
msg=$("$emflow" ipf --margin "$out/empty_mid.csv" -o "$out/x.csv" 2>&1); rc=$?
[ $rc = 4 ] && grep -qF "empty_mid.csv:1: a column has an empty name (column 2 of 3)" <<<"$msg" && ! grep -q "write.csv" <<<"$msg" ||
  die "empty column name: rc=$rc $msg"
printf '.,value\nA,1\n' > "$out/dot.csv"
msg=$("$emflow" ipf --margin "$out/dot.csv" -o "$out/dot.h5" 2>&1); rc=$?
[ $rc = 4 ] && grep -q "column name '.' cannot name an HDF5 dataset" <<<"$msg" && [ ! -e "$out/dot.h5" ] || die "column '.': rc=$rc $msg"
printf 'orig\xefn,value\nA,1\n' > "$out/hdr_utf8.csv"
msg=$("$emflow" ipf --margin "$out/hdr_utf8.csv" -o "$out/x.csv" 2>&1); rc=$?
[ $rc = 4 ] && grep -q "hdr_utf8.csv:1: the name of column 1 is not valid UTF-8" <<<"$msg" || die "header not UTF-8: rc=$rc $msg"
printf '\norigin,value\nA,1\n' > "$out/blank_first.csv"
msg=$("$emflow" ipf --margin "$out/blank_first.csv" -o "$out/x.csv" 2>&1); rc=$?
[ $rc = 4 ] && grep -q "blank_first.csv:1: the first line is blank" <<<"$msg" || die "blank first line: rc=$rc $msg"
# --rescale mean: rows sum to 38, columns (17, 22) to 39, the fit meets both times 38.5 / their sum; the
# stored targets are as read and say so: rescale_factor 38.5/38 and 38.5/39, /ipf rescale = mean
printf 'destination,value\nA,17\nB,22\n' > "$out/cols39.csv"
msg=$("$emflow" ipf --seed "$ex/willekens_seed.csv" --margin "$ex/willekens_rows.csv" --margin "$out/cols39.csv" --rescale mean -o "$out/resc.h5" 2>&1); rc=$?
[ $rc = 0 ] || die "--rescale mean to .h5: rc=$rc $msg"
f0=$(h5dump -m %.17g -a /ipf/margin_0/rescale_factor "$out/resc.h5" | awk '/\(0\):/{print $2}')
f1=$(h5dump -m %.17g -a /ipf/margin_1/rescale_factor "$out/resc.h5" | awk '/\(0\):/{print $2}')
pol=$(h5dump -a /ipf/rescale "$out/resc.h5" | grep -o '"mean"')
awk -v a="$f0" -v b="$f1" 'BEGIN { exit !(a - 38.5/38 < 1e-12 && 38.5/38 - a < 1e-12 && b - 38.5/39 < 1e-12 && 38.5/39 - b < 1e-12) }' &&
  [ "$pol" = '"mean"' ] || die "rescale attributes: $f0 $f1 $pol"
# an infeasible cell is named by its codes too (the kernel names it by index)
printf 'origin,destination,value\nA,A,0\nA,B,1\nB,A,0\nB,B,1\n' > "$out/zero_col_seed.csv"
msg=$("$emflow" ipf --seed "$out/zero_col_seed.csv" --margin "$ex/willekens_cols.csv" -o "$out/x.csv" 2>&1); rc=$?
[ $rc = 10 ] && grep -q "cell (0) has target 16 but every seed cell under it is zero" <<<"$msg" &&
  grep -q "that cell is destination=A" <<<"$msg" || die "infeasible cell by codes: rc=$rc $msg"
# margins that disagree over a shared dimension: no rescale hint (a policy cannot fix it), also under --rescale
printf 'origin,destination,value\nA,A,1\nA,B,2\nB,A,3\nB,B,4\n' > "$out/m2d.csv"
printf 'origin,value\nA,4\nB,6\n' > "$out/m_o.csv"
msg=$("$emflow" ipf --margin "$out/m2d.csv" --margin "$out/m_o.csv" --rescale mean -o "$out/x.csv" 2>&1); rc=$?
[ $rc = 10 ] && grep -q "disagree over their shared dimensions" <<<"$msg" && grep -q "a rescale policy cannot fix this" <<<"$msg" &&
  ! grep -q "the policy is --rescale" <<<"$msg" || die "shared-dimension disagreement hint: rc=$rc $msg"
# a run stopped by SIGTERM (a scheduler's limit, mpiexec stopping ranks) while it writes leaves neither
# the output nor its temporary NAME.part (from a breaker: a 444 MB .part stayed); a 1000 x 1000 x 20 table
# takes seconds to write, and the signal is sent once the .part exists
awk 'BEGIN { print "a,value"; for (i = 0; i < 1000; i++) printf "a%d,1\n", i }' > "$out/sig_a.csv"
awk 'BEGIN { print "b,value"; for (i = 0; i < 1000; i++) printf "b%d,1\n", i }' > "$out/sig_b.csv"
awk 'BEGIN { print "c,value"; for (i = 0; i < 20; i++) printf "c%d,50\n", i }' > "$out/sig_c.csv"
for ext in csv h5; do
  "$emflow" ipf --margin "$out/sig_a.csv" --margin "$out/sig_b.csv" --margin "$out/sig_c.csv" -o "$out/sig.$ext" 2>/dev/null &
  pid=$!
  for i in $(seq 1 600); do [ -e "$out/sig.$ext.part" ] && break; sleep 0.05; done
  kill -TERM $pid; wait $pid; rc=$?
  [ $rc = 143 ] && [ ! -e "$out/sig.$ext.part" ] && [ ! -e "$out/sig.$ext" ] ||
    die "SIGTERM while writing .$ext: rc=$rc (expected 143), left: $(ls "$out" | grep '^sig\.' | tr '\n' ' ')"
done
# nor the config file, nor an input under the output's temporary name NAME.part (from a breaker: both
# were overwritten, exit 0)
printf '[ipf]\nmargin = %s\n' "$ex/willekens_rows.csv" > "$out/job.ini"
cp "$out/job.ini" "$out/job_copy.ini"
msg=$("$emflow" ipf --config "$out/job.ini" -o "$out/job.ini" 2>&1); rc=$?
[ $rc = 2 ] && grep -q "is the config file" <<<"$msg" && cmp -s "$out/job.ini" "$out/job_copy.ini" || die "output = config: rc=$rc $msg"
cp "$ex/willekens_rows.csv" "$out/y.csv.part"
msg=$("$emflow" ipf --margin "$out/y.csv.part" -o "$out/y.csv" 2>&1); rc=$?
[ $rc = 2 ] && grep -q "is the output's temporary file" <<<"$msg" && cmp -s "$out/y.csv.part" "$ex/willekens_rows.csv" ||
  die "input = the output's temporary: rc=$rc $msg"
rm -f "$out/y.csv.part"
printf 'origin,value\nA,0\nB,0\n' > "$out/zero_rows.csv"
msg=$("$emflow" ipf --seed "$ex/willekens_seed.csv" --margin "$out/zero_rows.csv" --margin "$ex/willekens_cols.csv" --rescale first -o "$out/x.csv" 2>&1); rc=$?
[ $rc = 10 ] && grep -q "some margins sum to 0" <<<"$msg" || die "rescale to a zero margin: rc=$rc $msg"
# margins that disagree: the error names each margin's file and columns (the kernel says "dims {k}")
printf 'destination,value\nA,10\nB,11\n' > "$out/cols_off.csv"
msg=$("$emflow" ipf --seed "$ex/willekens_seed.csv" --margin "$ex/willekens_rows.csv" --margin "$out/cols_off.csv" -o "$out/x.csv" 2>&1); rc=$?
[ $rc = 10 ] && grep -q "margin 1 = $out/cols_off.csv: destination (dim 1)" <<<"$msg" && grep -q "willekens_rows.csv: origin (dim 0)" <<<"$msg" &&
  grep -q -- "--rescale first|mean" <<<"$msg" ||
  die "disagreeing margins: rc=$rc $msg"
# a header without a lower-case 'value' column (a semicolon file): the header found, and the separator
printf 'Origin;Value\nA;1\n' > "$out/semi.csv"
msg=$("$emflow" ipf --margin "$out/semi.csv" --margin "$ex/willekens_cols.csv" -o "$out/x.csv" 2>&1); rc=$?
[ $rc = 4 ] && grep -q "semi.csv:1: expected exactly one column named 'value' (lower case)" <<<"$msg" &&
  grep -q "'Origin;Value' (the file looks separated by ';'" <<<"$msg" || die "semicolon header: rc=$rc $msg"
printf 'origin,destination,value\n' > "$out/header_only.csv"
msg=$("$emflow" ipf --seed "$out/header_only.csv" --margin "$ex/willekens_rows.csv" -o "$out/x.csv" 2>&1); rc=$?
[ $rc = 4 ] && grep -q "header_only.csv: no data rows" <<<"$msg" || die "header-only seed: rc=$rc $msg"
printf 'origin,destination,value\nA,A,1e-10\nA,B,1e-10\nB,A,1e-10\nB,B,1e-10\n' > "$out/tiny_seed.csv"
printf 'origin,value\nA,1e300\nB,1e300\n' > "$out/big_rows.csv"
printf 'destination,value\nA,1e300\nB,1e300\n' > "$out/big_cols.csv"
# a seed far from its margins' scale is scaled by a power of two first (the fit is the same): a
# uniform seed fitted to rows r and columns c gives r_i c_j / T = 1e300 * 1e300 / 2e300 = 5e299
msg=$("$emflow" ipf --seed "$out/tiny_seed.csv" --margin "$out/big_rows.csv" --margin "$out/big_cols.csv" -o "$out/x.csv" 2>&1); rc=$?
[ $rc = 0 ] && grep -q "scaled by 2^" <<<"$msg" || die "tiny seed against big margins: rc=$rc $msg"
[ "$(tail -n +2 "$out/x.csv" | cut -d, -f3 | sort -u)" = "5e+299" ] || die "tiny seed against big margins: $(cat "$out/x.csv")"
rm -f "$out/x.csv"
# rows of very different scale overflow a factor whatever the seed's scale: row B needs 1e300 / 2e-300
printf 'origin,destination,value\nA,A,1e300\nA,B,1e-300\nB,A,1e-300\nB,B,1e-300\n' > "$out/wide_seed.csv"
msg=$("$emflow" ipf --seed "$out/wide_seed.csv" --margin "$out/big_rows.csv" --margin "$out/big_cols.csv" -o "$out/x.csv" 2>&1); rc=$?
[ $rc = 3 ] && grep -q "overflowed" <<<"$msg" || die "overflowing fit: rc=$rc $msg"
# factors that underflow to 0 wipe the table out: said so, not "every seed cell under it is zero"
printf 'origin,destination,value\nA,A,1e300\nA,B,1e-300\nB,A,1e-300\nB,B,1e300\n' > "$out/wide_seed2.csv"
printf 'origin,value\nA,1e-300\nB,2e-300\n' > "$out/tiny_rows.csv"
printf 'destination,value\nA,1.5e-300\nB,1.5e-300\n' > "$out/tiny_cols.csv"
msg=$("$emflow" ipf --seed "$out/wide_seed2.csv" --margin "$out/tiny_rows.csv" --margin "$out/tiny_cols.csv" -o "$out/x.csv" 2>&1); rc=$?
[ $rc = 3 ] && grep -q "the fit underflowed" <<<"$msg" && ! grep -q "seed cell under it is zero" <<<"$msg" ||
  die "underflowing fit: rc=$rc $msg"
[ ! -e "$out/x.csv" ] || die "an underflowing fit left an output file"
msg=$("$emflow" ipf --seed "$ex/willekens_seed.csv" --margin "$ex/willekens_rows.csv" -o /dev/null 2>&1); rc=$?
[ $rc = 5 ] && [ -c /dev/null ] || die "output onto a device: rc=$rc $msg"
[ ! -e "$out/x.csv" ] && [ ! -e "$out/x.csv.part" ] || die "a failed run left an output file"

echo "ipf_known_answers: $fail failure(s)"
[ $fail = 0 ]
