"""The local database servers as pytest fixtures: each test gets a PostgreSQL schema or a
MariaDB database of its own, with a unique name, dropped after it.

Use them with `from tests.helpers.databases import postgres_schema, mysql_database` in a
test module (pytest finds fixtures imported into it). A server that cannot be reached
skips the test, except on CI (`CI=true`), where it fails: there the servers must run.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any, NamedTuple, NoReturn

import pytest

POSTGRES = {"host": "127.0.0.1", "port": 5432, "user": "root", "password": "", "database": "test"}
MYSQL = {"host": "127.0.0.1", "port": 3306, "user": "root", "password": ""}


class PostgresSchema(NamedTuple):
    name: str
    settings: dict[str, Any]  # step config keys: host, port, database, user, password, schema
    dsn: str  # for psycopg.connect(dsn); its search_path is the default, not this schema


class MysqlDatabase(NamedTuple):
    name: str
    settings: dict[str, Any]  # step config keys, also mysql.connector.connect(**settings)


def unique_name() -> str:
    return f"osiris_t_{uuid.uuid4().hex[:8]}"


def unreachable(server: str, settings: dict[str, Any], error: Exception) -> NoReturn:
    """Skip the test, or fail it on CI."""
    address = f"{settings['host']}:{settings['port']}"
    message = f"{server} at {address} is not reachable: {error}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def postgres_schema() -> Iterator[PostgresSchema]:
    """A fresh schema in database `test` of the PostgreSQL server at 127.0.0.1:5432."""
    import psycopg

    dsn = "postgresql://{user}@{host}:{port}/{database}".format(**POSTGRES)
    try:
        admin = psycopg.connect(dsn, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        unreachable("PostgreSQL", POSTGRES, exc)
    name = unique_name()
    with admin:
        admin.execute(f'CREATE SCHEMA "{name}"')
        try:
            yield PostgresSchema(name, {**POSTGRES, "schema": name}, dsn)
        finally:
            admin.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@pytest.fixture
def mysql_database() -> Iterator[MysqlDatabase]:
    """A fresh database on the MariaDB (MySQL) server at 127.0.0.1:3306."""
    import mysql.connector

    try:
        admin = mysql.connector.connect(**MYSQL, connection_timeout=5, autocommit=True)
    except mysql.connector.Error as exc:
        unreachable("MariaDB", MYSQL, exc)
    name = unique_name()
    try:
        with admin.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE `{name}`")
        try:
            yield MysqlDatabase(name, {**MYSQL, "database": name})
        finally:
            with admin.cursor() as cursor:
                cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
    finally:
        admin.close()
