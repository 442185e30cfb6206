#!/usr/bin/env bash
# check_cli.sh EMFLOW TMPDIR: the CLI contract.  Each case states the expected exit status and a
# phrase the one-line message must contain.
set -u
emflow=$1
tmp=$2
fail=0
n=0

expect() { # expect STATUS PHRASE -- command...
  local want=$1 phrase=$2
  shift 3
  local out rc
  out=$("$@" 2>&1)
  rc=$?
  n=$((n + 1))
  if [ "$rc" != "$want" ]; then
    echo "FAIL: '$*' exited $rc, expected $want; output:"; echo "$out" | sed 's/^/    /'; fail=$((fail + 1)); return
  fi
  if [ -n "$phrase" ] && ! grep -qF -- "$phrase" <<<"$out"; then
    echo "FAIL: '$*' output lacks '$phrase'; output:"; echo "$out" | sed 's/^/    /'; fail=$((fail + 1))
  fi
}

expect 0 "emflow " -- "$emflow" --version
expect 0 "emflow " -- "$emflow" version
expect 0 "commands:" -- "$emflow" help
expect 0 "commands:" -- "$emflow" --help
expect 0 "usage: emflow version" -- "$emflow" help version
expect 0 "usage: emflow help" -- "$emflow" help --help
expect 2 "usage: emflow <command>" -- "$emflow"
expect 2 "unknown command 'frobnicate'" -- "$emflow" frobnicate
expect 2 "unknown option '--frob'" -- "$emflow" --frob
expect 2 "unknown option '--bogus'" -- "$emflow" version --bogus
expect 2 "unknown command 'nosuch'" -- "$emflow" help nosuch
expect 2 "takes no positional arguments" -- "$emflow" version extra
# the count of positional arguments: singular for one, "N to M" only when they differ (was "1 to 1 arguments")
expect 2 "run: expected 1 argument (CONFIG), got 0" -- "$emflow" run
expect 2 "run: give one CONFIG file (emflow run CONFIG [-o OUT.h5]): the name given is empty" -- "$emflow" run ""
expect 2 "export: expected 2 arguments (FILE DATASET), got 1" -- "$emflow" export x.h5
expect 2 "report: expected 1 to 8 arguments" -- "$emflow" report -o "$tmp/cli_report"

# --version matches git describe of the source tree when it is a git checkout
src=$(cd "$(dirname "$0")/../.." && pwd)
if git -C "$src" rev-parse --git-dir >/dev/null 2>&1; then
  want=$(git -C "$src" describe --tags --always --dirty)
  got=$("$emflow" --version)
  n=$((n + 1))
  # the build may predate the last edit (dirty flag), so compare the commit part only
  if [ "${got#emflow }" != "$want" ] && [ "${got#emflow }" != "${want%-dirty}" ] && [ "${got#emflow }" != "$want-dirty" ]; then
    echo "FAIL: --version says '$got', git describe says '$want'"; fail=$((fail + 1))
  fi
fi

# an option's bad value from a config file is named by file:line, section and key; from the command
# line by the option (classify's --data-start is checked after loading, not by the options table)
printf 'person_id,crossed_at,direction,citizenship,border_point,document,sex,birth_year\n' >"$tmp/cli_ds.csv"
printf '[classify]\n\ndata-start = 2021-13-01\n' >"$tmp/cli_ds.ini"
expect 3 "cli_ds.ini:3: [classify] data-start = '2021-13-01': expected a date YYYY-MM-DD" -- \
  "$emflow" classify "$tmp/cli_ds.csv" --config "$tmp/cli_ds.ini" -o "$tmp/cli_ds.h5"
expect 3 "--data-start '2021-13-01': expected a date YYYY-MM-DD" -- \
  "$emflow" classify "$tmp/cli_ds.csv" --data-start 2021-13-01 -o "$tmp/cli_ds.h5"

# every command's help runs and lists its options, as `help CMD`, `CMD --help` and `CMD -h` (-h was
# "unknown option '-h'" after a command although `emflow -h` worked)
expect 0 "commands:" -- "$emflow" -h
for cmd in $("$emflow" help | awk '/^commands:/{f=1;next} f&&/^  [a-z]/{print $1}'); do
  expect 0 "usage: emflow $cmd" -- "$emflow" help "$cmd"
  expect 0 "usage: emflow $cmd" -- "$emflow" "$cmd" --help
  expect 0 "usage: emflow $cmd" -- "$emflow" "$cmd" -h
  expect 0 "-h, --help" -- "$emflow" "$cmd" -h
done

echo "check_cli: $n checks, $fail failed"
[ "$fail" = 0 ]
