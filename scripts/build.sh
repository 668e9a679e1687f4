#!/usr/bin/env bash
# Configures and builds Release into build/ with Ninja, -j2 and ccache. Args: ninja targets.
set -euo pipefail
cd "$(dirname "$0")/.."
# ccache keys on paths relative to the checkout, so clones elsewhere share its cache.
export CCACHE_BASEDIR="$PWD"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
ninja -C build -j2 "$@"
