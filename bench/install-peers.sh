#!/usr/bin/env bash
# bench/install-peers.sh: install the peers the benchmarks compare emflow with, from Debian, idempotently.
#
#   bench/install-peers.sh
#
# Peers (Debian packages through apt-get, npm packages through npm from the npm registry):
#   numpy    (Debian python3-numpy), run by /usr/bin/python3 (Debian's interpreter; a python3 earlier
#            on PATH, e.g. pyenv's, may lack numpy): the IPF and GLS peers (issue 5).
#   h5py, scipy (Debian python3-h5py, python3-scipy): bench/bench_estimate.py reads emflow's output
#            with h5py and computes ranks, normal and Beta quantiles (ESS, MCSE) with scipy.
#   rstan    (Debian r-cran-rstan, with R): the same measurement model as `emflow estimate`, written
#            in Stan (bench/peers/imem.stan), run by bench/bench_estimate.py (issue 6).  rstan
#            compiles the model with the system C++ compiler (g++, pulled in by r-base-dev).
#   JAGS     (Debian jags and r-cran-rjags, with R): the same model in the BUGS language
#            (bench/peers/imem.bug), run by bench/bench_estimate_jags.py through rjags (issue 9).
#   pandas   (Debian python3-pandas), run by /usr/bin/python3: the 12/16 rule of `emflow classify` in
#            pandas (bench/peers/classify_pandas.py; issue 4).
#   DuckDB   (npm @duckdb/node-api, the version pinned in bench/peers/package.json, with its prebuilt
#            engine for this platform, @duckdb/node-bindings-*), installed with `npm install --prefix
#            bench/peers` into bench/peers/node_modules (not committed), run by Node.js (Debian nodejs
#            and npm when no node is on PATH): the 12/16 rule in DuckDB SQL
#            (bench/peers/classify_duckdb.mjs; issue 4).
# The STREAM triad is built with emflow (bench/bench_stream.c), not installed.  Nothing is fetched
# from PyPI or CRAN.
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
have_pandas() { [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import pandas' 2>/dev/null; }
PEERS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/peers
DUCKDB_WANT=$(sed -n 's/.*"@duckdb\/node-api": *"\([^"]*\)".*/\1/p' "$PEERS_DIR/package.json")
duckdb_version() { # the installed @duckdb/node-api version, if node can load it from bench/peers
  (cd "$PEERS_DIR" && node -e 'require("@duckdb/node-api"); console.log(require("@duckdb/node-api/package.json").version)' 2>/dev/null)
}
have_duckdb() { command -v node >/dev/null 2>&1 && [ "$(duckdb_version)" = "$DUCKDB_WANT" ]; }
have_rjags() { command -v Rscript >/dev/null 2>&1 && Rscript -e 'suppressPackageStartupMessages(library(rjags))' >/dev/null 2>&1; }
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
have_pandas || missing+=(python3-pandas)
[ -x /usr/bin/time ] || missing+=(time) # bench_classify.py: CPU time and maximum RSS of each run
if [ ${#missing[@]} -gt 0 ]; then apt_install "${missing[@]}"; fi
# rstan: R's own package plus a compiler toolchain for the model (r-base-dev brings g++ and make)
if ! have_rstan; then apt_install r-cran-rstan r-base-dev; fi
# JAGS: the library and its R interface (r-cran-rjags depends on jags and r-cran-coda)
if ! have_rjags; then apt_install jags r-cran-rjags; fi
# DuckDB: Node.js and npm (Debian's when there is none), then the pinned npm package into bench/peers
if ! have_duckdb; then
  if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then apt_install nodejs npm; fi
  if command -v npm >/dev/null 2>&1; then
    echo "install-peers: installing @duckdb/node-api $DUCKDB_WANT into $PEERS_DIR/node_modules (npm)"
    npm install --prefix "$PEERS_DIR" --no-package-lock --no-audit --no-fund --loglevel=error ||
      echo "install-peers: note: npm could not install @duckdb/node-api $DUCKDB_WANT"
  else
    echo "install-peers: note: npm is unavailable: cannot install @duckdb/node-api"
  fi
fi

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
if have_pandas; then
  echo "install-peers: pandas $(/usr/bin/python3 -c 'import pandas; print(pandas.__version__)') (/usr/bin/python3): available"
else
  echo "install-peers: note: pandas is unavailable to /usr/bin/python3: the pandas peer of the classify benchmark will be skipped"
fi
if have_duckdb; then
  echo "install-peers: @duckdb/node-api $(duckdb_version) (node $(node --version), $PEERS_DIR/node_modules): available"
else
  echo "install-peers: note: @duckdb/node-api $DUCKDB_WANT is unavailable: the DuckDB peer of the classify benchmark will be skipped"
fi
if have_rstan; then
  echo "install-peers: rstan $(Rscript -e 'cat(as.character(packageVersion("rstan")))' 2>/dev/null) ($(command -v Rscript)): available"
else
  echo "install-peers: note: rstan is unavailable: the estimate benchmark (emflow vs Stan) will be skipped"
fi
if have_rjags; then
  echo "install-peers: JAGS $(Rscript -e 'suppressPackageStartupMessages(library(rjags)); cat(as.character(jags.version()), as.character(packageVersion("rjags")))' 2>/dev/null | sed 's/ /, rjags /') ($(command -v Rscript)): available"
else
  echo "install-peers: note: JAGS (rjags) is unavailable: the estimate benchmark against JAGS will be skipped"
fi
exit 0
