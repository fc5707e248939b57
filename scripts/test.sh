#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite.
# Usage: scripts/test.sh [BUILD_DIR] [ctest args...]
# CMAKE_ARGS="..." adds configure options; TARGETS="..." builds only those targets.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build_dir=${1:-$root/build}
shift || true
bash "$root/scripts/install-deps.sh"
# shellcheck disable=SC2086 # CMAKE_ARGS is a list of words
bash "$root/scripts/build.sh" "$build_dir" ${CMAKE_ARGS:-}
cd "$build_dir"
ctest --output-on-failure -j "$(nproc)" --timeout 300 "$@"
