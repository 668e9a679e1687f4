#!/usr/bin/env bash
# Configures and builds with Ninja, -j2 and ccache.
#   scripts/build.sh [TARGET...]        Release into build/
#   scripts/build.sh asan [TARGET...]   clang, ASan+UBSan and the fuzz targets into build-asan/
#   scripts/build.sh tsan [TARGET...]   clang, TSan into build-tsan/
set -euo pipefail
cd "$(dirname "$0")/.."
# ccache keys on paths relative to the checkout (and not on the build dir's path), so
# clones elsewhere share its cache.
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=1
case "${1:-}" in
asan)
  shift
  cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_COMPILER=clang++-14 -DKEEL_SANITIZE=address >/dev/null
  exec ninja -C build-asan -j2 "$@" ;;
tsan)
  shift
  cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_COMPILER=clang++-14 -DKEEL_SANITIZE=thread >/dev/null
  exec ninja -C build-tsan -j2 "$@" ;;
esac
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
ninja -C build -j2 "$@"
