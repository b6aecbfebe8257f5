#!/usr/bin/env bash
# The benchmark harness behind `make bench`: criterion benches, then govstream replay on
# generated files of 1 M and 10 M records (events/s, peak memory), and DuckDB on the same onenet
# file for comparison. Prints a summary; numbers go into README.md's Performance section.
#
#   scripts/bench.sh            # 1 M and 10 M records
#   SIZES="1000000" scripts/bench.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
sizes=${SIZES:-"1000000 10000000"}
data=${BENCH_DATA:-$root/target/bench-data}
tools=$root/.tools
mkdir -p "$data" "$tools"

echo "== machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -m)"
cargo build --release -q -p govstream-cli --bin govstream
bin=$root/target/release/govstream

if [ -z "${SKIP_CRITERION:-}" ]; then
  echo "== criterion: normalization per source"
  cargo bench -q -p govstream-normalize --bench normalize -- --warm-up-time 1 --measurement-time 3 2>/dev/null | grep -E "^normalize|thrpt" || true
  echo "== criterion: engine"
  cargo bench -q -p govstream-engine --bench engine -- --warm-up-time 1 --measurement-time 5 2>/dev/null | grep -E "^engine|thrpt" || true
  echo "== engine state per case"
  cargo bench -q -p govstream-engine --bench state_size 2>/dev/null
fi

# DuckDB from PyPI in a repo-local virtualenv.
if [ ! -x "$tools/venv/bin/python" ]; then
  python3 -m venv "$tools/venv"
fi
if ! "$tools/venv/bin/python" -c "import duckdb" 2>/dev/null; then
  "$tools/venv/bin/pip" install -q duckdb
fi

for n in $sizes; do
  dir=$data/gen-$n
  if [ ! -s "$dir/onenet.ndjson" ]; then
    "$bin" generate --records "$n" --seed 2020 --out "$dir" >/dev/null
  fi
  echo "== $n records ($(du -sh "$dir" | cut -f1) on disk)"
  for mode in all onenet onenet-1core; do
    pin=()
    if [ "$mode" = all ]; then
      args=(--source "hotline=$dir/hotline.ndjson" --source "onenet=$dir/onenet.ndjson" --source "bdc=$dir/bdc.txt")
    else
      args=(--source "onenet=$dir/onenet.ndjson")
    fi
    if [ "$mode" = onenet-1core ]; then
      pin=(taskset -c 0)
    fi
    /usr/bin/time -f "%e %M" -o "$data/time.txt" "${pin[@]}" "$bin" replay "${args[@]}" --out "$data/out-$n-$mode" >"$data/replay.txt" 2>/dev/null
    read -r secs kb <"$data/time.txt"
    # The accounting table's total row: source read normalized events ...
    read -r records events < <(awk '$1=="total" {print $2, $4}' "$data/replay.txt")
    echo "govstream replay ($mode): $records records ($events events) in ${secs}s wall = $(awk -v e="$records" -v s="$secs" 'BEGIN {printf "%.0f", e/s}') records/s, peak RSS $((kb / 1024)) MiB"
    grep -E "^took" "$data/replay.txt" | sed 's/^/  /'
    case $mode in
      onenet) gov=$secs ;;
      onenet-1core) gov1=$secs ;;
    esac
  done
  duck=$("$tools/venv/bin/python" - "$dir/onenet.ndjson" <<'PY'
import sys, time, duckdb
con = duckdb.connect()
con.execute("SET threads = 1")
t = time.perf_counter()
n = con.execute("""
SELECT count(*) FROM (
  SELECT substr(coalesce(APPLYTIME, ACCEPTTIME, STEPTIME, FINISHTIME, EVALTIME), 1, 10) AS day,
         substr(AREACODE, 1, 6) AS region, DEPTCODE, TASKCODE,
         count(*) FILTER (WHERE INFOTYPE = 'SB') AS submitted,
         count(*) FILTER (WHERE INFOTYPE = 'SL') AS accepted,
         count(*) FILTER (WHERE INFOTYPE = 'BJ' AND RESULT IN ('1', '2')) AS completed,
         count(*) FILTER (WHERE INFOTYPE = 'BJ' AND RESULT = '3') AS withdrawn,
         count(*) FILTER (WHERE INFOTYPE = 'PJ') AS reviews,
         count(*) FILTER (WHERE INFOTYPE = 'PJ' AND EVALLEVEL IN ('1', '2')) AS bad_reviews
  FROM read_json(?, format = 'newline_delimited', ignore_errors = true,
                 columns = {INFOTYPE: 'VARCHAR', APPLYTIME: 'VARCHAR', ACCEPTTIME: 'VARCHAR',
                            STEPTIME: 'VARCHAR', FINISHTIME: 'VARCHAR', EVALTIME: 'VARCHAR',
                            AREACODE: 'VARCHAR', DEPTCODE: 'VARCHAR', TASKCODE: 'VARCHAR',
                            RESULT: 'VARCHAR', EVALLEVEL: 'VARCHAR'})
  GROUP BY ALL)
""", [sys.argv[1]]).fetchone()[0]
print(f"{time.perf_counter() - t:.2f} {n}")
PY
)
  read -r dsecs dgroups <<<"$duck"
  lines=$(wc -l <"$dir/onenet.ndjson")
  echo "duckdb (1 thread, GROUP BY of the application counters, $dgroups groups): $lines records in ${dsecs}s = $(awk -v e="$lines" -v s="$dsecs" 'BEGIN {printf "%.0f", e/s}') records/s"
  echo "ratio govstream/duckdb on onenet.ndjson (records/s; wall time, duckdb ÷ govstream): $(awk -v g="$gov" -v d="$dsecs" 'BEGIN {printf "%.2f", d/g}')x with both cores, $(awk -v g="$gov1" -v d="$dsecs" 'BEGIN {printf "%.2f", d/g}')x on one core"
done
