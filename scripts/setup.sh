#!/usr/bin/env bash
# setup.sh — installs the Debian packages facefield's build, tests and benches need.
# Idempotent and silent when everything is already there; run by `make`, `make test`, `make bench`.
#   python3 + python3-numpy   the Python module's test (ctest python/module)
#   emscripten                the browser viewer's WebAssembly runtime (viewer/, target viewer)
#   chromium + puppeteer-core the viewer's browser test (ctest viewer/browser); puppeteer-core from npm into
#                             viewer/node_modules (where node and npm are present)
set -euo pipefail
pkgs=(cmake g++ make libeigen3-dev libstb-dev doctest-dev zlib1g-dev nlohmann-json3-dev libdlib-dev libdlib-data
      python3 python3-numpy emscripten chromium)
pkgs+=(libopenmpi-dev openmpi-bin)  # data-parallel training: `mpirun -np N build/train` (docs/distributed.md)
if [ "${FF_SETUP_BENCH:-0}" = 1 ]; then
  pkgs+=(python3-torch libopenblas0-pthread)
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
root="$(cd "$(dirname "$0")/.." && pwd)"
if [ ! -d "$root/viewer/node_modules/puppeteer-core" ] && command -v npm >/dev/null; then
  echo "[setup] installing puppeteer-core (npm) into viewer/node_modules"
  npm install --prefix "$root/viewer" --no-save --no-audit --no-fund --silent puppeteer-core >/dev/null
fi
