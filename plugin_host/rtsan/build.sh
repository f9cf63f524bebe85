#!/usr/bin/env bash
# Builds the RealtimeSanitizer test host (build/rtsan/rtsan_host) with Debian's clang-22
# (-fsanitize=realtime; runtime from libclang-rt-22-dev), and the g++-built negative
# control library build/rtsan/rtsan_canary.so. Fails loudly when clang-22 is missing.
# Usage: plugin_host/rtsan/build.sh [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${1:-build/rtsan}"
CXX_RTSAN="${CXX_RTSAN:-clang++-22}"
if ! command -v "$CXX_RTSAN" >/dev/null; then
  echo "rtsan: $CXX_RTSAN not found (apt-get install clang-22 libclang-rt-22-dev)" >&2
  exit 1
fi
mkdir -p "$out"
src=plugin_host/rtsan
if [ ! -x "$out/rtsan_host" ] || [ "$src/rtsan_host.cpp" -nt "$out/rtsan_host" ] || [ "$0" -nt "$out/rtsan_host" ]; then
  # -Wno-function-effects: calls through CLAP function pointers cannot be verified at
  # compile time; RTSan checks them at run time, which is the point of this host.
  "$CXX_RTSAN" -std=c++17 -O1 -g -fno-omit-frame-pointer -fsanitize=realtime -Wall -Wno-function-effects \
    -I/usr/share/dpf/distrho/src -o "$out/rtsan_host.tmp" "$src/rtsan_host.cpp" -ldl -pthread
  mv "$out/rtsan_host.tmp" "$out/rtsan_host"
fi
if [ ! -f "$out/rtsan_canary.so" ] || [ "$src/canary.cpp" -nt "$out/rtsan_canary.so" ]; then
  "${CXX:-g++}" -O2 -fPIC -shared -o "$out/rtsan_canary.so" "$src/canary.cpp"
fi
echo "$out/rtsan_host"
