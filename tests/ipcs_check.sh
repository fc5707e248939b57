#!/usr/bin/env bash
# The whole run's check of System V objects and of the tests' named queues in /dev/shm
# (each test is also checked on its own, by
# tests/leak_check.cpp, which records in LOG every object the test binaries create).
# snapshot FILE LOG: records the objects that exist now, and starts an empty LOG.
# compare FILE LOG:  fails if objects exist now that were not in FILE, or if objects of
#                    FILE are gone. It removes a leftover only when LOG says that the
#                    suite created it (a test binary that crashed before its own check):
#                    objects it cannot attribute may be another program's, so they are
#                    only reported. Outside CI (CI=true), where other programs may create
#                    and remove objects meanwhile, unattributed changes are warnings.
set -euo pipefail
mode=$1 file=$2 log=${3:-/dev/null}

list() {
    for kind in msg shm sem; do
        # /proc/sysvipc/*: key is column 1, id column 2
        awk -v kind="$kind" 'NR > 1 { print kind, $2, $1 }' "/proc/sysvipc/$kind"
    done | sort
}

# The objects the suite created, as "kind id" (the log says q/s/m for msg/sem/shm).
created() {
    [[ -f $log ]] || return 0
    awk '$1 == "c" { k = $2 == "q" ? "msg" : $2 == "s" ? "sem" : "shm"; print k, $3 }' "$log" |
        sort -u
}

# Named queues (/dev/shm/ipckit.q.NAME). The tests name theirs test.RANDOM or doc.RANDOM.
named_queues() {
    find /dev/shm -maxdepth 1 -name 'ipckit.q.*' -printf '%f\n' 2>/dev/null | sort
}

case $mode in
    snapshot)
        list >"$file"
        named_queues >"$file.named"
        : >"$log"
        ;;
    compare)
        [[ -f $file ]] || { echo "no snapshot at $file" >&2; exit 1; }
        now=$(list)
        leftovers=$(comm -13 "$file" <(echo "$now") | sed '/^$/d')
        vanished=$(comm -23 "$file" <(echo "$now") | sed '/^$/d')
        status=0
        strict=false
        [[ ${CI:-} == true ]] && strict=true
        if [[ -n $leftovers ]]; then
            ours=$(join <(echo "$leftovers" | awk '{ print $1 ":" $2, $3 }' | sort) \
                        <(created | awk '{ print $1 ":" $2 }' | sort) | sed 's/:/ /' || true)
            others=$(comm -23 <(echo "$leftovers" | sort) <(echo "$ours" | sed '/^$/d' | sort) |
                         sed '/^$/d')
            if [[ -n $ours ]]; then
                echo "the tests left these System V objects behind (kind id key), removing them:" >&2
                echo "$ours" >&2
                while read -r kind id _; do
                    case $kind in
                        msg) ipcrm -q "$id" ;;
                        shm) ipcrm -m "$id" ;;
                        sem) ipcrm -s "$id" ;;
                    esac
                done <<<"$ours"
                status=1
            fi
            if [[ -n $others ]]; then
                echo "new System V objects that no test binary created (kind id key); a program" \
                     "a test started, or another user of the machine? Left alone:" >&2
                echo "$others" >&2
                $strict && status=1
            fi
        fi
        if [[ -n $vanished ]]; then
            echo "System V objects that existed before the tests are gone (kind id key):" >&2
            echo "$vanished" >&2
            $strict && status=1
        fi
        named_left=$(comm -13 "$file.named" <(named_queues) 2>/dev/null | sed '/^$/d' || true)
        # A queue whose creator (the pid at offset 40 of its header) still runs belongs to a
        # run in progress (another build directory's ctest, say): left alone.
        ours_named=$(echo "$named_left" | grep -E '^ipckit\.q\.(test|doc)\.' |
            while read -r name; do
                creator=$(od -An -t d4 -j 40 -N 4 "/dev/shm/$name" 2>/dev/null | tr -d ' ')
                [[ -n $creator && $creator -gt 0 ]] && kill -0 "$creator" 2>/dev/null && continue
                echo "$name"
            done || true)
        if [[ -n $ours_named ]]; then
            echo "the tests left these named queues behind in /dev/shm, removing them:" >&2
            echo "$ours_named" >&2
            while read -r name; do rm -f "/dev/shm/$name"; done <<<"$ours_named"
            status=1
        fi
        [[ $status == 0 && -z $leftovers && -z $vanished ]] && echo "ipcs unchanged"
        exit $status
        ;;
    *) echo "usage: $0 snapshot|compare FILE [LOG]" >&2; exit 2 ;;
esac
