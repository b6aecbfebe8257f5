#!/usr/bin/env bash
# Start Apache Kafka (single node, KRaft) in the background on 127.0.0.1:PORT, for use by hand
# (the tests start their own brokers through scripts/kafka-broker.sh).
#
# Usage: scripts/start-kafka.sh [PORT]      (default 9092; the controller listens on PORT+1)
#
# Installs Kafka first (scripts/install-kafka.sh). Files: .tools/run/kafka-PORT/ (server.properties,
# data/, broker.log, pid). Waits until the client port accepts connections (KAFKA_START_TIMEOUT
# seconds, default 90) and prints the PID. The log directory is kept: stop and start again to
# restart on the same data; delete the folder for a fresh broker. Stop: scripts/stop-kafka.sh PORT.
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PORT="${1:-9092}"
TIMEOUT="${KAFKA_START_TIMEOUT:-90}"
die() { echo "start-kafka: error: $*" >&2; exit 1; }
[[ "$PORT" =~ ^[0-9]+$ ]] && (( PORT > 0 && PORT < 65535 )) || die "invalid port '$PORT'"
DIR="$REPO_ROOT/.tools/run/kafka-$PORT"
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if [[ -f "$DIR/pid" ]] && kill -0 "$(cat "$DIR/pid")" 2>/dev/null; then
    echo "start-kafka: already running on 127.0.0.1:$PORT" >&2
    cat "$DIR/pid"; exit 0
fi
port_open "$PORT" && die "127.0.0.1:$PORT is already taken by another process"
"$REPO_ROOT/scripts/install-kafka.sh"
mkdir -p "$DIR"
nohup "$REPO_ROOT/scripts/kafka-broker.sh" "$DIR" "$PORT" "$((PORT + 1))" </dev/null >>"$DIR/broker.log" 2>&1 &
pid=$!
echo "$pid" >"$DIR/pid"
deadline=$(( SECONDS + TIMEOUT ))
until port_open "$PORT"; do
    if ! kill -0 "$pid" 2>/dev/null; then tail -30 "$DIR/broker.log" >&2; die "Kafka exited during startup ($DIR/broker.log)"; fi
    if (( SECONDS >= deadline )); then kill "$pid" 2>/dev/null || true; tail -30 "$DIR/broker.log" >&2; die "Kafka did not listen within ${TIMEOUT}s"; fi
    sleep 0.2
done
echo "$pid"
