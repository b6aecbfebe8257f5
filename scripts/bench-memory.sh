#!/usr/bin/env bash
# Peak memory of `govstream replay` against the length of history, with and without retention
# (docs/checkpoints.md, metrics.md rule 17). The generator spans several simulated years at a
# fixed rate (PER_DAY records a day), so a longer history means more years, not a denser year.
# Each size is generated, replayed twice, and deleted (30 M records take about 9 GB on disk).
#
#   scripts/bench-memory.sh                                   # 1 M, 10 M, 30 M records
#   SIZES="1000000 3000000" RETENTION=400 scripts/bench-memory.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
sizes=${SIZES:-"1000000 10000000 30000000"}
per_day=${PER_DAY:-10000}
retention=${RETENTION:-400}
data=${BENCH_DATA:-$root/target/bench-memory}
cargo build --release -q -p govstream-cli --bin govstream
bin=$root/target/release/govstream
mkdir -p "$data"
echo "== machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
printf '| records | simulated days | retention | peak RSS (MiB) | wall (s) | cases held at the end | cases retired |\n'
printf '|---:|---:|---|---:|---:|---:|---:|\n'
for n in $sizes; do
  days=$(( n / per_day ))
  dir=$data/gen-$n
  "$bin" generate --records "$n" --seed 2020 --days "$days" --out "$dir" >/dev/null
  for r in none "$retention"; do
    extra=()
    [ "$r" != none ] && extra=(--retention-days "$r")
    out=$data/out-$n-$r
    /usr/bin/time -f "%M %e" -o "$data/time" "$bin" replay \
      --source "hotline=$dir/hotline.ndjson" --source "onenet=$dir/onenet.ndjson" \
      --source "bdc=$dir/bdc.txt" --out "$out" "${extra[@]}" >"$data/log" 2>/dev/null
    read -r kib secs <"$data/time"
    held=$(sed -n 's/^engine: .* events applied, \([0-9]*\) cases held.*/\1/p' "$data/log")
    retired=$(sed -n 's/^retention: [0-9]* days; \([0-9]*\) cases retired.*/\1/p' "$data/log")
    printf '| %s | %s | %s | %d | %s | %s | %s |\n' "$n" "$days" "$r" $(( kib / 1024 )) "$secs" "$held" "${retired:--}"
    rm -rf "$out"
  done
  rm -rf "$dir"
done
