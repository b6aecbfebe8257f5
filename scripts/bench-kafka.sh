#!/usr/bin/env bash
# Kafka throughput, measured in one run on the broker the tests use (Apache Kafka, one node,
# started here on free ports with scripts/kafka-broker.sh):
#
#   1. the broker's limits on this machine: a plain librdkafka producer writing the raw records
#      (kafka-baseline produce) and a plain consumer that only counts them (kafka-baseline
#      consume);
#   2. govstream end to end, raw topics → aggregates topic, with 1, 2 and 3 instances (fresh
#      groups and output topics each time), checked equal to `govstream replay`.
#
# End-to-end time runs from the start of the instances to the broker timestamp of the last
# aggregate record written (group joins included; the idle wait before exiting is not).
#
#   scripts/bench-kafka.sh                                  # 1,000,000 records, 1 2 3 instances
#   RECORDS=200000 INSTANCES="1" scripts/bench-kafka.sh
#   GOVSTREAM=path/to/other/govstream scripts/bench-kafka.sh   # A/B against another build
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
n=${RECORDS:-1000000}
instances=${INSTANCES:-"1 2 3"}
partitions=${PARTITIONS:-6}
work=$root/target/bench-kafka
rm -rf "$work"
mkdir -p "$work"
cargo build --release -q -p govstream-cli --bin govstream
cargo build --release -q -p govstream-pipeline --bin kafka-baseline
bin=${GOVSTREAM:-$root/target/release/govstream}
base=$root/target/release/kafka-baseline
scripts/install-kafka.sh >/dev/null
scripts/install-pyclient.sh >/dev/null
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port)
cport=$(free_port)
scripts/kafka-broker.sh "$work/kafka" "$port" "$cport" >"$work/kafka.log" 2>&1 &
broker=$!
pids=()
# The broker's log directory holds every produced record (GiB): removed at exit, logs kept.
cleanup() { kill "${pids[@]}" 2>/dev/null || true; kill $broker 2>/dev/null || true; wait $broker 2>/dev/null || true; rm -rf "$work/kafka"; }
trap cleanup EXIT
until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do sleep 0.2; done
addr=127.0.0.1:$port
ms() { date +%s%3N; }
rate() { awk -v n="$1" -v t="$2" 'BEGIN {printf "%.0f", n/t}'; }

"$bin" generate --records "$n" --seed 2020 --out "$work/gen" >/dev/null
"$bin" replay --source hotline="$work/gen/hotline.ndjson" --source onenet="$work/gen/onenet.ndjson" \
  --source bdc="$work/gen/bdc.txt" --out "$work/replay" >/dev/null
sort "$work/replay/aggregates.ndjson" >"$work/replay.sorted"

echo "== broker limits (Apache Kafka $(ls .tools/kafka/libs | sed -n 's/^kafka_2.13-\(.*\)\.jar$/\1/p'), one node, $partitions partitions per raw topic)"
ptotal=0; precords=0
for s in hotline:hotline.ndjson onenet:onenet.ndjson bdc:bdc.txt; do
  line=$("$base" produce "$addr" "raw.${s%%:*}" "$work/gen/${s#*:}" "$partitions")
  precords=$((precords + $(echo "$line" | awk '{print $2}')))
  ptotal=$(awk -v a="$ptotal" -v b="$(echo "$line" | awk '{print $6}')" 'BEGIN {print a+b}')
done
prate=$(rate "$precords" "$ptotal")
# The plain consumer three times (it varies by ±20 % from run to run here): the median.
for i in 1 2 3; do "$base" consume "$addr" raw.hotline,raw.onenet,raw.bdc; done >"$work/consume.txt"
cline=$(sort -n -k6 "$work/consume.txt" | sed -n 2p)
crecords=$(echo "$cline" | awk '{print $2}')
ctime=$(echo "$cline" | awk '{print $6}')
crate=$(rate "$crecords" "$ctime")
[ "$crecords" = "$precords" ] || { echo "plain consumer read $crecords of $precords records" >&2; exit 1; }

results=()
for k in $instances; do
  cfg=$work/run$k/config.toml
  mkdir -p "$work/run$k"
  cat >"$cfg" <<TOML
[kafka]
brokers = "$addr"
group_prefix = "bench$k"
[topics]
partitions = $partitions
normalized = "b$k.normalized"
dead_letter = "b$k.dlq"
partials = "b$k.partials"
aggregates = "b$k.aggregates"
aggregates_json = "b$k.aggregates.json"
checkpoints = "b$k.checkpoints"
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
  start=$(ms)
  pids=()
  for i in $(seq 1 "$k"); do
    GOVSTREAM_LOG=warn "$bin" run --config "$cfg" --idle-exit 8 --status-every 0 \
      --instance-id "bench$k-$i" >"$work/run$k/out$i.txt" 2>"$work/run$k/err$i.txt" &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p"; done
  pids=()
  last=$("$base" last-write "$addr" "b$k.aggregates")
  secs=$(awk -v a="$start" -v b="$last" 'BEGIN {printf "%.2f", (b-a)/1000}')
  .tools/pyvenv/bin/python tests/tools/kafka_client.py final-json "$addr" "b$k.aggregates.json" 5 | sort >"$work/run$k/final.sorted"
  if cmp -s "$work/run$k/final.sorted" "$work/replay.sorted"; then same=yes; else same=NO; fi
  results+=("$k|$secs|$(rate "$n" "$secs")|$same")
done

echo
echo "| what | records | seconds | records/s | vs plain consumer | same aggregates as replay |"
echo "|---|---:|---:|---:|---:|---|"
echo "| plain producer (librdkafka, acks=all, idempotent) | $precords | $ptotal | $prate | $(awk -v a="$prate" -v b="$crate" 'BEGIN {printf "%.2f", a/b}') | |"
echo "| plain consumer (librdkafka, count only; median of 3 runs: $(awk '{printf "%s%.0f", (NR>1?", ":""), $8}' "$work/consume.txt") records/s) | $crecords | $ctime | $crate | 1.00 | |"
for r in "${results[@]}"; do
  IFS='|' read -r k secs r1 same <<<"$r"
  echo "| govstream run, $k instance(s), raw → aggregates | $n | $secs | $r1 | $(awk -v a="$r1" -v b="$crate" 'BEGIN {printf "%.2f", a/b}') | $same |"
done
