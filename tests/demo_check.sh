#!/usr/bin/env bash
# Runs the demo (the README's main job) and checks its output for what the handout's
# programs print. Usage: tests/demo_check.sh COMMAND [ARGS...]
#   tests/demo_check.sh build/apps/ipckit/ipckit demo     (CTest: the built program)
#   tests/demo_check.sh bash scripts/demo.sh              (CI: the README's command)
# Exits non-zero, naming what is missing, when the demo fails or a line is absent.
set -uo pipefail

if (($# == 0)); then
    echo "usage: $0 COMMAND [ARGS...]  (e.g. build/apps/ipckit/ipckit demo)" >&2
    exit 2
fi

output=$(timeout 300 "$@" 2>&1)
status=$?
printf '%s\n' "$output"
echo "-- demo_check: checking the output of: $* --"

failures=0
fail() {
    echo "demo_check: FAIL: $*" >&2
    failures=$((failures + 1))
}
# A line holding this text (fixed string).
expect() {
    grep -qF -- "$1" <<<"$output" || fail "no line contains: $1"
}
# A line that is exactly this text.
expect_line() {
    grep -qxF -- "$1" <<<"$output" || fail "no line is exactly: $1"
}
# This many lines match the extended regular expression.
expect_count() {
    local count
    count=$(grep -cE -- "$2" <<<"$output")
    ((count == $1)) || fail "$count lines (not $1) match: $2"
}
# These lines appear consecutively, in this order.
expect_block() {
    local block
    block=$(printf '%s\n' "$@")
    [[ $output == *"$block"* ]] || fail "these lines are not together, in order: $*"
}

((status == 0)) || fail "the demo exited with status $status"

# Value and Array (handout part I): print(number.value), print(vector[:]).
expect "number = 3.1415927,"
expect "vector = [0, -1, -2, -3, -4, -5, -6, -7, -8, -9]"
# The manager example: print(dct), print(lst).
expect ": {1: 'one', 'two': 2}"
expect ": [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]"
# Exercise 1, the Fibonacci return: through shared memory, a manager and an ipckit::Queue.
expect_count 3 '^\[0, 1, 1, 2, 3, 5, 8, 13, 21, 34\]$'
# The manager worker pool: 10 tasks through 3 workers, every result collected once.
expect "parent collected the squares: [1, 4, 9, 16, 25, 36, 49, 64, 81, 100]"
expect "tasks done, counted under a manager Lock: 10"
expect "3 workers stopped by a manager Event, exit codes 0, 0, 0"
expect_count 10 '^  task [0-9]+ -> [0-9]+ \(worker [0-9]+\)$'
# The numbers server and client: "Input error, try again!", "received: N", "exiting.".
expect "server: Input error, try again!"
expect_block "client: received: 1" "client: received: 2" "client: received: 3" "client: exiting."
expect "server exit 0, client exit 0"
# Exercise 2: time.asctime() answers, e.g. "Thu Nov 26 09:02:14 2026", to four clients.
asctime='(Mon|Tue|Wed|Thu|Fri|Sat|Sun) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ 1-3][0-9] [0-2][0-9]:[0-5][0-9]:[0-6][0-9] [0-9]{4}'
expect_count 4 "got \"$asctime\""
expect "stop request (type 2) sent; server exit 0"
# Semaphore and shared memory: two processes, one counter.
expect "parent reads 20000 from the segment (expected 20000)"
# Pool: Python's pool.map(square, range(10)); a worker killed mid-task fails only that task.
expect_line "Pool(4).map(square, range(10)) = [0, 1, 4, 9, 16, 25, 36, 49, 64, 81]"
expect "was killed by signal 9 (SIGKILL) while it ran this task"
expect "finished the other 1000 tasks: sum of squares of range(1000) = 332833500"
expect_line "demo finished: every queue, segment and process it made is gone"

if ((failures > 0)); then
    echo "demo_check: $failures check(s) failed" >&2
    exit 1
fi
echo "demo_check: the demo printed every expected line"
