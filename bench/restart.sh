#!/usr/bin/env bash
# Proves zero-drop restarts of hello-server under wrk load on loopback (a benchmark-style
# demonstration, not a test): the listening socket is kept by a supervisor and handed to each
# new process (socket activation); the old process drains. See docs/deployment.md.
#   bench/restart.sh [SECONDS=12] [RESTARTS=3] [CONNS=64]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
command -v wrk >/dev/null || { echo "bench/restart.sh: wrk is missing (scripts/deps.sh bench)" >&2; exit 1; }
make -s -C "$ROOT" build >/dev/null
exec python3 "$ROOT/bench/restart_supervisor.py" "$ROOT/.build/release/hello-server" "$@"
