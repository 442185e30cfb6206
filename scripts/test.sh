#!/usr/bin/env bash
# Install dependencies if missing, build emflow, run the test suite (ctest).
#   scripts/test.sh                  Release build in build/, all tests
#   scripts/test.sh --sanitize       ASan+UBSan build in build-asan/, unit tests
#   scripts/test.sh [...] -- ARGS    extra ctest arguments (e.g. -- -L repro)
# Environment: EMI_WERROR=ON turns warnings into errors (CI sets it); BUILD_DIR overrides the build dir.
set -euo pipefail
cd "$(dirname "$0")/.."

sanitize=0
ctest_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --sanitize) sanitize=1 ;;
    --) shift; ctest_args+=("$@"); break ;;
    *) echo "usage: scripts/test.sh [--sanitize] [-- ctest args]" >&2; exit 2 ;;
  esac
  shift
done

scripts/install-deps.sh

jobs=$(nproc 2>/dev/null || echo 2)
if [ "$sanitize" = 1 ]; then
  build=${BUILD_DIR:-build-asan}
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Debug -DEMI_SANITIZE=ON -DEMI_WERROR="${EMI_WERROR:-OFF}"
  cmake --build "$build" -j"$jobs"
  # Open MPI's own allocations are reported as leaks by LeakSanitizer; leaks in our code show in
  # the unit tests, which do not start MPI.
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
  # LeakSanitizer's stop-the-world tracer now and then crashes ("Tracer caught signal 11") while Open
  # MPI's progress threads run, in tests that start emflow: a failed test runs once more.  A real
  # leak or memory error is deterministic and fails both times.
  ctest --test-dir "$build" --output-on-failure -j"$jobs" -L unit --repeat until-pass:2 "${ctest_args[@]}"
else
  build=${BUILD_DIR:-build}
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DEMI_WERROR="${EMI_WERROR:-OFF}"
  cmake --build "$build" -j"$jobs"
  ctest --test-dir "$build" --output-on-failure -j"$jobs" "${ctest_args[@]}"
fi
