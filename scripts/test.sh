#!/usr/bin/env bash
# Command (2) of the README: set up (idempotent), lint, run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "==> ruff"
python3 -m ruff check .
echo "==> pytest"
python3 -m pytest -q -p no:cacheprovider "$@"
