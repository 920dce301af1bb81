#!/usr/bin/env bash
# Runs every cargo-fuzz target of fuzz/ for FUZZ_SECS seconds each (default 20: the
# test command's "so none rots" run; a real campaign is `FUZZ_SECS=1800`). New corpus
# entries go to a temporary directory; the committed seeds in fuzz/corpus/<target>
# are read only. A crash leaves its input in fuzz/artifacts/<target>/ and fails.
#   One target by hand: (cd fuzz && cargo +nightly fuzz run sdp_offer)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

secs="${FUZZ_SECS:-20}"
if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  step "installing the nightly toolchain (cargo-fuzz needs it)"
  rustup toolchain install nightly --profile minimal
fi
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  step "installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi
cd fuzz
# A glibc race LeakSanitizer takes for a leak: see lsan.supp.
export LSAN_OPTIONS="suppressions=$PWD/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
CARGO_BUILD_JOBS=2 cargo +nightly fuzz build
for target in $(cargo +nightly fuzz list); do
  step "fuzz $target (${secs} s)"
  scratch=$(mktemp -d)
  status=0
  cargo +nightly fuzz run "$target" "$scratch" "corpus/$target" -- \
    -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 2>&1 | grep -E '^#[0-9]+.*DONE|Done [0-9]+ runs|ERROR|panicked' || status=$?
  rm -rf "$scratch"
  if [ -n "$(ls -A "artifacts/$target" 2>/dev/null)" ]; then
    echo "fuzz target $target crashed: see fuzz/artifacts/$target/" >&2
    exit 1
  fi
done
