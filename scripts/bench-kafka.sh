#!/usr/bin/env bash
# End-to-end throughput of `govstream run`: records/s from raw topics to the aggregates topic,
# on librdkafka's in-process mock cluster (the demo) and on a real broker (Apache Kafka, single
# node, started here on a free port with scripts/kafka-broker.sh).
#
#   scripts/bench-kafka.sh            # 200,000 records
#   RECORDS=1000000 scripts/bench-kafka.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
n=${RECORDS:-200000}
work=$root/target/bench-kafka
mkdir -p "$work"
cargo build --release -q -p govstream-cli --bin govstream
bin=$root/target/release/govstream
scripts/install-kafka.sh
scripts/install-pyclient.sh

echo "== mock cluster (govstream demo, $n records)"
GOVSTREAM_LOG=error "$bin" demo --records "$n" --status-every 0 --metrics-listen "" >"$work/demo.txt"
# The demo stops after 4 s without activity; that idle time is not work.
ran=$(sed -n 's/.*pipeline ran \([0-9.]*\)s.*/\1/p' "$work/demo.txt")
consumed=$(awk '$1=="bdc"||$1=="hotline"||$1=="onenet" {s+=$2} END {print s}' "$work/demo.txt")
echo "consumed $consumed records; pipeline busy $(awk -v r="$ran" 'BEGIN {printf "%.1f", r-4}')s = $(awk -v c="$consumed" -v r="$ran" 'BEGIN {printf "%.0f", c/(r-4)}') records/s (raw → aggregates, producer running alongside)"

echo "== real broker (Apache Kafka, one node; $n records produced first by kafka-python)"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
rm -rf "$work/kafka"
scripts/kafka-broker.sh "$work/kafka" "$port" "$cport" >"$work/kafka.log" 2>&1 &
broker=$!
trap 'kill $broker 2>/dev/null || true' EXIT
until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do sleep 0.2; done
"$bin" generate --records "$n" --seed 2020 --out "$work/gen" >/dev/null
for s in hotline:hotline.ndjson onenet:onenet.ndjson bdc:bdc.txt; do
  .tools/pyvenv/bin/python tests/tools/kafka_client.py produce "127.0.0.1:$port" "raw.${s%%:*}" "$work/gen/${s#*:}" >/dev/null
done
cat >"$work/config.toml" <<TOML
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
listen = ""
TOML
start=$(date +%s.%N)
GOVSTREAM_LOG=error "$bin" run --config "$work/config.toml" --idle-exit 5 --status-every 1 >"$work/run.txt"
end=$(date +%s.%N)
# Busy time: from the first to the last status line that saw progress.
consumed=$(awk '$1=="bdc"||$1=="hotline"||$1=="onenet" {s+=$2} END {print s}' "$work/run.txt")
first=$(awk '/consumed/ && $3>0 {print $1+0; exit}' "$work/run.txt")
last=$(awk '/aggregates/ {a=$0} END {print a}' "$work/run.txt" | awk '{print $1+0}')
busy=$(awk -v s="$start" -v e="$end" 'BEGIN {printf "%.1f", e-s-5}')
echo "consumed $consumed records; wall $(awk -v s="$start" -v e="$end" 'BEGIN {printf "%.1f", e-s}')s including group joins and 5 s idle exit; busy ~${busy}s = $(awk -v c="$consumed" -v b="$busy" 'BEGIN {printf "%.0f", c/b}') records/s"
