#!/usr/bin/env bash
# Ensure the tools needed by the real-browser end-to-end tests are present:
#   - Debian's chromium (/usr/bin/chromium)
#   - unshare (util-linux) and ip (iproute2) for the loopback-only netns
#   - playwright-core, installed locally into tests/browser/node_modules
#   - the unchanged npm kurento-client 7.3.0, into tests/kurento-client/node_modules
#     (mediaflow-server's Kurento Protocol tests use it as the application)
# Idempotent and silent when everything is already there.
# As root, missing pieces are installed; otherwise the exact command is
# printed and the script exits 1.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BROWSER_DIR="$ROOT/tests/browser"
KURENTO_DIR="$ROOT/tests/kurento-client"

is_root() { [ "$(id -u)" -eq 0 ]; }

# --- Debian packages -------------------------------------------------------
missing_pkgs=()
[ -x /usr/bin/chromium ] || missing_pkgs+=(chromium)
command -v unshare >/dev/null 2>&1 || missing_pkgs+=(util-linux)
command -v ip >/dev/null 2>&1 || [ -x /usr/sbin/ip ] || [ -x /sbin/ip ] || missing_pkgs+=(iproute2)
command -v node >/dev/null 2>&1 || missing_pkgs+=(nodejs)
command -v npm >/dev/null 2>&1 || missing_pkgs+=(npm)

if [ "${#missing_pkgs[@]}" -gt 0 ]; then
  cmd="apt-get update && apt-get install -y --no-install-recommends ${missing_pkgs[*]}"
  if is_root; then
    echo "ensure-browser: installing ${missing_pkgs[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${missing_pkgs[@]}" >/dev/null
  else
    echo "ensure-browser: missing ${missing_pkgs[*]}; run as root:" >&2
    echo "  sudo sh -c '$cmd'" >&2
    exit 1
  fi
fi

# --- playwright-core (npm, local to tests/browser) -------------------------
if [ ! -f "$BROWSER_DIR/node_modules/playwright-core/package.json" ]; then
  if [ -f "$BROWSER_DIR/package-lock.json" ]; then
    npm_cmd=(npm ci --no-audit --no-fund --loglevel=error)
  else
    npm_cmd=(npm install --no-audit --no-fund --loglevel=error)
  fi
  echo "ensure-browser: installing playwright-core (${npm_cmd[*]})" >&2
  # playwright-core never downloads browsers itself; keep it that way.
  (cd "$BROWSER_DIR" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 "${npm_cmd[@]}" >/dev/null)
fi

# --- kurento-client (npm, local to tests/kurento-client) --------------------
# --ignore-scripts: its packages build nothing we need (ws's optional native helpers
# fall back to JavaScript); package.json overrides reconnect-ws, whose declared source
# is a Git host we cannot reach, with the same code's npm release.
if [ ! -f "$KURENTO_DIR/node_modules/kurento-client/package.json" ]; then
  echo "ensure-browser: installing kurento-client (npm ci --ignore-scripts)" >&2
  (cd "$KURENTO_DIR" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
fi
