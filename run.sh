#!/usr/bin/env bash
# Installs what is missing, builds Release into build/, and runs Keel on SQLite
# (data in ./keel-data) with all workers in one process. Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")"
scripts/install_deps.sh
scripts/build.sh keel
exec build/keel serve --db "${KEEL_DB:-sqlite:./keel-data}" "$@"
