"""osiris_connections.yaml: references, defaults, `${VAR}` from the environment and `.env`,
field checks, masking (on pyfakefs)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from osiris.core.connections import load_connections
from osiris.errors import ConfigError

PROJECT = Path("/proj")
CONNECTIONS = """\
version: 1
connections:
  mysql:
    shop:
      default: true
      host: ${SHOP_HOST}
      port: ${SHOP_PORT}
      database: shop
      user: reader
      password: ${SHOP_PASSWORD}
    archive:
      host: archive.internal
      database: archive
      user: reader
      password: literal-archive-secret
  postgres:
    warehouse:
      host: 127.0.0.1
      database: dw
      user: loader
  filesystem:
    local:
      base_dir: ./data
      description: Local input CSVs
"""


@pytest.fixture
def project(fs: Any) -> Path:
    fs.create_file(PROJECT / "osiris_connections.yaml", contents=CONNECTIONS)
    return PROJECT


def load(env: dict[str, str] | None = None):
    found = load_connections(PROJECT, env=env or {})
    assert found is not None
    return found


def error(call: Any) -> str:
    with pytest.raises(ConfigError) as info:
        call()
    assert info.value.exit_code == 2
    return info.value.one_line()


def test_a_family_reference_names_its_default_and_an_alias_names_itself(project: Path) -> None:
    found = load()
    assert found.find("@mysql").alias == "shop"
    assert found.find("@mysql.archive").alias == "archive"
    # A family with one alias and no `default: true` has an obvious default.
    assert found.find("@postgres").alias == "warehouse"


def test_variables_come_from_the_environment_over_the_dotenv_file(project: Path, fs: Any) -> None:
    fs.create_file(
        PROJECT / ".env",
        contents="SHOP_HOST=db.from.dotenv\nexport SHOP_PORT=3307\nSHOP_PASSWORD='p w'\n",
    )
    settings = load({"SHOP_HOST": "db.from.env"}).resolve(load().find("@mysql.shop"))
    assert settings == {
        "host": "db.from.env",
        "port": 3307,  # a number, as if written in the file
        "database": "shop",
        "user": "reader",
        "password": "p w",
    }


def test_a_missing_variable_names_the_file_the_key_and_the_fix(project: Path) -> None:
    found = load({"SHOP_HOST": "h", "SHOP_PORT": "3306"})
    assert error(lambda: found.resolve(found.find("@mysql"))) == (
        "/proj/osiris_connections.yaml: connections.mysql.shop.password: environment variable "
        "SHOP_PASSWORD is not set (hint: export SHOP_PASSWORD=... or add it to .env beside "
        "osiris_connections.yaml)"
    )
    assert found.unset_variables(found.find("@mysql")) == ["SHOP_PASSWORD"]


def test_unknown_family_and_alias_list_what_exists(project: Path) -> None:
    found = load()
    assert error(lambda: found.find("@oracle.erp")) == (
        "connection: no connection family 'oracle' in osiris_connections.yaml "
        "(families: filesystem, mysql, postgres) (hint: define it in osiris_connections.yaml "
        "under connections: <family>: <alias>:)"
    )
    assert "no connection 'shopp' in family 'mysql' of osiris_connections.yaml (aliases: " in (
        error(lambda: found.find("@mysql.shopp"))
    )


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("hots", "x", "unknown field for a mysql connection (hint: did you mean 'host'?)"),
        ("port", "'3306'", "expected int, got string '3306'"),
        ("port", "true", "expected int, got bool True"),
    ],
)
def test_a_wrong_field_is_exit_2_naming_the_key(fs: Any, field: str, value: str, message: str):
    fs.create_file(
        PROJECT / "osiris_connections.yaml",
        contents=f"connections:\n  mysql:\n    a:\n      database: d\n      {field}: {value}\n",
    )
    found = load()
    assert error(lambda: found.find("@mysql.a")) == (
        f"/proj/osiris_connections.yaml: connections.mysql.a.{field}: {message}"
    )


def test_a_filled_in_port_that_is_no_number_is_refused(project: Path) -> None:
    found = load({"SHOP_HOST": "h", "SHOP_PORT": "three", "SHOP_PASSWORD": "p"})
    assert error(lambda: found.resolve(found.find("@mysql"))).endswith(
        "connections.mysql.shop.port: expected int, got string 'three'"
    )


def test_two_defaults_in_a_family_are_ambiguous(fs: Any) -> None:
    fs.create_file(
        PROJECT / "osiris_connections.yaml",
        contents="connections:\n  mysql:\n    a: {default: true}\n    b: {default: true}\n",
    )
    assert "which has several defaults" in error(lambda: load().find("@mysql"))


def test_masked_settings_and_secrets_to_redact(project: Path) -> None:
    found = load({"SHOP_HOST": "h", "SHOP_PORT": "1", "SHOP_PASSWORD": "s3cret"})
    assert found.find("@mysql.archive").masked()["password"] == "***MASKED***"
    assert found.find("@mysql.shop").masked()["password"] == "***MASKED***"
    assert "s3cret" in found.secrets()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("connections: [1]", "connections: must be a mapping of families"),
        ("connections:\n  mysql: 3\n", "connections.mysql: must be a mapping of aliases"),
        ("connections:\n  mysql:\n    a: {default: 1}\n", "a.default: must be true or false"),
        ("connections: {\n", "not valid YAML at line"),
    ],
)
def test_a_damaged_file_is_one_line(fs: Any, text: str, message: str) -> None:
    fs.create_file(PROJECT / "osiris_connections.yaml", contents=text)
    assert message in error(load)


def test_no_file_is_none_unless_required(fs: Any) -> None:
    fs.create_dir(PROJECT)
    assert load_connections(PROJECT, env={}, required=False) is None
    assert "no osiris_connections.yaml in /proj" in error(lambda: load_connections(PROJECT))
