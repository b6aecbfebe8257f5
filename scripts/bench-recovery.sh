#!/usr/bin/env bash
# Recovery time against the length of history (docs/checkpoints.md): for each history length,
# a single-node Apache Kafka (started here) gets that many generated raw records, one
# `govstream run` processes them and stops (writing its checkpoints), then a tail of TAIL more
# records arrives and the pipeline restarts: with checkpoints (each engine partition restores
# and reads the tail only), then once more with `[checkpoint] enabled = false` (every engine
# partition rebuilds from offset 0, the behaviour before checkpoints). For each restart:
# seconds from process start until /readyz answers 200 (ready = caught up), and normalized
# records the engine stage read.
#
#   scripts/bench-recovery.sh                       # 1 M and 5 M records
#   HISTORIES="200000" scripts/bench-recovery.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
histories=${HISTORIES:-"1000000 5000000"}
tail_n=${TAIL:-100000}
work=$root/target/bench-recovery
cargo build --release -q -p govstream-cli --bin govstream
bin=$root/target/release/govstream
scripts/install-kafka.sh >/dev/null
scripts/install-pyclient.sh >/dev/null
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Runs the pipeline until idle; prints "<seconds to ready> <engine records read>".
run_once() {
  local config=$1 mport=$2 out=$3
  local start ready=""
  start=$(date +%s.%N)
  GOVSTREAM_LOG=warn "$bin" run --config "$config" --idle-exit 5 --status-every 0 >"$out" 2>"$out.err" &
  local pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    if [ -z "$ready" ] && curl -sf "http://127.0.0.1:$mport/readyz" >/dev/null 2>&1; then
      ready=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN {printf "%.1f", e-s}')
    fi
    sleep 0.1
  done
  wait "$pid"
  local read busy
  read=$(sed -n 's/^engine records read \([0-9]*\);.*/\1/p' "$out")
  # Caught up: the run's wall time without the 5 s of idleness that end it.
  busy=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN {printf "%.1f", e-s-5}')
  echo "${ready:-?} $busy $read"
}

echo "== machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
printf '| history (raw records) | normalized records | restart | seconds to /readyz | seconds to caught up | records read by the engine |\n'
printf '|---:|---:|---|---:|---:|---:|\n'
for n in $histories; do
  rm -rf "$work"; mkdir -p "$work"
  port=$(free_port); cport=$(free_port); mport=$(free_port)
  scripts/kafka-broker.sh "$work/kafka" "$port" "$cport" >"$work/kafka.log" 2>&1 &
  broker=$!
  trap 'kill $broker 2>/dev/null || true' EXIT
  until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do sleep 0.2; done
  "$bin" generate --records "$n" --seed 2020 --days $(( n / 10000 )) --out "$work/gen" >/dev/null
  for s in hotline:hotline.ndjson onenet:onenet.ndjson bdc:bdc.txt; do
    .tools/pyvenv/bin/python tests/tools/kafka_client.py produce "127.0.0.1:$port" "raw.${s%%:*}" "$work/gen/${s#*:}" >/dev/null
  done
  for mode in on off; do
    enabled=true; [ "$mode" = off ] && enabled=false
    cat >"$work/config-$mode.toml" <<TOML
[kafka]
brokers = "127.0.0.1:$port"
[topics]
partitions = 3
[[sources]]
name = "hotline"
topic = "raw.hotline"
[[sources]]
name = "onenet"
topic = "raw.onenet"
[[sources]]
name = "bdc"
topic = "raw.bdc"
[metrics]
listen = "127.0.0.1:$mport"
[checkpoint]
enabled = $enabled
TOML
  done
  read -r _ _ first < <(run_once "$work/config-on.toml" "$mport" "$work/first.txt")
  "$bin" generate --records "$tail_n" --seed 7 --start 2020-03-01 --days 10 --out "$work/tail" >/dev/null
  for s in hotline:hotline.ndjson onenet:onenet.ndjson bdc:bdc.txt; do
    .tools/pyvenv/bin/python tests/tools/kafka_client.py produce "127.0.0.1:$port" "raw.${s%%:*}" "$work/tail/${s#*:}" >/dev/null
  done
  read -r t b r < <(run_once "$work/config-on.toml" "$mport" "$work/with.txt")
  normalized=$(.tools/pyvenv/bin/python tests/tools/kafka_client.py count "127.0.0.1:$port" govstream.normalized.v1 5)
  printf '| %s + %s tail | %s | with checkpoints | %s | %s | %s |\n' "$n" "$tail_n" "$normalized" "$t" "$b" "$r"
  read -r t b r < <(run_once "$work/config-off.toml" "$mport" "$work/without.txt")
  printf '| %s + %s tail | %s | without (rebuild from offset 0) | %s | %s | %s |\n' "$n" "$tail_n" "$normalized" "$t" "$b" "$r"
  kill "$broker" 2>/dev/null || true
  wait "$broker" 2>/dev/null || true
  trap - EXIT
  # The broker's log and the generated files of 5 M records take several GiB: keep only the
  # run logs and configs.
  rm -rf "$work/kafka" "$work/gen" "$work/tail"
done
