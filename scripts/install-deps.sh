#!/usr/bin/env bash
# Installs every Debian package ipckit needs, skipping what is already there.
# Idempotent: a second run does nothing and needs no network.
set -euo pipefail

packages=(
    g++ cmake ninja-build ccache pkg-config   # build
    libgtest-dev libgmock-dev                 # tests
    libbenchmark-dev                          # benchmarks
    libboost-dev                              # benchmark only: Boost.Interprocess baseline
    libcli11-dev                              # command lines of the ipckit program
    libmsgpack-cxx-dev                        # manager wire format
    libssl-dev                                # manager HMAC-SHA256 authentication
    clang libclang-rt-14-dev                  # libFuzzer target for the frame decoder
    python3 python3-sysv-ipc                  # interop tests and Python baselines
    procps util-linux                         # ps, script (pty tests)
    clang-format-16                           # scripts/format.sh (requires clauses)
    dpkg-dev                                  # cpack -G DEB (dpkg-shlibdeps)
    libhiredis-dev                            # the manager's Redis back end (redis:// addresses)
    redis-server redis-tools                  # tests/test_redis: real servers and a cluster
    python3-redis                             # benchmark only: Python's redis client baseline
)

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done

if ((${#missing[@]} == 0)); then
    exit 0
fi

echo "install-deps: installing ${missing[*]}" >&2
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
