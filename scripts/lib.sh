# Helpers shared by the README's commands. Sourced, not run.

step() { printf '\n==> %s\n' "$*"; }

is_root() { [ "$(id -u)" -eq 0 ]; }

# Installs Debian packages when root; otherwise prints the command and exits.
apt_ensure() {
  local missing=()
  local pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  if is_root; then
    step "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
  else
    echo "missing system packages; run:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
  fi
}

ensure_rust_toolchain() {
  if ! command -v cargo >/dev/null 2>&1; then
    echo "cargo not found; install Rust first:" >&2
    echo "  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh" >&2
    exit 1
  fi
  if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
    if command -v rustup >/dev/null 2>&1; then
      rustup component add rustfmt clippy
    else
      echo "rustfmt/clippy missing; run: rustup component add rustfmt clippy" >&2
      exit 1
    fi
  fi
  apt_ensure pkg-config build-essential
}

# Free space on the disk holding the working tree, in MiB (CI disks can be small: a
# run that fills one fails at a link with "No space left on device").
free_mib() { df -Pm . | awk 'NR == 2 { print $4 }'; }
disk_report() { printf 'disk: %s MiB free, target/ %s\n' "$(free_mib)" "$(du -sh target 2>/dev/null | cut -f1)"; }
