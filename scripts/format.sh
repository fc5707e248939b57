#!/usr/bin/env bash
# Formats every C++ file tracked by git (or the files given) with clang-format 16 and the
# repository's .clang-format. clang-format 14, Debian 12's default, cannot read that file
# (RequiresClausePosition) and lays C++20 requires clauses out wrongly.
# Usage: scripts/format.sh [--check] [FILE...]
#   --check  changes nothing: lists the files that are not formatted, exits 1 if any.
# CLANG_FORMAT=path overrides the binary (it must be version 16 or newer).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
clang_format=${CLANG_FORMAT:-clang-format-16}

check=false
if [[ ${1:-} == --check ]]; then
    check=true
    shift
fi
for arg in "$@"; do
    if [[ $arg == -* ]]; then
        echo "usage: scripts/format.sh [--check] [FILE...] (unknown option '$arg')" >&2
        exit 2
    fi
done
if ! command -v "$clang_format" >/dev/null; then
    echo "format.sh: $clang_format not found: run scripts/install-deps.sh" >&2
    exit 2
fi

files=("$@")
if ((${#files[@]} == 0)); then
    cd "$root"
    mapfile -t files < <(git ls-files -- '*.cpp' '*.hpp' '*.h' '*.cc')
fi

if ! $check; then
    "$clang_format" -i -- "${files[@]}"
    exit 0
fi
unformatted=()
for f in "${files[@]}"; do
    if ! "$clang_format" -- "$f" | cmp -s - "$f"; then unformatted+=("$f"); fi
done
if ((${#unformatted[@]} > 0)); then
    printf 'not formatted: %s\n' "${unformatted[@]}" >&2
    echo "format.sh: run scripts/format.sh to format them" >&2
    exit 1
fi
