#!/usr/bin/env bash
# Configures and builds ipckit.
# Usage: scripts/build.sh [BUILD_DIR] [extra cmake args...]
# SANITIZE=address,undefined or SANITIZE=thread builds with sanitizers.
# TARGETS="a b" builds only those targets (and what they need).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build_dir=${1:-$root/build}
shift || true

launcher=()
if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi

cmake -S "$root" -B "$build_dir" -G Ninja \
    -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}" \
    -DIPCKIT_WERROR=ON \
    -DIPCKIT_SANITIZE="${SANITIZE:-}" \
    "${launcher[@]}" "$@" >/dev/null
targets=()
for t in ${TARGETS:-}; do targets+=(--target "$t"); done
cmake --build "$build_dir" -j "$(nproc)" "${targets[@]}"
