"""Small Osiris projects on disk for tests: the pipeline.md `orders-by-country` example."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

ORDERS = [
    (1, "CZ", 120),
    (2, "DE", 80),
    (3, "CZ", 40),
    (4, "US", 300),
    (5, "DE", 150),
    (6, "US", 20),
    (7, "FR", 90),
    (8, "CZ", 200),
    (9, "FR", 110),
    (10, "US", 75),
]

ORDERS_OML = """\
oml_version: "0.1.0"
name: orders-by-country
params:
  min_amount: {default: 0}
profiles:
  prod: {params: {min_amount: 100}}
steps:
  - id: extract-orders
    component: filesystem.csv_extractor
    mode: read
    config: {path: data/orders.csv}
  - id: aggregate
    component: duckdb.processor
    mode: transform
    needs: [extract-orders]
    config:
      query: |
        SELECT country, COUNT(*) AS orders, SUM(amount) AS total
        FROM input_df WHERE amount >= ${params.min_amount} GROUP BY country ORDER BY country
  - id: write-summary
    component: filesystem.csv_writer
    mode: write
    needs: [aggregate]
    config: {path: output/orders_by_country.csv}
"""


def orders_csv() -> str:
    """The `data/orders.csv` text: header plus ten (order_id, country, amount) rows."""
    lines = ["order_id,country,amount", *(f"{i},{c},{a}" for i, c, a in ORDERS)]
    return "\n".join(lines) + "\n"


def make_orders_project(root: Path, *, config: dict[str, Any] | None = None) -> Path:
    """Write osiris.yaml, data/orders.csv and pipelines/orders.yaml under `root`; return root."""
    root = Path(root)
    (root / "data").mkdir(parents=True, exist_ok=True)
    (root / "pipelines").mkdir(parents=True, exist_ok=True)
    (root / "osiris.yaml").write_text(yaml.safe_dump(config or {}, sort_keys=True), "utf-8")
    (root / "data" / "orders.csv").write_text(orders_csv(), "utf-8")
    (root / "pipelines" / "orders.yaml").write_text(ORDERS_OML, "utf-8")
    return root
