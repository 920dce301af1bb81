#!/usr/bin/env bash
# Starts the Hello World demo: Kurento's WebRTC loopback tutorial, hosted in-process
# by mediaflow. Open the printed URL in a browser, click Start, see yourself come back.
# Extra arguments go to the demo (--port, --bind, --interfaces, --port-range; --help).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_rust_toolchain
cargo build -j2 --release -p mediaflow-demo
exec target/release/mediaflow-demo "$@"
