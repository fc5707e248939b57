#!/usr/bin/env bash
# The main job: installs what is missing, builds, and runs `ipckit demo`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/scripts/install-deps.sh"
TARGETS=ipckit_app bash "$root/scripts/build.sh" "$root/build" >/dev/null
exec "$root/build/apps/ipckit/ipckit" demo "$@"
