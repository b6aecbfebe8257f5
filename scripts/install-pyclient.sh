#!/usr/bin/env bash
# Install the independent Kafka client used by the end-to-end tests: kafka-python (pure Python,
# not librdkafka) in a repo-local virtualenv at .tools/pyvenv. Idempotent and quiet on success.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv=$root/.tools/pyvenv
want=3.0.12
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "import kafka, sys; sys.exit(kafka.__version__ != '$want')" 2>/dev/null; then
  exit 0
fi
python3 -m venv "$venv" || { echo "install-pyclient: python3 -m venv failed" >&2; exit 1; }
"$venv/bin/pip" install -q --disable-pip-version-check "kafka-python==$want" \
  || { echo "install-pyclient: pip install kafka-python==$want failed" >&2; exit 1; }
