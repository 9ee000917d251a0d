#!/usr/bin/env bash
# Runs the main job on the bundled example project (examples/orders): compile and run two
# pipelines under two profiles in a scratch copy (.demo/orders), list what was written and
# show the run index. Creates .venv and installs the project first if needed.
set -euo pipefail
source "$(dirname "$0")/_venv.sh"
DEMO="$ROOT/.demo/orders"
rm -rf "$DEMO"   # the scratch copy is this script's own output
mkdir -p "$(dirname "$DEMO")"
cp -R "$ROOT/examples/orders" "$DEMO"
cd "$DEMO"

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }

for profile in dev prod; do
  step osiris compile pipelines/orders_by_country.yaml -p "$profile"
  step osiris run --last-compile -p "$profile" --tags demo
done
step osiris run pipelines/open_orders.yaml -p dev
step osiris run --pipeline orders-by-country -p prod --tags demo,rerun

printf '\n\033[1mFiles written under %s\033[0m\n' "$DEMO"
find build run_logs aiop .osiris output -type f | sort
step osiris runs list
