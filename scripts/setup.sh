#!/usr/bin/env bash
# setup.sh — installs the Debian packages facefield's build, tests and benches need.
# Idempotent and silent when everything is already there; run by `make`, `make test`, `make bench`.
set -euo pipefail
pkgs=(cmake g++ make libeigen3-dev libstb-dev doctest-dev zlib1g-dev nlohmann-json3-dev libdlib-dev libdlib-data)
pkgs+=(libopenmpi-dev openmpi-bin)  # data-parallel training: `mpirun -np N build/train` (docs/distributed.md)
if [ "${FF_SETUP_BENCH:-0}" = 1 ]; then
  pkgs+=(python3 python3-torch python3-numpy libopenblas0-pthread)
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "[setup] installing: ${missing[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
