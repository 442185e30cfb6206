#!/usr/bin/env bash
# bench/install-peers.sh: install the peers the benchmarks compare emflow with, from Debian, idempotently.
#
#   bench/install-peers.sh
#
# Peers of this stage (issue 5, IPF and GLS): numpy (Debian python3-numpy), run by /usr/bin/python3
# (Debian's interpreter; a python3 earlier on PATH, e.g. pyenv's, may lack numpy).  The STREAM triad is
# built with emflow (bench/bench_stream.c), not installed.  Nothing is fetched from PyPI.
# Peers named for other stages (DuckDB and pandas for linkage, rstan and JAGS for the Bayesian model)
# belong to benchmarks that do not exist yet and are not installed here.
#
# A peer that cannot be installed (not root, no apt-get, package unavailable) is reported with a note;
# bench/run.sh then skips it and says so in the results.  Exit status 0 unless the arguments are wrong.
set -u
if [ $# -gt 0 ]; then
  echo "usage: bench/install-peers.sh" >&2
  exit 2
fi

have_numpy() { [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import numpy' 2>/dev/null; }

missing=()
have_numpy || missing+=(python3-numpy)

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "install-peers: installing ${missing[*]} (apt-get)"
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"; }; then
      echo "install-peers: note: apt-get could not install ${missing[*]}"
    fi
  else
    echo "install-peers: note: cannot install ${missing[*]} (needs root and apt-get)"
  fi
fi

if have_numpy; then
  echo "install-peers: numpy $(/usr/bin/python3 -c 'import numpy; print(numpy.__version__)') (/usr/bin/python3): available"
else
  echo "install-peers: note: numpy is unavailable to /usr/bin/python3: the numpy peers (IPF, GLS) will be skipped"
fi
exit 0
