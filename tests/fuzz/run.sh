#!/usr/bin/env bash
# Fuzzes the manager's frame decoder and request handling with libFuzzer for a bounded time.
# Usage: tests/fuzz/run.sh [SECONDS=30] [BUILD_DIR=build-fuzz]
# Exit status 0 when no crash was found; the crashing input is left in BUILD_DIR otherwise.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
seconds=${1:-30}
build=${2:-$here/../../build-fuzz}
CXX=clang++ cmake -S "$here" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build "$build"
corpus="$build/corpus"
mkdir -p "$corpus"
# Seeds: valid requests, [op, id, args...] in MessagePack frames.
printf '\x00\x00\x00\x03\x93\x02\x00' >"$corpus/create_list"
printf '\x00\x00\x00\x04\x93\x01\x00\x80' >"$corpus/create_dict"
printf '\x00\x00\x00\x03\x93\x02\x00\x00\x00\x00\x04\x93\x2a\x01\x05' >"$corpus/list_append"
printf '\x00\x00\x00\x03\x93\x01\x00\x00\x00\x00\x06\x94\x16\x01\x01\xa1x' >"$corpus/dict_set"
cd "$build"
./fuzz_frame -max_total_time="$seconds" -max_len=4096 -rss_limit_mb=2048 "$corpus"
