#!/usr/bin/env bash
# The C ABI from C: the generated header is current, the C programs build against the
# static library, run clean under AddressSanitizer (leaks included) and valgrind.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
apt_ensure cmake pkg-config valgrind ffmpeg
if ! python3 -m pytest --version > /dev/null 2>&1; then
  if is_root; then
    python3 -m pip install -q pytest
  else
    echo "pytest missing; run: python3 -m pip install --user pytest" >&2
    exit 1
  fi
fi

cargo run -q -j2 -p mediaflow-gen-header -- --check
cargo build -q -j2 -p mediaflow-capi
TARGET="${CARGO_TARGET_DIR:-target}"
LIB="$TARGET/debug/libmediaflow_capi.a"
LIBS="-lvpx -lstdc++ -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc"
OUT="$TARGET/c-tests"
mkdir -p "$OUT"
CFLAGS="-std=c11 -Wall -Wextra -Werror -g -Iinclude"
passed=0
for t in misuse hello_loopback event_fields rtp_recorder; do
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
    --suppressions=tests/c/valgrind.supp "$OUT/$t" > "$OUT/$t-valgrind.log" 2>&1 \
    || { cat "$OUT/$t-valgrind.log"; exit 1; }
  tail -1 "$OUT/$t-valgrind.log"
  passed=$((passed + 1))
done
step "C via pkg-config (the .pc written next to the library)"
# shellcheck disable=SC2046
gcc $CFLAGS tests/c/misuse.c $(PKG_CONFIG_PATH="$TARGET/debug" pkg-config --cflags --libs --static mediaflow) \
  -o "$OUT/misuse-pkgconfig"
LD_LIBRARY_PATH="$TARGET/debug" timeout 60 "$OUT/misuse-pkgconfig" | tail -1
passed=$((passed + 1))

step "C++ wrapper via CMake find_package(mediaflow)"
cmake -S tests/cpp -B "$TARGET/cpp" -Dmediaflow_DIR="$(realpath "$TARGET")/debug/cmake" > "$OUT/cmake.log" 2>&1 \
  || { cat "$OUT/cmake.log"; exit 1; }
cmake --build "$TARGET/cpp" -j2 > "$OUT/cmake-build.log" 2>&1 || { cat "$OUT/cmake-build.log"; exit 1; }
for t in hello_loopback event_fields rtp_recorder; do
  timeout 180 "$TARGET/cpp/${t}_cpp" > "$OUT/$t-cpp.log" 2>&1 || { cat "$OUT/$t-cpp.log"; exit 1; }
  tail -1 "$OUT/$t-cpp.log"
  passed=$((passed + 1))
done

step "Python (ctypes) with pytest"
MEDIAFLOW_LIB="$(realpath "$TARGET")/debug/libmediaflow_capi.so" timeout 300 python3 -m pytest -q bindings/python/tests

# In cargo's words, so the summary counts the C and C++ programs too (pytest prints its own).
echo "test result: ok. $passed passed; 0 failed; 0 ignored; 0 measured; 0 filtered out (C ABI programs)"
