#!/usr/bin/env bash
# Stop tansu brokers started by scripts/start-tansu.sh.
#
# Usage: scripts/stop-tansu.sh [PORT]
#   With PORT: stops the broker whose pidfile is .tools/run/tansu-PORT.pid.
#   Without:   stops every broker that has a pidfile in .tools/run/.
# Sends SIGTERM, waits up to 5 s, then SIGKILL. Only PIDs from the pidfiles are
# signalled, and only if that PID is still a `tansu` process. Exits 0 when
# nothing is running (stale pidfiles are removed).
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUN_DIR="${TANSU_RUN_DIR:-$REPO_ROOT/.tools/run}"

# True if PID $1 is a live (non-zombie) process named tansu.
is_tansu_pid() {
    [[ -n "$1" && -r "/proc/$1/stat" ]] || return 1
    local stat
    stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
    [[ "$stat" == *"(tansu) "* && "${stat#*) }" != Z* ]]
}

stop_one() {
    local pidfile="$1" pid i
    pid="$(cat "$pidfile" 2>/dev/null || true)"
    if is_tansu_pid "$pid"; then
        kill -TERM "$pid" 2>/dev/null || true
        for (( i = 0; i < 50; i++ )); do
            is_tansu_pid "$pid" || break
            sleep 0.1
        done
        if is_tansu_pid "$pid"; then
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    rm -f "$pidfile"
}

if [[ $# -ge 1 ]]; then
    [[ "$1" =~ ^[0-9]+$ ]] || { echo "stop-tansu: error: invalid port '$1' (usage: $0 [PORT])" >&2; exit 1; }
    stop_one "$RUN_DIR/tansu-$1.pid"
else
    shopt -s nullglob
    for f in "$RUN_DIR"/tansu-*.pid; do
        stop_one "$f"
    done
fi
