#!/usr/bin/env bash
# Install what the browser tests need: Debian's Chromium (headless) and a CJK font, so that the
# report and the live status page render their Chinese text. Idempotent and quiet on success.
set -euo pipefail
have_font() { fc-list :lang=zh 2>/dev/null | grep -q .; }
if command -v chromium >/dev/null 2>&1 && have_font; then
  exit 0
fi
sudo=()
if [[ "$(id -u)" -ne 0 ]]; then
  command -v sudo >/dev/null 2>&1 || { echo "install-browser: need root (or sudo) to install chromium" >&2; exit 1; }
  sudo=(sudo)
fi
log=$(mktemp)
if ! { "${sudo[@]}" apt-get update -qq \
       && "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -qq --no-install-recommends chromium fonts-wqy-microhei fontconfig; } >"$log" 2>&1; then
  cat "$log" >&2
  echo "install-browser: apt-get install chromium fonts-wqy-microhei failed" >&2
  exit 1
fi
rm -f "$log"
command -v chromium >/dev/null 2>&1 || { echo "install-browser: chromium still missing" >&2; exit 1; }
have_font || { echo "install-browser: no Chinese font after the install" >&2; exit 1; }
