#!/usr/bin/env bash
# snapshot FILE: records the ids of every System V object.
# compare FILE:  fails if objects exist now that were not in FILE, and removes them,
#                so a failed test never leaves anything behind in `ipcs`.
set -euo pipefail
mode=$1 file=$2

list() {
    for kind in msg shm sem; do
        # /proc/sysvipc/*: key is column 1, id column 2
        awk -v kind="$kind" 'NR > 1 { print kind, $2, $1 }' "/proc/sysvipc/$kind"
    done | sort
}

case $mode in
    snapshot) list >"$file" ;;
    compare)
        [[ -f $file ]] || { echo "no snapshot at $file" >&2; exit 1; }
        leftovers=$(comm -13 "$file" <(list))
        if [[ -z $leftovers ]]; then
            echo "ipcs unchanged"
            exit 0
        fi
        echo "the tests left these System V objects behind (kind id key), removing them:" >&2
        echo "$leftovers" >&2
        while read -r kind id _; do
            case $kind in
                msg) ipcrm -q "$id" ;;
                shm) ipcrm -m "$id" ;;
                sem) ipcrm -s "$id" ;;
            esac
        done <<<"$leftovers"
        exit 1
        ;;
    *) echo "usage: $0 snapshot|compare FILE" >&2; exit 2 ;;
esac
