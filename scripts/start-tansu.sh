#!/usr/bin/env bash
# Start a tansu broker (memory storage) in the background on 127.0.0.1:PORT.
#
# Usage: scripts/start-tansu.sh [PORT]        (default PORT: 9092)
#
# - Installs tansu first (scripts/install-tansu.sh) when it is missing.
# - Listens on and advertises tcp://127.0.0.1:PORT (tansu's own defaults are
#   0.0.0.0:9092 / localhost:9092).
# - Waits until the port accepts TCP connections (TANSU_START_TIMEOUT seconds,
#   default 15), then prints the broker's PID on stdout, e.g.
#       pid=$(scripts/start-tansu.sh 19092)
# - Pidfile: .tools/run/tansu-PORT.pid, log: .tools/run/tansu-PORT.log
#   (override the directory with TANSU_RUN_DIR).
# - If a broker started by this script is already running on PORT, prints its
#   PID and exits 0. If something else holds the port, fails.
# Stop it with scripts/stop-tansu.sh [PORT].
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TANSU="$REPO_ROOT/.tools/bin/tansu"
RUN_DIR="${TANSU_RUN_DIR:-$REPO_ROOT/.tools/run}"
PORT="${1:-9092}"
TIMEOUT="${TANSU_START_TIMEOUT:-15}"

die() { echo "start-tansu: error: $*" >&2; exit 1; }

[[ "$PORT" =~ ^[0-9]+$ ]] && (( PORT > 0 && PORT < 65536 )) || die "invalid port '$PORT' (usage: $0 [PORT])"

PIDFILE="$RUN_DIR/tansu-$PORT.pid"
LOG="$RUN_DIR/tansu-$PORT.log"

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }
# True if PID $1 is a live (non-zombie) process named tansu.
is_tansu_pid() {
    [[ -n "$1" && -r "/proc/$1/stat" ]] || return 1
    local stat
    stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
    [[ "$stat" == *"(tansu) "* && "${stat#*) }" != Z* ]]
}

if [[ -f "$PIDFILE" ]]; then
    old="$(cat "$PIDFILE" 2>/dev/null || true)"
    if is_tansu_pid "$old"; then
        echo "start-tansu: already running on 127.0.0.1:$PORT (pid $old)" >&2
        echo "$old"
        exit 0
    fi
    rm -f "$PIDFILE"
fi

port_open && die "127.0.0.1:$PORT already accepts connections (another process holds it)"

if [[ ! -x "$TANSU" ]]; then
    "$REPO_ROOT/scripts/install-tansu.sh"
fi

mkdir -p "$RUN_DIR"
: >"$LOG"
nohup "$TANSU" broker \
    --listener-url "tcp://127.0.0.1:$PORT" \
    --advertised-listener-url "tcp://127.0.0.1:$PORT" \
    --storage-engine "memory://tansu/" \
    </dev/null >>"$LOG" 2>&1 &
pid=$!
echo "$pid" >"$PIDFILE"

deadline=$(( SECONDS + TIMEOUT ))
until port_open; do
    if ! kill -0 "$pid" 2>/dev/null; then
        rm -f "$PIDFILE"
        cat "$LOG" >&2
        die "tansu exited during startup (log above, $LOG)"
    fi
    if (( SECONDS >= deadline )); then
        kill "$pid" 2>/dev/null || true
        rm -f "$PIDFILE"
        cat "$LOG" >&2
        die "tansu did not accept connections on 127.0.0.1:$PORT within ${TIMEOUT}s"
    fi
    sleep 0.1
done

echo "$pid"
