#!/usr/bin/env bash
# Installs what is missing, builds everything, runs the whole ctest suite.
# Exits non-zero on any failure. Benchmarks are not part of it (see docs/benchmarks.md).
set -euo pipefail
cd "$(dirname "$0")"
scripts/install_deps.sh
scripts/build.sh
ctest --test-dir build --output-on-failure -j2 --timeout 900
