#!/usr/bin/env bash
# Install Debian's `prometheus` package, which provides /usr/bin/prometheus and
# /usr/bin/promtool (bookworm: 2.42.0+ds), without leaving a Prometheus
# service running on :9090.
#
# - Idempotent: exits 0 at once when the package is installed and both binaries
#   run (set FORCE=1 to run apt-get anyway).
# - Quiet on success; on failure prints apt's output and exits non-zero.
# - Needs root (or sudo).
# - Service: the package's postinst starts the daemon through invoke-rc.d when
#   systemd is not PID 1 (the case on these machines) unless
#   /usr/sbin/policy-rc.d denies it. When that file is absent we put a
#   temporary deny-all one in place for the install and remove it afterwards.
#   If a prometheus service that was not running before is running afterwards
#   (e.g. under systemd), it is stopped (and disabled under systemd).
set -euo pipefail

die() { echo "install-prometheus: error: $*" >&2; exit 1; }

installed() {
    [[ "$(dpkg-query -W -f='${Status}' prometheus 2>/dev/null || true)" == "install ok installed" ]] \
        && promtool --version >/dev/null 2>&1 \
        && prometheus --version >/dev/null 2>&1
}

if [[ "${FORCE:-0}" != 1 ]] && installed; then
    exit 0
fi

command -v apt-get >/dev/null 2>&1 || die "apt-get not found (Debian/Ubuntu only)"
SUDO=()
if [[ $EUID -ne 0 ]]; then
    command -v sudo >/dev/null 2>&1 || die "must run as root (or have sudo)"
    SUDO=(sudo)
fi

service_running() {
    if [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null 2>&1; then
        systemctl is-active --quiet prometheus 2>/dev/null
    elif [[ -x /etc/init.d/prometheus ]]; then
        /etc/init.d/prometheus status >/dev/null 2>&1
    else
        return 1
    fi
}

was_running=0
service_running && was_running=1

LOG="$(mktemp)"
POLICY=/usr/sbin/policy-rc.d
made_policy=0
cleanup() {
    rm -f "$LOG"
    if [[ $made_policy == 1 ]]; then "${SUDO[@]}" rm -f "$POLICY"; fi
}
trap cleanup EXIT

if [[ ! -e "$POLICY" ]]; then
    printf '#!/bin/sh\n# temporary, from govstream scripts/install-prometheus.sh\nexit 101\n' \
        | "${SUDO[@]}" tee "$POLICY" >/dev/null
    "${SUDO[@]}" chmod 755 "$POLICY"
    made_policy=1
fi

if ! { "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq \
        && "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -qq --no-install-recommends prometheus; } >"$LOG" 2>&1; then
    cat "$LOG" >&2
    die "apt-get install prometheus failed"
fi

if [[ $was_running == 0 ]] && service_running; then
    if [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null 2>&1; then
        "${SUDO[@]}" systemctl disable --now prometheus >/dev/null 2>&1 || true
    else
        "${SUDO[@]}" /etc/init.d/prometheus stop >/dev/null 2>&1 || true
    fi
    service_running && die "the prometheus service is running after install and could not be stopped"
fi

installed || die "prometheus/promtool not usable after install"
