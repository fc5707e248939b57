#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite.
# Usage: scripts/test.sh [BUILD_DIR] [ctest args...]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build_dir=${1:-$root/build}
shift || true
bash "$root/scripts/install-deps.sh"
bash "$root/scripts/build.sh" "$build_dir"
cd "$build_dir"
ctest --output-on-failure -j "$(nproc)" --timeout 300 "$@"
