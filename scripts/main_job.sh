#!/usr/bin/env bash
# Command (1) of the README: set up, build and install the plugins, start the backend,
# process a real piece of music through a Bandmate plugin in pedalboard, write results to out/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
mkdir -p out
python3 -m bandmate.demo out
