#!/usr/bin/env bash
# Runs a libFuzzer target once on each file of the given directories (libFuzzer runs the
# files it is given once each, without fuzzing) and fails if any breaks an invariant.
# Usage: tests/fuzz/replay.sh TARGET_BINARY CORPUS_DIR [CRASHES_DIR]
# The corpus must hold inputs; the crashes directory may be missing (no crash found yet).
set -euo pipefail
binary=$1
corpus=$2
crashes=${3:-}
files=()
while IFS= read -r -d '' f; do files+=("$f"); done < <(find "$corpus" -type f ! -name '.*' -print0 | sort -z)
if [ "${#files[@]}" -eq 0 ]; then
    echo "replay.sh: no inputs in $corpus" >&2
    exit 1
fi
if [ -n "$crashes" ] && [ -d "$crashes" ]; then
    while IFS= read -r -d '' f; do files+=("$f"); done < <(find "$crashes" -type f ! -name '.*' -print0 | sort -z)
fi
"$binary" -timeout=10 -rss_limit_mb=2048 "${files[@]}"
echo "replay.sh: ${#files[@]} inputs ran once each under $(basename "$binary")"
