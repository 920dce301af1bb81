#!/usr/bin/env bash
# The C ABI from C: the generated header is current, the C programs build against the
# static library, run clean under AddressSanitizer (leaks included) and valgrind.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
apt_ensure cmake pkg-config valgrind ffmpeg python3-venv

cargo run -q -j2 -p mediaflow-gen-header -- --check
TARGET="${CARGO_TARGET_DIR:-target}"
OUT="$TARGET/c-tests"
mkdir -p "$OUT"
# Everything below builds against an installed prefix only, as a distribution package's
# user would: scripts/install.sh (the debug build, already compiled by the steps before)
# into a fresh directory, then pkg-config and CMake pointed at it.
step "install into a fresh prefix (scripts/install.sh --debug)"
PREFIX="$(mktemp -d "${TMPDIR:-/tmp}/mediaflow-prefix.XXXXXX")"
trap 'rm -rf "$PREFIX"' EXIT
bash scripts/install.sh --debug "$PREFIX"
export PKG_CONFIG_PATH="$PREFIX/lib/pkgconfig"
# Static linking: the archive itself, then what it needs from the system (Libs.private).
LIB="$(pkg-config --variable=libdir mediaflow)/libmediaflow_capi.a"
LIBS="$(pkg-config --static --libs-only-l mediaflow | sed 's/-lmediaflow_capi//')"
CFLAGS="-std=c11 -Wall -Wextra -Werror -g $(pkg-config --cflags mediaflow)"
# One suppression per index of a sendmmsg batch (see tests/c/valgrind.supp), as many as
# the runtime's largest batch.
MAX_BATCH="$(sed -n 's/^pub(crate) const MAX_BATCH: usize = \([0-9]*\);$/\1/p' crates/runtime/src/send_many.rs)"
[ -n "$MAX_BATCH" ] || { echo "MAX_BATCH not found in crates/runtime/src/send_many.rs" >&2; exit 1; }
SUPP="$OUT/valgrind-batched.supp"
for k in $(seq 0 $((MAX_BATCH - 1))); do
  printf '{\n   ring-aead-tag-sent-batched-%s\n   Memcheck:Param\n   sendmsg(mmsg[%s].msg_hdr.msg_iov[0])\n   fun:sendmmsg\n   ...\n   fun:*send_many*\n}\n' "$k" "$k"
done > "$SUPP"
passed=0
for t in misuse hello_loopback event_fields rtp_recorder player; do
  gcc $CFLAGS "tests/c/$t.c" "$LIB" $LIBS -o "$OUT/$t"
  gcc $CFLAGS -fsanitize=address -fno-omit-frame-pointer "tests/c/$t.c" "$LIB" $LIBS -o "$OUT/$t-asan"
  step "C: $t"
  timeout 120 "$OUT/$t" > "$OUT/$t.log" 2>&1 || { cat "$OUT/$t.log"; exit 1; }
  tail -1 "$OUT/$t.log"
  passed=$((passed + 1))
  step "C: $t under AddressSanitizer (leaks are errors)"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 timeout 180 "$OUT/$t-asan" > "$OUT/$t-asan.log" 2>&1 \
    || { cat "$OUT/$t-asan.log"; exit 1; }
  tail -1 "$OUT/$t-asan.log"
  passed=$((passed + 1))
  step "C: $t under valgrind (errors and definite/indirect leaks fail)"
  timeout 300 valgrind -q --error-exitcode=3 --leak-check=full \
    --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect \
    --suppressions=tests/c/valgrind.supp --suppressions="$SUPP" "$OUT/$t" > "$OUT/$t-valgrind.log" 2>&1 \
    || { cat "$OUT/$t-valgrind.log"; exit 1; }
  tail -1 "$OUT/$t-valgrind.log"
  passed=$((passed + 1))
done
step "C via pkg-config, shared library of the prefix"
# shellcheck disable=SC2046
gcc $CFLAGS tests/c/misuse.c $(pkg-config --libs mediaflow) -o "$OUT/misuse-pkgconfig"
LD_LIBRARY_PATH="$PREFIX/lib" timeout 60 "$OUT/misuse-pkgconfig" | tail -1
passed=$((passed + 1))

step "C++ wrapper via CMake find_package(mediaflow), CMAKE_PREFIX_PATH=the prefix"
rm -rf "$TARGET/cpp"
cmake -S tests/cpp -B "$TARGET/cpp" -DCMAKE_PREFIX_PATH="$PREFIX" > "$OUT/cmake.log" 2>&1 \
  || { cat "$OUT/cmake.log"; exit 1; }
cmake --build "$TARGET/cpp" -j2 > "$OUT/cmake-build.log" 2>&1 || { cat "$OUT/cmake-build.log"; exit 1; }
for t in hello_loopback event_fields rtp_recorder player; do
  timeout 180 "$TARGET/cpp/${t}_cpp" > "$OUT/$t-cpp.log" 2>&1 || { cat "$OUT/$t-cpp.log"; exit 1; }
  tail -1 "$OUT/$t-cpp.log"
  passed=$((passed + 1))
done

step "Python: pip install ./bindings/python into a fresh virtualenv, pytest against it"
# As a user would: a new venv, pip builds the package (its build step runs cargo; the
# debug profile reuses what is built) and bundles the library: no MEDIAFLOW_LIB.
ROOT="$PWD"
VENV="$PREFIX/venv"
python3 -m venv "$VENV"
MEDIAFLOW_CARGO_PROFILE=debug timeout 600 "$VENV/bin/pip" install -q "./bindings/python[test]" \
  > "$OUT/pip.log" 2>&1 || { cat "$OUT/pip.log"; exit 1; }
rm -rf bindings/python/build bindings/python/*.egg-info
(cd "$PREFIX" && env -u MEDIAFLOW_LIB MEDIAFLOW_EXPECT_INSTALLED=1 timeout 300 \
  "$VENV/bin/python" -m pytest -q "$ROOT/bindings/python/tests")

# In cargo's words, so the summary counts the C and C++ programs too (pytest prints its own).
echo "test result: ok. $passed passed; 0 failed; 0 ignored; 0 measured; 0 filtered out (C ABI programs)"
