#!/usr/bin/env bash
# Install the Debian packages emflow builds and tests with.
# Idempotent: when every package is present it only runs dpkg-query and returns.
# Usage: scripts/install-deps.sh [--check]   (--check: report what is missing, install nothing)
set -euo pipefail

PKGS=(
  build-essential cmake pkg-config git
  libopenmpi-dev openmpi-bin
  libhdf5-openmpi-dev hdf5-tools
  libopenblas0-openmp libopenblas-openmp-dev liblapacke-dev
  libinih-dev libsodium-dev
  python3-numpy python3-h5py python3-matplotlib
  python3-xarray python3-h5netcdf   # h5_xarray: xarray opens the output through h5netcdf (no netCDF-C)
  r-base-core r-cran-hdf5r          # h5_hdf5r: R reads the labelled arrays
  chromium   # the report test opens emflow report's page in headless Chromium
)

missing=()
for p in "${PKGS[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PKGS[@]} packages present"
  exit 0
fi

if [ "${1:-}" = "--check" ]; then
  echo "install-deps: missing: ${missing[*]}"
  exit 1
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  SUDO="sudo"
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "install-deps: done"
