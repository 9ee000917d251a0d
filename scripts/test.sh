#!/usr/bin/env bash
# Runs the whole test suite (creating .venv and installing the project first if needed).
set -euo pipefail
source "$(dirname "$0")/_venv.sh"
cd "$ROOT"
ruff check osiris tests benchmarks scripts
ruff format --check osiris tests benchmarks scripts
python scripts/check_legacy_paths.py
# The legacy-write guard fails any test that writes logs/ or compiled/ in contract mode.
python -m pytest -p osiris.compat.guard "$@"
