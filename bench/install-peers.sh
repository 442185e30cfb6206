#!/usr/bin/env bash
# bench/install-peers.sh: install the peers the benchmarks compare emflow with, from Debian, idempotently.
#
#   bench/install-peers.sh
#
# Peers:
#   numpy    (Debian python3-numpy), run by /usr/bin/python3 (Debian's interpreter; a python3 earlier
#            on PATH, e.g. pyenv's, may lack numpy): the IPF and GLS peers (issue 5).
#   h5py, scipy (Debian python3-h5py, python3-scipy): bench/bench_estimate.py reads emflow's output
#            with h5py and computes ranks, normal and Beta quantiles (ESS, MCSE) with scipy.
#   rstan    (Debian r-cran-rstan, with R): the same measurement model as `emflow estimate`, written
#            in Stan (bench/peers/imem.stan), run by bench/bench_estimate.py (issue 6).  rstan
#            compiles the model with the system C++ compiler (g++, pulled in by r-base-dev).
# The STREAM triad is built with emflow (bench/bench_stream.c), not installed.  Nothing is fetched
# from PyPI or CRAN.  Peers named for other stages (DuckDB and pandas for linkage, JAGS) belong to
# benchmarks that do not exist yet and are not installed here.
#
# A peer that cannot be installed (not root, no apt-get, package unavailable) is reported with a note;
# bench/run.sh then skips it and says so in the results.  Exit status 0 unless the arguments are wrong.
set -u
if [ $# -gt 0 ]; then
  echo "usage: bench/install-peers.sh" >&2
  exit 2
fi

have_numpy() { [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import numpy' 2>/dev/null; }
have_h5py() { [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import h5py' 2>/dev/null; }
have_scipy() { [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import scipy.stats' 2>/dev/null; }
have_rstan() { command -v Rscript >/dev/null 2>&1 && Rscript -e 'suppressPackageStartupMessages(library(rstan))' >/dev/null 2>&1; }

# apt_install PKG...: install what Debian has of PKG...; a package apt does not know is skipped with a note.
apt_updated=0
apt_install() {
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "install-peers: note: cannot install $* (needs root and apt-get)"
    return 1
  fi
  if [ $apt_updated = 0 ]; then
    apt-get update -qq || echo "install-peers: note: apt-get update failed; trying the cached package lists"
    apt_updated=1
  fi
  local avail=()
  for p in "$@"; do
    if [ -n "$(apt-cache policy "$p" 2>/dev/null | sed -n 's/^ *Candidate: *//p' | grep -v '(none)')" ]; then
      avail+=("$p")
    else
      echo "install-peers: note: Debian package $p is unavailable here"
    fi
  done
  [ ${#avail[@]} -gt 0 ] || return 1
  echo "install-peers: installing ${avail[*]} (apt-get)"
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${avail[@]}"; then
    echo "install-peers: note: apt-get could not install ${avail[*]}"
    return 1
  fi
}

missing=()
have_numpy || missing+=(python3-numpy)
have_h5py || missing+=(python3-h5py)
have_scipy || missing+=(python3-scipy)
if [ ${#missing[@]} -gt 0 ]; then apt_install "${missing[@]}"; fi
# rstan: R's own package plus a compiler toolchain for the model (r-base-dev brings g++ and make)
if ! have_rstan; then apt_install r-cran-rstan r-base-dev; fi

if have_numpy; then
  echo "install-peers: numpy $(/usr/bin/python3 -c 'import numpy; print(numpy.__version__)') (/usr/bin/python3): available"
else
  echo "install-peers: note: numpy is unavailable to /usr/bin/python3: the numpy peers (IPF, GLS) will be skipped"
fi
if have_h5py; then
  echo "install-peers: h5py $(/usr/bin/python3 -c 'import h5py; print(h5py.__version__)') (/usr/bin/python3): available"
else
  echo "install-peers: note: h5py is unavailable to /usr/bin/python3: the estimate benchmark will be skipped"
fi
if have_scipy; then
  echo "install-peers: scipy $(/usr/bin/python3 -c 'import scipy; print(scipy.__version__)') (/usr/bin/python3): available"
else
  echo "install-peers: note: scipy is unavailable to /usr/bin/python3: the estimate benchmark will be skipped"
fi
if have_rstan; then
  echo "install-peers: rstan $(Rscript -e 'cat(as.character(packageVersion("rstan")))' 2>/dev/null) ($(command -v Rscript)): available"
else
  echo "install-peers: note: rstan is unavailable: the estimate benchmark (emflow vs Stan) will be skipped"
fi
exit 0
