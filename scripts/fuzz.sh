#!/usr/bin/env bash
# Coverage-guided fuzzing of the pure core (cargo-fuzz + libFuzzer); part of `make test`.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET]
#
# Builds every target of fuzz/ once with the nightly toolchain, then runs each one for
# SECONDS_PER_TARGET seconds (default: $FUZZ_SECONDS, else 20) starting from its seed corpus
# fuzz/corpus/<target>/. The run works on a scratch copy of the corpus, so the committed seeds
# never grow. Exits non-zero if any target crashes (panic, timeout, out of memory), naming the
# target and the crash file under fuzz/artifacts/<target>/. See docs/fuzzing.md.
#
# Installs cargo-fuzz into <repo>/.tools/cargo-fuzz (once) and the nightly toolchain through
# rustup if it is missing. Quiet on success: one line per target.
#
# Environment:
#   FUZZ_SECONDS     seconds per target when no argument is given (default 20)
#   FUZZ_TARGETS     space-separated subset of targets to run (default: all)
#   FUZZ_SANITIZER   none (default) or address: AddressSanitizer (slower build and runs;
#                    Rust code is memory-safe, the crates under test have no unsafe code)
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FUZZ_DIR="$REPO_ROOT/fuzz"
TOOLS="$REPO_ROOT/.tools/cargo-fuzz"
CARGO_FUZZ_VERSION="0.13.2"
SECONDS_PER_TARGET="${1:-${FUZZ_SECONDS:-20}}"
SANITIZER="${FUZZ_SANITIZER:-none}"
ALL_TARGETS="hotline onenet bdc catalogue csv_export mapping json_reader checkpoint partials"
TARGETS="${FUZZ_TARGETS:-$ALL_TARGETS}"

die() { echo "fuzz: error: $*" >&2; exit 1; }

[[ "$SECONDS_PER_TARGET" =~ ^[1-9][0-9]*$ ]] \
    || die "seconds per target must be a positive integer, got '$SECONDS_PER_TARGET'"
case "$SANITIZER" in none | address) ;; *) die "FUZZ_SANITIZER must be none or address" ;; esac
for t in $TARGETS; do
    [[ " $ALL_TARGETS " == *" $t "* ]] || die "unknown target '$t' (targets: $ALL_TARGETS)"
    [[ -d "$FUZZ_DIR/corpus/$t" ]] || die "no seed corpus fuzz/corpus/$t"
done
command -v rustup >/dev/null 2>&1 || die "rustup not found (the nightly toolchain is needed)"

# The nightly toolchain (libFuzzer's instrumentation needs -Z flags).
if ! rustup toolchain list | grep -q '^nightly'; then
    echo "fuzz: installing the nightly toolchain (rustup, minimal profile)" >&2
    rustup toolchain install nightly --profile minimal >/dev/null \
        || die "rustup toolchain install nightly failed"
fi

# cargo-fuzz, pinned, in the repository's tool directory.
if [[ "$("$TOOLS/bin/cargo-fuzz" --version 2>/dev/null || true)" != "cargo-fuzz $CARGO_FUZZ_VERSION" ]]; then
    echo "fuzz: installing cargo-fuzz $CARGO_FUZZ_VERSION into .tools/cargo-fuzz" >&2
    cargo install --locked --quiet --force cargo-fuzz --version "$CARGO_FUZZ_VERSION" \
        --root "$TOOLS" || die "cargo install cargo-fuzz failed"
fi
export PATH="$TOOLS/bin:$PATH"

cd "$FUZZ_DIR"
# One build for every target: optimized, with debug assertions and overflow checks (cargo
# fuzz's default), so arithmetic overflow is a crash here as it is in debug builds and tests.
BUILD_LOG="$(mktemp)"
SCRATCH="$(mktemp -d)"
trap 'rm -rf "$SCRATCH" "$BUILD_LOG"' EXIT
started=$SECONDS
if ! cargo +nightly fuzz build -O --debug-assertions --sanitizer "$SANITIZER" >"$BUILD_LOG" 2>&1; then
    cat "$BUILD_LOG" >&2
    die "cargo fuzz build failed"
fi
echo "fuzz: targets built in $((SECONDS - started))s (sanitizer: $SANITIZER)"
HOST="$(rustc +nightly -vV | sed -n 's/^host: //p')"
BIN_DIR="$FUZZ_DIR/target/$HOST/release"

failed=()
for t in $TARGETS; do
    mkdir -p "$SCRATCH/$t" "artifacts/$t"
    cp -R "corpus/$t/." "$SCRATCH/$t/"
    log="$SCRATCH/$t.log"
    # -timeout: one input taking longer is a hang; -rss_limit_mb: a blow-up is a crash too.
    if "$BIN_DIR/$t" "$SCRATCH/$t" \
        -artifact_prefix="artifacts/$t/" \
        -max_total_time="$SECONDS_PER_TARGET" \
        -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1; then
        runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")"
        echo "fuzz: $t ok (${SECONDS_PER_TARGET}s, ${runs:-?} inputs)"
    else
        crash="$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)"
        echo "fuzz: $t FAILED" >&2
        grep -E -A12 "panicked at|ERROR: libFuzzer|ERROR: AddressSanitizer|==ERROR" "$log" | head -30 >&2 || tail -30 "$log" >&2
        if [[ -n "$crash" ]]; then
            echo "fuzz: $t crash input: fuzz/$crash" >&2
            echo "fuzz: reproduce: (cd fuzz && cargo +nightly fuzz run -O -a -s $SANITIZER $t $crash)" >&2
        fi
        failed+=("$t")
    fi
done

if ((${#failed[@]})); then
    die "crashes in: ${failed[*]} (see docs/fuzzing.md: minimize, fix, add a regression test)"
fi
