#!/usr/bin/env bash
# Installs Keel's build dependencies from Debian 12 packages, if missing; with --test,
# also what the tests need (chromium for the pages, Node.js for the browser driver and
# the OpenAPI lint).
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config
  libboost1.81-dev libboost-json1.81-dev
  libsqlite3-dev libpqxx-dev libprotobuf-dev protobuf-compiler
  libspdlog-dev libcli11-dev libgtest-dev libgmock-dev libbenchmark-dev
  libssl-dev libsodium-dev
  postgresql-15
  clang-14 libclang-rt-14-dev
)
if [ "${1:-}" = "--test" ]; then
  PACKAGES+=(chromium)
  command -v node >/dev/null && command -v npm >/dev/null || PACKAGES+=(nodejs npm)
fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing: ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "error: need root or sudo to install ${missing[*]}" >&2; exit 1; }
  SUDO="sudo"
fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
