#!/usr/bin/env bash
# Fuzzes the manager with libFuzzer for a bounded time: the frame decoder and the store
# (fuzz_frame), the server's read path with the handshake (fuzz_server), and the client's
# handshake against a hostile server (fuzz_handshake), the pickle decoder (fuzz_pickle) and
# multiprocessing.connection's authentication (fuzz_python_handshake).
# Usage: tests/fuzz/run.sh [SECONDS=30] [BUILD_DIR=build-fuzz]
# SECONDS is the total fuzzing time, split evenly over the targets. Before fuzzing, every
# input of the committed corpora (tests/fuzz/corpus, written by make_seeds.cpp) and of past
# crashes (tests/fuzz/crashes/TARGET, if any) is replayed once (ctest in BUILD_DIR).
# Fuzzing works on a copy of the corpus in BUILD_DIR; the repository is not written to.
# Exit status 0 when no input broke an invariant; otherwise the input is left in
# BUILD_DIR/artifacts/TARGET/ (add it to tests/fuzz/crashes/TARGET/ with the fix, so that
# every later run replays it).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$(dirname "$here")")
seconds=${1:-30}
build=${2:-$root/build-fuzz}
targets=(frame server handshake pickle python_handshake)
per_target=$((seconds / ${#targets[@]}))
[ "$per_target" -ge 1 ] || per_target=1

CXX=clang++ cmake -S "$here" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build "$build" -j 2

echo "== replaying the corpora and past crashes =="
(cd "$build" && ctest --output-on-failure -j 2)

status=0
for target in "${targets[@]}"; do
    echo "== fuzzing $target for ${per_target}s =="
    work="$build/corpus/$target"
    artifacts="$build/artifacts/$target"
    mkdir -p "$work" "$artifacts"
    cp -n "$here/corpus/$target/"* "$work/"
    # -timeout: an input that takes over 10 s is a hang; -max_len: bigger than every seed.
    if ! "$build/fuzz_$target" -max_total_time="$per_target" -timeout=10 -max_len=4096 \
        -rss_limit_mb=2048 -dict="$here/manager.dict" -artifact_prefix="$artifacts/" \
        -print_final_stats=1 "$work" 2>"$build/fuzz_$target.log"; then
        tail -n 60 "$build/fuzz_$target.log" >&2
        echo "fuzz_$target broke an invariant; the input is in $artifacts/" >&2
        status=1
    else
        grep -E "stat::number_of_executed_units|stat::new_units_added" "$build/fuzz_$target.log" |
            sed "s/^/fuzz_$target: /"
    fi
done
exit $status
