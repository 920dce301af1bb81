#!/usr/bin/env bash
# Run a command inside fresh, private namespaces:
#   - a network namespace that has only loopback (lo up: 127.0.0.1 and ::1),
#     so neither Chromium nor a test server can reach (or be reached from)
#     anything but this namespace;
#   - a PID namespace (with its own /proc), so that when the command exits,
#     or the wrapper is killed, the kernel kills every process that was
#     started inside it (browser, renderers, test servers): nothing leaks.
#
# Everything started by the command (node + chromium + a Rust test server)
# shares the same loopback, so they can talk over 127.0.0.1.
#
# Usage: tests/browser/netns-run.sh CMD [ARGS...]
#   NETNS_RUN_TIMEOUT=SECS  hard wall-clock limit for the whole command
#                           (SIGTERM, then SIGKILL 5 s later); default 300.
#                           0 disables it.
# As root this uses plain `unshare`; otherwise it maps the caller to root in
# a new user namespace (`unshare --map-root-user`), which Debian 12 allows
# by default.  Exit status is the command's (124 on timeout).
set -euo pipefail

if [ "$#" -eq 0 ]; then
  echo "usage: $0 CMD [ARGS...]" >&2
  exit 2
fi

for tool in unshare ip; do
  if ! command -v "$tool" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$tool" ] && [ ! -x "/sbin/$tool" ]; then
    echo "netns-run: '$tool' not found; run scripts/ensure-browser.sh" >&2
    exit 1
  fi
done

userns=()
if [ "$(id -u)" -ne 0 ]; then
  userns=(--map-root-user)
fi

timeout_s="${NETNS_RUN_TIMEOUT:-300}"
limit=()
if [ "$timeout_s" != "0" ]; then
  limit=(timeout --kill-after=5 "$timeout_s")
fi

# --fork + --pid: the inner shell is PID 1 of the new PID namespace; when it
#   exits every remaining process of the namespace is SIGKILLed by the kernel.
# --kill-child: if unshare itself dies (e.g. timeout's SIGTERM), PID 1 gets
#   SIGKILL, which again tears the whole namespace down.
# The inner sh stays PID 1 (no exec) so it reaps orphans and passes the exit
# status of the command through.
exec "${limit[@]}" unshare "${userns[@]}" --net --pid --fork --kill-child --mount-proc \
  sh -c 'PATH="$PATH:/usr/sbin:/sbin"; ip link set lo up || exit 1; "$@"' netns-run "$@"
