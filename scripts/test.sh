#!/usr/bin/env bash
# Runs the whole test suite (creating .venv and installing the project first if needed).
set -euo pipefail
source "$(dirname "$0")/_venv.sh"
cd "$ROOT"
# ruff, ruff format and mypy, as .pre-commit-config.yaml lists them (local hooks, no network).
if git rev-parse --git-dir >/dev/null 2>&1; then
  pre-commit run --all-files --show-diff-on-failure
else
  ruff check . && ruff format --check . && mypy
fi
python scripts/check_legacy_paths.py
# The legacy-write guard fails any test that writes logs/ or compiled/ in contract mode.
python -m pytest -p osiris.compat.guard "$@"
