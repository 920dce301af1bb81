#!/usr/bin/env bash
# Starts mediaflow's demo. Until the Hello World web app lands (issue 4), this runs
# the in-process example: a pipeline of AppSource -> PassThrough -> AppSink, with
# Kurento's events printed as they fire.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_rust_toolchain
cargo run -j2 --release -p mediaflow --example passthrough "$@"
