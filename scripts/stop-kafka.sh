#!/usr/bin/env bash
# Stop a broker started by scripts/start-kafka.sh: SIGTERM (a clean shutdown), SIGKILL after 30 s.
# Usage: scripts/stop-kafka.sh [PORT]   (default 9092). Exits 0 when nothing runs.
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PIDFILE="$REPO_ROOT/.tools/run/kafka-${1:-9092}/pid"
[[ -f "$PIDFILE" ]] || exit 0
pid="$(cat "$PIDFILE")"
if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
fi
rm -f "$PIDFILE"
