"""Seed the database demo (examples/shop): a MariaDB/MySQL shop and a PostgreSQL schema.

    python scripts/seed_shop.py [--orders N]

Creates database `osiris_demo_shop` (customers, orders) and schema `osiris_demo` afresh,
with the same rows every time. Exits 3 with one line naming the server when one of them
is not reachable, so the demo can say so and skip the database part.
"""

from __future__ import annotations

import argparse
import random
import sys
from datetime import datetime, timedelta

# Before pyarrow or DuckDB (none here): the C extension needs room in static TLS.
import mysql.connector  # isort: skip
import psycopg

COUNTRIES = ["CZ", "DE", "FR", "IT", "ES", "PL", "US", "GB"]
STATUSES = ["paid", "paid", "paid", "pending", "refunded"]


def seed_mysql(orders: int) -> None:
    conn = mysql.connector.connect(host="127.0.0.1", port=3306, user="root", password="")
    cursor = conn.cursor()
    cursor.execute("DROP DATABASE IF EXISTS osiris_demo_shop")
    cursor.execute("CREATE DATABASE osiris_demo_shop")
    cursor.execute("USE osiris_demo_shop")
    cursor.execute("CREATE TABLE customers (id INT PRIMARY KEY, name VARCHAR(64), country CHAR(2))")
    cursor.execute(
        "CREATE TABLE orders (id INT PRIMARY KEY, customer_id INT, amount DECIMAL(10, 2), "
        "status VARCHAR(16), created_at DATETIME)"
    )
    rng = random.Random(15)
    customers = [(i, f"Customer {i}", rng.choice(COUNTRIES)) for i in range(1, 201)]
    cursor.executemany("INSERT INTO customers VALUES (%s, %s, %s)", customers)
    start = datetime(2026, 1, 1)
    rows = [
        (
            i,
            rng.randint(1, 200),
            f"{rng.randint(100, 50_000) / 100:.2f}",
            rng.choice(STATUSES),
            start + timedelta(minutes=7 * i),
        )
        for i in range(1, orders + 1)
    ]
    for first in range(0, len(rows), 5000):
        cursor.executemany(
            "INSERT INTO orders VALUES (%s, %s, %s, %s, %s)", rows[first : first + 5000]
        )
    conn.commit()
    conn.close()


def seed_postgres() -> None:
    with psycopg.connect(host="127.0.0.1", port=5432, user="root", dbname="test") as conn:
        conn.execute("DROP SCHEMA IF EXISTS osiris_demo CASCADE")
        conn.execute("CREATE SCHEMA osiris_demo")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=20_000)
    args = parser.parse_args()
    for server, seed in (
        ("MariaDB/MySQL at 127.0.0.1:3306", lambda: seed_mysql(args.orders)),
        ("PostgreSQL at 127.0.0.1:5432", seed_postgres),
    ):
        try:
            seed()
        except (mysql.connector.Error, psycopg.Error) as exc:
            print(f"{server} is not reachable: {' '.join(str(exc).split())}", file=sys.stderr)
            return 3
    print(f"seeded osiris_demo_shop ({args.orders} orders) and schema osiris_demo")
    return 0


if __name__ == "__main__":
    sys.exit(main())
