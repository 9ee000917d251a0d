#!/usr/bin/env bash
# Runs the main job on the bundled example projects in scratch copies under .demo/:
# examples/orders (CSV: two pipelines, two profiles, the files written, the run index) and
# examples/shop (MariaDB -> DuckDB -> CSV and -> PostgreSQL, on databases this script seeds;
# skipped, saying why, when a server is not reachable). Creates .venv first if needed.
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

printf '\n\033[1mDatabase demo (examples/shop)\033[0m\n'
SHOP="$ROOT/.demo/shop"
rm -rf "$SHOP"
cp -R "$ROOT/examples/shop" "$SHOP"
cp "$SHOP/env.example" "$SHOP/.env"
cd "$SHOP"
if ! python "$ROOT/scripts/seed_shop.py"; then
  printf 'Skipped the database demo: the line above names the server that is not reachable.\n'
  exit 0
fi
step osiris connections list
step osiris connections doctor
step osiris run pipelines/revenue_by_country.yaml
step cat output/revenue_by_country.csv
step osiris run pipelines/orders_to_warehouse.yaml
step osiris runs list
