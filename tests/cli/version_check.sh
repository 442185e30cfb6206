#!/usr/bin/env bash
# version_check.sh SRC WORKDIR CMAKE [C_COMPILER]: where emflow's version comes from (scripts/cmake/EmiVersion.cmake).
#
# The right answers come from git itself: a tree exported with `git archive` must build the version that
# `git describe --tags --always` gives at the exported commit, because .gitattributes marks VERSION
# export-subst and git archive writes the commit's describe and abbreviated hash into it.
#   A. The mechanism, on scratch repositories made here (the project's repository is only read): git
#      archive expands VERSION; EmiVersion.cmake (cmake -P) reads it, without tags (the abbreviated hash)
#      and with a tag (v9.9.9-style describe); an explicit EMI_VERSION and the EMFLOW_VERSION environment
#      variable win over VERSION; a plain copy (VERSION unexpanded, no .git) gives "<version>-unknown"; an
#      export unpacked inside another repository takes its own VERSION, not that repository's describe;
#      in a checkout git describe wins over an explicit version (with a warning); a version that cannot be
#      a C string literal's content is refused.
#   B. The whole build's logic: `git archive HEAD` of SRC (when HEAD already holds VERSION; before that
#      commit, HEAD's export with the working tree's version files laid over it, committed to a scratch
#      repository and exported again) is configured with CMake and its emi_version_header target built:
#      the header's EMI_VERSION_STRING (what `emflow --version` prints and the outputs record) must equal
#      git describe of the exported commit.  The emflow binary itself is not built (minutes): the header is
#      what it is compiled with.
# Exit 77 (ctest: skipped) without git or when SRC is not a git checkout.
set -u
src=$1 work=$2 cmake=$3 cc=${4:-}
command -v git >/dev/null 2>&1 || { echo "version_check: git not found: skipped"; exit 77; }
git -C "$src" rev-parse --git-dir >/dev/null 2>&1 || { echo "version_check: $src is not a git checkout: skipped"; exit 77; }
tmp=$work/version_check
rm -rf "$tmp"
mkdir -p "$tmp"
n=0 fail=0
check() { # check NAME GOT WANT
  n=$((n + 1))
  if [ "$2" != "$3" ]; then echo "FAIL: $1: got '$2', expected '$3'"; fail=$((fail + 1)); else echo "ok: $1: $2"; fi
}
g() { git -c user.name=version-check -c user.email=version-check@invalid -c init.defaultBranch=main \
        -c advice.detachedHead=false "$@"; }
stamp() { # stamp SRC [cmake -D args...]: the version EmiVersion.cmake writes for SRC, then its source
  local s=$1; shift
  rm -f "$tmp/h"
  "$cmake" -DSRC="$s" -DOUT="$tmp/h" -DFALLBACK=0.1.0 "$@" -P "$src/scripts/cmake/EmiVersion.cmake" \
    >"$tmp/stamp.log" 2>&1 || { echo "(cmake -P failed: $(tr '\n' ' ' <"$tmp/stamp.log"))"; return 0; }
  sed -n 's/^#define EMI_VERSION_STRING "\(.*\)"$/\1/p' "$tmp/h"
}
stamp_source() { sed -n 's/^#define EMI_VERSION_SOURCE "\(.*\)"$/\1/p' "$tmp/h"; }

# ---- A. the mechanism on a scratch repository
repo=$tmp/repo
mkdir -p "$repo/scripts/cmake"
cp "$src/.gitattributes" "$repo/" && cp "$src/scripts/cmake/VERSION" "$repo/scripts/cmake/"
cp "$src/scripts/cmake/EmiVersion.cmake" "$repo/scripts/cmake/"
echo one >"$repo/file.txt"
g -C "$repo" init -q && g -C "$repo" add -A && g -C "$repo" commit -q -m one || { echo "FAIL: scratch repository"; exit 1; }
want1=$(g -C "$repo" describe --tags --always)
full1=$(g -C "$repo" rev-parse HEAD)
mkdir "$tmp/export1"
g -C "$repo" archive HEAD | tar -x -C "$tmp/export1"
check "git archive expands VERSION (no placeholder left)" "$(grep -c 'Format:' "$tmp/export1/scripts/cmake/VERSION")" "0"
check "VERSION commit line = rev-parse HEAD" "$(sed -n 's/^commit: //p' "$tmp/export1/scripts/cmake/VERSION")" "$full1"
check "archive without tags: version = git describe --always" "$(stamp "$tmp/export1")" "$want1"
check "archive: version source" "$(stamp_source)" "VERSION file (git archive)"
check "EMI_VERSION wins over VERSION" "$(stamp "$tmp/export1" -DEXPLICIT=1.2.3-rc1)" "1.2.3-rc1"
check "EMI_VERSION: version source" "$(stamp_source)" "EMI_VERSION"
check "EMFLOW_VERSION (environment) wins over VERSION" "$(EMFLOW_VERSION=4.5.6 stamp "$tmp/export1")" "4.5.6"
check "EMI_VERSION wins over EMFLOW_VERSION" "$(EMFLOW_VERSION=4.5.6 stamp "$tmp/export1" -DEXPLICIT=7.8.9)" "7.8.9"
mkdir -p "$tmp/copy/scripts/cmake"
cp "$repo/scripts/cmake/VERSION" "$tmp/copy/scripts/cmake/"
check "plain copy (VERSION unexpanded, no .git): fallback" "$(stamp "$tmp/copy")" "0.1.0-unknown"
out=$(stamp "$tmp/export1" '-DEXPLICIT=1.0"x')
check "refuses a version with a quote, saying why" \
  "$(case $out in "(cmake -P failed"*"is not a version"*) echo refused ;; *) echo "$out" ;; esac)" refused

echo two >"$repo/file.txt"
g -C "$repo" commit -q -am two && g -C "$repo" tag -a v9.9.9 -m v9.9.9 || { echo "FAIL: scratch tag"; exit 1; }
echo three >"$repo/file.txt"
g -C "$repo" commit -q -am three
want3=$(g -C "$repo" describe --tags --always) # v9.9.9-1-g<hash>
mkdir "$tmp/export3"
g -C "$repo" archive HEAD | tar -x -C "$tmp/export3"
check "archive with a tag: version = git describe --tags" "$(stamp "$tmp/export3")" "$want3"
check "checkout: git describe" "$(stamp "$repo")" "$want3"
check "checkout: git describe wins over EMI_VERSION" "$(stamp "$repo" -DEXPLICIT=1.2.3)" "$want3"
grep -q "EMI_VERSION = '1.2.3' ignored" "$tmp/stamp.log" || { echo "FAIL: no warning for the ignored EMI_VERSION"; fail=$((fail + 1)); }
mkdir "$repo/inner"
g -C "$repo" archive "$full1" | tar -x -C "$repo/inner"
check "export inside another repository: its own VERSION" "$(stamp "$repo/inner")" "$want1"

# ---- B. the whole CMake logic on an export of the project's HEAD
tree=$tmp/tree
mkdir "$tree"
if g -C "$src" cat-file -e HEAD:scripts/cmake/VERSION 2>/dev/null && g -C "$src" show HEAD:.gitattributes 2>/dev/null | grep -q '^scripts/cmake/VERSION export-subst'; then
  want=$(g -C "$src" describe --tags --always HEAD)
  g -C "$src" archive HEAD | tar -x -C "$tree"
  what="git archive HEAD"
else
  # HEAD predates the VERSION file: export HEAD, lay the working tree's version files over it, commit
  # that to a scratch repository and export it again
  g -C "$src" archive HEAD | tar -x -C "$tmp/tree"
  for f in scripts/cmake/VERSION .gitattributes CMakeLists.txt scripts/cmake/EmiVersion.cmake; do cp "$src/$f" "$tree/$f"; done
  g -C "$tree" init -q && g -C "$tree" add -A && g -C "$tree" commit -q -m scratch
  want=$(g -C "$tree" describe --tags --always)
  rm -rf "$tmp/tree2" && mkdir "$tmp/tree2"
  g -C "$tree" archive HEAD | tar -x -C "$tmp/tree2"
  tree=$tmp/tree2
  what="git archive of HEAD + the working tree's version files (HEAD has no VERSION yet)"
fi
[ ! -e "$tree/.git" ] || { echo "FAIL: the export has a .git"; exit 1; }
ccarg=()
[ -n "$cc" ] && ccarg=(-DCMAKE_C_COMPILER="$cc")
if "$cmake" -S "$tree" -B "$tmp/build" -DBUILD_TESTING=OFF "${ccarg[@]}" >"$tmp/configure.log" 2>&1 &&
   "$cmake" --build "$tmp/build" --target emi_version_header >"$tmp/build.log" 2>&1; then
  got=$(sed -n 's/^#define EMI_VERSION_STRING "\(.*\)"$/\1/p' "$tmp/build/generated/emi_version.h")
  check "configure + build of $what: EMI_VERSION_STRING = git describe" "$got" "$want"
  check "  its source" "$(sed -n 's/^#define EMI_VERSION_SOURCE "\(.*\)"$/\1/p' "$tmp/build/generated/emi_version.h")" \
    "VERSION file (git archive)"
else
  n=$((n + 1)); fail=$((fail + 1))
  echo "FAIL: configure/build of the export failed:"; tail -20 "$tmp/configure.log" "$tmp/build.log" 2>/dev/null
fi

echo "version_check: $n checks, $fail failed"
[ "$fail" = 0 ] && rm -rf "$tmp"
[ "$fail" = 0 ]
