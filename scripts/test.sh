#!/usr/bin/env bash
# Runs every check of the project: formatting, lints, all tests.
# On a fresh Debian 12 machine it installs what is missing when run as root;
# otherwise it prints the exact command to run and stops.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

ensure_rust_toolchain
# Incremental caches double what a one-shot run writes to disk and buy it nothing.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
disk_report
# libvpx and cmake for the codecs (opus builds its bundled libopus with cmake); a real
# TURN server for the relay tests; valgrind for the C ABI programs; nftables for the
# loss tests (this kernel has no sch_netem); ffmpeg as the plain RTP peer of RtpEndpoint,
# and its ffprobe to read the recordings.
apt_ensure libvpx-dev cmake coturn valgrind nftables ffmpeg

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets -j2 -- -D warnings

step "cargo test (workspace)"
# The browser tests run below, inside a loopback-only network namespace.
cargo test --workspace -j2 -- --skip chromium_ 2>&1 | tee target/test-output.txt

step "examples (each bounded; a nonzero exit fails)"
# The programs users start from (crates/mediaflow/examples) must keep running, not only
# compiling: each exits by itself within seconds.
cargo build -q -j2 -p mediaflow --examples
for e in passthrough engine_to_engine transcoding record_and_play rtp_endpoint data_channels \
    "hello_world_signaling -- --self-test"; do
  # shellcheck disable=SC2086
  timeout 60 cargo run -q -j2 -p mediaflow --example $e > "target/example-${e%% *}.txt" 2>&1 \
    || { cat "target/example-${e%% *}.txt"; echo "example $e failed" >&2; exit 1; }
  echo "example $e: ok ($(tail -1 "target/example-${e%% *}.txt"))"
done

step "cargo package: the crates meant for users (packaged together: they are not on crates.io yet)"
# --no-verify: the packaged manifests name each other by version, which a registry
# would resolve; the build itself is what the test step above checked.
cargo package -p mediaflow-graph -p mediaflow-ice -p mediaflow-rtp -p mediaflow-runtime \
  -p mediaflow-transcoder -p mediaflow --no-verify --allow-dirty > target/package.txt 2>&1 \
  || { cat target/package.txt; echo "cargo package failed" >&2; exit 1; }
grep "Packaged" target/package.txt

step "load harness, tiny load (mediaflow, str0m, rtc, raw SRTP loop; no figure is checked)"
# So the harness of benches/load cannot rot: 2 sessions for a few seconds per system.
timeout 600 cargo run -q -j2 -p mediaflow-load --bin loadbench -- --smoke 2>&1 | tee target/load-smoke.txt | tail -8

step "fuzz targets, 20 s each (cargo-fuzz on nightly; a crash fails)"
bash scripts/fuzz.sh 2>&1 | tee -a target/test-output.txt | grep -v '^#' | tail -12
# The sanitizer builds are not needed again in this run; on a small disk give the space
# back to the C and browser steps (a developer's machine keeps them warm).
if [ "$(free_mib)" -lt 10240 ]; then rm -rf fuzz/target; fi
disk_report

step "C ABI: header current, C programs plain, under ASan and under valgrind"
bash scripts/test-c.sh 2>&1 | tee -a target/test-output.txt

step "browser tests (headless Chromium in a loopback-only network namespace)"
bash scripts/ensure-browser.sh
MEDIAFLOW_BROWSER=1 CARGO_NET_OFFLINE=true NETNS_RUN_TIMEOUT=600 tests/browser/netns-run.sh \
  cargo test --offline -j2 -p mediaflow --test browser -p mediaflow-demo --test browser \
  -p mediaflow-server --test browser \
  -- --nocapture --test-threads=1 2>&1 | tee -a target/test-output.txt
disk_report
# The summary line the CI reads: totals over every test binary above.
awk '/^test result:/ { p += $4; f += $6; i += $8 } END { printf "\n%d passed, %d failed, %d skipped\n", p, f, i }' target/test-output.txt
