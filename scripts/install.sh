#!/usr/bin/env bash
# Installs mediaflow's C library for C and C++ hosts under PREFIX, as a distribution
# package would:
#   PREFIX/lib/libmediaflow_capi.a, PREFIX/lib/libmediaflow_capi.so
#   PREFIX/include/mediaflow.h (C), PREFIX/include/mediaflow.hpp (C++17 wrapper)
#   PREFIX/lib/pkgconfig/mediaflow.pc
#   PREFIX/lib/cmake/mediaflow/mediaflowConfig.cmake (+ ConfigVersion), relocatable
# Then: PKG_CONFIG_PATH=PREFIX/lib/pkgconfig pkg-config --cflags --libs mediaflow
#   or: cmake -DCMAKE_PREFIX_PATH=PREFIX ... with find_package(mediaflow) and
#       target_link_libraries(app mediaflow::mediaflow) (static) or mediaflow::shared.
#
# Usage: scripts/install.sh [--debug] PREFIX
#   --debug  install the debug build (what the test command has built already) instead
#            of building release.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

profile=release
if [ "${1:-}" = "--debug" ]; then
  profile=debug
  shift
fi
if [ $# -ne 1 ] || [ -z "$1" ]; then
  echo "usage: scripts/install.sh [--debug] PREFIX   (e.g. scripts/install.sh /usr/local)" >&2
  exit 2
fi
if ! command -v cargo > /dev/null 2>&1; then
  echo "cargo not found; install Rust first:" >&2
  echo "  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh" >&2
  exit 1
fi
# The codecs: libvpx to link, cmake for the bundled libopus, a C/C++ compiler.
apt_ensure build-essential pkg-config cmake libvpx-dev

mkdir -p "$1"
PREFIX="$(realpath "$1")"
if [ "$profile" = release ]; then
  cargo build -j"${CARGO_BUILD_JOBS:-2}" --release -p mediaflow-capi
else
  cargo build -q -j"${CARGO_BUILD_JOBS:-2}" -p mediaflow-capi
fi
BUILT="${CARGO_TARGET_DIR:-target}/$profile"

# What the static library needs from the system, as build.rs found it.
PRIVATE="$(sed -n 's/^Libs.private: //p' "$BUILT/mediaflow.pc")"
[ -n "$PRIVATE" ] || { echo "no Libs.private in $BUILT/mediaflow.pc" >&2; exit 1; }
VERSION="$(sed -n 's/^Version: //p' "$BUILT/mediaflow.pc")"

install -d "$PREFIX/lib/pkgconfig" "$PREFIX/lib/cmake/mediaflow" "$PREFIX/include"
install -m 644 "$BUILT/libmediaflow_capi.a" "$PREFIX/lib/"
install -m 755 "$BUILT/libmediaflow_capi.so" "$PREFIX/lib/"
install -m 644 include/mediaflow.h bindings/cpp/mediaflow.hpp "$PREFIX/include/"

cat > "$PREFIX/lib/pkgconfig/mediaflow.pc" <<EOF
prefix=$PREFIX
includedir=\${prefix}/include
libdir=\${prefix}/lib

Name: mediaflow
Description: Embeddable WebRTC media engine (Kurento's MediaPipeline in-process)
Version: $VERSION
Cflags: -I\${includedir}
Libs: -L\${libdir} -lmediaflow_capi
Libs.private: $PRIVATE
EOF

CMAKE_LIBS="$(for l in $PRIVATE; do printf '%s;' "${l#-l}"; done)"
cat > "$PREFIX/lib/cmake/mediaflow/mediaflowConfig.cmake" <<EOF
# mediaflow's CMake package: find_package(mediaflow) then link mediaflow::mediaflow
# (static) or mediaflow::shared. Relocatable: paths are relative to this file.
set(mediaflow_VERSION "$VERSION")
get_filename_component(_mediaflow_prefix "\${CMAKE_CURRENT_LIST_DIR}/../../.." ABSOLUTE)
if(NOT TARGET mediaflow::mediaflow)
  add_library(mediaflow::mediaflow STATIC IMPORTED)
  set_target_properties(mediaflow::mediaflow PROPERTIES
    IMPORTED_LOCATION "\${_mediaflow_prefix}/lib/libmediaflow_capi.a"
    INTERFACE_INCLUDE_DIRECTORIES "\${_mediaflow_prefix}/include"
    INTERFACE_LINK_LIBRARIES "${CMAKE_LIBS%;}")
  add_library(mediaflow::shared SHARED IMPORTED)
  set_target_properties(mediaflow::shared PROPERTIES
    IMPORTED_LOCATION "\${_mediaflow_prefix}/lib/libmediaflow_capi.so"
    INTERFACE_INCLUDE_DIRECTORIES "\${_mediaflow_prefix}/include")
endif()
unset(_mediaflow_prefix)
EOF
cp "$BUILT/cmake/mediaflowConfigVersion.cmake" "$PREFIX/lib/cmake/mediaflow/"

echo "mediaflow $VERSION ($profile) installed under $PREFIX:"
(cd "$PREFIX" && find lib include -name '*mediaflow*' -type f | sort | sed 's/^/  /')
