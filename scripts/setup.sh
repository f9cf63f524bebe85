#!/usr/bin/env bash
# Idempotent setup of a Debian 12 machine (run as root): system packages, the Python
# package (backend + plugin_host), then build the plugins and install them into
# ~/.vst3 and ~/.clap.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  build-essential cmake pkg-config git
  dpf-source libzmq3-dev cppzmq-dev          # plugin shell
  libkissfft-dev                              # FFT of the engines' native DSP (bandmate._dsp, header-only kissfft<double>)
  fluidsynth fluid-soundfont-gm               # rendering MIDI to audio (demo input, benches, data)
  libfluidsynth3                              # BassNet's audition in the backend (bandmate.audition, ctypes)
  musescore-general-soundfont mma openttd-openmsx freedoom   # offline music data (generators)
  clang-22 libclang-rt-22-dev                 # RealtimeSanitizer test host (Debian 12 security updates)
)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "==> apt-get install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

echo "==> pip install (backend with its native DSP bandmate._dsp, plugin_host)"
python3 -m pip install -q --disable-pip-version-check -e ".[test]"

echo "==> build plugins"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release > build.log 2>&1 || { cat build.log; exit 1; }
cmake --build build -j"$(nproc)" >> build.log 2>&1 || { tail -50 build.log; exit 1; }

echo "==> build the RealtimeSanitizer test host (tests/test_rtsan.py)"
bash plugin_host/rtsan/build.sh > /dev/null

echo "==> install plugins into ~/.vst3 and ~/.clap"
mkdir -p "$HOME/.vst3" "$HOME/.clap"
for b in build/bin/*.vst3; do rm -rf "$HOME/.vst3/$(basename "$b")"; cp -r "$b" "$HOME/.vst3/"; done
cp build/bin/*.clap "$HOME/.clap/"
