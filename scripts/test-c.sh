#!/usr/bin/env bash
# The C ABI from C: the generated header is current, the C programs build against the
# static library, run clean under AddressSanitizer (leaks included) and valgrind.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

cargo run -q -j2 -p mediaflow-gen-header -- --check
cargo build -q -j2 -p mediaflow-capi
LIB=target/debug/libmediaflow_capi.a
LIBS="-lgcc_s -lutil -lrt -lpthread -lm -ldl -lc"
OUT=target/c-tests
mkdir -p "$OUT"
CFLAGS="-std=c11 -Wall -Wextra -Werror -g -Iinclude"
passed=0
for t in misuse hello_loopback; do
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
# In cargo's words, so the summary counts these too.
echo "test result: ok. $passed passed; 0 failed; 0 ignored; 0 measured; 0 filtered out (C ABI programs)"
