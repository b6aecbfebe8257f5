#!/usr/bin/env bash
# Install the independent Kafka client used by the end-to-end tests: kafka-python (pure Python,
# not librdkafka) in a repo-local virtualenv at .tools/pyvenv. Idempotent and quiet on success.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv=$root/.tools/pyvenv
want=3.0.12
# Compression codecs for producing raw topics with every codec librdkafka must read.
codecs="python-snappy==0.7.3 zstandard==0.25.0 lz4==4.4.5"
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "
import kafka, sys
from kafka.codec import has_snappy, has_zstd, has_lz4
sys.exit(kafka.__version__ != '$want' or not (has_snappy() and has_zstd() and has_lz4()))" 2>/dev/null; then
  exit 0
fi
python3 -m venv "$venv" || { echo "install-pyclient: python3 -m venv failed" >&2; exit 1; }
# shellcheck disable=SC2086
"$venv/bin/pip" install -q --disable-pip-version-check "kafka-python==$want" $codecs \
  || { echo "install-pyclient: pip install kafka-python==$want $codecs failed" >&2; exit 1; }
